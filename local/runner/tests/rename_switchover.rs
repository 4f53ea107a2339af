//! The rename method on the sandbox, real MariaDB servers, the real state machine, writers
//! connected to the source's cluster endpoint by name: the target takes the source's names and
//! the writers follow the name with no acknowledged write lost; a rename refused before the
//! target has taken the source's name is undone in reverse order, and the source is writable
//! under its own name.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use asl_engine::Status;
use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{
    Cluster, ClusterSnapshot, ClusterWindows, Clusters, CopyParameterGroupRequest,
    CreateInstanceRequest, CreateSnapshotRequest, CustomEndpoint, Instance, InstanceEvent,
    PortResult, RestoreClusterRequest,
};
use aurora_local::demo::{self, SOURCE, TARGET};
use aurora_local::writers::{WriteLoad, WriteLoadConfig};
use aurora_local::{sandbox_ports, SandboxPortSettings};
use aurora_sandbox::rename::cluster_dns_name;
use aurora_sandbox::Sandbox;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use time::OffsetDateTime;

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 200;

/// The source, and writers connected to its cluster endpoint by name.
async fn source_with_writers(sandbox: &Sandbox) -> WriteLoad {
    common::prepared_source(sandbox, ROWS).await;
    // Each cluster rename takes a moment, polled by the step.
    sandbox
        .set_rename_delay(Duration::from_millis(300))
        .unwrap();
    WriteLoad::start_through(
        sandbox,
        WriteLoadConfig {
            writers: 2,
            rate_per_second: 40.0,
            seeded_rows: ROWS,
            time_scale: TIME_SCALE,
            ..WriteLoadConfig::default()
        },
        &cluster_dns_name(SOURCE),
    )
    .unwrap()
}

fn spec() -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!("auto");
    demo::use_rename(&mut spec);
    spec
}

async fn read_only(sandbox: &Sandbox, cluster: &str) -> Option<u64> {
    let mut conn = sandbox.admin_conn(cluster).await.unwrap();
    let value = conn.query_first("SELECT @@global.read_only").await.unwrap();
    conn.disconnect().await.unwrap();
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_target_takes_the_sources_names_and_the_writers_follow() {
    if !common::mariadb_available("rename switchover") {
        return;
    }
    common::with_sandbox(common::sandbox("rename-switchover"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        // A custom endpoint of the source's, which the switchover moves to the target.
        sandbox
            .create_custom_endpoint(&CustomEndpoint {
                id: "orders-analytics".into(),
                cluster_id: SOURCE.into(),
                status: String::new(),
                endpoint_type: "ANY".into(),
                static_members: vec![format!("{SOURCE}-instance-1")],
                excluded_members: Vec::new(),
            })
            .await
            .unwrap();
        let ports = sandbox_ports(&sandbox, SOURCE, TARGET, SandboxPortSettings::default());
        let outcome = common::run(ports, spec(), TIME_SCALE).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writes = load.stop().await;
        let Status::Succeeded(output) = &outcome.status else {
            panic!("{:?}", outcome.status);
        };
        let away = output["sourceClusterId"].as_str().unwrap().to_string();
        assert!(away.starts_with("orders-old-"), "{away}");
        assert_eq!(output["targetClusterId"], SOURCE);
        // `orders` is the encrypted target now, at the address its name resolves to.
        let host = sandbox.endpoint(SOURCE).unwrap().host;
        let resolved = sandbox
            .dns()
            .lookup(aurora_sandbox::ZONE_ID, &cluster_dns_name(SOURCE))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.host, host);
        assert!(
            sandbox.endpoint(TARGET).is_none(),
            "no cluster of the target's old name"
        );
        // The custom endpoint moved: same name and members, on the target, leading to it.
        let moved = sandbox.custom_endpoint("orders-analytics").unwrap();
        assert_eq!(
            (moved.cluster_id.as_str(), moved.status.as_str()),
            (SOURCE, "available")
        );
        assert_eq!(moved.static_members, [format!("{SOURCE}-instance-1")]);
        let custom = sandbox
            .dns()
            .lookup(
                aurora_sandbox::ZONE_ID,
                &aurora_sandbox::rename::custom_endpoint_dns_name("orders-analytics"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(custom.host, host);
        assert!(sandbox.endpoint(&away).is_some());
        assert_eq!(
            read_only(&sandbox, SOURCE).await,
            Some(0),
            "the target is writable"
        );
        let check = common::assert_every_write_on(&sandbox, SOURCE, &writes.inserted_ids()).await;
        assert!(check.acknowledged > 20, "the writers wrote: {check:?}");
        assert!(
            writes.acks.iter().any(|a| a.host == host),
            "writes reached the target through the name"
        );
        // The old cluster keeps its fence under its new name; replication into the target stopped.
        assert_eq!(read_only(&sandbox, &away).await, Some(1));
        assert_eq!(output["stop"]["stopped"], true, "{}", output["stop"]);
        assert!(
            !output["stop"]["status"].is_null(),
            "the replication was found under the target's new name: {}",
            output["stop"]
        );
    })
    .await;
}

/// The sandbox's clusters, with the `n`-th instance rename refused as RDS refuses one for an
/// instance that is not available.
struct RefusedRename {
    inner: Arc<dyn Clusters>,
    n: usize,
    renames: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Clusters for RefusedRename {
    async fn describe_cluster(&self, id: &str) -> PortResult<Option<Cluster>> {
        self.inner.describe_cluster(id).await
    }
    async fn describe_instance(&self, id: &str) -> PortResult<Option<Instance>> {
        self.inner.describe_instance(id).await
    }
    async fn describe_cluster_snapshot(&self, id: &str) -> PortResult<Option<ClusterSnapshot>> {
        self.inner.describe_cluster_snapshot(id).await
    }
    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot> {
        self.inner.create_cluster_snapshot(request).await
    }
    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()> {
        self.inner.copy_cluster_parameter_group(request).await
    }
    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()> {
        self.inner.restore_cluster(request).await
    }
    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()> {
        self.inner.create_instance(request).await
    }
    async fn set_windows(&self, id: &str, windows: &ClusterWindows) -> PortResult<()> {
        self.inner.set_windows(id, windows).await
    }
    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        self.inner.rename_cluster(from, to).await
    }
    async fn custom_endpoints(&self, id: &str) -> PortResult<Vec<CustomEndpoint>> {
        self.inner.custom_endpoints(id).await
    }
    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        self.inner.create_custom_endpoint(endpoint).await
    }
    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        self.inner.delete_custom_endpoint(id).await
    }
    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        let n = self
            .renames
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n + 1 == self.n {
            return Err(PortError::InvalidState(format!(
                "InvalidDBInstanceStateFault: {from} is not available"
            )));
        }
        self.inner.rename_instance(from, to).await
    }
    async fn instance_events(
        &self,
        id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>> {
        self.inner.instance_events(id, since).await
    }
    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        self.inner.cluster_id_by_resource_id(resource_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rename_refused_half_way_is_undone_and_the_source_serves_under_its_name() {
    if !common::mariadb_available("rename undone") {
        return;
    }
    common::with_sandbox(common::sandbox("rename-undone"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut ports = sandbox_ports(&sandbox, SOURCE, TARGET, SandboxPortSettings::default());
        // The source is renamed away; its instance's rename is refused, before the target has
        // taken any of the source's names.
        ports.clusters = Arc::new(RefusedRename {
            inner: ports.clusters.clone(),
            n: 1,
            renames: std::sync::atomic::AtomicUsize::new(0),
        });
        let outcome = common::run(ports, spec(), TIME_SCALE).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "RenameFailed", "{cause}");
        assert!(common::entered(&outcome, "UndoRenames"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        // Both clusters have their own names again, and the source is writable.
        let source = sandbox.endpoint(SOURCE).unwrap().host;
        assert!(sandbox.endpoint(TARGET).is_some());
        let resolved = sandbox
            .dns()
            .lookup(aurora_sandbox::ZONE_ID, &cluster_dns_name(SOURCE))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.host, source, "the name leads to the source again");
        assert_eq!(read_only(&sandbox, SOURCE).await, Some(0));
        common::assert_every_write_on(&sandbox, SOURCE, &writes.inserted_ids()).await;
        let ended = outcome.history.last().map(|e| e.timestamp).unwrap();
        assert!(
            writes.acks.iter().any(|a| a.at > ended),
            "writes resumed on the source under its name"
        );
    })
    .await;
}
