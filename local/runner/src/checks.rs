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
        .map_err(|e| SandboxError::Sql {
            cluster: cluster.to_string(),
            message: e.to_string(),
        })?;
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
