//! Lambda handler of the `Verify` state: wiring only. The step is `aurora_core::steps::verify`;
//! clients are built once and reused while the function is warm.
//!
//! The two `aurora_sql::SqlVerifier`s are built per invocation: their endpoints come from
//! `$.restore` and their credentials from the secrets `$.replication` names (the source's user
//! needs `SELECT` on the verified databases). Secrets are fetched only when a side is read, so
//! `verify.mode: off` touches nothing.
//!
//! Environment: `RDS_CA_BUNDLE`: path of the RDS CA bundle (`global-bundle.pem`) the TLS
//! connections verify the servers against. Needed only when a side is read: without it, a
//! verification fails with `InvalidInput` naming the variable (Preflight refuses such a spec
//! before anything is created), and `verify.mode: off` still succeeds.

use std::path::PathBuf;

use async_trait::async_trait;
use aurora_core::errors::InvalidInput;
use aurora_core::errors::PortError;
use aurora_core::parse_input;
use aurora_core::ports::{
    DatabaseEndpoint, PortResult, SystemClock, TableDigest, TokioSleeper, Verifier, VerifyDepth,
};
use aurora_core::spec::ReplicationSpec;
use aurora_core::state::RestoreOutput;
use aurora_core::steps::verify::{self, VerifyInput};
use aurora_sql::{SecretValue, SqlVerifier, Tls, CA_BUNDLE_FIX};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// What the verifiers connect to, read from the same state document as the step's input.
#[derive(Deserialize)]
struct Connections {
    restore: RestoreOutput,
    replication: ReplicationSpec,
}

/// A [`SqlVerifier`] whose credentials are fetched from Secrets Manager when first needed.
struct SecretVerifier<'a> {
    secrets: &'a aurora_aws::SecretsManagerSecrets,
    secret_arn: String,
    endpoint: DatabaseEndpoint,
    /// `None`: no CA bundle configured.
    tls: Option<Tls>,
}

#[async_trait]
impl Verifier for SecretVerifier<'_> {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.verifier().await?.table_digests(databases, depth).await
    }

    async fn accounts(&self) -> PortResult<Vec<aurora_core::ports::Account>> {
        self.verifier().await?.accounts().await
    }
}

impl SecretVerifier<'_> {
    /// The SQL verifier of this side, with credentials read now.
    async fn verifier(&self) -> PortResult<SqlVerifier> {
        let tls = self.tls.clone().ok_or_else(|| {
            PortError::InvalidRequest(format!("RDS_CA_BUNDLE is not set: {CA_BUNDLE_FIX}"))
        })?;
        let secret = SecretValue::from_json(&self.secrets.secret_string(&self.secret_arn).await?)?;
        Ok(SqlVerifier::new(secret.at_endpoint(&self.endpoint, tls)?))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let tls = std::env::var_os("RDS_CA_BUNDLE")
        .filter(|p| !p.is_empty())
        .map(|bundle| Tls::Required {
            root_certs: vec![PathBuf::from(bundle)],
        });
    let config = aurora_aws::load_config().await;
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: VerifyInput = parse_input(event.payload.clone())?;
        let connections: Connections = parse_input(event.payload)?;
        let (source_secret, target_secret) = match &connections.replication {
            ReplicationSpec::Dms(dms) => (&dms.source_secret_arn, &dms.target_secret_arn),
            ReplicationSpec::Native(native) => {
                (&native.source_secret_arn, &native.target_secret_arn)
            }
        };
        let side = |endpoint: &Option<DatabaseEndpoint>, secret: &str, field: &str| {
            let endpoint = endpoint
                .clone()
                .ok_or_else(|| InvalidInput::new(field, "is required to verify"))?;
            Ok::<_, InvalidInput>(SecretVerifier {
                secrets: &secrets,
                secret_arn: secret.to_string(),
                endpoint,
                tls: tls.clone(),
            })
        };
        let source = side(
            &connections.restore.source_endpoint,
            source_secret,
            "restore.sourceEndpoint",
        )?;
        let target = side(
            &connections.restore.target_endpoint,
            target_secret,
            "restore.targetEndpoint",
        )?;
        verify::run(&input, &source, &target, &SystemClock, &TokioSleeper)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
