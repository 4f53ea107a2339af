//! The cache warmer against real MariaDB servers: the source's top statements by total time
//! with their sample texts (from the statement history: MariaDB keeps no `QUERY_SAMPLE_TEXT`),
//! and only the SELECTs among them replayed, read-only, within the budget.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aurora_sql::testing::{ServerOptions, TestServer};

/// A server keeping statement statistics, as a source with `performance_schema=1` does.
async fn with_statistics(server_id: u32) -> TestServer {
    let mut options = ServerOptions::new(server_id);
    options.extra_config = vec![
        "performance_schema = ON".into(),
        // MariaDB's defaults leave these off (MySQL 8.0's keep current and history on); the
        // history is only filled from the current events.
        "performance-schema-consumer-events-statements-current = ON".into(),
        "performance-schema-consumer-events-statements-history-long = ON".into(),
    ];
    TestServer::start_with(options).await.expect("mariadb")
}

async fn seed(server: &TestServer) {
    for sql in [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), KEY (customer_id))",
        "CREATE TABLE shop.notes (body TEXT)",
        "INSERT INTO shop.orders SELECT seq, seq % 50, seq / 10 FROM shop.seq_1_to_5000",
    ] {
        server.execute(sql).await.unwrap();
    }
}

#[tokio::test]
async fn the_selects_among_the_top_statements_are_replayed_and_nothing_else() {
    let source = with_statistics(1).await;
    let target = TestServer::start(2).await.unwrap();
    seed(&source).await;
    seed(&target).await;
    for _ in 0..5 {
        source
            .execute("SELECT SUM(total) FROM shop.orders WHERE customer_id = 7")
            .await
            .unwrap();
        source
            .execute("UPDATE shop.orders SET total = total + 1 WHERE id = 3")
            .await
            .unwrap();
    }

    let top = aurora_sql::top_statements(&source.admin(), 50)
        .await
        .unwrap();
    let select = top
        .iter()
        .find(|s| s.text.as_deref().is_some_and(|t| t.contains("SUM(total)")))
        .unwrap_or_else(|| {
            panic!("the SELECT is among the top statements, with its sample text: {top:#?}")
        });
    assert_eq!(select.executions, 5);
    assert!(top
        .iter()
        .any(|s| s.text.as_deref().is_some_and(|t| t.starts_with("UPDATE"))));
    assert!(
        top.iter()
            .all(|s| s.schema.as_deref() != Some("performance_schema")),
        "{top:?}"
    );

    let before: Vec<String> = checksum(&target).await;
    let warmth = aurora_sql::warm_instance(
        &target.admin(),
        &top,
        &["shop.orders".to_string(), "shop.notes".to_string()],
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let selects = top
        .iter()
        .filter(|s| {
            s.text
                .as_deref()
                .is_some_and(aurora_core::ports::is_replayable_select)
        })
        .count() as u32;
    assert!(selects >= 1);
    assert_eq!(
        warmth.statements_run + warmth.statements_failed.len() as u32,
        selects
    );
    // shop.orders by its primary key; shop.notes has none, and is reported.
    assert_eq!(warmth.tables_loaded, 1);
    assert_eq!(warmth.tables_failed, vec!["shop.notes"]);
    assert!(warmth.rows_read >= 5000);
    assert!(!warmth.stopped_by_budget);
    assert_eq!(checksum(&target).await, before, "the replay wrote nothing");
}

#[tokio::test]
async fn a_server_without_statistics_is_named_and_a_spent_budget_stops_the_replay() {
    let source = TestServer::start(3).await.unwrap();
    let error = aurora_sql::top_statements(&source.admin(), 10)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("performance_schema is off"),
        "{error}"
    );

    seed(&source).await;
    let statement = aurora_core::ports::TopStatement {
        digest: "d".into(),
        schema: Some("shop".into()),
        text: Some("SELECT COUNT(*) FROM orders".into()),
        executions: 1,
        total_ms: 1.0,
    };
    let warmth = aurora_sql::warm_instance(
        &source.admin(),
        &[statement],
        &["shop.orders".to_string()],
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert!(warmth.stopped_by_budget);
    assert_eq!((warmth.statements_run, warmth.tables_loaded), (0, 0));
}

async fn checksum(server: &TestServer) -> Vec<String> {
    use mysql_async::prelude::Queryable;
    let mut conn = server.conn().await.unwrap();
    let rows: Vec<(String, Option<i64>)> = conn.query("CHECKSUM TABLE shop.orders").await.unwrap();
    rows.into_iter()
        .map(|(t, c)| format!("{t}:{c:?}"))
        .collect()
}
