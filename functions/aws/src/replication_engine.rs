//! The [`Replication`] engine a state document names (`$.replication.engine`), chosen per
//! invocation: `dms` is the [`DmsReplication`] adapter; `native` is an
//! [`aurora_sql::NativeReplication`] built from the state document and two Secrets Manager
//! secrets.
//!
//! For `native`:
//! - endpoints: `$.restore.sourceEndpoint` and `$.restore.targetEndpoint`;
//! - Aurora MySQL major version: `$.preflight.engineMajorVersion` (2 or 3);
//! - `$.replication.sourceSecretArn`: the replication user, which the target's replica threads
//!   log in as and which reads the source's binlog position;
//! - `$.replication.targetSecretArn`: the target's admin user (runs the `mysql.rds_*` calls);
//! - TLS verified against the RDS CA bundle (`RDS_CA_BUNDLE`).
//!
//! Only `$.replication` is read up front. Everything else the native engine needs is checked
//! when the state is read but reported by the first port call, and the secrets are fetched then
//! (once per invocation): Cleanup on a rollback that began before the migration existed never
//! calls the engine, so it must not fail for want of `$.restore` or a CA bundle. A missing or
//! malformed field reads as [`PortError::InvalidRequest`] naming it (error name `InvalidInput`).
//! Secret values never reach a log line or an error; only their ARNs do.

use async_trait::async_trait;
use aurora_core::errors::{InvalidInput, PortError};
use aurora_core::ports::{
    CdcRequest, DatabaseEndpoint, PortResult, Replication, ReplicationHandle, ReplicationStatus,
};
use aurora_core::spec::ReplicationSpec;
use aurora_sql::{AuroraMajorVersion, NativeReplication, SecretValue, Tls};
use aws_config::SdkConfig;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::rds_ca::{ca_bundle_tls_from_env, RDS_CA_BUNDLE};
use crate::{DmsReplication, SecretsManagerSecrets};

/// What a Lambda holds (built once, reused while warm) to pick the engine of each invocation.
#[derive(Clone, Debug)]
pub struct ReplicationEngines {
    dms: DmsReplication,
    secrets: SecretsManagerSecrets,
    /// `None` when no CA bundle is configured: then only `dms` can run.
    tls: Option<Tls>,
}

impl ReplicationEngines {
    pub fn new(dms: DmsReplication, secrets: SecretsManagerSecrets, tls: Option<Tls>) -> Self {
        Self { dms, secrets, tls }
    }

    /// The adapters from `config`, and TLS from [`RDS_CA_BUNDLE`] (optional: only the native
    /// engine needs it).
    pub fn from_env(config: &SdkConfig) -> Self {
        Self::new(
            DmsReplication::new(config),
            SecretsManagerSecrets::new(config),
            ca_bundle_tls_from_env(),
        )
    }

    /// The engine `state` (the state document) names.
    pub fn for_state(&self, state: &Value) -> Result<StateReplication<'_>, InvalidInput> {
        let spec = state
            .get("replication")
            .ok_or_else(|| InvalidInput::new("replication", "is required"))?;
        let spec: ReplicationSpec = serde_json::from_value(spec.clone())
            .map_err(|e| InvalidInput::new("replication", e.to_string()))?;
        Ok(match spec {
            ReplicationSpec::Dms(_) => StateReplication::Dms(&self.dms),
            ReplicationSpec::Native(native) => StateReplication::Native(Box::new(NativeEngine {
                secrets: &self.secrets,
                plan: NativePlan::from_state(
                    state,
                    native.source_secret_arn,
                    native.target_secret_arn,
                    self.tls.clone(),
                ),
                engine: OnceCell::new(),
            })),
        })
    }
}

/// The engine of one invocation.
#[derive(Debug)]
pub enum StateReplication<'a> {
    Dms(&'a DmsReplication),
    Native(Box<NativeEngine<'a>>),
}

impl StateReplication<'_> {
    /// `dms` or `native`, as [`ReplicationHandle::engine`] spells it.
    pub fn engine(&self) -> &'static str {
        match self {
            StateReplication::Dms(_) => crate::dms::ENGINE,
            StateReplication::Native(_) => aurora_sql::ENGINE,
        }
    }
}

#[async_trait]
impl Replication for StateReplication<'_> {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        match self {
            StateReplication::Dms(dms) => dms.ensure_cdc(request).await,
            StateReplication::Native(native) => native.engine().await?.ensure_cdc(request).await,
        }
    }

    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        match self {
            StateReplication::Dms(dms) => dms.start(handle).await,
            StateReplication::Native(native) => native.engine().await?.start(handle).await,
        }
    }

    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        match self {
            StateReplication::Dms(dms) => dms.status(handle).await,
            StateReplication::Native(native) => native.engine().await?.status(handle).await,
        }
    }

    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        match self {
            StateReplication::Dms(dms) => dms.stop(handle).await,
            StateReplication::Native(native) => native.engine().await?.stop(handle).await,
        }
    }

    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        match self {
            StateReplication::Dms(dms) => dms.remove(handle).await,
            StateReplication::Native(native) => native.engine().await?.remove(handle).await,
        }
    }
}

/// A [`NativeReplication`] whose credentials are fetched on first use.
#[derive(Debug)]
pub struct NativeEngine<'a> {
    secrets: &'a SecretsManagerSecrets,
    plan: Result<NativePlan, InvalidInput>,
    engine: OnceCell<NativeReplication>,
}

impl NativeEngine<'_> {
    /// The engine, built on the first call: both secrets are read once per invocation (Drain
    /// asks for the status many times).
    pub async fn engine(&self) -> PortResult<&NativeReplication> {
        self.engine.get_or_try_init(|| self.build()).await
    }

    async fn build(&self) -> PortResult<NativeReplication> {
        let plan = self
            .plan
            .as_ref()
            .map_err(|e| PortError::InvalidRequest(e.to_string()))?;
        let source_secret = self.secret(&plan.source_secret_arn).await?;
        let target_secret = self.secret(&plan.target_secret_arn).await?;
        Ok(NativeReplication::new(
            plan.major,
            source_secret.at_endpoint(&plan.source, plan.tls.clone())?,
            target_secret.at_endpoint(&plan.target, plan.tls.clone())?,
            source_secret.credentials(),
        ))
    }

    async fn secret(&self, arn: &str) -> PortResult<SecretValue> {
        let json = self.secrets.secret_string(arn).await?;
        // The parse error names what is wrong, never the value; add which secret it was.
        SecretValue::from_json(&json).map_err(|e| match e {
            PortError::InvalidRequest(reason) => {
                PortError::InvalidRequest(format!("{arn}: {reason}"))
            }
            other => other,
        })
    }
}

/// Everything but the credentials, read from the state document.
#[derive(Debug, Clone, PartialEq)]
struct NativePlan {
    major: AuroraMajorVersion,
    source: DatabaseEndpoint,
    target: DatabaseEndpoint,
    source_secret_arn: String,
    target_secret_arn: String,
    tls: Tls,
}

impl NativePlan {
    fn from_state(
        state: &Value,
        source_secret_arn: String,
        target_secret_arn: String,
        tls: Option<Tls>,
    ) -> Result<Self, InvalidInput> {
        let tls = tls.ok_or_else(|| {
            InvalidInput::new(
                RDS_CA_BUNDLE,
                format!(
                    "native replication connects with TLS verified against the RDS CA bundle, and \
                     RDS_CA_BUNDLE is not set: {}",
                    aurora_sql::CA_BUNDLE_FIX
                ),
            )
        })?;
        let major = state
            .pointer("/preflight/engineMajorVersion")
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                InvalidInput::new(
                    "preflight.engineMajorVersion",
                    "is required for native replication",
                )
            })?
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(AuroraMajorVersion::from_number)
            .ok_or_else(|| InvalidInput::new("preflight.engineMajorVersion", "must be 2 or 3"))?;
        Ok(Self {
            major,
            source: endpoint(state, "sourceEndpoint")?,
            target: endpoint(state, "targetEndpoint")?,
            source_secret_arn,
            target_secret_arn,
            tls,
        })
    }
}

fn endpoint(state: &Value, key: &str) -> Result<DatabaseEndpoint, InvalidInput> {
    let field = format!("restore.{key}");
    let value = state
        .get("restore")
        .and_then(|restore| restore.get(key))
        .filter(|v| !v.is_null())
        .ok_or_else(|| InvalidInput::new(&field, "is required for native replication"))?;
    serde_json::from_value(value.clone()).map_err(|e| InvalidInput::new(&field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds_ca::ca_bundle_tls;
    use crate::test_support::{client, json_error};
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::Client;
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::json;

    const SOURCE_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl";
    const TARGET_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin";
    const REPL_PASSWORD: &str = "repl-pw-7Qz";
    const ADMIN_PASSWORD: &str = "admin-pw-9Xk";

    fn bundle() -> Option<Tls> {
        ca_bundle_tls(Some("/opt/rds-ca/global-bundle.pem".into()))
    }

    /// A DMS adapter that these tests never call.
    fn dms() -> DmsReplication {
        DmsReplication::from_client(aws_sdk_databasemigration::Client::from_conf(
            aws_sdk_databasemigration::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
                .build(),
        ))
    }

    fn engines(secrets: &Rule, tls: Option<Tls>) -> ReplicationEngines {
        let secrets = SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, secrets));
        ReplicationEngines::new(dms(), secrets, tls)
    }

    fn engines_with_both_secrets(source: &Rule, target: &Rule) -> ReplicationEngines {
        let secrets =
            SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, source, target));
        ReplicationEngines::new(dms(), secrets, bundle())
    }

    fn secrets_by_arn() -> Rule {
        mock!(Client::get_secret_value)
            .match_requests(|r| {
                r.secret_id() == Some(SOURCE_SECRET) || r.secret_id() == Some(TARGET_SECRET)
            })
            .then_output(|| GetSecretValueOutput::builder().build())
    }

    fn secret_rules() -> (Rule, Rule) {
        let source = mock!(Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(SOURCE_SECRET))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(
                        json!({"username": "repl", "password": REPL_PASSWORD}).to_string(),
                    )
                    .build()
            });
        let target = mock!(Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(TARGET_SECRET))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(
                        json!({"username": "admin", "password": ADMIN_PASSWORD, "host": "elsewhere"})
                            .to_string(),
                    )
                    .build()
            });
        (source, target)
    }

    fn endpoint_json(cluster: &str) -> Value {
        json!({"clusterId": cluster, "host": format!("{cluster}.cluster-abc.eu-west-1.rds.amazonaws.com"), "port": 3306})
    }

    fn native_state() -> Value {
        json!({
            "sourceClusterId": "orders",
            "replication": {
                "engine": "native",
                "sourceSecretArn": SOURCE_SECRET,
                "targetSecretArn": TARGET_SECRET
            },
            "preflight": {"engineMajorVersion": 3},
            "restore": {
                "sourceEndpoint": endpoint_json("orders"),
                "targetEndpoint": endpoint_json("orders-encrypted")
            }
        })
    }

    fn dms_state() -> Value {
        json!({
            "replication": {
                "engine": "dms",
                "serviceRoleArn": "arn:aws:iam::123456789012:role/dms",
                "sourceSecretArn": SOURCE_SECRET,
                "targetSecretArn": TARGET_SECRET,
                "instanceProfile": {"subnetGroupIdentifier": "dms-subnets"}
            }
        })
    }

    fn native_handle() -> ReplicationHandle {
        ReplicationHandle {
            engine: "native".into(),
            id: "orders-encrypted".into(),
            name: "orders-encrypt".into(),
            resources: vec![],
        }
    }

    fn native<'a>(replication: &'a StateReplication<'a>) -> &'a NativeEngine<'a> {
        match replication {
            StateReplication::Native(native) => native,
            StateReplication::Dms(_) => panic!("expected the native engine"),
        }
    }

    #[tokio::test]
    async fn engine_dms_selects_the_dms_adapter_and_reads_no_secret() {
        let rule = secrets_by_arn();
        let engines = engines(&rule, None);
        let replication = engines.for_state(&dms_state()).unwrap();
        assert!(matches!(replication, StateReplication::Dms(_)));
        assert_eq!(replication.engine(), "dms");
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn engine_native_builds_native_replication_from_the_state_and_both_secrets() {
        let (source, target) = secret_rules();
        let engines = engines_with_both_secrets(&source, &target);
        let state = native_state();
        let replication = engines.for_state(&state).unwrap();
        assert_eq!(replication.engine(), "native");
        assert_eq!(
            (source.num_calls(), target.num_calls()),
            (0, 0),
            "fetched lazily"
        );
        let native = native(&replication);
        let plan = native.plan.as_ref().unwrap();
        assert_eq!(plan.major, AuroraMajorVersion::Three);
        assert_eq!(plan.source.cluster_id, "orders");
        assert_eq!(plan.target.cluster_id, "orders-encrypted");
        assert_eq!(plan.tls, bundle().unwrap());

        let built = format!("{:?}", native.engine().await.unwrap());
        native.engine().await.unwrap();
        assert_eq!(
            (source.num_calls(), target.num_calls()),
            (1, 1),
            "fetched once"
        );
        // Each side is reached at its restore endpoint (not the secret's own host), as the
        // user of its secret, and no password shows in the engine's debug form.
        assert!(built.contains("orders.cluster-abc"), "{built}");
        assert!(built.contains("orders-encrypted.cluster-abc"), "{built}");
        assert!(!built.contains("elsewhere"), "{built}");
        assert!(
            built.contains("\"repl\"") && built.contains("\"admin\""),
            "{built}"
        );
        assert!(
            !built.contains(REPL_PASSWORD) && !built.contains(ADMIN_PASSWORD),
            "{built}"
        );
    }

    #[tokio::test]
    async fn aurora_mysql_2_selects_the_version_2_procedures() {
        let rule = secrets_by_arn();
        let engines = engines(&rule, bundle());
        let mut state = native_state();
        state["preflight"]["engineMajorVersion"] = json!(2);
        let replication = engines.for_state(&state).unwrap();
        assert_eq!(
            native(&replication).plan.as_ref().unwrap().major,
            AuroraMajorVersion::Two
        );
    }

    #[tokio::test]
    async fn missing_or_bad_replication_is_invalid_input_naming_it() {
        let rule = secrets_by_arn();
        let engines = engines(&rule, bundle());
        let error = engines
            .for_state(&json!({"sourceClusterId": "orders"}))
            .unwrap_err();
        assert_eq!(error.field, "replication");
        let error = engines
            .for_state(&json!({"replication": {"engine": "logical"}}))
            .unwrap_err();
        assert_eq!(error.field, "replication");
        assert!(error.reason.contains("logical"), "{error}");
    }

    /// Removes each pointer in `remove` from the native state document, selects, and returns what the first
    /// port call reports; no secret may have been read.
    async fn status_error_without(remove: &[&str], tls: Option<Tls>) -> PortError {
        let rule = secrets_by_arn();
        let engines = engines(&rule, tls);
        let mut state = native_state();
        for path in remove {
            let (parent, key) = path.rsplit_once('/').unwrap();
            state
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap()
                .remove(key);
        }
        let replication = engines
            .for_state(&state)
            .expect("selection itself succeeds");
        assert_eq!(replication.engine(), "native");
        let error = replication.status(&native_handle()).await.unwrap_err();
        assert_eq!(
            rule.num_calls(),
            0,
            "no secret is read for an unusable state"
        );
        assert_eq!(error.default_name(), "InvalidInput");
        error
    }

    #[tokio::test]
    async fn missing_fields_surface_at_the_first_call_as_invalid_input_naming_the_field() {
        for (removed, field) in [
            ("/restore/sourceEndpoint", "restore.sourceEndpoint"),
            ("/restore/targetEndpoint", "restore.targetEndpoint"),
            (
                "/preflight/engineMajorVersion",
                "preflight.engineMajorVersion",
            ),
        ] {
            let error = status_error_without(&[removed], bundle()).await;
            assert!(error.to_string().contains(field), "{removed}: {error}");
        }
        let error = status_error_without(&["/restore"], bundle()).await;
        assert!(
            error.to_string().contains("restore.sourceEndpoint"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn native_without_a_ca_bundle_names_rds_ca_bundle() {
        let error = status_error_without(&[], None).await;
        assert!(error.to_string().contains("RDS_CA_BUNDLE"), "{error}");
        assert_eq!(
            ca_bundle_tls(Some("".into())),
            None,
            "empty counts as unset"
        );
    }

    #[tokio::test]
    async fn unsupported_major_version_is_invalid_input() {
        let rule = secrets_by_arn();
        let engines = engines(&rule, bundle());
        let mut state = native_state();
        state["preflight"]["engineMajorVersion"] = json!(4);
        let replication = engines.for_state(&state).unwrap();
        let error = replication.start(&native_handle()).await.unwrap_err();
        assert!(error.to_string().contains("must be 2 or 3"), "{error}");
    }

    #[tokio::test]
    async fn secret_failures_name_the_arn_and_never_the_value() {
        let malformed = mock!(Client::get_secret_value).then_output(|| {
            GetSecretValueOutput::builder()
                .secret_string(format!(r#"{{"user":"repl","password":"{REPL_PASSWORD}"}}"#))
                .build()
        });
        let malformed_engines = engines(&malformed, bundle());
        let state = native_state();
        let replication = malformed_engines.for_state(&state).unwrap();
        let error = replication.stop(&native_handle()).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(SOURCE_SECRET), "{text}");
        assert!(!text.contains(REPL_PASSWORD), "{text}");
        assert_eq!(error.default_name(), "InvalidInput");

        let denied = mock!(Client::get_secret_value)
            .then_http_response(|| json_error(400, "AccessDeniedException"));
        let denying = engines(&denied, bundle());
        let replication = denying.for_state(&state).unwrap();
        assert!(matches!(
            replication.remove(&native_handle()).await.unwrap_err(),
            PortError::AccessDenied(_)
        ));
    }

    #[tokio::test]
    async fn a_dms_handle_is_refused_by_the_native_engine() {
        let (source, target) = secret_rules();
        let engines = engines_with_both_secrets(&source, &target);
        let state = native_state();
        let replication = engines.for_state(&state).unwrap();
        let handle = ReplicationHandle {
            engine: "dms".into(),
            ..native_handle()
        };
        let error = replication.status(&handle).await.unwrap_err();
        assert!(matches!(error, PortError::InvalidRequest(_)), "{error}");
    }
}
