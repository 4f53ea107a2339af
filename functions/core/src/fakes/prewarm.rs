//! The source's top statements, and which target instances were warmed with what.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use crate::errors::PortError;
use crate::ports::{CacheWarmer, DatabaseEndpoint, InstanceWarmth, PortResult, TopStatement};

/// One `warm` call: the host, the digests replayed, the tables loaded.
pub type Warmed = (String, Vec<String>, Vec<String>);

/// Serves `statements` (or, with `no_statistics`, the refusal of a server without
/// `performance_schema`); records each `warm` as (host, digests, tables).
#[derive(Default)]
pub struct FakeCacheWarmer {
    pub statements: Mutex<Vec<TopStatement>>,
    pub no_statistics: bool,
    pub warmed: Mutex<Vec<Warmed>>,
}

impl FakeCacheWarmer {
    /// A SELECT, an UPDATE and a statement without sample text, in that order.
    pub fn with_mixed_statements() -> Self {
        let statement = |digest: &str, text: Option<&str>| TopStatement {
            digest: digest.into(),
            schema: Some("shop".into()),
            text: text.map(str::to_string),
            executions: 10,
            total_ms: 5.0,
        };
        Self {
            statements: Mutex::new(vec![
                statement("d1", Some("SELECT * FROM orders WHERE customer_id = 7")),
                statement("d2", Some("UPDATE orders SET total = 0 WHERE id = 1")),
                statement("d3", None),
            ]),
            ..Self::default()
        }
    }

    /// The hosts warmed, in order.
    pub fn hosts(&self) -> Vec<String> {
        lock(&self.warmed)
            .iter()
            .map(|(h, _, _)| h.clone())
            .collect()
    }
}

#[async_trait]
impl CacheWarmer for FakeCacheWarmer {
    async fn top_statements(
        &self,
        _source: &DatabaseEndpoint,
        _secret_arn: &str,
        limit: u32,
    ) -> PortResult<Vec<TopStatement>> {
        if self.no_statistics {
            return Err(PortError::InvalidRequest(
                "performance_schema is off".into(),
            ));
        }
        Ok(lock(&self.statements)
            .iter()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn warm(
        &self,
        target: &DatabaseEndpoint,
        _secret_arn: &str,
        statements: &[TopStatement],
        tables: &[String],
        _budget: Duration,
    ) -> PortResult<InstanceWarmth> {
        lock(&self.warmed).push((
            target.host.clone(),
            statements.iter().map(|s| s.digest.clone()).collect(),
            tables.to_vec(),
        ));
        Ok(InstanceWarmth {
            endpoint: format!("{}:{}", target.host, target.port),
            statements_run: statements.len() as u32,
            tables_loaded: tables.len() as u32,
            ..InstanceWarmth::default()
        })
    }
}
