//! The chunk verifier against real MariaDB servers: chunk keys chosen by the rules, chunks that
//! cover every row once whatever the key's type, digests that depend on the rows' contents only,
//! and the rows the binlog shows written, which bound back find their rows.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aurora_core::ports::{
    ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, TouchedTable, MARKER_SCHEMA,
};
use aurora_sql::testing::TestServer;
use aurora_sql::{FixedWriters, SqlChunkVerifier, WriterVerifier};

async fn server(server_id: u32) -> (TestServer, SqlChunkVerifier) {
    let server = TestServer::start(server_id).await.expect("mariadb");
    let verifier = SqlChunkVerifier::new(server.admin());
    (server, verifier)
}

fn table(database: &str, name: &str, key: &[&str]) -> ChunkTable {
    ChunkTable {
        database: database.into(),
        table: name.into(),
        key: key.iter().map(|k| k.to_string()).collect(),
    }
}

fn find(tables: &[ChunkTable], name: &str) -> ChunkTable {
    tables
        .iter()
        .find(|t| t.table == name)
        .cloned()
        .unwrap_or_else(|| panic!("no table {name} in {tables:?}"))
}

/// Walks `table` in chunks of `rows`: every chunk's upper key, and the sum of the chunks'
/// row counts.
async fn walk(verifier: &SqlChunkVerifier, table: &ChunkTable, rows: u64) -> (Vec<Key>, u64) {
    let mut uppers = Vec::new();
    let mut total = 0;
    let mut lower: Option<Key> = None;
    loop {
        let upper = verifier
            .chunk_upper(table, lower.as_deref(), rows)
            .await
            .unwrap();
        let range = KeyRange {
            lower: lower.clone(),
            upper: upper.clone(),
        };
        let digest = verifier.digest_range(table, &range).await.unwrap();
        match upper {
            Some(upper) => {
                assert_eq!(digest.rows, rows, "a full chunk {range}");
                total += digest.rows;
                uppers.push(upper.clone());
                lower = Some(upper);
            }
            None => {
                assert!(digest.rows < rows, "the last chunk {range} is short");
                total += digest.rows;
                return (uppers, total);
            }
        }
    }
}

async fn count(server: &TestServer, sql: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let mut conn = server.conn().await.unwrap();
    let n: u64 = conn.query_first(sql).await.unwrap().unwrap();
    conn.disconnect().await.unwrap();
    n
}

#[tokio::test]
async fn empty_and_one_row_tables_are_one_chunk() {
    let (server, verifier) = server(11).await;
    server
        .execute(
            "CREATE DATABASE shop; USE shop; \
             CREATE TABLE shop.empty (id INT PRIMARY KEY, v INT); \
             CREATE TABLE shop.one (id INT PRIMARY KEY, v INT); \
             INSERT INTO shop.one VALUES (7, 1);",
        )
        .await
        .unwrap();
    let empty = table("shop", "empty", &["id"]);
    assert_eq!(verifier.chunk_upper(&empty, None, 10).await.unwrap(), None);
    assert_eq!(
        verifier
            .digest_range(&empty, &KeyRange::all())
            .await
            .unwrap(),
        ChunkDigest {
            rows: 0,
            digest: String::new()
        }
    );
    let one = table("shop", "one", &["id"]);
    assert_eq!(
        verifier.chunk_upper(&one, None, 1).await.unwrap(),
        Some(vec![KeyValue::Int(7)])
    );
    assert_eq!(verifier.chunk_upper(&one, None, 2).await.unwrap(), None);
    let digest = verifier.digest_range(&one, &KeyRange::all()).await.unwrap();
    assert_eq!(digest.rows, 1);
    assert_eq!(digest.digest.len(), 32, "{digest:?}");
    assert!(digest.digest.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        verifier.digest_keys(&one, &[]).await.unwrap(),
        ChunkDigest {
            rows: 0,
            digest: String::new()
        }
    );
}

#[tokio::test]
async fn chunks_of_any_key_type_cover_every_row_exactly_once_and_their_keys_find_their_rows() {
    let (server, verifier) = server(12).await;
    server
        .execute(
            "CREATE DATABASE shop; USE shop; \
             CREATE TABLE shop.many (id INT PRIMARY KEY, v VARCHAR(10)); \
             INSERT INTO shop.many SELECT seq, CONCAT('v', seq) FROM seq_1_to_1000; \
             CREATE TABLE shop.pairs (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, PRIMARY KEY (b, a)); \
             INSERT INTO shop.pairs SELECT seq % 7, CONCAT('k', seq % 11), seq FROM seq_1_to_77; \
             CREATE TABLE shop.names (name VARCHAR(20) CHARACTER SET utf8mb4 PRIMARY KEY, v INT); \
             INSERT INTO shop.names VALUES ('zoë', 1), ('Ærø', 2), ('日本', 3), ('a''b\\\\c', 4), ('émile', 5), ('x', 6), ('🦀', 7); \
             CREATE TABLE shop.blobs (k VARBINARY(8) PRIMARY KEY, v INT); \
             INSERT INTO shop.blobs VALUES (0xff00, 1), (0x00, 2), (0xfffe, 3), ('abc', 4), (0x80, 5); \
             CREATE TABLE shop.bins (k BINARY(4) PRIMARY KEY, v INT); \
             INSERT INTO shop.bins VALUES (0xff, 1), ('ab', 2), (0x0102, 3); \
             CREATE TABLE shop.times (t DATETIME(6) PRIMARY KEY, v INT); \
             INSERT INTO shop.times VALUES ('2024-02-29 23:59:59.999999', 1), ('2024-02-29 23:59:59', 2), \
               ('1999-01-01 00:00:00.000001', 3), ('2038-01-19 03:14:08.5', 4); \
             CREATE TABLE shop.big (id BIGINT UNSIGNED PRIMARY KEY, v INT); \
             INSERT INTO shop.big VALUES (18446744073709551615, 1), (9223372036854775808, 2), (9223372036854775807, 3), (0, 4), (1, 5); \
             CREATE TABLE shop.money (amount DECIMAL(30, 4) PRIMARY KEY, v INT); \
             INSERT INTO shop.money VALUES (-1.5, 1), (0, 2), (0.0001, 3), (12345678901234567890.1234, 4), (-0.25, 5);",
        )
        .await
        .unwrap();
    let tables = verifier.chunk_tables(&[]).await.unwrap();
    assert_eq!(find(&tables, "pairs").key, ["b", "a"]);

    let (uppers, total) = walk(&verifier, &find(&tables, "many"), 97).await;
    assert_eq!(total, 1000);
    assert_eq!(uppers.len(), 10);
    assert_eq!(uppers[0], vec![KeyValue::Int(97)]);

    for (name, rows) in [
        ("pairs", 77),
        ("names", 7),
        ("blobs", 5),
        ("bins", 3),
        ("times", 4),
        ("big", 5),
        ("money", 5),
    ] {
        let chunked = find(&tables, name);
        let (uppers, total) = walk(&verifier, &chunked, 2).await;
        assert_eq!(total, rows, "{name}");
        for upper in &uppers {
            let found = verifier
                .digest_keys(&chunked, std::slice::from_ref(upper))
                .await
                .unwrap();
            assert_eq!(found.rows, 1, "{name}: key {upper:?} finds its row");
            // A key's text form survives the state document.
            let json = serde_json::to_string(upper).unwrap();
            assert_eq!(&serde_json::from_str::<Key>(&json).unwrap(), upper);
        }
        let found = verifier.digest_keys(&chunked, &uppers).await.unwrap();
        assert_eq!(found.rows, uppers.len() as u64, "{name}");
    }

    let big = find(&tables, "big");
    let last = verifier.chunk_upper(&big, None, 5).await.unwrap().unwrap();
    assert_eq!(last, vec![KeyValue::Uint(u64::MAX)]);
    let times = find(&tables, "times");
    let first = verifier
        .chunk_upper(&times, None, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        vec![KeyValue::Text("1999-01-01 00:00:00.000001".into())]
    );
    let blobs = find(&tables, "blobs");
    let first = verifier
        .chunk_upper(&blobs, None, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, vec![KeyValue::Text("\0".into())], "NUL is UTF-8");
    let third = verifier
        .chunk_upper(&blobs, None, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third, vec![KeyValue::Bytes { hex: "80".into() }]);
    let money = find(&tables, "money");
    let first = verifier
        .chunk_upper(&money, None, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, vec![KeyValue::Text("-1.5000".into())]);
    let bins = find(&tables, "bins");
    let found = verifier
        .digest_keys(&bins, &[vec![KeyValue::Text("ab\0\0".into())]])
        .await
        .unwrap();
    assert_eq!(found.rows, 1, "a BINARY(4) key is read with its padding");
}

#[tokio::test]
async fn chunk_keys_follow_the_rules() {
    let (server, verifier) = server(13).await;
    server
        .execute(&format!(
            "CREATE DATABASE shop; CREATE DATABASE {MARKER_SCHEMA}; \
             CREATE TABLE {MARKER_SCHEMA}.marker (id INT PRIMARY KEY); \
             CREATE TABLE shop.nullable_unique (u INT UNIQUE, v INT); \
             CREATE TABLE shop.pk_and_unique (id INT PRIMARY KEY, u INT NOT NULL UNIQUE); \
             CREATE TABLE shop.unique_only (a INT, u2 INT NOT NULL, u1 INT NOT NULL, \
               UNIQUE KEY z_first (u1), UNIQUE KEY b_second (u2, a), UNIQUE KEY a_nullable (a)); \
             CREATE TABLE shop.prefix_only (s VARCHAR(100) NOT NULL, UNIQUE KEY (s(10))); \
             CREATE TABLE shop.float_pk (f DOUBLE PRIMARY KEY); \
             CREATE TABLE shop.plain_index (n INT, a INT NOT NULL, KEY z (n), KEY y (a)); \
             CREATE TABLE shop.nullable_index (n INT, KEY (n)); \
             CREATE TABLE shop.no_key (a INT, b TEXT); \
             INSERT INTO shop.no_key VALUES (1, 'x'), (2, NULL), (NULL, 'y'); \
             CREATE VIEW shop.a_view AS SELECT * FROM shop.no_key;"
        ))
        .await
        .unwrap();
    let tables = verifier.chunk_tables(&[]).await.unwrap();
    let keys: Vec<(String, Vec<String>)> =
        tables.iter().map(|t| (t.name(), t.key.clone())).collect();
    let expected = |name: &str, key: &[&str]| {
        (
            format!("`shop`.`{name}`"),
            key.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        keys,
        vec![
            expected("float_pk", &[]),
            expected("no_key", &[]),
            expected("nullable_index", &[]),
            expected("nullable_unique", &[]),
            expected("pk_and_unique", &["id"]),
            // No unique key: the non-unique index without NULL-able columns.
            expected("plain_index", &["a"]),
            expected("prefix_only", &[]),
            // b_second has a NULL-able column; z_first is the first usable by name.
            expected("unique_only", &["u1"]),
        ]
    );
    assert_eq!(
        verifier.chunk_tables(&["shop".into()]).await.unwrap(),
        tables
    );

    let no_key = find(&tables, "no_key");
    assert_eq!(verifier.chunk_upper(&no_key, None, 1).await.unwrap(), None);
    let whole = verifier
        .digest_range(&no_key, &KeyRange::all())
        .await
        .unwrap();
    assert_eq!(whole.rows, 3);
    assert!(verifier
        .chunk_tables(&["missing".into()])
        .await
        .unwrap_err()
        .is_not_found(aurora_core::errors::Resource::Other));

    // The same through a cluster's writer, resolved per call.
    let writer = WriterVerifier::new(FixedWriters(vec![("shop".into(), server.admin())]), "shop");
    assert_eq!(writer.chunk_tables(&[]).await.unwrap(), tables);
    assert_eq!(
        writer
            .digest_range(&no_key, &KeyRange::all())
            .await
            .unwrap(),
        whole
    );
}

#[tokio::test]
async fn digests_depend_on_the_rows_contents_not_their_order() {
    let ((first, a), (second, b)) = tokio::join!(server(14), server(15));
    let schema = "CREATE DATABASE shop; USE shop; \
         CREATE TABLE shop.t (id INT PRIMARY KEY, s VARCHAR(20) CHARACTER SET latin1, \
           u VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, b VARBINARY(10), \
           ts TIMESTAMP(3) NULL, d DOUBLE, j JSON, g INT AS (id * 2) VIRTUAL);";
    first.execute(schema).await.unwrap();
    second.execute(schema).await.unwrap();
    // Different session zones at write time: TIMESTAMPs are stored in UTC all the same.
    first
        .execute(
            "SET time_zone = '+05:00'; INSERT INTO shop.t (id, s, u, b, ts, d, j) VALUES \
             (1, 'a', 'é', 0xff, '2024-01-01 05:00:00.5', 1.5, '{\"k\": 1}'), \
             (2, NULL, '', NULL, NULL, NULL, NULL), (3, 'NULL', 'x', '', NULL, -0.1, '[]');",
        )
        .await
        .unwrap();
    second
        .execute(
            "INSERT INTO shop.t (id, s, u, b, ts, d, j) VALUES \
             (3, 'NULL', 'x', '', NULL, -0.1, '[]'), (2, NULL, '', NULL, NULL, NULL, NULL); \
             SET time_zone = '+00:00'; INSERT INTO shop.t (id, s, u, b, ts, d, j) VALUES \
             (1, 'a', 'é', 0xff, '2024-01-01 00:00:00.5', 1.5, '{\"k\": 1}');",
        )
        .await
        .unwrap();
    let t = table("shop", "t", &["id"]);
    let all = KeyRange::all();
    let digest_a = a.digest_range(&t, &all).await.unwrap();
    assert_eq!(digest_a.rows, 3);
    assert_eq!(b.digest_range(&t, &all).await.unwrap(), digest_a);

    // One changed column changes the digest, NULL, '' and 'NULL' included.
    for change in [
        "UPDATE shop.t SET s = '' WHERE id = 2",
        "UPDATE shop.t SET s = 'NULL' WHERE id = 2",
        "UPDATE shop.t SET s = NULL WHERE id = 3",
        "UPDATE shop.t SET u = NULL WHERE id = 2",
        "UPDATE shop.t SET b = 0xfe WHERE id = 1",
        "UPDATE shop.t SET ts = '2024-01-01 00:00:00.501' WHERE id = 1",
        "UPDATE shop.t SET d = 1.5000001 WHERE id = 1",
        "UPDATE shop.t SET j = '{\"k\": 2}' WHERE id = 1",
    ] {
        second.execute(change).await.unwrap();
        let changed = b.digest_range(&t, &all).await.unwrap();
        assert_eq!(changed.rows, 3);
        assert_ne!(changed, digest_a, "{change}");
        second.execute("DELETE FROM shop.t").await.unwrap();
        second
            .execute(
                "SET time_zone = '+00:00'; INSERT INTO shop.t (id, s, u, b, ts, d, j) VALUES \
                 (1, 'a', 'é', 0xff, '2024-01-01 00:00:00.5', 1.5, '{\"k\": 1}'), \
                 (2, NULL, '', NULL, NULL, NULL, NULL), (3, 'NULL', 'x', '', NULL, -0.1, '[]');",
            )
            .await
            .unwrap();
        assert_eq!(
            b.digest_range(&t, &all).await.unwrap(),
            digest_a,
            "{change} undone"
        );
    }

    // The digest of some keys is the digest of the range holding the same rows.
    let range = KeyRange {
        lower: Some(vec![KeyValue::Int(1)]),
        upper: Some(vec![KeyValue::Int(3)]),
    };
    let keys = vec![
        vec![KeyValue::Int(3)],
        vec![KeyValue::Int(2)],
        vec![KeyValue::Int(9)],
    ];
    let by_keys = a.digest_keys(&t, &keys).await.unwrap();
    assert_eq!(by_keys.rows, 2);
    assert_eq!(by_keys, a.digest_range(&t, &range).await.unwrap());
}

#[tokio::test]
async fn digests_of_many_keys_combine_their_statements() {
    let (server, verifier) = server(16).await;
    server
        .execute(
            "CREATE DATABASE shop; USE shop; \
             CREATE TABLE shop.t (a INT NOT NULL, b INT NOT NULL, v VARCHAR(10), PRIMARY KEY (a, b)); \
             INSERT INTO shop.t SELECT seq DIV 10, seq MOD 10, HEX(seq) FROM seq_0_to_1999;",
        )
        .await
        .unwrap();
    let t = table("shop", "t", &["a", "b"]);
    // Keys 0..1500 (three statements), one named twice; the range (-1, 149:9] holds the same.
    let mut keys: Vec<Key> = (0..1500)
        .map(|n| vec![KeyValue::Int(n / 10), KeyValue::Int(n % 10)])
        .collect();
    keys.push(vec![KeyValue::Int(0), KeyValue::Int(0)]);
    let by_keys = verifier.digest_keys(&t, &keys).await.unwrap();
    assert_eq!(by_keys.rows, 1500);
    let range = KeyRange {
        lower: None,
        upper: Some(vec![KeyValue::Int(149), KeyValue::Int(9)]),
    };
    assert_eq!(verifier.digest_range(&t, &range).await.unwrap(), by_keys);
    assert_eq!(count(&server, "SELECT COUNT(*) FROM shop.t").await, 2000);
}

#[tokio::test]
async fn touched_rows_are_the_keys_written_since_a_position_across_rotations() {
    let (server, verifier) = server(17).await;
    server
        .execute(
            "CREATE DATABASE shop; USE shop; \
             CREATE TABLE shop.orders (id INT PRIMARY KEY, v INT); \
             CREATE TABLE shop.other (id INT PRIMARY KEY); \
             CREATE TABLE shop.log (line TEXT); \
             CREATE TABLE shop.keys (k VARBINARY(8) NOT NULL, t DATETIME(6) NOT NULL, \
               big BIGINT UNSIGNED NOT NULL, name VARCHAR(20) CHARACTER SET utf8mb4 NOT NULL, \
               amount DECIMAL(12, 3) NOT NULL, small TINYINT UNSIGNED NOT NULL, v INT, \
               PRIMARY KEY (k, t, big, name, amount, small)); \
             INSERT INTO shop.orders VALUES (1, 0), (2, 0), (3, 0);",
        )
        .await
        .unwrap();
    let from = verifier.binlog_position().await.unwrap();
    server
        .execute(
            "INSERT INTO shop.orders VALUES (4, 0), (5, 0); \
             UPDATE shop.orders SET v = 1 WHERE id = 1; \
             INSERT INTO shop.other VALUES (100); \
             FLUSH BINARY LOGS; \
             UPDATE shop.orders SET id = 10 WHERE id = 2; \
             DELETE FROM shop.orders WHERE id = 3; \
             INSERT INTO shop.log VALUES ('x'); \
             INSERT INTO shop.keys VALUES (0xff00, '2024-02-29 23:59:59.000001', 18446744073709551615, 'zoë', -1.5, 200, 1), \
               ('abc', '1999-01-01 00:00:00', 1, '日本', 0, 0, 2);",
        )
        .await
        .unwrap();
    let to = verifier.binlog_position().await.unwrap();
    assert_ne!(from.file, to.file, "FLUSH BINARY LOGS rotated");
    server
        .execute("INSERT INTO shop.orders VALUES (99, 0)")
        .await
        .unwrap();

    let tables = verifier.chunk_tables(&["shop".into()]).await.unwrap();
    let in_scope: Vec<ChunkTable> = tables.into_iter().filter(|t| t.table != "other").collect();
    let touched = verifier
        .touched_rows(&from, &to, &in_scope, 100)
        .await
        .unwrap();
    assert!(!touched.over_limit);
    assert!(touched.files >= 2, "{touched:?}");
    assert!(touched.row_events >= 6, "{touched:?}");
    let ints = |ids: &[i64]| -> Vec<Key> { ids.iter().map(|i| vec![KeyValue::Int(*i)]).collect() };
    let by_name = |name: &str| -> &TouchedTable {
        touched
            .tables
            .iter()
            .find(|t| t.table == name)
            .unwrap_or_else(|| panic!("{name} not in {touched:?}"))
    };
    assert_eq!(by_name("orders").keys, ints(&[1, 2, 3, 4, 5, 10]));
    assert!(
        by_name("log").keys.is_empty(),
        "a keyless table is compared whole"
    );
    assert!(touched.tables.iter().all(|t| t.table != "other"));

    // Keys read from the binlog are the SQL side's: bound back they find their rows.
    let keys_table = find(&in_scope, "keys");
    let binlog_keys = &by_name("keys").keys;
    assert_eq!(binlog_keys.len(), 2, "{binlog_keys:?}");
    let found = verifier
        .digest_keys(&keys_table, binlog_keys)
        .await
        .unwrap();
    assert_eq!(found.rows, 2, "{binlog_keys:?}");
    let (uppers, _) = walk(&verifier, &keys_table, 1).await;
    let mut sql_keys = uppers.clone();
    sql_keys.sort();
    assert_eq!(&sql_keys, binlog_keys);

    // From the same position to a later one: the later write too.
    let later = verifier.binlog_position().await.unwrap();
    let more = verifier
        .touched_rows(&from, &later, &in_scope, 100)
        .await
        .unwrap();
    assert_eq!(
        more.tables
            .iter()
            .find(|t| t.table == "orders")
            .unwrap()
            .keys,
        ints(&[1, 2, 3, 4, 5, 10, 99])
    );
}

#[tokio::test]
async fn touched_rows_stop_over_the_limit_never_wait_past_the_binlog_end_and_need_row_events() {
    let (server, verifier) = server(18).await;
    server
        .execute("CREATE DATABASE shop; USE shop; CREATE TABLE shop.t (id INT PRIMARY KEY);")
        .await
        .unwrap();
    let from = verifier.binlog_position().await.unwrap();
    server
        .execute("USE shop; INSERT INTO shop.t SELECT seq FROM seq_1_to_50; INSERT INTO shop.t VALUES (51);")
        .await
        .unwrap();
    let to = verifier.binlog_position().await.unwrap();
    let tables = vec![table("shop", "t", &["id"])];

    let over = verifier
        .touched_rows(&from, &to, &tables, 10)
        .await
        .unwrap();
    assert!(over.over_limit, "{over:?}");
    let within = verifier
        .touched_rows(&from, &to, &tables, 51)
        .await
        .unwrap();
    assert!(!within.over_limit);
    assert_eq!(within.tables[0].keys.len(), 51);
    assert_eq!(within.files, 1);

    let none = verifier.touched_rows(&to, &to, &tables, 10).await.unwrap();
    assert!(none.tables.is_empty() && none.row_events == 0);

    let beyond = aurora_core::binlog::BinlogPosition::new(to.file.clone(), to.position + 10_000);
    let started = std::time::Instant::now();
    let error = verifier
        .touched_rows(&from, &beyond, &tables, 100)
        .await
        .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        error.to_string().contains(&to.start_position()),
        "names the position reached: {error}"
    );

    server
        .execute("SET GLOBAL binlog_format = 'MIXED'")
        .await
        .unwrap();
    let error = verifier
        .touched_rows(&from, &to, &tables, 100)
        .await
        .unwrap_err();
    assert!(
        matches!(error, aurora_core::errors::PortError::InvalidState(_)),
        "{error:?}"
    );
}
