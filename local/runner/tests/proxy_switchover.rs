//! The RDS Proxy method on the sandbox, real MariaDB servers, the real state machine, writers
//! connected through the sandbox's proxy: the switchover moves the proxy to the target with no
//! acknowledged write lost, and a target the proxy cannot reach (its security group refuses the
//! proxy) is moved back, with the source writable behind the proxy again.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use asl_engine::Status;
use async_trait::async_trait;
use aurora_core::ports::{PortResult, Proxy, ProxyTarget, ProxyTargets};
use aurora_local::demo::{self, DEMO_PROXY, SOURCE, TARGET};
use aurora_local::writers::{WriteLoad, WriteLoadConfig};
use aurora_local::{sandbox_ports, SandboxPortSettings};
use aurora_sandbox::network::FENCE_SECURITY_GROUP;
use aurora_sandbox::proxy::proxy_dns_name;
use aurora_sandbox::Sandbox;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 200;

/// The source, its proxy, and writers connected through the proxy.
async fn source_behind_proxy(sandbox: &Sandbox) -> WriteLoad {
    common::prepared_source(sandbox, ROWS).await;
    sandbox
        .create_proxy(DEMO_PROXY, SOURCE, Duration::from_millis(300))
        .await
        .unwrap();
    WriteLoad::start_through(
        sandbox,
        WriteLoadConfig {
            writers: 2,
            rate_per_second: 40.0,
            seeded_rows: ROWS,
            ..WriteLoadConfig::default()
        },
        &proxy_dns_name(DEMO_PROXY),
    )
    .unwrap()
}

fn spec() -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!("auto");
    demo::use_proxy(&mut spec);
    spec["proxy"]["timeoutSeconds"] = json!(30);
    spec
}

/// Which cluster the proxy tracks now.
async fn tracked(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .proxies()
        .targets(DEMO_PROXY)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.kind == "TRACKED_CLUSTER")
        .filter_map(|t| t.cluster_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_proxy_moves_to_the_target_and_no_acknowledged_write_is_lost() {
    if !common::mariadb_available("proxy switchover") {
        return;
    }
    common::with_sandbox(common::sandbox("proxy-switchover"), |sandbox| async move {
        let load = source_behind_proxy(&sandbox).await;
        let ports = sandbox_ports(&sandbox, SOURCE, TARGET, SandboxPortSettings::default());
        let outcome = common::run(ports, spec(), TIME_SCALE).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writes = load.stop().await;
        let Status::Succeeded(output) = &outcome.status else {
            panic!("{:?}", outcome.status);
        };
        assert_eq!(tracked(&sandbox).await, [TARGET]);
        assert!(output["proxyConfirmed"]["server"]
            .as_str()
            .unwrap()
            .starts_with("server_id="));
        assert!(!common::entered(&outcome, "SwapDns"));
        let check = common::assert_every_write_on(&sandbox, TARGET, &writes.inserted_ids()).await;
        assert!(check.acknowledged > 20, "the writers wrote: {check:?}");
        // Writes after the switchover went through the proxy to the target.
        let swapped = outcome
            .history
            .iter()
            .rev()
            .find(|e| e.state_name() == Some("ConfirmProxy"))
            .map(|e| e.timestamp)
            .unwrap();
        assert!(writes.acks.iter().any(|a| a.at > swapped), "writes resumed");
    })
    .await;
}

/// The proxy port, with the target put in the fence security group (which refuses the
/// application, and so the proxy) just before the proxy registers it.
struct TargetUnreachable {
    inner: Arc<dyn ProxyTargets>,
    sandbox: Sandbox,
}

#[async_trait]
impl ProxyTargets for TargetUnreachable {
    async fn describe_proxy(&self, name: &str) -> PortResult<Option<Proxy>> {
        self.inner.describe_proxy(name).await
    }
    async fn targets(&self, name: &str) -> PortResult<Vec<ProxyTarget>> {
        self.inner.targets(name).await
    }
    async fn register_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        if cluster_id == TARGET {
            self.sandbox
                .set_security_groups(TARGET, vec![FENCE_SECURITY_GROUP.into()])
                .unwrap();
        }
        self.inner.register_cluster(name, cluster_id).await
    }
    async fn deregister_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        self.inner.deregister_cluster(name, cluster_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_the_proxy_cannot_reach_moves_the_proxy_back_and_the_source_serves() {
    if !common::mariadb_available("proxy unreachable") {
        return;
    }
    common::with_sandbox(common::sandbox("proxy-unreachable"), |sandbox| async move {
        let load = source_behind_proxy(&sandbox).await;
        let mut ports = sandbox_ports(&sandbox, SOURCE, TARGET, SandboxPortSettings::default());
        ports.proxies = Arc::new(TargetUnreachable {
            inner: ports.proxies.clone(),
            sandbox: sandbox.clone(),
        });
        let outcome = common::run(ports, spec(), TIME_SCALE).await;
        // Writing again through the proxy, now to the source.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "ProxyTargetUnavailable", "{cause}");
        assert!(cause.contains("CONNECTION_FAILED"), "{cause}");
        assert!(common::entered(&outcome, "RevertProxy"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        assert_eq!(tracked(&sandbox).await, [SOURCE]);
        let mut conn = sandbox.admin_conn(SOURCE).await.unwrap();
        let read_only: Option<u64> = conn.query_first("SELECT @@global.read_only").await.unwrap();
        conn.disconnect().await.unwrap();
        assert_eq!(read_only, Some(0), "the source is writable");
        common::assert_every_write_on(&sandbox, SOURCE, &writes.inserted_ids()).await;
        let ended = outcome.history.last().map(|e| e.timestamp).unwrap();
        assert!(
            writes.acks.iter().any(|a| a.at > ended),
            "writes resumed on the source through the proxy"
        );
    })
    .await;
}
