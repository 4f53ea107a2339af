//! The fence's SQL half against a real MariaDB server: sessions ended with the `mysql.rds_kill`
//! stand-in whatever their privileges, the fence confirmed (or not) on the writer, the marker,
//! and the users that bypass `read_only`.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aurora_core::ports::{FenceSql, SessionFenceOutcome, SessionFenceRequest, MARKER_SCHEMA};
use aurora_sql::testing::TestServer;
use aurora_sql::{FixedWriters, SqlFence, PROBE_USER};
use mysql_async::prelude::Queryable;

const APP_PASSWORD: &str = "app-pa55";
const BOSS_PASSWORD: &str = "boss-pa55";

/// A source with the stand-ins, a table, an ordinary application user `app` and a privileged
/// one `boss` (`ALL PRIVILEGES`: writes through `read_only`), and `rdsadmin`.
async fn source() -> TestServer {
    let server = TestServer::start(1).await.expect("mariadb");
    server.install_rds_stand_ins().await.unwrap();
    server
        .execute(&format!(
            "CREATE DATABASE shop; \
             CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20)); \
             CREATE USER 'app'@'%' IDENTIFIED BY '{APP_PASSWORD}'; \
             GRANT SELECT, INSERT ON shop.* TO 'app'@'%'; \
             CREATE USER 'boss'@'%' IDENTIFIED BY '{BOSS_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO 'boss'@'%'; \
             CREATE USER 'rdsadmin'@'%' IDENTIFIED BY 'rds-pa55'; \
             GRANT ALL PRIVILEGES ON *.* TO 'rdsadmin'@'%';"
        ))
        .await
        .unwrap();
    server
}

async fn login(server: &TestServer, user: &str, password: &str) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.unwrap()
}

fn fence(server: &TestServer) -> SqlFence<FixedWriters> {
    SqlFence::new(FixedWriters(vec![("orders".into(), server.admin())]))
}

fn request(read_only: bool, timeout: Duration) -> SessionFenceRequest {
    SessionFenceRequest {
        cluster_id: "orders".into(),
        read_only,
        new_connections_refused: true,
        execution: "exec-1".into(),
        timeout,
    }
}

async fn insert(conn: &mut mysql_async::Conn) -> Result<(), mysql_async::Error> {
    conn.query_drop("INSERT INTO shop.orders (note) VALUES ('x')")
        .await
}

#[tokio::test]
async fn the_fence_ends_every_application_session_privileged_or_not_and_proves_it() {
    let server = source().await;
    let mut app = login(&server, "app", APP_PASSWORD).await;
    let mut boss = login(&server, "boss", BOSS_PASSWORD).await;
    let mut rdsadmin = login(&server, "rdsadmin", "rds-pa55").await;
    insert(&mut app).await.unwrap();
    insert(&mut boss).await.unwrap();
    // The control-plane half: read_only, which does not stop `boss`.
    server.execute("SET GLOBAL read_only = ON").await.unwrap();
    insert(&mut boss)
        .await
        .expect("ALL PRIVILEGES writes under read_only");

    let outcome = fence(&server)
        .end_sessions_and_confirm(&request(true, Duration::from_secs(20)))
        .await
        .unwrap();
    let SessionFenceOutcome::Confirmed(confirmation) = outcome else {
        panic!("not confirmed: {outcome:?}")
    };
    assert!(confirmation.sessions_ended >= 2, "{confirmation:?}");
    assert!(confirmation.read_only);
    assert_eq!(confirmation.ordinary_write_refused, Some(true));
    assert_eq!(confirmation.marker.execution, "exec-1");
    assert_eq!(confirmation.marker.sequence, 1);

    // Both application sessions are gone, the privileged one too; rdsadmin's is left alone.
    assert!(insert(&mut app).await.is_err(), "app session survived");
    assert!(
        insert(&mut boss).await.is_err(),
        "privileged session survived"
    );
    let one: Option<u8> = rdsadmin.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // The position is the writer's, read after the marker: nothing was written since.
    let mut root = server.conn().await.unwrap();
    let row: mysql_async::Row = root
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get::<String, _>("File").unwrap(),
        confirmation.position.file
    );
    assert_eq!(
        row.get::<u64, _>("Position").unwrap(),
        confirmation.position.position
    );
    root.disconnect().await.unwrap();
    let fence = fence(&server);
    assert!(fence
        .marker_arrived("orders", &confirmation.marker)
        .await
        .unwrap());

    // A second fence of the same execution writes the next marker.
    let SessionFenceOutcome::Confirmed(again) = fence
        .end_sessions_and_confirm(&request(true, Duration::from_secs(20)))
        .await
        .unwrap()
    else {
        panic!("second fence not confirmed")
    };
    assert_eq!(again.marker.sequence, 2);
    assert!(again.position > confirmation.position);

    fence.remove_marker_schema("orders").await.unwrap();
    fence.remove_marker_schema("orders").await.unwrap();
    // The second fence ended the first root session too: every session but its own.
    let mut root = server.conn().await.unwrap();
    let schemas: Vec<String> = root
        .exec(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (MARKER_SCHEMA,),
        )
        .await
        .unwrap();
    assert!(schemas.is_empty());
    let probes: Vec<String> = root
        .exec("SELECT User FROM mysql.user WHERE User = ?", (PROBE_USER,))
        .await
        .unwrap();
    assert!(probes.is_empty());
    root.disconnect().await.unwrap();
    let one: Option<u8> = rdsadmin.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    rdsadmin.disconnect().await.unwrap();
}

#[tokio::test]
async fn a_fence_whose_read_only_never_reads_one_is_not_confirmed() {
    let server = source().await;
    let started = std::time::Instant::now();
    let outcome = fence(&server)
        .end_sessions_and_confirm(&request(true, Duration::from_millis(600)))
        .await
        .unwrap();
    let SessionFenceOutcome::NotConfirmed { reason, rounds } = outcome else {
        panic!("confirmed without read_only: {outcome:?}")
    };
    assert!(reason.contains("read_only"), "{reason}");
    assert!(rounds > 1);
    assert!(started.elapsed() >= Duration::from_millis(600));
    // No marker is written for a fence that does not hold.
    let mut root = server.conn().await.unwrap();
    let markers: Vec<u64> = root
        .query(format!("SELECT sequence FROM {MARKER_SCHEMA}.fence_marker"))
        .await
        .unwrap();
    assert!(markers.is_empty());
    root.disconnect().await.unwrap();
}

/// A writer that reconnects the moment it is cut off and writes as fast as it can.
fn reconnecting_writer(
    port: u16,
    user: &'static str,
    password: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname("127.0.0.1")
                .tcp_port(port)
                .user(Some(user))
                .pass(Some(password))
                .prefer_socket(false);
            if let Ok(mut conn) = mysql_async::Conn::new(opts).await {
                while insert(&mut conn).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    })
}

/// A client pool that refills as fast as it can: it opens a session every few milliseconds,
/// without waiting for the last one, and keeps the newest open whether or not the fence ended
/// the older. Unlike [`reconnecting_writer`], which reconnects only once it notices it was cut
/// off, a session is always on its way, so the fence meets one within its settle time even on
/// a loaded machine.
fn refilling_pool(
    port: u16,
    user: &'static str,
    password: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut held = std::collections::VecDeque::new();
        let mut attempts = tokio::task::JoinSet::new();
        loop {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname("127.0.0.1")
                .tcp_port(port)
                .user(Some(user))
                .pass(Some(password))
                .prefer_socket(false);
            attempts.spawn(mysql_async::Conn::new(opts));
            while let Some(done) = attempts.try_join_next() {
                if let Ok(Ok(conn)) = done {
                    held.push_back(conn);
                    if held.len() > 16 {
                        held.pop_front();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

#[tokio::test]
async fn a_privileged_writer_that_reconnects_faster_than_it_is_ended_keeps_the_fence_unconfirmed() {
    let server = source().await;
    server.execute("SET GLOBAL read_only = ON").await.unwrap();
    // No security group here: the privileged client's sessions come back as soon as they are cut.
    let writer = refilling_pool(server.port(), "boss", BOSS_PASSWORD);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut unguarded = request(true, Duration::from_millis(800));
    unguarded.new_connections_refused = false;
    let outcome = fence(&server)
        .end_sessions_and_confirm(&unguarded)
        .await
        .unwrap();
    writer.abort();
    let SessionFenceOutcome::NotConfirmed { reason, .. } = outcome else {
        panic!("confirmed while a privileged writer kept coming back: {outcome:?}")
    };
    assert!(reason.contains("boss"), "{reason}");
}

#[tokio::test]
async fn ordinary_sessions_that_come_back_under_read_only_alone_do_not_block_the_fence() {
    let server = source().await;
    server.execute("SET GLOBAL read_only = ON").await.unwrap();
    let writer = reconnecting_writer(server.port(), "app", APP_PASSWORD);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut read_only_alone = request(true, Duration::from_secs(10));
    read_only_alone.new_connections_refused = false;
    let outcome = fence(&server)
        .end_sessions_and_confirm(&read_only_alone)
        .await
        .unwrap();
    writer.abort();
    let SessionFenceOutcome::Confirmed(confirmation) = outcome else {
        panic!("a harmless reconnecting reader blocked the fence: {outcome:?}")
    };
    assert_eq!(confirmation.ordinary_write_refused, Some(true));
    // But with a security group promised, any session left means the fence leaks.
    let writer = refilling_pool(server.port(), "app", APP_PASSWORD);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcome = fence(&server)
        .end_sessions_and_confirm(&request(true, Duration::from_millis(800)))
        .await
        .unwrap();
    writer.abort();
    assert!(
        matches!(outcome, SessionFenceOutcome::NotConfirmed { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn rds_kill_stand_in_ends_a_session_but_not_rdsadmin_s() {
    let server = source().await;
    let app = login(&server, "app", APP_PASSWORD).await;
    let rdsadmin = login(&server, "rdsadmin", "rds-pa55").await;
    let mut root = server.conn().await.unwrap();
    let refused = root
        .exec_drop("CALL mysql.rds_kill(?)", (rdsadmin.id(),))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, mysql_async::Error::Server(e) if e.code == 1095),
        "{refused}"
    );
    root.exec_drop("CALL mysql.rds_kill(?)", (app.id(),))
        .await
        .unwrap();
    // KILL returns before the thread has left the process list.
    for _ in 0..100 {
        let left: Option<u64> = root
            .exec_first(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?",
                (app.id(),),
            )
            .await
            .unwrap();
        if left.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = root
        .exec_drop("CALL mysql.rds_kill(?)", (app.id(),))
        .await
        .unwrap_err();
    assert!(
        matches!(&gone, mysql_async::Error::Server(e) if e.code == 1094),
        "{gone}"
    );
    root.disconnect().await.unwrap();
}

#[tokio::test]
async fn users_that_bypass_read_only_are_listed_with_their_sessions() {
    let server = source().await;
    let _boss = login(&server, "boss", BOSS_PASSWORD).await;
    let _boss_again = login(&server, "boss", BOSS_PASSWORD).await;
    let _app = login(&server, "app", APP_PASSWORD).await;
    let users = fence(&server)
        .read_only_bypass_users("orders")
        .await
        .unwrap();
    let boss = users
        .iter()
        .find(|u| u.grantee == "'boss'@'%'")
        .unwrap_or_else(|| panic!("{users:?}"));
    assert_eq!(boss.sessions, 2);
    assert!(
        boss.privileges.contains(&"READ_ONLY ADMIN".to_string()),
        "{boss:?}"
    );
    assert!(boss.privileges.contains(&"SUPER".to_string()), "{boss:?}");
    assert!(
        users.iter().all(|u| !u.grantee.starts_with("'app'")),
        "{users:?}"
    );
}
