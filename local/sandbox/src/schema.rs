//! The sample schema the sandbox seeds, and the plaintext-marker scan that proves encryption at
//! rest: every seeded text and blob carries [`PLAINTEXT_MARKER`], so the source's data files,
//! redo log and binlog contain those bytes, and an encrypted copy's files must not.
//!
//! Tables cover what a migration must get right: integer keys (`customers`, `orders`), a
//! non-integer key (`products`), TEXT and BLOB columns, and a table without a primary key
//! (`audit_log`).

use std::io::Read;
use std::path::{Path, PathBuf};

use mysql_async::prelude::Queryable;

use crate::error::{SandboxError, SandboxResult};

/// The database the sample schema lives in.
pub const DATABASE: &str = "shop";
/// Bytes that appear in the seeded data and nowhere in MariaDB's own files.
pub const PLAINTEXT_MARKER: &str = "AURORA-SANDBOX-PLAINTEXT-7c1e9b";
/// The application user: ordinary privileges, so `read_only` stops it.
pub const APP_USER: &str = "app";

const SCHEMA: &[&str] = &[
    "CREATE DATABASE IF NOT EXISTS shop",
    "CREATE TABLE IF NOT EXISTS shop.customers (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        email VARCHAR(191) NOT NULL UNIQUE,
        name VARCHAR(100) NOT NULL,
        notes TEXT NOT NULL,
        created_at DATETIME(6) NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS shop.products (
        sku VARCHAR(32) NOT NULL PRIMARY KEY,
        title VARCHAR(200) NOT NULL,
        price DECIMAL(12,2) NOT NULL,
        description TEXT NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS shop.orders (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        customer_id BIGINT UNSIGNED NOT NULL,
        sku VARCHAR(32) NOT NULL,
        quantity INT NOT NULL,
        payload BLOB NOT NULL,
        placed_at DATETIME(6) NOT NULL,
        KEY (customer_id)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS shop.audit_log (
        at DATETIME(6) NOT NULL,
        actor VARCHAR(64) NOT NULL,
        message TEXT NOT NULL
    ) ENGINE=InnoDB",
];

/// Rows inserted per statement while seeding.
const BATCH: u64 = 200;

/// How many rows each table got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub customers: u64,
    pub products: u64,
    pub orders: u64,
    pub audit_log: u64,
}

impl SeedReport {
    pub fn total(&self) -> u64 {
        self.customers + self.products + self.orders + self.audit_log
    }
}

/// Creates the schema and the application user, and inserts `rows` rows into each table
/// (products: at most 1,000, they are a catalogue). Deterministic, so two seeds compare equal.
pub async fn seed(
    conn: &mut mysql_async::Conn,
    cluster: &str,
    rows: u64,
    app_password: &str,
) -> SandboxResult<SeedReport> {
    for statement in SCHEMA {
        conn.query_drop(*statement)
            .await
            .map_err(SandboxError::sql(cluster))?;
    }
    // CREATE USER takes no placeholders; the password is generated hex, checked here anyway.
    if !app_password.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SandboxError::InvalidState(
            "the application password must be alphanumeric".into(),
        ));
    }
    conn.query_drop(format!(
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '{app_password}'"
    ))
    .await
    .map_err(SandboxError::sql(cluster))?;
    conn.query_drop("GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%'")
        .await
        .map_err(SandboxError::sql(cluster))?;

    let products = rows.min(1000);
    let marker = PLAINTEXT_MARKER;
    insert_batches(
        conn,
        cluster,
        products,
        |i| {
            format!(
                "('SKU-{i:06}', 'Product {i}', {}.{:02}, 'Description {i} {marker}')",
                i % 500 + 1,
                i % 100
            )
        },
        "INSERT INTO shop.products (sku, title, price, description) VALUES ",
    )
    .await?;
    insert_batches(conn, cluster, rows, |i| {
        format!(
            "({id}, 'customer{id}@example.test', 'Customer {id}', 'Notes for {id}: {marker}', TIMESTAMP'2026-01-01 00:00:00' + INTERVAL {id} SECOND)",
            id = i + 1
        )
    }, "INSERT INTO shop.customers (id, email, name, notes, created_at) VALUES ").await?;
    insert_batches(conn, cluster, rows, |i| {
        format!(
            "({id}, {customer}, 'SKU-{sku:06}', {qty}, CONCAT('order-{id}-', '{marker}', REPEAT('x', {pad})), TIMESTAMP'2026-02-01 00:00:00' + INTERVAL {id} SECOND)",
            id = i + 1,
            customer = i % rows.max(1) + 1,
            sku = i % products.max(1),
            qty = i % 7 + 1,
            pad = i % 64,
        )
    }, "INSERT INTO shop.orders (id, customer_id, sku, quantity, payload, placed_at) VALUES ").await?;
    insert_batches(conn, cluster, rows, |i| {
        format!(
            "(TIMESTAMP'2026-03-01 00:00:00' + INTERVAL {i} SECOND, 'seed', 'Seeded row {i} {marker}')"
        )
    }, "INSERT INTO shop.audit_log (at, actor, message) VALUES ").await?;
    Ok(SeedReport {
        customers: rows,
        products,
        orders: rows,
        audit_log: rows,
    })
}

async fn insert_batches(
    conn: &mut mysql_async::Conn,
    cluster: &str,
    rows: u64,
    row: impl Fn(u64) -> String,
    prefix: &str,
) -> SandboxResult<()> {
    let mut start = 0;
    while start < rows {
        let end = (start + BATCH).min(rows);
        let values: Vec<String> = (start..end).map(&row).collect();
        conn.query_drop(format!("{prefix}{}", values.join(",")))
            .await
            .map_err(SandboxError::sql(cluster))?;
        start = end;
    }
    Ok(())
}

/// Every file under `dir` whose bytes contain `marker`, sorted. Reads in chunks that overlap by
/// the marker's length, so a marker split across two reads is still found.
pub fn files_containing(dir: &Path, marker: &[u8]) -> SandboxResult<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .map_err(SandboxError::io(format!("listing {}", current.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(SandboxError::io(format!("listing {}", current.display())))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(SandboxError::io(format!("inspecting {}", path.display())))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && file_contains(&path, marker)? {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn file_contains(path: &Path, marker: &[u8]) -> SandboxResult<bool> {
    if marker.is_empty() {
        return Ok(true);
    }
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        // A server may delete a temporary file between listing and reading.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(SandboxError::io(format!("opening {}", path.display()))(e)),
    };
    let keep = marker.len() - 1;
    let mut buffer = vec![0u8; (1 << 20) + keep];
    let mut filled = 0;
    loop {
        let n = file
            .read(&mut buffer[filled..])
            .map_err(SandboxError::io(format!("reading {}", path.display())))?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if buffer[..filled].windows(marker.len()).any(|w| w == marker) {
            return Ok(true);
        }
        let tail_start = filled.saturating_sub(keep);
        buffer.copy_within(tail_start..filled, 0);
        filled -= tail_start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "aurora-sandbox-schema-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        dir
    }

    #[test]
    fn marker_scan_finds_files_in_subdirectories_and_markers_across_chunks() {
        let dir = temp_dir("scan");
        let mut big = vec![b'a'; (1 << 20) - 5];
        big.extend_from_slice(PLAINTEXT_MARKER.as_bytes());
        big.extend_from_slice(&[b'b'; 100]);
        std::fs::write(dir.join("nested/split.ibd"), &big).unwrap();
        std::fs::write(dir.join("clean.ibd"), vec![b'c'; 3 << 20]).unwrap();
        std::fs::write(
            dir.join("mysql-bin.000001"),
            format!("xx{PLAINTEXT_MARKER}yy"),
        )
        .unwrap();
        let found = files_containing(&dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert_eq!(
            found,
            vec![dir.join("mysql-bin.000001"), dir.join("nested/split.ibd")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_marker_is_not_a_match() {
        let dir = temp_dir("partial");
        std::fs::write(dir.join("f"), &PLAINTEXT_MARKER.as_bytes()[..10]).unwrap();
        assert!(files_containing(&dir, PLAINTEXT_MARKER.as_bytes())
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
