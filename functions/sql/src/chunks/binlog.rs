//! The rows the source's binlog shows written between two positions.
//!
//! A dump connection (`COM_REGISTER_SLAVE` + `COM_BINLOG_DUMP`, needing `REPLICATION SLAVE`)
//! streams events from `from`, in non-blocking mode: the server ends the stream at the end of
//! its binlog instead of waiting for more, so a `to` beyond the end fails instead of hanging;
//! should the server go silent anyway, 5 s without an event fail with the position reached.
//! Rotations are followed; reading stops at the first event ending past `to`.
//!
//! Keys come from the TABLE_MAP'd WRITE/UPDATE/DELETE rows events (v1 and v2, and MySQL's
//! partial JSON updates): the chunk key columns (by `ORDINAL_POSITION`) of the before and the
//! after image, converted as [`KeyKind::read_binlog`] does, so that bound back they find the
//! row. A table whose key cannot be read that way (a non-UTF-8 key column, a key column
//! missing from a minimal image) is listed with no keys: compared whole. The server's
//! `binlog_format` must be ROW. The binlog is read with the table definitions of now: a DDL
//! between the positions that moves a key column is not accounted for.
//!
//! mysql_async announces a checksum-aware replica (`SET @master_binlog_checksum = 'ALL'`; both
//! servers only check that the variable is set) and reads the checksum algorithm from each
//! file's format event. `@mariadb_slave_capability` is left unset on purpose: MariaDB then sends
//! its GTID, GTID list and checkpoint events as dummy QUERY events and no ANNOTATE_ROWS, keeping
//! every event's position, and the reader skips whatever is not a rows, rotate or format event.
//! MariaDB's compressed rows events (`log_bin_compress`), which it would send anyway, fail the
//! read rather than be skipped.
//!
//! The dump's server id must not be that of another replica of the source (the source would
//! end the other's dump): it is taken from the range 3 000 000 000 … 4 294 967 295, which
//! Aurora and the sandbox never use, mixed from the process id and the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::PortError;
use aurora_core::ports::{ChunkTable, Key, PortResult, TouchedRows, TouchedTable};
use mysql_async::binlog::events::{Event, EventData, RotateEvent, RowsEventData};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::binlog::EventType;
use mysql_async::{BinlogStream, BinlogStreamRequest};

use super::values::{table_columns, KeyKind};
use crate::conn::{cell, classify, connect};
use crate::credentials::ConnectionSettings;

/// How long the dump may stay silent before the read fails.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// MariaDB's compressed rows events (`WRITE_ROWS_COMPRESSED_EVENT` … `DELETE_ROWS_COMPRESSED_EVENT_V1`).
const MARIADB_COMPRESSED_ROWS: std::ops::RangeInclusive<u8> = 166..=171;

/// A server id for the dump connection (see the module documentation).
fn dump_server_id() -> u32 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::process::id().hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    let span = u64::from(u32::MAX - 3_000_000_000) + 1;
    3_000_000_000 + u32::try_from(hasher.finish() % span).unwrap_or(0)
}

/// Binlog files sort by their numeric extension (`mysql-bin.000010` after `.000009`), whatever
/// its width.
fn file_order(file: &str) -> (&str, u64, &str) {
    match file.rsplit_once('.') {
        Some((base, n)) => match n.parse() {
            Ok(n) => (base, n, ""),
            Err(_) => (file, 0, ""),
        },
        None => (file, 0, file),
    }
}

fn position_cmp(file: &str, position: u64, to: &BinlogPosition) -> std::cmp::Ordering {
    file_order(file)
        .cmp(&file_order(&to.file))
        .then(position.cmp(&to.position))
}

/// How one table's keys are read from row images.
enum TableKey {
    /// Column index and kind of each key column.
    Columns(Vec<(usize, KeyKind)>),
    /// No chunk key, or one the binlog cannot give: the table is compared whole.
    Whole,
}

#[derive(Default)]
struct Touched {
    keys: BTreeSet<Key>,
    whole: bool,
}

/// What the reader has found so far.
struct Reading<'a> {
    tables: &'a BTreeMap<(String, String), TableKey>,
    touched: BTreeMap<(String, String), Touched>,
    distinct: usize,
    row_events: u64,
}

impl Reading<'_> {
    fn whole(&mut self, id: &(String, String), why: &str) {
        let touched = self.touched.entry(id.clone()).or_default();
        if !touched.whole {
            tracing::debug!(database = %id.0, table = %id.1, why, "compared whole");
            self.distinct -= touched.keys.len();
            touched.keys.clear();
            touched.whole = true;
        }
    }

    fn rows_event(&mut self, event: &RowsEventData<'_>, stream: &BinlogStream) -> PortResult<()> {
        self.row_events += 1;
        let Some(tme) = stream.get_tme(event.table_id()) else {
            return Err(PortError::Other(format!(
                "a rows event of table id {} without its TABLE_MAP event",
                event.table_id()
            )));
        };
        let id = (
            tme.database_name().into_owned(),
            tme.table_name().into_owned(),
        );
        let columns = match self.tables.get(&id) {
            None => return Ok(()),
            Some(TableKey::Whole) => {
                self.whole(&id, "no chunk key");
                return Ok(());
            }
            Some(TableKey::Columns(columns)) => columns,
        };
        if self.touched.get(&id).is_some_and(|t| t.whole) {
            return Ok(());
        }
        let before_slots = event.columns_before_image().map(|bits| {
            let present: Vec<bool> = bits.iter().map(|b| *b).collect();
            slots(&present, columns)
        });
        let after_slots = event.columns_after_image().map(|bits| {
            let present: Vec<bool> = bits.iter().map(|b| *b).collect();
            slots(&present, columns)
        });
        let is_update = before_slots.is_some() && after_slots.is_some();
        let mut keys = Vec::new();
        for row in event.rows(tme) {
            let (before, after) =
                row.map_err(|e| PortError::Other(format!("a binlog rows event: {e}")))?;
            for (image, slots, optional) in [
                (before, &before_slots, false),
                (after, &after_slots, is_update),
            ] {
                let (Some(image), Some(slots)) = (image, slots) else {
                    continue;
                };
                match image_key(&image, slots.as_deref(), columns) {
                    Ok(Some(key)) => keys.push(key),
                    // A minimal update's after image lacks an unchanged key: the before image has it.
                    Ok(None) if optional => {}
                    Ok(None) => {
                        self.whole(&id, "key column missing from the row image");
                        return Ok(());
                    }
                    Err(e) => {
                        self.whole(&id, &e);
                        return Ok(());
                    }
                }
            }
        }
        let touched = self.touched.entry(id).or_default();
        for key in keys {
            if touched.keys.insert(key) {
                self.distinct += 1;
            }
        }
        Ok(())
    }
}

/// Where each key column's value is in a row image, which holds the columns present in its
/// bitmap only, in table order; `None` when a key column is absent.
fn slots(present: &[bool], columns: &[(usize, KeyKind)]) -> Option<Vec<usize>> {
    columns
        .iter()
        .map(|&(index, _)| {
            present
                .get(index)
                .copied()
                .unwrap_or(false)
                .then(|| present[..index].iter().filter(|p| **p).count())
        })
        .collect()
}

/// The key in a row image; `None` when a key column is not in the image.
fn image_key(
    image: &BinlogRow,
    slots: Option<&[usize]>,
    columns: &[(usize, KeyKind)],
) -> Result<Option<Key>, String> {
    let Some(slots) = slots else {
        return Ok(None);
    };
    let mut key = Vec::with_capacity(columns.len());
    for (&slot, &(_, kind)) in slots.iter().zip(columns) {
        match image.as_ref(slot) {
            Some(BinlogValue::Value(value)) => key.push(kind.read_binlog(value.clone())?),
            Some(_) => return Err("a JSON value in a key".into()),
            None => return Ok(None),
        }
    }
    Ok(Some(key))
}

/// The key columns of `tables` by index, from the server's `information_schema.COLUMNS`.
async fn table_keys(
    settings: &ConnectionSettings,
    tables: &[ChunkTable],
) -> PortResult<BTreeMap<(String, String), TableKey>> {
    let databases: Vec<String> = tables
        .iter()
        .map(|t| t.database.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut session = connect(settings).await?;
    let columns = async {
        // Statement-based events name no rows: reading them would miss writes silently.
        let format = session
            .query("SELECT @@GLOBAL.binlog_format", "read binlog_format")
            .await?;
        let format = format.first().and_then(|r| cell(r, 0)).unwrap_or_default();
        if !format.eq_ignore_ascii_case("ROW") {
            return Err(PortError::InvalidState(format!(
                "binlog_format is {format:?} on {}, not ROW: the binlog does not name the rows written",
                settings.address()
            )));
        }
        table_columns(&mut session, &databases, None).await
    }
    .await;
    session.close().await;
    let columns = columns?;
    Ok(tables
        .iter()
        .map(|table| {
            let of_table: Vec<_> = columns
                .iter()
                .filter(|c| c.database == table.database && c.table == table.table)
                .collect();
            let key: Option<Vec<(usize, KeyKind)>> = table
                .key
                .iter()
                .map(|name| {
                    let index = of_table.iter().position(|c| &c.name == name)?;
                    Some((index, KeyKind::of(of_table[index])?))
                })
                .collect();
            let key = match key {
                Some(columns) if !columns.is_empty() => TableKey::Columns(columns),
                _ => TableKey::Whole,
            };
            ((table.database.clone(), table.table.clone()), key)
        })
        .collect())
}

async fn next_event(stream: &mut BinlogStream) -> Option<mysql_async::Result<Event>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

pub(super) async fn touched_rows(
    settings: &ConnectionSettings,
    from: &BinlogPosition,
    to: &BinlogPosition,
    tables: &[ChunkTable],
    limit: usize,
) -> PortResult<TouchedRows> {
    match position_cmp(&from.file, from.position, to) {
        std::cmp::Ordering::Equal => {
            return Ok(TouchedRows {
                files: 1,
                ..TouchedRows::default()
            })
        }
        std::cmp::Ordering::Greater => {
            return Err(PortError::InvalidRequest(format!(
                "binlog position {} is after {}",
                from.start_position(),
                to.start_position()
            )))
        }
        std::cmp::Ordering::Less => {}
    }
    let keys = table_keys(settings, tables).await?;
    let session = connect(settings).await?;
    let request = BinlogStreamRequest::new(dump_server_id())
        .with_filename(from.file.as_bytes())
        .with_pos(from.position)
        .with_non_blocking();
    let mut stream = match session.conn.get_binlog_stream(request).await {
        Ok(stream) => stream,
        Err(e) => return Err(classify(&e, "request the binlog", settings, &[])),
    };
    let mut reading = Reading {
        tables: &keys,
        touched: BTreeMap::new(),
        distinct: 0,
        row_events: 0,
    };
    let mut cursor = Cursor {
        file: from.file.clone(),
        position: from.position,
        files: 1,
        format_seen: false,
        draining_payload: false,
    };
    let result = read(&mut stream, &mut reading, &mut cursor, to, limit, settings).await;
    // A dump connection never ends by itself; the stream owns it.
    if tokio::time::timeout(Duration::from_secs(2), stream.close())
        .await
        .is_err()
    {
        tracing::debug!(server = %settings.address(), "binlog dump did not close in 2 s");
    }
    let over_limit = result?;
    Ok(TouchedRows {
        tables: reading
            .touched
            .into_iter()
            .map(|((database, table), touched)| TouchedTable {
                database,
                table,
                keys: touched.keys.into_iter().collect(),
            })
            .collect(),
        over_limit,
        row_events: reading.row_events,
        files: cursor.files,
    })
}

/// Where the reader is.
struct Cursor {
    file: String,
    position: u64,
    files: u32,
    /// Before the first FORMAT_DESCRIPTION event, the checksum is unknown and the first (fake)
    /// ROTATE names the file asked for anyway.
    format_seen: bool,
    /// `to` ends a compressed transaction (MySQL `binlog_transaction_compression`): read the
    /// events inside it (they carry no position), then stop.
    draining_payload: bool,
}

impl Cursor {
    fn reached(&self) -> String {
        format!("{}:{}", self.file, self.position)
    }
}

/// Reads until `to`; returns whether the limit was exceeded.
async fn read(
    stream: &mut BinlogStream,
    reading: &mut Reading<'_>,
    cursor: &mut Cursor,
    to: &BinlogPosition,
    limit: usize,
    settings: &ConnectionSettings,
) -> PortResult<bool> {
    loop {
        let event = match tokio::time::timeout(EVENT_TIMEOUT, next_event(stream)).await {
            Err(_) => {
                return Err(PortError::Transient(format!(
                    "no binlog event from {} for {EVENT_TIMEOUT:?}, at {} before {}",
                    settings.address(),
                    cursor.reached(),
                    to.start_position()
                )))
            }
            Ok(None) if cursor.draining_payload => return Ok(false),
            Ok(None) => {
                return Err(PortError::InvalidState(format!(
                    "the binlog of {} ends at {}, before {}",
                    settings.address(),
                    cursor.reached(),
                    to.start_position()
                )))
            }
            Ok(Some(Err(e))) => {
                return Err(classify(
                    &e,
                    &format!("read the binlog at {}", cursor.reached()),
                    settings,
                    &[],
                ))
            }
            Ok(Some(Ok(event))) => event,
        };
        let header = event.header();
        let event_type = header.event_type_raw();
        let log_pos = u64::from(header.log_pos());
        if cursor.draining_payload && log_pos != 0 {
            return Ok(false);
        }
        // Events the server makes up (a fake ROTATE, the format event of a file started
        // mid-way, events inside a compressed transaction) have no position of their own.
        let mut stop = false;
        if log_pos != 0 && !cursor.draining_payload {
            match position_cmp(&cursor.file, log_pos, to) {
                std::cmp::Ordering::Greater => return Ok(false),
                std::cmp::Ordering::Equal => {
                    if event_type == EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
                        cursor.draining_payload = true;
                    } else {
                        stop = true;
                    }
                }
                std::cmp::Ordering::Less => {}
            }
            cursor.position = log_pos;
        }
        if MARIADB_COMPRESSED_ROWS.contains(&event_type) {
            return Err(PortError::InvalidState(format!(
                "compressed rows events (log_bin_compress) in the binlog of {} at {}",
                settings.address(),
                cursor.reached()
            )));
        }
        if event_type == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            cursor.format_seen = true;
        } else if event_type == EventType::ROTATE_EVENT as u8 && cursor.format_seen {
            let rotate = event
                .read_event::<RotateEvent<'_>>()
                .map_err(|e| PortError::Other(format!("a binlog ROTATE event: {e}")))?;
            let name = rotate.name().into_owned();
            if name != cursor.file {
                cursor.file = name;
                cursor.position = rotate.position();
                cursor.files += 1;
            }
        } else if is_rows_event(event_type) {
            let data = event.read_data().map_err(|e| {
                PortError::Other(format!("a binlog rows event at {}: {e}", cursor.reached()))
            })?;
            if let Some(EventData::RowsEvent(rows)) = data {
                reading.rows_event(&rows, stream)?;
            }
            if reading.distinct > limit {
                return Ok(true);
            }
        }
        if stop {
            return Ok(false);
        }
    }
}

fn is_rows_event(event_type: u8) -> bool {
    [
        EventType::WRITE_ROWS_EVENT_V1,
        EventType::UPDATE_ROWS_EVENT_V1,
        EventType::DELETE_ROWS_EVENT_V1,
        EventType::WRITE_ROWS_EVENT,
        EventType::UPDATE_ROWS_EVENT,
        EventType::DELETE_ROWS_EVENT,
        EventType::PARTIAL_UPDATE_ROWS_EVENT,
    ]
    .iter()
    .any(|t| *t as u8 == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binlog_files_sort_by_their_number() {
        let to = BinlogPosition::new("mysql-bin.000010", 100);
        assert_eq!(
            position_cmp("mysql-bin.000009", 5000, &to),
            std::cmp::Ordering::Less
        );
        assert_eq!(
            position_cmp("mysql-bin.000010", 100, &to),
            std::cmp::Ordering::Equal
        );
        assert_eq!(
            position_cmp("mysql-bin.1000000", 4, &to),
            std::cmp::Ordering::Greater
        );
    }

    #[test]
    fn key_columns_are_found_among_the_columns_an_image_holds() {
        let int = KeyKind::Integer {
            unsigned: false,
            bytes: 4,
        };
        let columns = [(1, int), (3, int)];
        assert_eq!(slots(&[true, true, true, true], &columns), Some(vec![1, 3]));
        assert_eq!(
            slots(&[false, true, false, true], &columns),
            Some(vec![0, 1])
        );
        assert_eq!(slots(&[true, true, true, false], &columns), None);
    }

    #[test]
    fn dump_server_ids_stay_in_their_high_range() {
        for _ in 0..100 {
            assert!(dump_server_id() >= 3_000_000_000);
        }
    }
}
