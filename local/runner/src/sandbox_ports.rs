//! The pipeline's ports over the MariaDB sandbox: the sandbox's own adapters, `aurora-sql`'s
//! native replication, verifier and binlog retention reader, real time, and a drain tuned for
//! loopback servers (a read every 20 ms: the fenced window is downtime).

use std::sync::Arc;
use std::time::Duration;

use aurora_core::ports::{SystemClock, TokioSleeper};
use aurora_core::steps::binlog_position::DEFAULT_HORIZON;
use aurora_core::steps::drain::DrainSettings;
use aurora_core::steps::fence_writes::FenceSettings;
use aurora_core::steps::preflight::PreflightSettings;
use aurora_core::steps::restore::RestoreSettings;
use aurora_pipeline::Ports;
use aurora_sandbox::Sandbox;

use crate::AuroraVersioned;

/// What differs between a sandbox run and a Lambda's defaults.
#[derive(Debug, Clone, Copy)]
pub struct SandboxPortSettings {
    pub drain: DrainSettings,
    /// The parameter group's settling time. None by default: it passes in real time while the
    /// run's waits are scaled, so a scaled run would poll through it hundreds of times
    /// (`sandbox/tests/restore_encrypted.rs` covers the settling on the sandbox).
    pub restore: RestoreSettings,
    pub fence: FenceSettings,
}

impl Default for SandboxPortSettings {
    fn default() -> Self {
        Self {
            drain: DrainSettings {
                budget: Duration::from_secs(30),
                // Loopback servers answer a status read in a few milliseconds.
                interval: Duration::from_millis(20),
            },
            // Loopback servers end a session in microseconds; a fence that takes seconds here
            // is not going to hold.
            fence: FenceSettings {
                confirm_timeout: Duration::from_secs(10),
                // Like the drain: a read every 20 ms of loopback servers.
                catch_up_timeout: Duration::from_secs(30),
                catch_up_interval: Duration::from_millis(20),
            },
            restore: RestoreSettings {
                parameter_group_settle: time::Duration::ZERO,
            },
        }
    }
}

/// Ports for migrating `source_id` to `target_id` in `sandbox` (the target is created by the
/// run; its verifier connects when called).
pub fn sandbox_ports(
    sandbox: &Sandbox,
    source_id: &str,
    target_id: &str,
    settings: SandboxPortSettings,
) -> Ports {
    Ports {
        clusters: Arc::new(AuroraVersioned(sandbox.clusters())),
        parameters: Arc::new(sandbox.parameters()),
        kms: Arc::new(sandbox.kms()),
        retention: Some(Arc::new(sandbox.binlog_retention())),
        replication: Arc::new(sandbox.replication()),
        lag: Arc::new(sandbox.lag_metrics()),
        fence: Arc::new(sandbox.fence()),
        source_verifier: Arc::new(sandbox.lazy_verifier(source_id)),
        target_verifier: Arc::new(sandbox.lazy_verifier(target_id)),
        dns: Arc::new(sandbox.dns()),
        retirement: Arc::new(sandbox.retirement()),
        lock: Arc::new(sandbox.source_lock()),
        clock: Arc::new(SystemClock),
        sleeper: Arc::new(TokioSleeper),
        binlog_horizon: DEFAULT_HORIZON,
        preflight: PreflightSettings::default(),
        drain: settings.drain,
        restore: settings.restore,
        fence_sql: Arc::new(sandbox.fence_sql()),
        fence_settings: settings.fence,
        verify_online: Default::default(),
        warmer: Arc::new(sandbox.cache_warmer()),
        proxies: Arc::new(sandbox.proxies()),
        identity: Arc::new(sandbox.server_identity()),
    }
}

/// The source and target cluster ids a spec names (the target defaulted as preflight does);
/// `None` when the spec does not parse (preflight then reports why).
pub fn cluster_ids(spec: &serde_json::Value) -> Option<(String, String)> {
    let spec = aurora_core::spec::MigrationSpec::from_value(spec).ok()?;
    let target = spec.target_cluster_id();
    Some((spec.source_cluster_id, target))
}

/// [`cluster_ids`], with a source named only by `sourceClusterResourceId` (as the Config
/// trigger names it) looked up in `sandbox` first, as preflight will. An id the sandbox does
/// not know stays empty: preflight then refuses it by name.
pub async fn resolved_cluster_ids(
    sandbox: &Sandbox,
    spec: &serde_json::Value,
) -> Option<(String, String)> {
    let mut parsed = aurora_core::spec::MigrationSpec::from_value(spec).ok()?;
    if parsed.source_cluster_id.is_empty() {
        if let Some(resource_id) = &parsed.source_cluster_resource_id {
            use aurora_core::ports::Clusters;
            if let Ok(Some(id)) = sandbox
                .clusters()
                .cluster_id_by_resource_id(resource_id)
                .await
            {
                parsed.source_cluster_id = id;
            }
        }
    }
    let target = parsed.target_cluster_id();
    Some((parsed.source_cluster_id, target))
}
