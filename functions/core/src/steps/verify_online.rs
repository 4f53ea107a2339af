//! VerifyOnline: compares source and target chunk by chunk while replication runs, before the
//! switchover gate, so that the fenced re-check ([`crate::steps::verify`]) only has to look at
//! the rows written since.
//!
//! The pass records the source's binlog position and writes a marker row, and starts once the
//! target shows the marker (it has then applied everything up to that position). Each table is
//! walked in chunks of `verify.chunkRows` rows of its chunk key (the primary key, or a unique
//! key without NULL-able columns; a table without one is one chunk). Per chunk both servers
//! compute a row count and an order-independent digest of every column.
//!
//! A chunk that differs may only be behind: replication applies what the source wrote after the
//! read. It is queued, a marker is written on the source after it, and once the target shows
//! that marker the chunk is read again on both sides:
//! - equal: it was lag;
//! - the source unchanged and the target still different: the target has applied everything the
//!   source wrote before the first read, so the difference is real. The run fails with
//!   `VerificationMismatch`, naming the table and the key range, before anything is fenced;
//! - the source changed meanwhile: queued again, at most [`MAX_RECHECKS`] times; a chunk still
//!   moving after that is left to the fenced re-check, which compares it whole.
//!
//! One invocation compares at most `verify.chunksPerInvocation` chunks, pausing
//! `verify.chunkPauseMs` between two, and stops after [`OnlineSettings::budget`]; it returns
//! the cursor with `done: false` and `nextPollSeconds`, and the state machine calls again with
//! the previous result (`$.verifyOnline`). Modes other than `online` return `done` at once.
//!
//! Input: `{"action": "online", "document": <state document>}`. Output: [`OnlineOutput`] at
//! `$.verifyOnline`. Errors: `VerificationMismatch` (a table missing on one side, or a chunk
//! that differs for good), `LagNotConverging` (the target did not show a marker within
//! `verify.timeoutSeconds`: replication is not keeping up), `InvalidInput`, `Transient`,
//! `AccessDenied`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::errors::PortError;
use crate::ports::{
    ChunkDigest, ChunkTable, Clock, FenceMarker, FenceSql, Key, KeyRange, Sleeper, VerifySide,
};
use crate::spec::{VerifyMode, VerifySpec};
use crate::state::ExecutionRef;
use crate::steps::verify::VerifyError;

/// How often a chunk whose source rows keep changing is read again before it is left to the
/// fenced re-check.
pub const MAX_RECHECKS: u32 = 3;

/// Queued chunks beyond which the pass stops reading new chunks until the target catches up.
/// The queue travels in the state document, which Step Functions limits to 256 KiB.
const MAX_PENDING: usize = 200;

/// Unsettled chunks kept by range; beyond, their tables are compared whole under the fence.
const MAX_UNSETTLED: usize = 200;

/// The `action` that asks the verify function for the online pass.
pub const ONLINE_ACTION: &str = "online";

/// Whether a payload of the verify function asks for the online pass.
pub fn is_online_request(payload: &Value) -> bool {
    payload.get("action").and_then(Value::as_str) == Some(ONLINE_ACTION)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlineSettings {
    /// Longest time one invocation works (keep it well under the Lambda timeout).
    pub budget: Duration,
    /// Longest wait for a marker inside one invocation.
    pub marker_wait: Duration,
}

impl Default for OnlineSettings {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(60),
            marker_wait: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnlineInput {
    pub document: OnlineDocument,
}

/// What the pass reads of the state document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnlineDocument {
    pub source_cluster_id: String,
    pub target_cluster_id: String,
    #[serde(default)]
    pub verify: VerifySpec,
    pub execution: ExecutionRef,
    /// The previous invocation's result.
    #[serde(default)]
    pub verify_online: Option<OnlineOutput>,
}

/// Where the walk is: the table (index into `tables`) and the last key compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub table: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Key>,
}

/// A chunk that differed, waiting for the target to catch up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChunk {
    /// Index into `tables`.
    pub table: usize,
    pub range: KeyRange,
    /// The source as last read.
    pub source: ChunkDigest,
    /// The target as last read.
    pub target: ChunkDigest,
    /// Reads after the first.
    pub rechecks: u32,
    /// The marker written after the last read; `None` until it is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnlineOutput {
    pub mode: VerifyMode,
    /// Not `online`: nothing was compared.
    pub skipped: bool,
    /// Every chunk compared, and none left waiting.
    pub done: bool,
    /// The source's binlog position the pass started from: the fenced re-check reads the
    /// binlog from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_position: Option<BinlogPosition>,
    /// Written right after `startPosition`; the walk starts once the target shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_marker: Option<FenceMarker>,
    #[serde(default)]
    pub caught_up: bool,
    #[serde(default)]
    pub tables: Vec<ChunkTable>,
    #[serde(default)]
    pub cursor: Cursor,
    #[serde(default)]
    pub pending: Vec<PendingChunk>,
    /// Chunks whose source rows kept changing: the fenced re-check compares them whole.
    #[serde(default)]
    pub unsettled: Vec<PendingChunk>,
    /// Tables (indexes into `tables`) with more unsettled chunks than fit the state document:
    /// the fenced re-check compares them whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsettled_tables: Vec<usize>,
    /// The last marker written for queued chunks, not yet seen on the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_marker: Option<FenceMarker>,
    /// When the marker the pass waits for (start or recheck) was written: the target must show
    /// it within `verify.timeoutSeconds`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub marker_written_at: Option<OffsetDateTime>,
    pub rows_verified: u64,
    pub chunks_verified: u64,
    /// Chunks read again after a difference.
    pub rechecks: u64,
    /// Tables finished.
    pub tables_verified: usize,
    /// Time spent in the pass's invocations (waits for the target's markers included).
    pub active_ms: u64,
    /// `rowsVerified` per second of `activeMs`.
    pub rows_per_second: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// 0 when done.
    pub next_poll_seconds: u32,
}

impl OnlineOutput {
    fn skipped(mode: VerifyMode, now: OffsetDateTime) -> Self {
        Self {
            mode,
            skipped: true,
            done: true,
            start_position: None,
            start_marker: None,
            caught_up: false,
            tables: Vec::new(),
            cursor: Cursor::default(),
            pending: Vec::new(),
            unsettled: Vec::new(),
            unsettled_tables: Vec::new(),
            recheck_marker: None,
            marker_written_at: None,
            rows_verified: 0,
            chunks_verified: 0,
            rechecks: 0,
            tables_verified: 0,
            active_ms: 0,
            rows_per_second: 0,
            started_at: now,
            next_poll_seconds: 0,
        }
    }
}

/// The sides, helpers and settings the pass runs over.
pub struct Deps<'a> {
    pub source: &'a dyn VerifySide,
    pub target: &'a dyn VerifySide,
    /// Markers on the source, read on the target.
    pub markers: &'a dyn FenceSql,
    pub clock: &'a dyn Clock,
    pub sleeper: &'a dyn Sleeper,
    pub settings: OnlineSettings,
}

fn side(side: &'static str) -> impl Fn(PortError) -> VerifyError {
    move |error| VerifyError::Port { side, error }
}

pub async fn run(input: &OnlineInput, deps: &Deps<'_>) -> Result<OnlineOutput, VerifyError> {
    let doc = &input.document;
    let started = deps.clock.now();
    if doc.verify.mode != VerifyMode::Online {
        return Ok(OnlineOutput::skipped(doc.verify.mode, started));
    }
    let mut state = match &doc.verify_online {
        Some(previous) if !previous.skipped && previous.start_position.is_some() => {
            previous.clone()
        }
        _ => start(doc, deps, started).await?,
    };
    if !state.done {
        walk(doc, deps, &mut state).await?;
    }
    let spent = deps.clock.now() - started;
    state.active_ms += u64::try_from(spent.whole_milliseconds()).unwrap_or(0);
    state.rows_per_second = state
        .rows_verified
        .saturating_mul(1000)
        .checked_div(state.active_ms)
        .unwrap_or(0);
    state.next_poll_seconds = if state.done { 0 } else { 1 };
    Ok(state)
}

/// Lists the tables on both sides, records the start position and writes the start marker.
async fn start(
    doc: &OnlineDocument,
    deps: &Deps<'_>,
    now: OffsetDateTime,
) -> Result<OnlineOutput, VerifyError> {
    let databases = &doc.verify.databases;
    let (source_tables, target_tables) = tokio::join!(
        deps.source.chunk_tables(databases),
        deps.target.chunk_tables(databases)
    );
    let tables = source_tables.map_err(side("source"))?;
    let target_tables = target_tables.map_err(side("target"))?;
    let missing = crate::steps::verify::missing_tables(&tables, &target_tables);
    if !missing.is_empty() {
        return Err(VerifyError::mismatch(missing));
    }
    deps.markers
        .prepare(&doc.source_cluster_id)
        .await
        .map_err(side("source"))?;
    let position = deps
        .source
        .binlog_position()
        .await
        .map_err(side("source"))?;
    let marker = deps
        .markers
        .write_marker(&doc.source_cluster_id, &doc.execution.name)
        .await
        .map_err(side("source"))?;
    let mut state = OnlineOutput::skipped(VerifyMode::Online, now);
    state.skipped = false;
    state.done = false;
    state.start_position = Some(position);
    state.start_marker = Some(marker);
    state.marker_written_at = Some(now);
    state.tables = tables;
    Ok(state)
}

/// Compares chunks until the table list is done, the invocation's chunk bound or time budget
/// is reached, or queued chunks wait for the target.
async fn walk(
    doc: &OnlineDocument,
    deps: &Deps<'_>,
    state: &mut OnlineOutput,
) -> Result<(), VerifyError> {
    let settings = deps.settings;
    let started = deps.clock.now();
    let budget = time::Duration::try_from(settings.budget).unwrap_or(time::Duration::MINUTE);
    let over_budget = |clock: &dyn Clock| clock.now() - started >= budget;
    let spec = &doc.verify;

    if !state.caught_up {
        let Some(marker) = state.start_marker.clone() else {
            return Err(VerifyError::Port {
                side: "source",
                error: PortError::InvalidState("the online pass has no start marker".into()),
            });
        };
        if !wait_for_marker(doc, deps, state, &marker, settings.marker_wait).await? {
            return Ok(());
        }
        state.caught_up = true;
        state.marker_written_at = None;
    }

    let mut compared = 0u32;
    loop {
        recheck_arrived(doc, deps, state).await?;
        mark_pending(doc, deps, state).await?;
        let walked = state.cursor.table >= state.tables.len();
        if walked && state.pending.is_empty() {
            state.done = true;
            return Ok(());
        }
        if compared >= spec.chunks_per_invocation || over_budget(deps.clock) {
            return Ok(());
        }
        if walked || state.pending.len() >= MAX_PENDING {
            // Only queued chunks are left: wait a little for their marker, then let the state
            // machine call again.
            if let Some(marker) = state.recheck_marker.clone() {
                if !wait_for_marker(doc, deps, state, &marker, settings.marker_wait).await? {
                    return Ok(());
                }
            }
            continue;
        }
        compare_next_chunk(deps, spec, state).await?;
        compared += 1;
        if spec.chunk_pause_ms > 0 {
            deps.sleeper
                .sleep(Duration::from_millis(u64::from(spec.chunk_pause_ms)))
                .await;
        }
    }
}

/// Reads the next chunk on both sides and moves the cursor past it.
async fn compare_next_chunk(
    deps: &Deps<'_>,
    spec: &VerifySpec,
    state: &mut OnlineOutput,
) -> Result<(), VerifyError> {
    let index = state.cursor.table;
    let table = &state.tables[index];
    let upper = if table.key.is_empty() {
        None
    } else {
        deps.source
            .chunk_upper(
                table,
                state.cursor.after.as_deref(),
                u64::from(spec.chunk_rows),
            )
            .await
            .map_err(side("source"))?
    };
    let range = KeyRange {
        lower: state.cursor.after.clone(),
        upper: upper.clone(),
    };
    let (source, target) = read_both(deps, table, &range).await?;
    state.rows_verified += source.rows;
    state.chunks_verified += 1;
    if source != target {
        state.pending.push(PendingChunk {
            table: index,
            range,
            source,
            target,
            rechecks: 0,
            marker: None,
        });
    }
    match upper {
        Some(upper) => state.cursor.after = Some(upper),
        None => {
            state.cursor = Cursor {
                table: index + 1,
                after: None,
            };
            state.tables_verified += 1;
        }
    }
    Ok(())
}

/// The chunk's digest on the source, then on the target.
async fn read_both(
    deps: &Deps<'_>,
    table: &ChunkTable,
    range: &KeyRange,
) -> Result<(ChunkDigest, ChunkDigest), VerifyError> {
    // The source first: the target, read after, has had time to apply what the source held.
    let source = deps
        .source
        .digest_range(table, range)
        .await
        .map_err(side("source"))?;
    let target = deps
        .target
        .digest_range(table, range)
        .await
        .map_err(side("target"))?;
    Ok((source, target))
}

/// Writes one marker after every queued chunk that has none yet.
async fn mark_pending(
    doc: &OnlineDocument,
    deps: &Deps<'_>,
    state: &mut OnlineOutput,
) -> Result<(), VerifyError> {
    if state.pending.iter().all(|p| p.marker.is_some()) {
        return Ok(());
    }
    let marker = deps
        .markers
        .write_marker(&doc.source_cluster_id, &doc.execution.name)
        .await
        .map_err(side("source"))?;
    for pending in state.pending.iter_mut().filter(|p| p.marker.is_none()) {
        pending.marker = Some(marker.sequence);
    }
    if state.recheck_marker.is_none() {
        state.marker_written_at = Some(deps.clock.now());
    }
    state.recheck_marker = Some(marker);
    Ok(())
}

/// Reads again every queued chunk whose marker the target shows.
async fn recheck_arrived(
    doc: &OnlineDocument,
    deps: &Deps<'_>,
    state: &mut OnlineOutput,
) -> Result<(), VerifyError> {
    let Some(marker) = state.recheck_marker.clone() else {
        return Ok(());
    };
    if !deps
        .markers
        .marker_arrived(&doc.target_cluster_id, &marker)
        .await
        .map_err(side("target"))?
    {
        return Ok(());
    }
    state.recheck_marker = None;
    state.marker_written_at = None;
    let queued = std::mem::take(&mut state.pending);
    for mut chunk in queued {
        if chunk.marker.is_none_or(|m| m > marker.sequence) {
            state.pending.push(chunk);
            continue;
        }
        let table = &state.tables[chunk.table];
        let (source, target) = read_both(deps, table, &chunk.range).await?;
        state.rechecks += 1;
        if source == target {
            continue;
        }
        if source == chunk.source {
            return Err(VerifyError::chunk_differs(
                table,
                &chunk.range,
                &source,
                &target,
            ));
        }
        chunk.rechecks += 1;
        chunk.source = source;
        chunk.target = target;
        chunk.marker = None;
        if chunk.rechecks >= MAX_RECHECKS {
            if state.unsettled_tables.contains(&chunk.table) {
                continue;
            }
            if state.unsettled.len() < MAX_UNSETTLED {
                state.unsettled.push(chunk);
            } else {
                let table = chunk.table;
                state.unsettled.retain(|c| c.table != table);
                state.unsettled_tables.push(table);
            }
        } else {
            state.pending.push(chunk);
        }
    }
    Ok(())
}

/// Polls the target for `marker` for at most `wait`; fails once it was written more than
/// `verify.timeoutSeconds` ago.
async fn wait_for_marker(
    doc: &OnlineDocument,
    deps: &Deps<'_>,
    state: &OnlineOutput,
    marker: &FenceMarker,
    wait: Duration,
) -> Result<bool, VerifyError> {
    let deadline = deps.clock.now() + time::Duration::try_from(wait).unwrap_or_default();
    let timeout = time::Duration::seconds(i64::from(doc.verify.timeout_seconds));
    loop {
        if deps
            .markers
            .marker_arrived(&doc.target_cluster_id, marker)
            .await
            .map_err(side("target"))?
        {
            return Ok(true);
        }
        if state
            .marker_written_at
            .is_some_and(|at| deps.clock.now() - at > timeout)
        {
            return Err(VerifyError::NotCatchingUp {
                sequence: marker.sequence,
                timeout: doc.verify.timeout_seconds,
            });
        }
        if deps.clock.now() >= deadline {
            return Ok(false);
        }
        deps.sleeper.sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_names;
    use crate::errors::NamedError;
    use crate::fakes::{FakeClock, FakeFenceSql, FakeVerifier};
    use crate::ports::{KeyValue, MARKER_SCHEMA};
    use serde_json::json;

    const SOURCE: &str = "orders";
    const TARGET: &str = "orders-encrypted";

    fn input(verify: Value, previous: Option<&OnlineOutput>) -> OnlineInput {
        let mut document = json!({
            "sourceClusterId": SOURCE,
            "targetClusterId": TARGET,
            "verify": verify,
            "execution": {"name": "run-1"},
        });
        if let Some(previous) = previous {
            document["verifyOnline"] = serde_json::to_value(previous).unwrap();
        }
        serde_json::from_value(json!({"action": "online", "document": document})).unwrap()
    }

    struct World {
        source: FakeVerifier,
        target: FakeVerifier,
        markers: FakeFenceSql,
        clock: FakeClock,
    }

    impl World {
        fn new(tables: &[(&str, &str, i64)]) -> Self {
            let markers = FakeFenceSql::default();
            markers.replicate(SOURCE, TARGET);
            Self {
                source: FakeVerifier::with_rows(tables),
                target: FakeVerifier::with_rows(tables),
                markers,
                clock: FakeClock::default(),
            }
        }

        async fn step(
            &self,
            verify: Value,
            previous: Option<&OnlineOutput>,
        ) -> Result<OnlineOutput, VerifyError> {
            let deps = Deps {
                source: &self.source,
                target: &self.target,
                markers: &self.markers,
                clock: &self.clock,
                sleeper: &self.clock,
                settings: OnlineSettings::default(),
            };
            run(&input(verify, previous), &deps).await
        }

        /// Invokes until done, at most `max` times, as the state machine's loop does.
        async fn until_done(
            &self,
            verify: Value,
            max: usize,
        ) -> Result<(OnlineOutput, usize), VerifyError> {
            let mut previous: Option<OnlineOutput> = None;
            for invocation in 1..=max {
                let out = self.step(verify.clone(), previous.as_ref()).await?;
                if out.done {
                    return Ok((out, invocation));
                }
                previous = Some(out);
            }
            panic!("not done after {max} invocations: {previous:?}");
        }
    }

    #[tokio::test]
    async fn equal_sides_are_walked_chunk_by_chunk_over_several_invocations() {
        let world = World::new(&[("shop", "orders", 2_500), ("shop", "items", 10)]);
        let verify = json!({"chunkRows": 100, "chunksPerInvocation": 7});
        let (out, invocations) = world.until_done(verify, 100).await.unwrap();
        assert!(!out.skipped);
        assert_eq!(out.rows_verified, 2_510);
        // 25 full chunks and an empty last one for orders; one chunk for items.
        assert_eq!(out.chunks_verified, 27);
        assert_eq!(out.tables_verified, 2);
        assert!((4..=5).contains(&invocations), "{invocations}");
        assert_eq!(
            out.start_position,
            Some(BinlogPosition::new("mysql-bin-changelog.000001", 4))
        );
        assert_eq!(
            world.markers.markers(SOURCE).len(),
            1,
            "the start marker only"
        );
        assert_eq!(world.markers.prepared(), vec![SOURCE.to_string()]);
        assert!(out.pending.is_empty() && out.unsettled.is_empty());
        assert_eq!(out.next_poll_seconds, 0);
    }

    #[tokio::test]
    async fn the_walk_starts_only_once_the_target_shows_the_start_marker() {
        let world = World::new(&[("shop", "orders", 10)]);
        world.markers.stop_replicating(TARGET);
        let first = world.step(json!({}), None).await.unwrap();
        assert!(!first.done && !first.caught_up);
        assert_eq!(first.chunks_verified, 0);
        assert_eq!(first.next_poll_seconds, 1);
        let again = world.step(json!({}), Some(&first)).await.unwrap();
        assert_eq!(again.start_marker, first.start_marker, "one start marker");
        assert!(!again.caught_up);
        world
            .markers
            .deliver(TARGET, first.start_marker.as_ref().unwrap());
        let done = world.step(json!({}), Some(&again)).await.unwrap();
        assert!(done.done && done.caught_up);
        assert_eq!(done.rows_verified, 10);
    }

    #[tokio::test]
    async fn a_difference_that_replication_then_applies_is_lag_not_a_mismatch() {
        let world = World::new(&[("shop", "orders", 50)]);
        world.target.set_row("shop", "orders", 7, "not yet applied");
        // Replication delivers the start marker, then stalls: the recheck marker waits.
        world.markers.stop_replicating(TARGET);
        let start = world.step(json!({"chunkRows": 10}), None).await.unwrap();
        world
            .markers
            .deliver(TARGET, start.start_marker.as_ref().unwrap());
        let previous = world
            .step(json!({"chunkRows": 10}), Some(&start))
            .await
            .unwrap();
        assert!(!previous.done);
        assert_eq!(previous.pending.len(), 1, "{previous:?}");
        assert_eq!(
            previous.pending[0].range,
            KeyRange {
                lower: None,
                upper: Some(vec![KeyValue::Int(10)])
            }
        );
        // Replication applies the row, then the marker.
        world.target.set_row("shop", "orders", 7, "row-7");
        world.markers.replicate(SOURCE, TARGET);
        let marker = previous.recheck_marker.clone().unwrap();
        world.markers.deliver(TARGET, &marker);
        let done = world
            .step(json!({"chunkRows": 10}), Some(&previous))
            .await
            .unwrap();
        assert!(done.done, "{done:?}");
        assert_eq!(done.rechecks, 1);
        assert!(done.pending.is_empty() && done.unsettled.is_empty());
    }

    #[tokio::test]
    async fn a_row_changed_behind_replications_back_fails_before_the_fence_naming_the_range() {
        let world = World::new(&[("shop", "orders", 50)]);
        world.target.set_row("shop", "orders", 23, "diverged");
        let error = world
            .until_done(json!({"chunkRows": 10}), 10)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), error_names::VERIFICATION_MISMATCH);
        let text = error.to_string();
        assert!(text.contains("`shop`.`orders`"), "{text}");
        assert!(text.contains("rows with 20 < key <= 30"), "{text}");
    }

    #[tokio::test]
    async fn a_chunk_whose_source_rows_keep_changing_is_left_to_the_fenced_recheck() {
        let world = World::new(&[("shop", "orders", 30)]);
        *world.source.churn.lock().unwrap() = Some(("shop".into(), "orders".into(), 5));
        let (out, _) = world
            .until_done(json!({"chunkRows": 10}), 20)
            .await
            .unwrap();
        assert_eq!(out.unsettled.len(), 1, "{out:?}");
        assert_eq!(out.unsettled[0].rechecks, MAX_RECHECKS);
        assert_eq!(out.unsettled[0].range.upper, Some(vec![KeyValue::Int(10)]));
    }

    #[tokio::test]
    async fn a_table_missing_on_the_target_fails_before_any_marker_is_written() {
        let world = World::new(&[("shop", "orders", 5)]);
        world.source.set_row("shop", "refunds", 1, "r");
        let error = world.step(json!({}), None).await.unwrap_err();
        assert_eq!(error.error_name(), error_names::VERIFICATION_MISMATCH);
        assert!(
            error
                .to_string()
                .contains("`shop`.`refunds` (missing on target)"),
            "{error}"
        );
        assert!(world.markers.markers(SOURCE).is_empty());
    }

    #[tokio::test]
    async fn a_table_without_a_chunk_key_is_one_chunk() {
        let world = World::new(&[("shop", "orders", 5)]);
        for side in [&world.source, &world.target] {
            side.tables
                .lock()
                .unwrap()
                .get_mut(&("shop".to_string(), "orders".to_string()))
                .unwrap()
                .key
                .clear();
        }
        let (out, _) = world.until_done(json!({"chunkRows": 2}), 5).await.unwrap();
        assert_eq!(out.chunks_verified, 1);
        assert_eq!(out.rows_verified, 5);
    }

    #[tokio::test]
    async fn other_modes_skip_the_pass_and_touch_nothing() {
        for mode in ["off", "counts", "full-fenced", "checksums"] {
            let world = World::new(&[("shop", "orders", 5)]);
            let out = world.step(json!({"mode": mode}), None).await.unwrap();
            assert!(out.done && out.skipped, "{mode}");
            assert!(world.markers.markers(SOURCE).is_empty());
            assert_eq!(*world.source.digests_computed.lock().unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn a_target_that_never_shows_the_marker_fails_after_the_timeout() {
        let world = World::new(&[("shop", "orders", 10)]);
        world.markers.stop_replicating(TARGET);
        let verify = json!({"timeoutSeconds": 30});
        let mut previous = world.step(verify.clone(), None).await.unwrap();
        let error = loop {
            match world.step(verify.clone(), Some(&previous)).await {
                Ok(out) => previous = out,
                Err(error) => break error,
            }
        };
        assert_eq!(error.error_name(), error_names::LAG_NOT_CONVERGING);
        assert!(error.to_string().contains("within 30 s"), "{error}");
        assert_eq!(previous.chunks_verified, 0);
    }

    #[test]
    fn only_the_online_action_is_an_online_request() {
        assert!(is_online_request(
            &json!({"action": "online", "document": {}})
        ));
        assert!(!is_online_request(&json!({"verify": {}})));
        assert!(!is_online_request(&json!({"action": "lower-ttl"})));
        assert_eq!(MARKER_SCHEMA, "aurora_encrypt");
    }
}
