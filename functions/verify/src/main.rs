//! Lambda handler of the `Verify`, `VerifyOnline`, `CheckParity` and `Prewarm` states: wiring
//! only. The steps are `aurora_core::steps::verify` (under the fence),
//! `aurora_core::steps::verify_online` (`{"action": "online", "document": …}`, before the
//! switchover gate), `aurora_core::steps::parity` (`{"action": "parity", …}`, before the online
//! pass) and `aurora_core::steps::prewarm` (`{"action": "prewarm", …}`,
//! `aurora_sql::SqlCacheWarmer`, after it), and of `ConfirmProxy`
//! (`aurora_core::steps::swap_proxy::confirm`, `{"action": "proxy-confirm", …}`: a session
//! through the re-targeted RDS Proxy, from the clusters' VPC) and `ConfirmRename`
//! (`aurora_core::steps::rename::confirm`, `{"action": "rename-confirm", …}`);
//! clients are built once and reused while the function is warm.
//!
//! Each side is an `aurora_sql::WriterVerifier` over `aurora_aws::StateWriters`: the endpoints
//! `$.restore` recorded and the secrets `$.replication` names (the source's user needs `SELECT`
//! on the verified databases, and for `verify.mode: online` `REPLICATION SLAVE` and
//! `REPLICATION CLIENT` to read the binlog, and the rights the fence's marker needs; for the
//! parity check, the privileges `aurora_sql::server_settings` lists). Secrets
//! are fetched only when a side is read, so
//! `verify.mode: off` touches nothing.
//!
//! Environment: `RDS_CA_BUNDLE`: path of the RDS CA bundle (`global-bundle.pem`) the TLS
//! connections verify the servers against. Needed only when a side is read: without it, a
//! verification fails with `InvalidInput` naming the variable (Preflight refuses such a spec
//! before anything is created), and `verify.mode: off` still succeeds.

use std::sync::Arc;

use aurora_core::errors::output_json;
use aurora_core::parse_input;
use aurora_core::ports::{SystemClock, TokioSleeper};
use aurora_core::state::RestoreOutput;
use aurora_core::steps::parity::{self, ParityInput};
use aurora_core::steps::prewarm::{self, PrewarmInput};
use aurora_core::steps::rename::{self, ConfirmRenameRequest};
use aurora_core::steps::swap_proxy::{self, ConfirmProxyRequest};
use aurora_core::steps::verify::{self, VerifyInput};
use aurora_core::steps::verify_online::{self, OnlineInput, OnlineSettings};
use aurora_sql::{SqlCacheWarmer, SqlFence, SqlServerIdentity, WriterVerifier};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// Which clusters the two sides are, from the same state document as the step's input.
#[derive(Deserialize)]
struct Sides {
    restore: RestoreOutput,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let tls = aurora_aws::rds_ca::ca_bundle_tls_from_env();
    let clusters = aurora_aws::RdsClusters::new(&config);
    let warmer = tls
        .clone()
        .map(|tls| SqlCacheWarmer::new(Arc::new(secrets.clone()), tls));
    let identity = tls
        .clone()
        .map(|tls| SqlServerIdentity::new(Arc::new(secrets.clone()), tls));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        if rename::is_confirm_request(&event.payload) {
            let Some(identity) = &identity else {
                return Err(aurora_core::InvalidInput::new(
                    aurora_aws::rds_ca::RDS_CA_BUNDLE,
                    "is required to confirm the renames: a session at the cluster endpoint goes over TLS verified against the RDS CA bundle",
                )
                .into());
            };
            let dimensions = aurora_core::metrics::Dimensions::from_input(
                event.payload.get("document").unwrap_or(&Value::Null),
            );
            let request: ConfirmRenameRequest = parse_input(event.payload)?;
            let confirmed =
                rename::confirm(&request.document, &clusters, identity, &SystemClock).await?;
            if let Some(dimensions) = dimensions.filter(|_| confirmed.confirmed) {
                aurora_aws::emit_metrics(&aurora_core::metrics::renamed(dimensions, &confirmed));
            }
            return output_json(confirmed);
        }
        if swap_proxy::is_confirm_request(&event.payload) {
            let Some(identity) = &identity else {
                return Err(aurora_core::InvalidInput::new(
                    aurora_aws::rds_ca::RDS_CA_BUNDLE,
                    "is required to confirm the RDS Proxy: a session through it goes over TLS verified against the RDS CA bundle",
                )
                .into());
            };
            let dimensions = aurora_core::metrics::Dimensions::from_input(
                event.payload.get("document").unwrap_or(&Value::Null),
            );
            let request: ConfirmProxyRequest = parse_input(event.payload)?;
            let confirmed =
                swap_proxy::confirm(&request.document, identity, &SystemClock).await?;
            if let Some(dimensions) = dimensions {
                aurora_aws::emit_metrics(&aurora_core::metrics::proxy_confirmed(
                    dimensions, &confirmed,
                ));
            }
            return output_json(confirmed);
        }
        if prewarm::is_prewarm_request(&event.payload) {
            let input: PrewarmInput = parse_input(event.payload)?;
            let Some(warmer) = &warmer else {
                return Err(aurora_core::InvalidInput::new(
                    aurora_aws::rds_ca::RDS_CA_BUNDLE,
                    "is required to pre-warm: SQL to the clusters goes over TLS verified against the RDS CA bundle",
                )
                .into());
            };
            let deps = prewarm::Deps {
                warmer,
                clock: &SystemClock,
            };
            return output_json(prewarm::run(&input, &deps).await?);
        }
        let online = verify_online::is_online_request(&event.payload);
        let parity = parity::is_parity_request(&event.payload);
        let document = if online || parity {
            event.payload.get("document").cloned().unwrap_or_default()
        } else {
            event.payload.clone()
        };
        let Sides { restore } = parse_input(document.clone())?;
        let cluster = |endpoint: Option<aurora_core::ports::DatabaseEndpoint>, field: &str| {
            endpoint
                .map(|e| e.cluster_id)
                .ok_or_else(|| aurora_core::InvalidInput::new(field, "is required to verify"))
        };
        let source_id = cluster(restore.source_endpoint, "restore.sourceEndpoint")?;
        let target_id = cluster(restore.target_endpoint, "restore.targetEndpoint")?;
        let writers = Arc::new(aurora_aws::StateWriters::new(
            secrets.clone(),
            tls.clone(),
            document,
        ));
        let source = WriterVerifier::new(writers.clone(), source_id);
        let target = WriterVerifier::new(writers.clone(), target_id);
        if parity {
            let input: ParityInput = parse_input(event.payload)?;
            let deps = parity::Deps {
                source: &source,
                target: &target,
                clusters: Some(&clusters),
                clock: &SystemClock,
            };
            let output = parity::run(&input, &deps).await?;
            return output_json(output);
        }
        if online {
            let input: OnlineInput = parse_input(event.payload)?;
            let markers = SqlFence::new(writers);
            let deps = verify_online::Deps {
                source: &source,
                target: &target,
                markers: &markers,
                clock: &SystemClock,
                sleeper: &TokioSleeper,
                settings: OnlineSettings::default(),
            };
            let output = verify_online::run(&input, &deps).await?;
            return output_json(output);
        }
        let input: VerifyInput = parse_input(event.payload)?;
        let deps = verify::Deps {
            source: &source,
            target: &target,
            clock: &SystemClock,
            sleeper: &TokioSleeper,
        };
        let output = verify::run(&input, &deps).await?;
        output_json(output)
    }))
    .await
}
