//! The parity check's settings and the smoke queries against two real MariaDB servers started
//! by the `testing` harness: equal servers show no difference, and each change that binlog
//! replication would not carry is named.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aurora_core::parity::{compare, Comparison};
use aurora_core::ports::{SmokeOutcome, Verifier};
use aurora_sql::testing::TestServer;
use aurora_sql::SqlVerifier;

/// Each test server has an administrator of its own password.
const ADMIN: &str = "account:'admin'@'%'";

async fn comparison(left: &SqlVerifier, right: &SqlVerifier) -> Comparison {
    let (ls, rs, la, ra) = tokio::join!(
        left.settings(),
        right.settings(),
        left.accounts(),
        right.accounts()
    );
    compare(
        &ls.unwrap(),
        &rs.unwrap(),
        &la.unwrap(),
        &ra.unwrap(),
        &[ADMIN.to_string()],
    )
}

fn named(c: &Comparison) -> Vec<&str> {
    c.differences.iter().map(|d| d.setting.as_str()).collect()
}

/// The same objects on both servers; `trigger_definer` and `view_columns` differ per side.
fn objects(trigger_definer: &str, view_columns: &str) -> String {
    format!(
        "SET SESSION sql_log_bin = 0; \
         CREATE DATABASE shop; \
         CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, note VARCHAR(100)); \
         CREATE TABLE shop.audit (id BIGINT); \
         CREATE DEFINER = {trigger_definer} TRIGGER shop.orders_audit AFTER INSERT ON shop.orders \
           FOR EACH ROW INSERT INTO shop.audit VALUES (NEW.id); \
         CREATE DEFINER = 'admin'@'%' VIEW shop.recent AS SELECT {view_columns} FROM shop.orders; \
         CREATE DEFINER = 'admin'@'%' PROCEDURE shop.purge(IN keep INT) DELETE FROM shop.audit WHERE id < keep; \
         CREATE DEFINER = 'admin'@'%' FUNCTION shop.twice(x INT) RETURNS INT DETERMINISTIC RETURN 2 * x; \
         CREATE DEFINER = 'admin'@'%' EVENT shop.nightly ON SCHEDULE EVERY 1 DAY \
           STARTS '2026-01-01 00:00:00' DO DELETE FROM shop.audit"
    )
}

#[tokio::test]
async fn equal_servers_show_no_difference_and_each_change_is_named() {
    let (a, b) = tokio::join!(TestServer::start(1), TestServer::start(2));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.execute(&objects("'admin'@'%'", "id, note"))
        .await
        .unwrap();
    b.execute(&objects("'admin'@'%'", "id, note"))
        .await
        .unwrap();
    let (left, right) = (SqlVerifier::new(a.admin()), SqlVerifier::new(b.admin()));

    let equal = comparison(&left, &right).await;
    assert_eq!(
        named(&equal),
        Vec::<&str>::new(),
        "{:#?}",
        equal.differences
    );
    assert_eq!(equal.ignored.len(), 1, "the administrators' passwords");
    let settings = left.settings().await.unwrap();
    for key in [
        "variable:sql_mode",
        "variable:time_zone",
        "event:shop.nightly",
        "trigger:shop.orders_audit",
        "routine:shop.purge",
        "routine:shop.twice",
        "view:shop.recent",
        "timezone:tables",
    ] {
        assert!(settings.contains_key(key), "{key} not read: {settings:#?}");
    }
    assert!(
        !settings.keys().any(|k| k == "variable:server_id"
            || k == "variable:datadir"
            || k.starts_with("variable:binlog_")),
        "excluded variables are left out"
    );
    let trigger = &settings["trigger:shop.orders_audit"];
    assert!(
        trigger.starts_with("definer=admin@% AFTER INSERT ON orders"),
        "{trigger}"
    );
    assert!(
        !trigger.contains("INSERT INTO shop.audit"),
        "a digest, not the body: {trigger}"
    );

    // Changes that binlog replication does not carry, or that were made on one side only.
    a.execute("SET GLOBAL max_allowed_packet = 33554432")
        .await
        .unwrap();
    a.execute("CREATE USER 'reporting'@'%' IDENTIFIED BY 'Rep0rting-pa55word'")
        .await
        .unwrap();
    b.execute(
        "DROP TRIGGER shop.orders_audit; \
         CREATE DEFINER = 'root'@'localhost' TRIGGER shop.orders_audit AFTER INSERT ON shop.orders \
           FOR EACH ROW INSERT INTO shop.audit VALUES (NEW.id); \
         CREATE OR REPLACE DEFINER = 'admin'@'%' VIEW shop.recent AS SELECT id FROM shop.orders",
    )
    .await
    .unwrap();

    let changed = comparison(&left, &right).await;
    assert_eq!(
        named(&changed),
        vec![
            "account:'reporting'@'%'",
            "trigger:shop.orders_audit",
            "variable:max_allowed_packet",
            "view:shop.recent",
        ],
        "{:#?}",
        changed.differences
    );
    let described: Vec<String> = changed.differences.iter().map(|d| d.describe()).collect();
    assert!(
        described[2] == "variable:max_allowed_packet (source: 33554432, target: 16777216)",
        "{described:#?}"
    );
    assert!(
        described[1].contains("source: definer=admin@%"),
        "{}",
        described[1]
    );
    assert!(
        described[1].contains("target: definer=root@localhost"),
        "{}",
        described[1]
    );
    assert!(!format!("{described:?}").contains("Rep0rting-pa55word"));
}

#[tokio::test]
async fn smoke_queries_run_read_only_and_name_the_servers_message() {
    let server = TestServer::start(1).await.unwrap();
    server
        .execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id BIGINT PRIMARY KEY); INSERT INTO shop.orders VALUES (1), (2), (3)")
        .await
        .unwrap();
    let verifier = SqlVerifier::new(server.admin());
    let timeout = Duration::from_secs(5);
    assert_eq!(
        verifier
            .smoke_query("SELECT id FROM shop.orders", timeout)
            .await
            .unwrap(),
        SmokeOutcome::Rows(3)
    );
    let SmokeOutcome::Failed(message) = verifier
        .smoke_query("SELECT * FROM shop.gone", timeout)
        .await
        .unwrap()
    else {
        panic!("a missing table must fail the query");
    };
    assert!(
        message.contains("shop.gone") && message.contains("1146"),
        "{message}"
    );
    // The transaction is read-only: a function that writes is refused by the server.
    server
        .execute(
            "CREATE FUNCTION shop.touch() RETURNS INT DETERMINISTIC MODIFIES SQL DATA \
             BEGIN INSERT INTO shop.orders VALUES (99); RETURN 1; END",
        )
        .await
        .unwrap();
    let outcome = verifier
        .smoke_query("SELECT shop.touch()", timeout)
        .await
        .unwrap();
    assert!(matches!(outcome, SmokeOutcome::Failed(_)), "{outcome:?}");
    assert_eq!(
        verifier
            .smoke_query("SELECT id FROM shop.orders WHERE id = 99", timeout)
            .await
            .unwrap(),
        SmokeOutcome::Rows(0),
        "nothing was written"
    );
    // A query longer than its timeout is stopped by the server.
    let outcome = verifier
        .smoke_query(
            "SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, \
             information_schema.COLUMNS c",
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    let SmokeOutcome::Failed(message) = outcome else {
        panic!("a long query must be stopped: {outcome:?}");
    };
    assert!(message.contains("max_statement_time"), "{message}");
}
