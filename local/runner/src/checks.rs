//! The demo's invariants, checked on the servers themselves after the run: every acknowledged
//! insert is on the target exactly once; no file of the target (data, redo log, binlog, relay
//! log) holds the plaintext marker that the source's files do; and how long writes were
//! unavailable around the switchover.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aurora_sandbox::schema::{files_containing, PLAINTEXT_MARKER};
use aurora_sandbox::{Sandbox, SandboxError, SandboxResult};
use mysql_async::prelude::Queryable;
use time::OffsetDateTime;

/// Acknowledged inserts against what the target holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteCheck {
    pub acknowledged: usize,
    /// Acknowledged ids missing on the target.
    pub lost: Vec<u64>,
    /// Ids present more than once on the target.
    pub duplicates: Vec<u64>,
}

/// Row count and `CHECKSUM TABLE` of every table of `databases` on `cluster` (aurora-sql's
/// verifier), by database and table.
pub type TableChecksums = BTreeMap<(String, String), (u64, Option<u64>)>;

pub async fn table_checksums(
    sandbox: &Sandbox,
    cluster: &str,
    databases: &[String],
) -> SandboxResult<TableChecksums> {
    use aurora_core::ports::{Verifier, VerifyDepth};
    let digests = sandbox
        .verifier(cluster)?
        .table_digests(databases, VerifyDepth::Checksums)
        .await
        .map_err(|e| SandboxError::InvalidState(e.to_string()))?;
    Ok(digests
        .into_iter()
        .map(|d| ((d.database, d.table), (d.rows, d.checksum)))
        .collect())
}

/// The tables whose count or checksum differ between `a` and `b`, with both values.
pub fn checksum_differences(a: &TableChecksums, b: &TableChecksums) -> Vec<String> {
    let tables: BTreeSet<_> = a.keys().chain(b.keys()).collect();
    tables
        .into_iter()
        .filter(|t| a.get(*t) != b.get(*t))
        .map(|t| format!("{}.{}: {:?} against {:?}", t.0, t.1, a.get(t), b.get(t)))
        .collect()
}

/// Compares the acknowledged insert ids with `shop.demo_writes` on `cluster`.
pub async fn check_writes(
    sandbox: &Sandbox,
    cluster: &str,
    acknowledged: &[u64],
) -> SandboxResult<WriteCheck> {
    let mut conn = sandbox.admin_conn(cluster).await?;
    let rows: Vec<(u64, u64)> = conn
        .query("SELECT id, COUNT(*) FROM shop.demo_writes GROUP BY id")
        .await
        .map_err(SandboxError::sql(cluster))?;
    let _ = conn.disconnect().await;
    let counts: BTreeMap<u64, u64> = rows.into_iter().collect();
    let acked: BTreeSet<u64> = acknowledged.iter().copied().collect();
    Ok(WriteCheck {
        acknowledged: acked.len(),
        lost: acked
            .iter()
            .filter(|id| !counts.contains_key(id))
            .copied()
            .collect(),
        duplicates: counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect(),
    })
}

/// Where the plaintext marker is found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtRest {
    pub target_files_with_marker: Vec<PathBuf>,
    pub source_files_with_marker: Vec<PathBuf>,
}

impl AtRest {
    /// The target holds no plaintext while the source does (which proves the scan can see it).
    pub fn target_encrypted(&self) -> bool {
        self.target_files_with_marker.is_empty() && !self.source_files_with_marker.is_empty()
    }
}

/// Scans both clusters' directories (data files, redo log, binlogs, relay logs) for
/// [`PLAINTEXT_MARKER`].
pub fn scan_at_rest(sandbox: &Sandbox, source: &str, target: &str) -> SandboxResult<AtRest> {
    let dir = |id: &str| sandbox.server_spec(id).map(|s| s.data_dir());
    Ok(AtRest {
        target_files_with_marker: files_containing(&dir(target)?, PLAINTEXT_MARKER.as_bytes())?,
        source_files_with_marker: files_containing(&dir(source)?, PLAINTEXT_MARKER.as_bytes())?,
    })
}

/// The longest time between two consecutive acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub ms: f64,
}

/// The longest gap between consecutive acknowledgement times (sorted) that overlaps
/// `[start, end]`: the write unavailability of a switchover that ran in that window.
pub fn longest_gap(
    times: &[OffsetDateTime],
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Option<Gap> {
    times
        .windows(2)
        .filter(|pair| pair[0] <= end && pair[1] >= start)
        .map(|pair| Gap {
            from: pair[0],
            to: pair[1],
            ms: (pair[1] - pair[0]).whole_microseconds() as f64 / 1000.0,
        })
        .max_by(|a, b| a.ms.total_cmp(&b.ms))
}

/// The process's peak resident memory (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms)
    }

    #[test]
    fn the_gap_is_the_longest_one_overlapping_the_switchover() {
        let times: Vec<_> = [0, 5, 500, 510, 515, 700, 705, 2000].map(at).to_vec();
        // A longer gap (705 → 2000) after the window does not count.
        let gap = longest_gap(&times, at(505), at(600)).unwrap();
        assert_eq!((gap.from, gap.to, gap.ms), (at(515), at(700), 185.0));
        // The gap that contains the whole window counts.
        let gap = longest_gap(&times, at(100), at(200)).unwrap();
        assert_eq!(gap.ms, 495.0);
        assert_eq!(longest_gap(&times[..1], at(0), at(1)), None);
    }

    #[test]
    fn peak_memory_is_read_from_proc() {
        assert!(peak_memory_kib().is_some_and(|kib| kib > 0));
    }
}

/// A few reports the application runs on the source, so that its statement statistics have
/// SELECTs for the pre-warm to replay (aggregations over the order table, a join).
pub async fn application_reports(sandbox: &Sandbox, cluster: &str) -> SandboxResult<()> {
    let mut conn = sandbox.admin_conn(cluster).await?;
    let reports = [
        "SELECT customer_id, COUNT(*), SUM(quantity) FROM shop.orders \
         GROUP BY customer_id ORDER BY 3 DESC LIMIT 10",
        "SELECT c.id, c.email, COUNT(o.id) FROM shop.customers c \
         JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.id, c.email LIMIT 20",
        "SELECT sku, SUM(quantity) FROM shop.orders GROUP BY sku",
    ];
    for _ in 0..3 {
        for report in reports {
            conn.query_drop(report)
                .await
                .map_err(SandboxError::sql(cluster))?;
        }
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// The first point reads on a cluster, timed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstReads {
    pub count: usize,
    pub total_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Drops `cluster`'s data files from the page cache (what a buffer pool miss then costs is a
/// storage read, as on a freshly restored Aurora volume), then times `count` point reads of
/// `shop.orders` by primary key spread over its ids, one at a time.
pub async fn first_reads(
    sandbox: &Sandbox,
    cluster: &str,
    count: usize,
) -> SandboxResult<FirstReads> {
    let data = sandbox.server_spec(cluster)?.data_dir();
    drop_from_page_cache(&data);
    let mut conn = sandbox.admin_conn(cluster).await?;
    let (low, high): (Option<u64>, Option<u64>) = conn
        .query_first("SELECT MIN(id), MAX(id) FROM shop.orders")
        .await
        .map_err(SandboxError::sql(cluster))?
        .unwrap_or((None, None));
    let (low, high) = (low.unwrap_or(1), high.unwrap_or(1).max(1));
    let span = high - low + 1;
    let mut times = Vec::with_capacity(count);
    for i in 0..count as u64 {
        // A fixed stride co-prime with most spans: every part of the table, no repeats early.
        let id = low + (i * 7_919) % span;
        let started = std::time::Instant::now();
        let _: Option<(u64, u64)> = conn
            .exec_first(
                "SELECT id, customer_id FROM shop.orders WHERE id = ?",
                (id,),
            )
            .await
            .map_err(SandboxError::sql(cluster))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = conn.disconnect().await;
    let total: f64 = times.iter().sum();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(FirstReads {
        count,
        total_ms: round(total),
        p50_ms: round(at(0.5)),
        p99_ms: round(at(0.99)),
        max_ms: round(times.last().copied().unwrap_or(0.0)),
    })
}

/// `POSIX_FADV_DONTNEED` on every file under `dir`: their clean pages leave the page cache.
fn drop_from_page_cache(dir: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            drop_from_page_cache(&path);
        } else if let Ok(file) = std::fs::File::open(&path) {
            // SAFETY: a valid open descriptor; the call only advises the kernel.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}
