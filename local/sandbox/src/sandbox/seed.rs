//! What the sample application finds: its schema and rows, and its DNS record.

use super::credentials::random_hex;
use super::{Sandbox, APP_RECORD, ZONE_ID};
use crate::error::{SandboxError, SandboxResult};
use crate::registry::Credentials;
use crate::schema::{self, SeedReport};

impl Sandbox {
    /// Creates the sample schema and application user on a cluster and seeds `rows` rows per
    /// table.
    pub async fn seed_sample(&self, cluster_id: &str, rows: u64) -> SandboxResult<SeedReport> {
        let credentials = match self.app_credentials() {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: schema::APP_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.app_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        let report = schema::seed(&mut conn, cluster_id, rows, &credentials.password).await?;
        let _ = conn.disconnect().await;
        Ok(report)
    }

    /// The application record as the zone holds it.
    pub fn app_record(&self) -> SandboxResult<Option<crate::dns::ZoneRecord>> {
        Ok(self
            .dns()
            .records(ZONE_ID)?
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(APP_RECORD)))
    }

    /// How long a Route 53 change to the zone stays PENDING, served with the name's previous
    /// value, from now on (0 by default; [`crate::dns::AWS_PROPAGATION`] is AWS's figure).
    pub fn set_dns_propagation(&self, delay: std::time::Duration) -> SandboxResult<()> {
        Ok(self.dns().set_propagation(ZONE_ID, delay)?)
    }

    /// Gives the application record another TTL, pointing where it points: what an operator's
    /// zone looks like before a run (often 300 s).
    pub async fn set_app_record_ttl(&self, ttl_seconds: i64) -> SandboxResult<()> {
        let record = self
            .app_record()?
            .ok_or_else(|| SandboxError::NotFound(format!("record {APP_RECORD}")))?;
        aurora_core::ports::Dns::upsert_cname(
            &self.dns(),
            ZONE_ID,
            APP_RECORD,
            &record.value,
            ttl_seconds,
        )
        .await?;
        Ok(())
    }
}
