//! The SQL adapters against real MariaDB servers started by the `testing` harness. MariaDB has
//! no `mysql.rds_*` procedures, so every replication test installs the stand-ins of
//! `aurora_sql::RDS_STAND_INS` (wrapping CHANGE MASTER TO / START SLAVE / STOP SLAVE /
//! RESET SLAVE ALL) on the target first: the adapter's own SQL is what runs.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    BinlogRetention, CdcRequest, Replication, ReplicationHandle, ReplicationState,
    ReplicationStatus, RetentionChange, ServerIdentity, TableDigest, Verifier, VerifyDepth,
};
use aurora_core::spec::{NativeReplication as NativeSpec, ReplicationSpec};
use aurora_sql::testing::{ServerOptions, TestServer};
use aurora_sql::{
    AuroraMajorVersion, ConnectionSettings, Credentials, NativeReplication, SecretValue,
    SqlBinlogRetention, SqlServerIdentity, SqlVerifier, StaticSecrets, Tls,
};
use mysql_async::prelude::Queryable;

const REPLICATION_PASSWORD: &str = "Repl-pa55word-that-must-never-show";
/// Generous: a loaded 2-core machine applies events slowly.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Polls `probe` until it returns `Some`, panicking with the last observation on timeout.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if started.elapsed() > CONVERGE_TIMEOUT => {
                panic!("{what}: not reached after {CONVERGE_TIMEOUT:?}; last: {last}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

async fn master_status(server: &TestServer) -> BinlogPosition {
    let mut conn = server.conn().await.unwrap();
    let rows: Vec<mysql_async::Row> = conn.query("SHOW MASTER STATUS").await.unwrap();
    let file: String = rows[0].get("File").unwrap();
    let position: u64 = rows[0].get("Position").unwrap();
    conn.disconnect().await.unwrap();
    BinlogPosition::new(file, position)
}

async fn ids(server: &TestServer) -> Vec<i64> {
    let mut conn = server.conn().await.unwrap();
    let ids = conn
        .query("SELECT id FROM shop.orders ORDER BY id")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    ids
}

const SCHEMA: &str = "CREATE DATABASE shop; \
     CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, note VARCHAR(100), body BLOB) ENGINE=InnoDB;";

/// A source and a target that start as copies of each other (what a restored snapshot is), with
/// the replication user on the source and the stand-ins on the target.
struct Pair {
    source: TestServer,
    target: TestServer,
}

impl Pair {
    async fn start() -> Pair {
        let (source, target) = tokio::join!(TestServer::start(1), TestServer::start(2));
        let (source, target) = (source.unwrap(), target.unwrap());
        source
            .create_replication_user(&Credentials::new("repl", REPLICATION_PASSWORD))
            .await
            .unwrap();
        target.install_rds_stand_ins().await.unwrap();
        source.execute(SCHEMA).await.unwrap();
        target
            .execute(&format!("SET SESSION sql_log_bin = 0; {SCHEMA}"))
            .await
            .unwrap();
        Pair { source, target }
    }

    fn engine(&self, major: AuroraMajorVersion) -> NativeReplication {
        NativeReplication::new(
            major,
            self.source.admin(),
            self.target.admin(),
            Credentials::new("repl", REPLICATION_PASSWORD),
        )
        .with_replication_ssl(false)
    }

    fn request(&self, start: BinlogPosition) -> CdcRequest {
        CdcRequest {
            name: "aurora-encrypt-shop-encrypted".into(),
            source: self.source.endpoint("shop"),
            target: self.target.endpoint("shop-encrypted"),
            start,
            settings: ReplicationSpec::Native(NativeSpec {
                source_secret_arn: "arn:aws:secretsmanager:eu-west-1:1:secret:repl".into(),
                target_secret_arn: "arn:aws:secretsmanager:eu-west-1:1:secret:admin".into(),
            }),
            tags: Vec::new(),
        }
    }
}

async fn in_sync(engine: &NativeReplication, handle: &ReplicationHandle) -> ReplicationStatus {
    eventually("replication in sync", || async {
        let status = engine.status(handle).await.map_err(|e| e.to_string())?;
        let equal = status
            .positions
            .as_ref()
            .is_some_and(|p| p.source == p.applied);
        if status.state == ReplicationState::Running && equal {
            Ok(status)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn replication_from_a_position_applies_only_later_writes_and_converges() {
    let pair = Pair::start().await;
    // Written before the start position and missing on the target: must never arrive.
    pair.source
        .execute("INSERT INTO shop.orders VALUES (1, 'before', NULL)")
        .await
        .unwrap();
    let start = master_status(&pair.source).await;
    pair.source
        .execute("INSERT INTO shop.orders VALUES (2, 'after', 'x'), (3, 'after', NULL)")
        .await
        .unwrap();
    let engine = pair.engine(AuroraMajorVersion::Two);
    let handle = engine
        .ensure_cdc(&pair.request(start.clone()))
        .await
        .unwrap();
    assert_eq!(handle.engine, "native");
    assert_eq!(handle.id, "shop-encrypted");

    // Configured, never started: ready, at the start position, behind the source.
    let idle = engine.status(&handle).await.unwrap();
    assert_eq!(idle.state, ReplicationState::Ready, "{idle:?}");
    let positions = idle.positions.clone().unwrap();
    assert_eq!(positions.applied, start);
    assert!(positions.source > positions.applied, "{positions:?}");
    assert_eq!(idle.cdc_latency_seconds, None);

    engine.start(&handle).await.unwrap();
    engine.start(&handle).await.unwrap();
    let synced = in_sync(&engine, &handle).await;
    assert_eq!(synced.cdc_latency_seconds, Some(0));
    assert_eq!(synced.last_failure, None);
    assert_eq!(ids(&pair.target).await, vec![2, 3]);

    // Later writes keep flowing.
    pair.source
        .execute("UPDATE shop.orders SET note = 'changed' WHERE id = 2; INSERT INTO shop.orders VALUES (4, 'later', NULL)")
        .await
        .unwrap();
    in_sync(&engine, &handle).await;
    assert_eq!(ids(&pair.target).await, vec![2, 3, 4]);

    // A binlog rotation with nothing written after it still converges (a fenced source may
    // rotate while the drain waits).
    pair.source.execute("FLUSH BINARY LOGS").await.unwrap();
    let rotated = in_sync(&engine, &handle).await;
    assert_ne!(rotated.positions.unwrap().source.file, start.file);
}

#[tokio::test]
async fn a_blocked_replica_reports_lag_until_the_positions_meet() {
    let pair = Pair::start().await;
    let engine = pair.engine(AuroraMajorVersion::Three);
    let handle = engine
        .ensure_cdc(&pair.request(master_status(&pair.source).await))
        .await
        .unwrap();
    engine.start(&handle).await.unwrap();
    in_sync(&engine, &handle).await;

    // A lock on the target holds the SQL thread while the source moves on.
    let mut blocker = pair.target.conn().await.unwrap();
    blocker
        .query_drop("LOCK TABLES shop.orders WRITE")
        .await
        .unwrap();
    pair.source
        .execute("INSERT INTO shop.orders VALUES (10, 'blocked', NULL)")
        .await
        .unwrap();
    let lagging = eventually("lag visible", || async {
        let status = engine.status(&handle).await.map_err(|e| e.to_string())?;
        match &status.positions {
            Some(p) if p.source > p.applied && status.state == ReplicationState::Running => {
                Ok(status)
            }
            _ => Err(format!("{status:?}")),
        }
    })
    .await;
    assert!(
        lagging.cdc_latency_seconds.is_some_and(|l| l >= 1),
        "{lagging:?}"
    );
    blocker.query_drop("UNLOCK TABLES").await.unwrap();
    blocker.disconnect().await.unwrap();
    in_sync(&engine, &handle).await;
    assert_eq!(ids(&pair.target).await, vec![10]);
}

#[tokio::test]
async fn ensure_cdc_is_idempotent_and_refuses_a_different_source() {
    let pair = Pair::start().await;
    let engine = pair.engine(AuroraMajorVersion::Three);
    let request = pair.request(master_status(&pair.source).await);
    let first = engine.ensure_cdc(&request).await.unwrap();
    engine.start(&first).await.unwrap();
    in_sync(&engine, &first).await;
    // Reconfiguring a running replica fails (error 1198), so success means it was left alone.
    let again = engine.ensure_cdc(&request).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        engine.status(&again).await.unwrap().state,
        ReplicationState::Running
    );

    let mut elsewhere = request.clone();
    elsewhere.source.port = i32::from(pair.target.port());
    let err = engine.ensure_cdc(&elsewhere).await.unwrap_err();
    assert!(
        matches!(
            err,
            PortError::AlreadyExists {
                resource: Resource::Migration,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(REPLICATION_PASSWORD));
}

#[tokio::test]
async fn stop_and_remove_are_idempotent() {
    let pair = Pair::start().await;
    let engine = pair.engine(AuroraMajorVersion::Two);
    let handle = engine
        .ensure_cdc(&pair.request(master_status(&pair.source).await))
        .await
        .unwrap();
    engine.start(&handle).await.unwrap();
    in_sync(&engine, &handle).await;

    engine.stop(&handle).await.unwrap();
    engine.stop(&handle).await.unwrap();
    let stopped = engine.status(&handle).await.unwrap();
    assert_eq!(stopped.state, ReplicationState::Stopped, "{stopped:?}");
    assert_eq!(stopped.cdc_latency_seconds, None);

    engine.remove(&handle).await.unwrap();
    engine.remove(&handle).await.unwrap();
    engine.stop(&handle).await.unwrap();
    let gone = engine.status(&handle).await.unwrap_err();
    assert!(gone.is_not_found(Resource::Migration), "{gone:?}");
    assert!(engine
        .start(&handle)
        .await
        .unwrap_err()
        .is_not_found(Resource::Migration));

    // Removed while running works too, and a new replication can then be configured.
    let handle = engine
        .ensure_cdc(&pair.request(master_status(&pair.source).await))
        .await
        .unwrap();
    engine.start(&handle).await.unwrap();
    engine.remove(&handle).await.unwrap();
    assert!(engine
        .status(&handle)
        .await
        .unwrap_err()
        .is_not_found(Resource::Migration));
}

#[tokio::test]
async fn a_duplicate_key_on_the_target_fails_with_the_sql_error_and_no_password() {
    let pair = Pair::start().await;
    let start = master_status(&pair.source).await;
    pair.target
        .execute(
            "SET SESSION sql_log_bin = 0; INSERT INTO shop.orders VALUES (5, 'target only', NULL)",
        )
        .await
        .unwrap();
    pair.source
        .execute("INSERT INTO shop.orders VALUES (5, 'source', NULL)")
        .await
        .unwrap();
    let engine = pair.engine(AuroraMajorVersion::Two);
    let handle = engine.ensure_cdc(&pair.request(start)).await.unwrap();
    engine.start(&handle).await.unwrap();
    let failed = eventually("replication failed", || async {
        let status = engine.status(&handle).await.map_err(|e| e.to_string())?;
        if status.state == ReplicationState::Failed {
            Ok(status)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    let failure = failed.last_failure.clone().unwrap();
    assert!(failure.contains("1062"), "{failure}");
    assert!(failure.contains("Duplicate entry"), "{failure}");
    assert_eq!(failed.cdc_latency_seconds, None);
    let everything = format!("{failed:?} {failure}");
    assert!(!everything.contains(REPLICATION_PASSWORD), "{everything}");
    // Stop and remove still work on a failed replication.
    engine.remove(&handle).await.unwrap();
}

#[tokio::test]
async fn a_wrong_replication_password_is_reported_without_the_password() {
    let pair = Pair::start().await;
    let wrong = "Wrong-pa55word-never-shown";
    let engine = NativeReplication::new(
        AuroraMajorVersion::Two,
        pair.source.admin(),
        pair.target.admin(),
        Credentials::new("repl", wrong),
    )
    .with_replication_ssl(false);
    let handle = engine
        .ensure_cdc(&pair.request(master_status(&pair.source).await))
        .await
        .unwrap();
    engine.start(&handle).await.unwrap();
    let refused = eventually("I/O thread error", || async {
        let status = engine.status(&handle).await.map_err(|e| e.to_string())?;
        match &status.last_failure {
            Some(_) => Ok(status),
            None => Err(format!("{status:?}")),
        }
    })
    .await;
    assert_ne!(refused.state, ReplicationState::Running);
    let text = format!("{refused:?}");
    assert!(text.contains("Access denied"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    engine.remove(&handle).await.unwrap();
}

async fn seed(server: &TestServer) {
    server
        .execute(
            "SET SESSION sql_log_bin = 0; \
             CREATE DATABASE shop; CREATE DATABASE `odd``db`; \
             CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, note VARCHAR(100), body BLOB); \
             CREATE TABLE shop.events (at DATETIME(6), kind TEXT); \
             CREATE TABLE `odd``db`.`we``ird` (k VARCHAR(20) PRIMARY KEY, v DOUBLE); \
             CREATE VIEW shop.recent AS SELECT id FROM shop.orders; \
             INSERT INTO shop.orders VALUES (1, 'a', x'00ff'), (2, 'b', NULL), (3, 'c', 'text'); \
             INSERT INTO shop.events VALUES ('2024-01-01 00:00:00.5', 'x'), (NULL, NULL); \
             INSERT INTO `odd``db`.`we``ird` VALUES ('k1', 1.5), ('k`2', -0.25);",
        )
        .await
        .unwrap();
}

fn by_table(digests: &[TableDigest], table: &str) -> TableDigest {
    digests
        .iter()
        .find(|d| d.table == table)
        .cloned()
        .unwrap_or_else(|| panic!("no {table} in {digests:?}"))
}

#[tokio::test]
async fn verifier_digests_match_for_equal_data_and_differ_after_a_divergent_write() {
    let (a, b) = tokio::join!(TestServer::start(1), TestServer::start(2));
    let (a, b) = (a.unwrap(), b.unwrap());
    tokio::join!(seed(&a), seed(&b));
    let left = SqlVerifier::new(a.admin());
    let right = SqlVerifier::new(b.admin());

    let all = left
        .table_digests(&[], VerifyDepth::Checksums)
        .await
        .unwrap();
    let names: Vec<(&str, &str)> = all
        .iter()
        .map(|d| (d.database.as_str(), d.table.as_str()))
        .collect();
    // Base tables of user databases only (no view, no system schema), sorted.
    assert_eq!(
        names,
        vec![("odd`db", "we`ird"), ("shop", "events"), ("shop", "orders")]
    );
    assert_eq!(by_table(&all, "orders").rows, 3);
    assert!(all.iter().all(|d| d.checksum.is_some()));
    assert_eq!(
        all,
        right
            .table_digests(&[], VerifyDepth::Checksums)
            .await
            .unwrap()
    );

    let shop = ["shop".to_string()];
    let counts = left
        .table_digests(&shop, VerifyDepth::Counts)
        .await
        .unwrap();
    assert_eq!(counts.len(), 2);
    assert!(counts.iter().all(|d| d.checksum.is_none()));

    // Same row count, different content: only the checksum tells.
    b.execute("SET SESSION sql_log_bin = 0; UPDATE shop.orders SET note = 'B' WHERE id = 2")
        .await
        .unwrap();
    let (l, r) = (
        left.table_digests(&shop, VerifyDepth::Checksums)
            .await
            .unwrap(),
        right
            .table_digests(&shop, VerifyDepth::Checksums)
            .await
            .unwrap(),
    );
    assert_eq!(by_table(&l, "orders").rows, by_table(&r, "orders").rows);
    assert_ne!(
        by_table(&l, "orders").checksum,
        by_table(&r, "orders").checksum
    );
    assert_eq!(by_table(&l, "events"), by_table(&r, "events"));
    assert_eq!(
        left.table_digests(&shop, VerifyDepth::Counts)
            .await
            .unwrap(),
        right
            .table_digests(&shop, VerifyDepth::Counts)
            .await
            .unwrap()
    );

    b.execute("SET SESSION sql_log_bin = 0; INSERT INTO `odd``db`.`we``ird` VALUES ('k3', 0)")
        .await
        .unwrap();
    let odd = ["odd`db".to_string()];
    assert_ne!(
        left.table_digests(&odd, VerifyDepth::Counts).await.unwrap(),
        right
            .table_digests(&odd, VerifyDepth::Counts)
            .await
            .unwrap()
    );

    let missing = left
        .table_digests(&["nope".to_string()], VerifyDepth::Counts)
        .await
        .unwrap_err();
    assert!(missing.is_not_found(Resource::Other), "{missing:?}");
}

#[tokio::test]
async fn retention_reads_rds_configuration_and_falls_back_to_the_binlog_expiry() {
    let server = TestServer::start(1).await.unwrap();
    let admin = server.admin();
    let secrets = StaticSecrets::new().with(
        "arn:aws:secretsmanager:eu-west-1:1:secret:admin",
        &SecretValue {
            username: admin.credentials.username().into(),
            password: admin.credentials.password().into(),
            host: None,
            port: None,
        },
    );
    let retention = SqlBinlogRetention::new(Arc::new(secrets), Tls::Disabled);
    let endpoint = server.endpoint("shop");
    let read =
        || retention.retention_hours(&endpoint, "arn:aws:secretsmanager:eu-west-1:1:secret:admin");

    // Without the procedure: the server's own expiry.
    server
        .execute("SET GLOBAL binlog_expire_logs_seconds = 7 * 3600 + 59")
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), Some(7));
    server
        .execute("SET GLOBAL binlog_expire_logs_seconds = 0")
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), Some(u32::MAX));

    // With it: Aurora's setting, NULL until set.
    server.install_rds_stand_ins().await.unwrap();
    assert_eq!(read().await.unwrap(), None);
    server
        .execute("CALL mysql.rds_set_configuration('binlog retention hours', '24')")
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), Some(24));
    assert_eq!(
        aurora_sql::binlog_retention_hours(&admin).await.unwrap(),
        Some(24)
    );

    let unknown = retention
        .retention_hours(&endpoint, "arn:aws:secretsmanager:eu-west-1:1:secret:other")
        .await
        .unwrap_err();
    assert!(unknown.is_not_found(Resource::Other), "{unknown:?}");
}

#[tokio::test]
async fn two_endpoints_of_one_server_have_one_identity_and_two_servers_two() {
    let (one, two) = (
        TestServer::start(11).await.unwrap(),
        TestServer::start(12).await.unwrap(),
    );
    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:1:secret:admin";
    let admin = one.admin();
    let secrets = StaticSecrets::new().with(
        SECRET,
        &SecretValue {
            username: admin.credentials.username().into(),
            password: admin.credentials.password().into(),
            host: None,
            port: None,
        },
    );
    // The same password on the second server, as a restored copy has it.
    two.execute(&format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY '{password}'",
        user = admin.credentials.username(),
        password = admin.credentials.password()
    ))
    .await
    .unwrap();
    let identity = SqlServerIdentity::new(Arc::new(secrets), Tls::Disabled);
    let first = identity
        .identity(&one.endpoint("shop"), SECRET)
        .await
        .unwrap();
    assert_eq!(first, "server_id=11");
    assert_eq!(
        identity
            .identity(&one.endpoint("shop"), SECRET)
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        identity
            .identity(&two.endpoint("shop"), SECRET)
            .await
            .unwrap(),
        "server_id=12"
    );
}

#[tokio::test]
async fn a_raised_retention_records_the_original_once_and_puts_it_back() {
    let server = TestServer::start(1).await.unwrap();
    server.install_rds_stand_ins().await.unwrap();
    let admin = server.admin();
    let raise = |execution: &'static str| {
        let admin = admin.clone();
        async move { aurora_sql::raise_binlog_retention_hours(&admin, 24, execution).await }
    };
    let change = |original| {
        Some(RetentionChange {
            original_hours: original,
            set_hours: 24,
        })
    };

    // Not set: raised, with "not set" recorded as the original.
    assert_eq!(raise("exec-1").await.unwrap(), change(None));
    assert_eq!(
        aurora_sql::binlog_retention_hours(&admin).await.unwrap(),
        Some(24)
    );
    // A retried raise (or another run's) finds 24 hours, yet reports the recorded original.
    assert_eq!(raise("exec-2").await.unwrap(), change(None));

    // Put back under read_only (the source may still be fenced): the procedure writes, the
    // record cannot be deleted and goes with the run's schema.
    server.execute("SET GLOBAL read_only = 1").await.unwrap();
    // An application-level user, whom read_only binds (the admin has SUPER).
    for statement in [
        "CREATE USER 'keeper'@'%' IDENTIFIED BY 'Keeper-pa55word'",
        "GRANT SELECT, DELETE ON aurora_encrypt.* TO 'keeper'@'%'",
        "GRANT EXECUTE ON PROCEDURE mysql.rds_set_configuration TO 'keeper'@'%'",
        "GRANT EXECUTE ON PROCEDURE mysql.rds_show_configuration TO 'keeper'@'%'",
    ] {
        server.execute(statement).await.unwrap();
    }
    let keeper = ConnectionSettings::new(
        server.host(),
        server.port(),
        Credentials::new("keeper", "Keeper-pa55word"),
        Tls::Disabled,
    );
    let put_back = aurora_sql::put_back_binlog_retention_hours(&keeper)
        .await
        .unwrap();
    assert_eq!(
        put_back,
        Some(RetentionChange {
            original_hours: None,
            set_hours: 24
        })
    );
    assert_eq!(
        aurora_sql::binlog_retention_hours(&admin).await.unwrap(),
        None
    );
    server.execute("SET GLOBAL read_only = 0").await.unwrap();
    // Writable again: the record is deleted, and a second put-back finds nothing to do.
    aurora_sql::put_back_binlog_retention_hours(&admin)
        .await
        .unwrap();
    assert_eq!(
        aurora_sql::put_back_binlog_retention_hours(&admin)
            .await
            .unwrap(),
        None
    );

    // Already long enough and nothing recorded: nothing is written, not even the schema.
    server
        .execute("CALL mysql.rds_set_configuration('binlog retention hours', '168')")
        .await
        .unwrap();
    server
        .execute("DROP DATABASE IF EXISTS aurora_encrypt")
        .await
        .unwrap();
    assert_eq!(raise("exec-3").await.unwrap(), None);
    let mut conn = server.conn().await.unwrap();
    let schemas: Vec<String> = conn
        .query("SHOW DATABASES LIKE 'aurora_encrypt'")
        .await
        .unwrap();
    assert!(schemas.is_empty(), "{schemas:?}");
    assert_eq!(
        aurora_sql::binlog_retention_hours(&admin).await.unwrap(),
        Some(168)
    );
}

#[tokio::test]
async fn a_wrong_password_is_access_denied_and_unreachable_servers_are_transient() {
    let server = TestServer::start(1).await.unwrap();
    let wrong = "Not-the-admin-pa55word";
    let settings = ConnectionSettings::new(
        server.host(),
        server.port(),
        Credentials::new("admin", wrong),
        Tls::Disabled,
    );
    let err = SqlVerifier::new(settings)
        .table_digests(&[], VerifyDepth::Counts)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::AccessDenied(_)), "{err:?}");
    assert!(!err.to_string().contains(wrong), "{err}");

    let port = server.port();
    drop(server);
    let gone = ConnectionSettings::new(
        "127.0.0.1",
        port,
        Credentials::new("admin", wrong),
        Tls::Disabled,
    );
    let err = SqlVerifier::new(gone)
        .table_digests(&[], VerifyDepth::Counts)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn test_servers_are_killed_and_deleted_on_drop() {
    let server = TestServer::start(9).await.unwrap();
    let (pid, dir) = (server.pid(), server.dir().to_path_buf());
    assert_ne!(server.port(), 3306);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(!dir.exists());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Reaped (gone) or at worst a zombie awaiting its parent: never still running.
    assert!(stat.is_empty() || stat.contains(") Z"), "{stat}");
}

#[tokio::test]
async fn tls_connections_verify_the_server_certificate() {
    let mut options = ServerOptions::new(1);
    options.tls = true;
    let server = TestServer::start_with(options).await.unwrap();
    let ca = server.ca_cert().unwrap();
    // This user can only log in over TLS: success proves the connection was encrypted.
    server
        .execute("CREATE USER 'tls'@'%' IDENTIFIED BY 'Tls-pa55word' REQUIRE SSL; GRANT SELECT ON *.* TO 'tls'@'%'")
        .await
        .unwrap();
    let settings = |tls: Tls| {
        ConnectionSettings::new(
            server.host(),
            server.port(),
            Credentials::new("tls", "Tls-pa55word"),
            tls,
        )
    };
    let trusted = SqlVerifier::new(settings(Tls::Required {
        root_certs: vec![ca],
    }));
    assert!(trusted
        .table_digests(&[], VerifyDepth::Counts)
        .await
        .unwrap()
        .is_empty());

    // The built-in web roots do not include the test CA (nor the RDS CAs): refused, and not
    // as something a retry would fix.
    let untrusted = SqlVerifier::new(settings(Tls::Required { root_certs: vec![] }));
    let err = untrusted
        .table_digests(&[], VerifyDepth::Counts)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Other(_)), "{err:?}");

    let plain = SqlVerifier::new(settings(Tls::Disabled));
    let err = plain
        .table_digests(&[], VerifyDepth::Counts)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::AccessDenied(_)), "{err:?}");
}

#[tokio::test]
async fn accounts_differ_by_name_after_user_changes_that_replication_does_not_carry() {
    use aurora_core::steps::verify::compare_accounts;
    let (a, b) = tokio::join!(TestServer::start(1), TestServer::start(2));
    let (a, b) = (a.unwrap(), b.unwrap());
    let left = SqlVerifier::new(a.admin());
    let right = SqlVerifier::new(b.admin());
    let before = left.accounts().await.unwrap();
    assert!(!before.is_empty());
    // Each test server has an administrator of its own password: the one difference so far.
    let admin_only = vec![("'admin'@'%'".to_string(), "authentication".to_string())];
    let named = |l: &[aurora_core::ports::Account], r: &[aurora_core::ports::Account]| {
        compare_accounts(l, r)
            .into_iter()
            .map(|d| (d.account, d.reason))
            .collect::<Vec<_>>()
    };
    assert_eq!(named(&before, &right.accounts().await.unwrap()), admin_only);

    let secret = "Acc0unt-pa55word-that-must-never-show";
    a.execute(&format!(
        "SET SESSION sql_log_bin = 0; \
         CREATE USER 'reporting'@'%' IDENTIFIED BY '{secret}'; \
         GRANT SELECT ON shop.* TO 'reporting'@'%'; \
         CREATE USER 'ops'@'%' IDENTIFIED BY '{secret}'"
    ))
    .await
    .unwrap();
    b.execute("SET SESSION sql_log_bin = 0; CREATE USER 'ops'@'%' IDENTIFIED BY 'another'")
        .await
        .unwrap();

    let (l, r) = (
        left.accounts().await.unwrap(),
        right.accounts().await.unwrap(),
    );
    assert_eq!(
        named(&l, &r),
        vec![
            admin_only[0].clone(),
            ("'ops'@'%'".to_string(), "authentication".to_string()),
            (
                "'reporting'@'%'".to_string(),
                "missing on target".to_string()
            ),
        ]
    );
    let text = format!("{l:?}");
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("IDENTIFIED"), "{text}");
}

#[tokio::test]
async fn reinstalling_the_stand_ins_keeps_the_grants_on_them() {
    let server = TestServer::start(1).await.unwrap();
    server.install_rds_stand_ins().await.unwrap();
    server
        .execute(
            "CREATE USER 'reader'@'%' IDENTIFIED BY 'x'; \
             GRANT EXECUTE ON PROCEDURE mysql.rds_show_configuration TO 'reader'@'%'",
        )
        .await
        .unwrap();
    let verifier = SqlVerifier::new(server.admin());
    let before = verifier.accounts().await.unwrap();
    // A restored sandbox server gets its stand-ins again; Aurora's procedures keep their grants.
    server.install_rds_stand_ins().await.unwrap();
    let after = verifier.accounts().await.unwrap();
    assert_eq!(
        aurora_core::steps::verify::compare_accounts(&before, &after),
        vec![]
    );
    assert!(format!("{after:?}").contains("rds_show_configuration"));
}
