//! The AWS backend of `run --local`: the pipeline's ports over the same adapters the Lambdas
//! use, so a laptop with credentials drives a real migration. What a Lambda reads from the
//! state document (the replication engine, endpoints for SQL) is resolved here when a port is
//! called, from the spec and `DescribeDBClusters`.
//!
//! Refused before anything starts, with a named error: no AWS region configured
//! (`AwsRegionMissing`); SQL access needed (verification, the native engine) without an RDS CA
//! bundle to verify the servers' certificates (`RdsCaBundleMissing`); no `SOURCE_LOCK_TABLE`
//! naming the stack's source lock table (`SourceLockTableMissing`).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_aws::rds_ca::ca_bundle_tls;
use aurora_aws::rds_writers::writer_endpoint;
use aurora_aws::replication_engine::ReplicationEngines;
use aurora_core::errors::PortError;
use aurora_core::ports::{
    CdcRequest, Clusters, PortResult, Replication, ReplicationHandle, ReplicationStatus,
    SystemClock, TokioSleeper,
};
use aurora_core::spec::{MigrationSpec, ReplicationSpec};
use aurora_core::steps::fence_writes::FenceSettings;
use aurora_core::steps::preflight::{engine_major_version, PreflightSettings};
use aurora_core::steps::{binlog_position, drain::DrainSettings};
use aurora_pipeline::Ports;
use aurora_sql::{SqlBinlogRetention, SqlCacheWarmer, SqlFence, Tls, WriterVerifier};
use serde_json::{json, Value};

/// Why the AWS backend cannot start.
#[derive(Debug)]
pub(crate) struct NotRunnable {
    pub name: &'static str,
    pub message: String,
}

/// The replication engine the spec names, through the Lambdas' own chooser, with the state
/// document it reads built from the spec and the clusters as they are now.
struct AwsReplication {
    engines: ReplicationEngines,
    clusters: Arc<aurora_aws::RdsClusters>,
    replication: Value,
    native: bool,
    source_id: String,
    target_id: String,
}

impl AwsReplication {
    async fn state(&self) -> PortResult<Value> {
        if !self.native {
            return Ok(json!({ "replication": self.replication }));
        }
        let source = writer_endpoint(&*self.clusters, &self.source_id).await?;
        let target = writer_endpoint(&*self.clusters, &self.target_id).await?;
        let version = self
            .clusters
            .describe_cluster(&self.source_id)
            .await?
            .map(|c| c.engine_version)
            .unwrap_or_default();
        Ok(json!({
            "replication": self.replication,
            "restore": { "sourceEndpoint": source, "targetEndpoint": target },
            "preflight": { "engineMajorVersion": engine_major_version(&version) },
        }))
    }
}

fn invalid(e: impl std::fmt::Display) -> PortError {
    PortError::InvalidRequest(e.to_string())
}

#[async_trait]
impl Replication for AwsReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        let state = self.state().await?;
        let engine = self.engines.for_state(&state).map_err(invalid)?;
        engine.ensure_cdc(request).await
    }
    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        let state = self.state().await?;
        let engine = self.engines.for_state(&state).map_err(invalid)?;
        engine.start(handle).await
    }
    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        let state = self.state().await?;
        let engine = self.engines.for_state(&state).map_err(invalid)?;
        engine.status(handle).await
    }
    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        let state = self.state().await?;
        let engine = self.engines.for_state(&state).map_err(invalid)?;
        engine.stop(handle).await
    }
    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        let state = self.state().await?;
        let engine = self.engines.for_state(&state).map_err(invalid)?;
        engine.remove(handle).await
    }
}

/// Ports over AWS for `spec`, or why they cannot work from here.
pub(crate) async fn ports(spec: &Value, ca_bundle: Option<PathBuf>) -> Result<Ports, NotRunnable> {
    let parsed = MigrationSpec::from_value(spec).map_err(|e| NotRunnable {
        name: "InvalidInput",
        message: e.to_string(),
    })?;
    let config = aurora_aws::load_config().await;
    if config.region().is_none() {
        return Err(NotRunnable {
            name: "AwsRegionMissing",
            message: "no AWS region is configured: set AWS_REGION or a profile's region".into(),
        });
    }
    // A local run holds its source's lock in the deployed stack's table like an execution does,
    // so it never overlaps one (its holder is a local execution: only its lease counts).
    let lock = aurora_aws::DynamoSourceLock::from_env(&config).map_err(|_| NotRunnable {
        name: "SourceLockTableMissing",
        message: "set SOURCE_LOCK_TABLE to the stack's source lock table (output SourceLockTableName): a local run takes its source's lock there".into(),
    })?;
    let tls = ca_bundle_tls(
        ca_bundle
            .map(PathBuf::into_os_string)
            .or_else(|| std::env::var_os("RDS_CA_BUNDLE")),
    );
    let native = matches!(parsed.replication, ReplicationSpec::Native(_));
    // The fence's SQL half (ending sessions, confirming, the marker) always speaks SQL.
    let Some(tls) = tls else {
        return Err(NotRunnable {
            name: "RdsCaBundleMissing",
            message: "the fence, the drain's marker, verification and the native engine connect to the clusters over TLS: pass --rds-ca-bundle global-bundle.pem (or set RDS_CA_BUNDLE)".into(),
        });
    };
    if let Tls::Required { root_certs } = &tls {
        for bundle in root_certs {
            aurora_sql::check_ca_bundle(bundle).map_err(|e| NotRunnable {
                name: "RdsCaBundleMissing",
                message: e.to_string(),
            })?;
        }
    }
    let (source_secret, target_secret) = match &parsed.replication {
        ReplicationSpec::Dms(d) => (d.source_secret_arn.clone(), d.target_secret_arn.clone()),
        ReplicationSpec::Native(n) => (n.source_secret_arn.clone(), n.target_secret_arn.clone()),
    };
    let clusters = Arc::new(aurora_aws::RdsClusters::new(&config));
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let source_id = parsed.source_cluster_id.clone();
    let target_id = parsed.target_cluster_id();
    // The fence's SQL half and both verifiers log in to each cluster's writer endpoint with the
    // secret the spec names for that side (the source's must be the master user, or hold
    // `CONNECTION_ADMIN`).
    let writers = Arc::new(
        aurora_aws::RdsWriters::new((*clusters).clone(), secrets.clone(), tls.clone())
            .with_secret(&source_id, &source_secret)
            .with_secret(&target_id, &target_secret),
    );
    Ok(Ports {
        clusters: clusters.clone(),
        parameters: Arc::new(aurora_aws::RdsClusterParameters::new(&config)),
        kms: Arc::new(aurora_aws::AwsKmsKeys::new(&config)),
        retention: (tls != Tls::Disabled).then(|| {
            Arc::new(SqlBinlogRetention::new(
                Arc::new(secrets.clone()),
                tls.clone(),
            )) as Arc<dyn aurora_core::ports::BinlogRetention>
        }),
        replication: Arc::new(AwsReplication {
            engines: ReplicationEngines::new(
                aurora_aws::DmsReplication::new(&config),
                aurora_aws::SecretsManagerSecrets::new(&config),
                (tls != Tls::Disabled).then(|| tls.clone()),
            ),
            clusters: clusters.clone(),
            replication: spec.get("replication").cloned().unwrap_or(Value::Null),
            native,
            source_id: source_id.clone(),
            target_id: target_id.clone(),
        }),
        lag: Arc::new(aurora_aws::CloudWatchLag::new(&config)),
        fence: Arc::new(aurora_aws::RdsWriteFence::new(&config)),
        source_verifier: Arc::new(WriterVerifier::new(writers.clone(), source_id.clone())),
        target_verifier: Arc::new(WriterVerifier::new(writers.clone(), target_id.clone())),
        dns: Arc::new(aurora_aws::Route53Dns::new(&config)),
        retirement: Arc::new(aurora_aws::RdsClusterRetirement::new(&config)),
        lock: Arc::new(lock),
        clock: Arc::new(SystemClock),
        sleeper: Arc::new(TokioSleeper),
        binlog_horizon: binlog_position::DEFAULT_HORIZON,
        preflight: PreflightSettings::default(),
        drain: DrainSettings::default(),
        restore: aurora_core::steps::restore::RestoreSettings::default(),
        fence_sql: Arc::new(SqlFence::new(writers)),
        fence_settings: FenceSettings::default(),
        verify_online: Default::default(),
        warmer: Arc::new(SqlCacheWarmer::new(Arc::new(secrets.clone()), tls.clone())),
        proxies: Arc::new(aurora_aws::RdsProxies::new(&config)),
        identity: Arc::new(aurora_sql::SqlServerIdentity::new(
            Arc::new(secrets.clone()),
            tls.clone(),
        )),
    })
}
