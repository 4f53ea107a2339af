//! Columns as `information_schema.COLUMNS` describes them, and chunk key values: read from a
//! result row (binary protocol) or a binlog row image into the one [`KeyValue`] form the state
//! document carries, and bound back as statement parameters.
//!
//! Both readers produce the same value for the same key, so a key found in the binlog finds its
//! row when bound back: integers as numbers (`Uint` only above `i64::MAX`), decimals and
//! temporal values in the server's text form (`YYYY-MM-DD HH:MM:SS[.ffffff]` with the column's
//! fractional digits, TIMESTAMP in UTC), strings as text when UTF-8 and as hex otherwise.

use aurora_core::ports::{KeyValue, PortResult};
use mysql_async::Value;

use crate::conn::{cell, Session};

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnInfo {
    pub database: String,
    pub table: String,
    pub name: String,
    /// `DATA_TYPE`, lowercase: `int`, `varchar`, `datetime`…
    pub data_type: String,
    pub unsigned: bool,
    pub charset: Option<String>,
    pub nullable: bool,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    /// Fractional seconds digits of temporal columns.
    pub fsp: u32,
    /// `CHARACTER_OCTET_LENGTH`: the padded length of a `BINARY(n)`.
    pub octet_length: Option<u64>,
}

/// The columns of the tables of `databases` (of `table` only, when given), per table in
/// `ORDINAL_POSITION` order.
pub(crate) async fn table_columns(
    session: &mut Session<'_>,
    databases: &[String],
    table: Option<&str>,
) -> PortResult<Vec<ColumnInfo>> {
    if databases.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), \
         CHARACTER_SET_NAME, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, \
         CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({})",
        crate::verify::placeholders(databases.len())
    );
    let mut params: Vec<Value> = databases.iter().map(|d| Value::from(d.as_str())).collect();
    if let Some(table) = table {
        sql.push_str(" AND TABLE_NAME = ?");
        params.push(Value::from(table));
    }
    sql.push_str(" ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION");
    let rows = session.exec(&sql, params, "list columns").await?;
    let number = |row: &mysql_async::Row, i: usize| cell(row, i).and_then(|t| t.parse().ok());
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(ColumnInfo {
                database: cell(row, 0)?,
                table: cell(row, 1)?,
                name: cell(row, 2)?,
                data_type: cell(row, 3)?,
                unsigned: cell(row, 4).is_some_and(|t| t.contains("unsigned")),
                charset: cell(row, 5),
                nullable: cell(row, 6).is_none_or(|t| t.eq_ignore_ascii_case("YES")),
                precision: number(row, 7),
                scale: number(row, 8),
                fsp: number(row, 9).map_or(0, |p: u64| u32::try_from(p.min(6)).unwrap_or(0)),
                octet_length: number(row, 10),
            })
        })
        .collect())
}

/// How a chunk key column's values are read, written and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// `TINYINT` … `BIGINT`; `bytes` is the stored width.
    Integer {
        unsigned: bool,
        bytes: u32,
    },
    Year,
    Decimal {
        precision: u64,
        scale: u64,
    },
    Date,
    DateTime {
        fsp: u32,
    },
    Timestamp {
        fsp: u32,
    },
    Time {
        fsp: u32,
    },
    /// `CHAR`/`VARCHAR`; `utf8` when the column's bytes are UTF-8 (utf8mb3, utf8mb4, ascii), the
    /// only ones the binlog reader can turn into the text the SQL side reads.
    Text {
        utf8: bool,
        padded: bool,
    },
    /// `BINARY(n)` (`pad_to`: n, stored zero-padded) or `VARBINARY`.
    Binary {
        pad_to: Option<usize>,
    },
}

impl KeyKind {
    /// The kind of a column that can be a chunk key, or `None`: floating point (a value read
    /// back does not compare equal), `ENUM`/`SET` (ordered by index, compared as text), `BIT`,
    /// spatial, JSON and the BLOB/TEXT types.
    pub(crate) fn of(column: &ColumnInfo) -> Option<Self> {
        let kind = match column.data_type.as_str() {
            "tinyint" => Self::Integer {
                unsigned: column.unsigned,
                bytes: 1,
            },
            "smallint" => Self::Integer {
                unsigned: column.unsigned,
                bytes: 2,
            },
            "mediumint" => Self::Integer {
                unsigned: column.unsigned,
                bytes: 3,
            },
            "int" | "integer" => Self::Integer {
                unsigned: column.unsigned,
                bytes: 4,
            },
            "bigint" => Self::Integer {
                unsigned: column.unsigned,
                bytes: 8,
            },
            "year" => Self::Year,
            "decimal" | "numeric" => Self::Decimal {
                precision: column.precision?,
                scale: column.scale.unwrap_or(0),
            },
            "date" => Self::Date,
            "datetime" => Self::DateTime { fsp: column.fsp },
            "timestamp" => Self::Timestamp { fsp: column.fsp },
            "time" => Self::Time { fsp: column.fsp },
            "char" | "varchar" => Self::Text {
                utf8: column.charset.as_deref().is_some_and(|c| {
                    matches!(
                        c.to_ascii_lowercase().as_str(),
                        "utf8" | "utf8mb3" | "utf8mb4" | "ascii"
                    )
                }),
                padded: column.data_type == "char",
            },
            "binary" => Self::Binary {
                pad_to: column.octet_length.and_then(|n| usize::try_from(n).ok()),
            },
            "varbinary" => Self::Binary { pad_to: None },
            _ => return None,
        };
        Some(kind)
    }

    /// The placeholder for `value` in a comparison with a column of this kind, and its
    /// parameter. A decimal is compared as a decimal (a string would be compared as a double);
    /// bytes travel as hex, so no connection character set can alter them.
    pub(crate) fn bind(self, value: &KeyValue) -> Result<(String, Value), String> {
        Ok(match value {
            KeyValue::Int(i) => ("?".into(), Value::Int(*i)),
            KeyValue::Uint(u) => ("?".into(), Value::UInt(*u)),
            KeyValue::Text(text) => match self {
                Self::Decimal { precision, scale } => (
                    format!("CAST(? AS DECIMAL({precision}, {scale}))"),
                    Value::from(text.as_str()),
                ),
                _ => ("?".into(), Value::from(text.as_str())),
            },
            KeyValue::Bytes { hex } => {
                if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("{hex:?} is not hexadecimal"));
                }
                ("UNHEX(?)".into(), Value::from(hex.as_str()))
            }
        })
    }

    /// A key value from a result row (binary protocol).
    pub(crate) fn read_sql(self, value: Value) -> Result<KeyValue, String> {
        match (self, value) {
            (_, Value::NULL) => Err("NULL in a chunk key".into()),
            (Self::Integer { .. } | Self::Year, value) => integer(&value),
            (Self::Decimal { scale, .. }, Value::Bytes(b)) => {
                Ok(KeyValue::Text(normalize_decimal(&utf8(b)?, scale)))
            }
            (
                Self::Date | Self::DateTime { .. } | Self::Timestamp { .. } | Self::Time { .. },
                v,
            ) => temporal(self, v),
            (Self::Text { .. } | Self::Binary { .. }, Value::Bytes(b)) => Ok(bytes_key(b)),
            (kind, value) => Err(format!("{value:?} for a {kind:?} key")),
        }
    }

    #[cfg(feature = "binlog")]
    /// A key value from a binlog row image, as [`KeyKind::read_sql`] reads the same value.
    /// The binlog carries no signedness (without `binlog_row_metadata`), TIMESTAMP as seconds
    /// since the epoch, YEAR as text, CHAR without its padding and BINARY without its zeros.
    pub(crate) fn read_binlog(self, value: Value) -> Result<KeyValue, String> {
        match (self, value) {
            (_, Value::NULL) => Err("NULL in a chunk key".into()),
            (Self::Integer { unsigned, bytes }, Value::Int(i)) if unsigned => {
                let mask = if bytes >= 8 {
                    u64::MAX
                } else {
                    (1_u64 << (8 * bytes)) - 1
                };
                Ok(canonical_u64((i as u64) & mask))
            }
            (Self::Year, Value::Bytes(b)) => {
                // One byte after 1900, with 0 for the year 0000.
                match utf8(b)?.parse::<i64>() {
                    Ok(1900) => Ok(KeyValue::Int(0)),
                    Ok(year) => Ok(KeyValue::Int(year)),
                    Err(e) => Err(format!("YEAR: {e}")),
                }
            }
            (Self::Timestamp { fsp }, Value::Bytes(b)) => {
                let text = utf8(b)?;
                let (seconds, micros) = match text.split_once('.') {
                    Some((s, f)) => (s.to_string(), f.parse::<u32>().map_err(|e| e.to_string())?),
                    None => (text, 0),
                };
                let seconds: i64 = seconds.parse().map_err(|e| format!("TIMESTAMP: {e}"))?;
                Ok(KeyValue::Text(timestamp_text(seconds, micros, fsp)))
            }
            (Self::Timestamp { fsp }, Value::Int(seconds)) => {
                Ok(KeyValue::Text(timestamp_text(seconds, 0, fsp)))
            }
            (Self::Text { utf8: false, .. }, _) => {
                Err("a key column whose character set is not UTF-8".into())
            }
            (Self::Text { padded: true, .. }, Value::Bytes(mut b)) => {
                while b.last() == Some(&b' ') {
                    b.pop();
                }
                Ok(bytes_key(b))
            }
            (Self::Binary { pad_to: Some(n) }, Value::Bytes(mut b)) => {
                if b.len() < n {
                    b.resize(n, 0);
                }
                Ok(bytes_key(b))
            }
            (kind, value) => kind.read_sql(value),
        }
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Integers that fit `i64` are `Int`, whatever their column's signedness, so both readers
/// agree; only unsigned values above `i64::MAX` are `Uint`.
fn canonical_u64(value: u64) -> KeyValue {
    i64::try_from(value).map_or(KeyValue::Uint(value), KeyValue::Int)
}

fn integer(value: &Value) -> Result<KeyValue, String> {
    match value {
        Value::Int(i) => Ok(KeyValue::Int(*i)),
        Value::UInt(u) => Ok(canonical_u64(*u)),
        Value::Bytes(b) => {
            let text = String::from_utf8_lossy(b);
            text.parse::<i64>()
                .map(KeyValue::Int)
                .or_else(|_| text.parse::<u64>().map(canonical_u64))
                .map_err(|e| format!("integer {text:?}: {e}"))
        }
        other => Err(format!("{other:?} for an integer key")),
    }
}

/// Text when the bytes are UTF-8 (what a UTF-8 string column holds), hex otherwise.
pub(crate) fn bytes_key(bytes: Vec<u8>) -> KeyValue {
    match String::from_utf8(bytes) {
        Ok(text) => KeyValue::Text(text),
        Err(e) => KeyValue::Bytes {
            hex: e.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
        },
    }
}

/// A decimal as the server prints it: no leading zeros, `scale` fractional digits, no `-0`.
fn normalize_decimal(text: &str, scale: u64) -> String {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let int_part = match int_part.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let scale = usize::try_from(scale).unwrap_or(0);
    let mut frac: String = frac_part.chars().take(scale).collect();
    while frac.len() < scale {
        frac.push('0');
    }
    let zero = int_part == "0" && frac.chars().all(|c| c == '0');
    let sign = if negative && !zero { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac}")
    }
}

fn fraction(micros: u32, fsp: u32) -> String {
    if fsp == 0 {
        return String::new();
    }
    let digits = format!("{micros:06}");
    format!(".{}", &digits[..usize::try_from(fsp.min(6)).unwrap_or(6)])
}

fn datetime_text(date: (u16, u8, u8), time: (u8, u8, u8), micros: u32, fsp: u32) -> String {
    let (y, mo, d) = date;
    let (h, mi, s) = time;
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
        fraction(micros, fsp)
    )
}

fn temporal(kind: KeyKind, value: Value) -> Result<KeyValue, String> {
    let text = match (kind, value) {
        (KeyKind::Date, Value::Date(y, mo, d, ..)) => format!("{y:04}-{mo:02}-{d:02}"),
        (
            KeyKind::DateTime { fsp } | KeyKind::Timestamp { fsp },
            Value::Date(y, mo, d, h, mi, s, us),
        ) => datetime_text((y, mo, d), (h, mi, s), us, fsp),
        (KeyKind::Time { fsp }, Value::Time(negative, days, h, mi, s, us)) => {
            let hours = days * 24 + u32::from(h);
            let sign = if negative { "-" } else { "" };
            format!("{sign}{hours:02}:{mi:02}:{s:02}{}", fraction(us, fsp))
        }
        // The text protocol's form is already the server's text.
        (_, Value::Bytes(b)) => utf8(b)?,
        (kind, value) => return Err(format!("{value:?} for a {kind:?} key")),
    };
    Ok(KeyValue::Text(text))
}

#[cfg(feature = "binlog")]
/// A TIMESTAMP from seconds since the epoch, in UTC (the digesting session's zone); 0 is the
/// zero timestamp.
fn timestamp_text(seconds: i64, micros: u32, fsp: u32) -> String {
    if seconds == 0 && micros == 0 {
        return datetime_text((0, 0, 0), (0, 0, 0), 0, fsp);
    }
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let h = of_day / 3600;
    let mi = of_day % 3600 / 60;
    let s = of_day % 60;
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
        fraction(micros, fsp)
    )
}

#[cfg(feature = "binlog")]
/// Year, month, day of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_int_unless_above_i64_max() {
        let bigint_unsigned = KeyKind::Integer {
            unsigned: true,
            bytes: 8,
        };
        assert_eq!(
            bigint_unsigned.read_sql(Value::UInt(5)),
            Ok(KeyValue::Int(5))
        );
        assert_eq!(
            bigint_unsigned.read_sql(Value::UInt(u64::MAX)),
            Ok(KeyValue::Uint(u64::MAX))
        );
        // The binlog reads an unsigned BIGINT as its signed bits.
        assert_eq!(
            bigint_unsigned.read_binlog(Value::Int(-1)),
            Ok(KeyValue::Uint(u64::MAX))
        );
        let tinyint_unsigned = KeyKind::Integer {
            unsigned: true,
            bytes: 1,
        };
        assert_eq!(
            tinyint_unsigned.read_binlog(Value::Int(-56)),
            Ok(KeyValue::Int(200))
        );
        let int_signed = KeyKind::Integer {
            unsigned: false,
            bytes: 4,
        };
        assert_eq!(
            int_signed.read_binlog(Value::Int(-7)),
            Ok(KeyValue::Int(-7))
        );
    }

    #[test]
    fn strings_are_text_when_utf8_and_hex_otherwise() {
        let binary = KeyKind::Binary { pad_to: None };
        assert_eq!(
            binary.read_sql(Value::Bytes("é".into())),
            Ok(KeyValue::Text("é".into()))
        );
        assert_eq!(
            binary.read_sql(Value::Bytes(vec![0xff, 0x00])),
            Ok(KeyValue::Bytes { hex: "ff00".into() })
        );
        let binary4 = KeyKind::Binary { pad_to: Some(4) };
        assert_eq!(
            binary4.read_binlog(Value::Bytes(vec![0xff])),
            Ok(KeyValue::Bytes {
                hex: "ff000000".into()
            })
        );
        let char = KeyKind::Text {
            utf8: true,
            padded: true,
        };
        assert_eq!(
            char.read_binlog(Value::Bytes(b"ab  ".to_vec())),
            Ok(KeyValue::Text("ab".into()))
        );
        let latin1 = KeyKind::Text {
            utf8: false,
            padded: false,
        };
        assert!(latin1.read_binlog(Value::Bytes(b"ab".to_vec())).is_err());
    }

    #[test]
    fn temporal_values_take_the_servers_text_form() {
        let dt6 = KeyKind::DateTime { fsp: 6 };
        assert_eq!(
            dt6.read_sql(Value::Date(2024, 2, 29, 23, 5, 9, 120)),
            Ok(KeyValue::Text("2024-02-29 23:05:09.000120".into()))
        );
        let dt2 = KeyKind::DateTime { fsp: 2 };
        assert_eq!(
            dt2.read_sql(Value::Date(2024, 2, 29, 23, 5, 9, 120_000)),
            Ok(KeyValue::Text("2024-02-29 23:05:09.12".into()))
        );
        assert_eq!(
            KeyKind::Date.read_sql(Value::Date(2024, 1, 2, 0, 0, 0, 0)),
            Ok(KeyValue::Text("2024-01-02".into()))
        );
        assert_eq!(
            KeyKind::Time { fsp: 0 }.read_sql(Value::Time(true, 1, 2, 3, 4, 0)),
            Ok(KeyValue::Text("-26:03:04".into()))
        );
        let ts3 = KeyKind::Timestamp { fsp: 3 };
        assert_eq!(
            ts3.read_binlog(Value::Bytes(b"1709247909.123000".to_vec())),
            Ok(KeyValue::Text("2024-02-29 23:05:09.123".into()))
        );
        assert_eq!(
            ts3.read_binlog(Value::Bytes(b"0".to_vec())),
            Ok(KeyValue::Text("0000-00-00 00:00:00.000".into()))
        );
        assert_eq!(
            KeyKind::Year.read_binlog(Value::Bytes(b"2024".to_vec())),
            Ok(KeyValue::Int(2024))
        );
    }

    #[test]
    fn decimals_are_normalized_to_the_column_scale() {
        assert_eq!(normalize_decimal("0000000005.50", 2), "5.50");
        assert_eq!(normalize_decimal("-0.00", 2), "0.00");
        assert_eq!(normalize_decimal("-12.3", 3), "-12.300");
        assert_eq!(normalize_decimal("42", 0), "42");
        assert_eq!(normalize_decimal(".5", 1), "0.5");
    }

    #[test]
    fn binding_casts_decimals_and_unhexes_bytes() {
        let decimal = KeyKind::Decimal {
            precision: 12,
            scale: 2,
        };
        assert_eq!(
            decimal.bind(&KeyValue::Text("1.50".into())),
            Ok(("CAST(? AS DECIMAL(12, 2))".to_string(), Value::from("1.50")))
        );
        let binary = KeyKind::Binary { pad_to: None };
        assert_eq!(
            binary.bind(&KeyValue::Bytes { hex: "ff00".into() }),
            Ok(("UNHEX(?)".to_string(), Value::from("ff00")))
        );
        assert!(binary.bind(&KeyValue::Bytes { hex: "zz".into() }).is_err());
        assert_eq!(
            binary.bind(&KeyValue::Uint(u64::MAX)),
            Ok(("?".to_string(), Value::UInt(u64::MAX)))
        );
    }
}
