//! The write fence on a real server, and the sandbox's lifecycle: state survives reopening,
//! `destroy` stops every server and removes the directory.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aurora_core::ports::{
    FenceRecord, FenceSql, SessionFenceOutcome, SessionFenceRequest, WriteFence,
};
use aurora_core::spec::FenceMethod;
use aurora_sandbox::{server, Sandbox, SandboxConfig};
use mysql_async::prelude::Queryable;

async fn app_conn(sandbox: &Sandbox, cluster: &str) -> mysql_async::Conn {
    let endpoint = sandbox.endpoint(cluster).unwrap();
    let credentials = sandbox.app_credentials().unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(endpoint.host)
        .tcp_port(endpoint.port as u16)
        .user(Some(credentials.user))
        .pass(Some(credentials.password))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.unwrap()
}

fn record(cluster: &str, original: Option<String>) -> FenceRecord {
    FenceRecord {
        cluster_id: cluster.into(),
        methods: vec![FenceMethod::ReadOnly],
        original_security_group_ids: None,
        fence_security_group_id: None,
        parameter_group: None,
        original_read_only: original,
        fenced_at: time::OffsetDateTime::now_utc(),
    }
}

const READ_ONLY_ERROR: u16 = 1290; // ER_OPTION_PREVENTS_STATEMENT

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_stops_application_writes_its_sql_half_ends_sessions_and_lift_restores() {
    common::with_sandbox(common::sandbox("fence"), |sandbox| async move {
        sandbox.create_source_cluster("orders").await.unwrap();
        sandbox.seed_sample("orders", 10).await.unwrap();
        let fence = sandbox.fence();
        let before = fence.current("orders").await.unwrap();
        assert_eq!(before.read_only.as_deref(), Some("0"));

        // GIVEN an application session in the middle of a transaction
        let mut app = app_conn(&sandbox, "orders").await;
        app.query_drop("BEGIN").await.unwrap();
        app.query_drop("INSERT INTO shop.audit_log VALUES (NOW(6), 'app', 'in flight')")
            .await
            .unwrap();

        // WHEN the control-plane half of the fence is applied
        let fenced = record("orders", before.read_only.clone());
        fence.apply(&fenced).await.unwrap();
        // THEN, as on Aurora, the open session is untouched by it
        let alive: Option<u8> = app.query_first("SELECT 1").await.unwrap();
        assert_eq!(alive, Some(1));

        // WHEN the SQL half (aurora-sql's, as on AWS) runs
        let outcome = sandbox
            .fence_sql()
            .end_sessions_and_confirm(&SessionFenceRequest {
                cluster_id: "orders".into(),
                read_only: true,
                new_connections_refused: false,
                execution: "exec-1".into(),
                timeout: Duration::from_secs(10),
            })
            .await
            .unwrap();
        let SessionFenceOutcome::Confirmed(confirmation) = outcome else {
            panic!("not confirmed: {outcome:?}")
        };
        assert!(confirmation.sessions_ended >= 1, "{confirmation:?}");

        // THEN the session is gone and its transaction with it
        let commit = app.query_drop("COMMIT").await;
        assert!(commit.is_err(), "the fenced session must be ended");
        let mut admin = sandbox.admin_conn("orders").await.unwrap();
        let in_flight: Option<u64> = admin
            .query_first("SELECT COUNT(*) FROM shop.audit_log WHERE message = 'in flight'")
            .await
            .unwrap();
        assert_eq!(in_flight, Some(0));
        // AND a new application session cannot write
        let mut app = app_conn(&sandbox, "orders").await;
        let err = app
            .query_drop("INSERT INTO shop.audit_log VALUES (NOW(6), 'app', 'fenced')")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, mysql_async::Error::Server(e) if e.code == READ_ONLY_ERROR),
            "{err:?}"
        );
        // AND the administrator's own session survives and the record is saved
        let read_only: Option<u64> = admin.query_first("SELECT @@read_only").await.unwrap();
        assert_eq!(read_only, Some(1));
        assert_eq!(
            fence.saved_record("orders").await.unwrap(),
            Some(fenced.clone())
        );
        assert_eq!(
            fence.current("orders").await.unwrap().read_only.as_deref(),
            Some("1")
        );
        // AND a retried apply is harmless
        fence.apply(&fenced).await.unwrap();
        drop(app);

        // WHEN the fence is lifted
        fence.lift(&fenced).await.unwrap();

        // THEN the application writes again and nothing is left saved
        let mut app = app_conn(&sandbox, "orders").await;
        app.query_drop("INSERT INTO shop.audit_log VALUES (NOW(6), 'app', 'after')")
            .await
            .unwrap();
        assert_eq!(
            fence.current("orders").await.unwrap().read_only.as_deref(),
            Some("0")
        );
        assert_eq!(fence.saved_record("orders").await.unwrap(), None);
        app.disconnect().await.unwrap();
        admin.disconnect().await.unwrap();

        let mut sg = record("orders", None);
        sg.methods = vec![FenceMethod::SecurityGroup];
        assert!(matches!(
            fence.apply(&sg).await,
            Err(aurora_core::PortError::InvalidRequest(_))
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_reopening_and_destroy_stops_every_server() {
    let sandbox = common::sandbox("lifecycle");
    let dir = sandbox.dir().to_path_buf();
    let created = sandbox.create_source_cluster("orders").await.unwrap();
    assert_ne!(created.host.to_string(), "127.0.0.1");
    assert!(
        created.engine_version.contains("MariaDB"),
        "{}",
        created.engine_version
    );

    // A second process (here: a second handle) opening the same directory sees the cluster
    // running, and can reach it.
    sandbox.detach();
    let pid = sandbox.status()[0].pid.unwrap();
    drop(sandbox);
    assert!(server::process_alive(pid), "detached servers keep running");
    let reopened = Sandbox::open(SandboxConfig::new(&dir)).unwrap();
    let status = reopened.status();
    assert_eq!(status.len(), 1);
    assert!(status[0].running);
    assert_eq!(status[0].status, "available");
    let version = reopened.server_version("orders").await.unwrap();
    assert!(version.contains("MariaDB"));
    let resolved = reopened
        .dns()
        .lookup(aurora_sandbox::ZONE_ID, aurora_sandbox::APP_RECORD)
        .unwrap()
        .unwrap();
    assert_eq!(resolved.host, created.host.to_string());

    reopened.destroy().await.unwrap();
    assert!(!server::process_alive(pid));
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_attached_sandbox_kills_its_servers() {
    let sandbox = common::sandbox("drop");
    let dir = sandbox.dir().to_path_buf();
    sandbox.create_source_cluster("orders").await.unwrap();
    let pid = sandbox.status()[0].pid.unwrap();
    drop(sandbox);
    common::eventually("the server to die", Duration::from_secs(60), || async {
        (!server::process_alive(pid)).then_some(())
    })
    .await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// A connection to `cluster`'s application endpoint (through the security-group proxy), or the
/// reason it failed within `timeout`.
async fn through_endpoint(
    sandbox: &Sandbox,
    proxies: &aurora_sandbox::network::EndpointProxies,
    cluster: &str,
    timeout: Duration,
) -> Result<mysql_async::Conn, String> {
    let host: std::net::Ipv4Addr = sandbox.endpoint(cluster).unwrap().host.parse().unwrap();
    proxies.serve(host);
    let credentials = sandbox.app_credentials().unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(proxies.port())
        .user(Some(credentials.user))
        .pass(Some(credentials.password))
        .prefer_socket(false);
    match tokio::time::timeout(timeout, mysql_async::Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_security_group_refuses_new_application_connections_and_keeps_open_ones() {
    common::with_sandbox(common::sandbox("security-group"), |sandbox| async move {
        use aurora_sandbox::network::{
            EndpointProxies, APPLICATION_SECURITY_GROUP, FENCE_SECURITY_GROUP,
        };
        sandbox.create_source_cluster("orders").await.unwrap();
        sandbox.seed_sample("orders", 10).await.unwrap();
        let fence = sandbox.fence();
        let proxies = EndpointProxies::new(sandbox.clone());
        let before = fence.current("orders").await.unwrap();
        assert_eq!(before.security_group_ids, vec![APPLICATION_SECURITY_GROUP]);

        // GIVEN an application session opened through the endpoint
        let mut open = through_endpoint(&sandbox, &proxies, "orders", Duration::from_secs(5))
            .await
            .unwrap();
        // WHEN the source is moved onto the fence group
        let fenced = FenceRecord {
            methods: vec![FenceMethod::SecurityGroup],
            original_security_group_ids: Some(before.security_group_ids.clone()),
            fence_security_group_id: Some(FENCE_SECURITY_GROUP.into()),
            ..record("orders", None)
        };
        fence.apply(&fenced).await.unwrap();
        assert_eq!(
            fence.current("orders").await.unwrap().security_group_ids,
            vec![FENCE_SECURITY_GROUP]
        );
        // THEN the open session still writes: security groups never cut tracked connections
        open.query_drop("INSERT INTO shop.audit_log VALUES (NOW(6), 'app', 'kept')")
            .await
            .unwrap();
        // AND a new one is never answered, as when the group drops the SYN
        let refused =
            through_endpoint(&sandbox, &proxies, "orders", Duration::from_millis(500)).await;
        assert_eq!(refused.err().as_deref(), Some("no answer"));
        // AND the control plane still reaches the server
        sandbox.admin_conn("orders").await.unwrap();

        // WHEN the fence is lifted THEN new sessions are admitted again
        fence.lift(&fenced).await.unwrap();
        assert_eq!(
            fence.current("orders").await.unwrap().security_group_ids,
            vec![APPLICATION_SECURITY_GROUP]
        );
        through_endpoint(&sandbox, &proxies, "orders", Duration::from_secs(5))
            .await
            .unwrap();

        // AND a group the sandbox does not have is refused, as by RDS
        let unknown = FenceRecord {
            fence_security_group_id: Some("sg-0123456789abcdef0".into()),
            ..fenced
        };
        assert!(fence.apply(&unknown).await.is_err());
        let _ = open.disconnect().await;
    })
    .await;
}
