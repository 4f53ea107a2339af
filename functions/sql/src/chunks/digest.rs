//! The SQL text of chunking and digesting: key range predicates written out column by column
//! (`a > ? OR (a = ? AND b > ?)`, which both servers turn into an index range), key lists, and
//! the row digest. Values are always parameters, identifiers always quoted.

use aurora_core::ports::KeyValue;
use mysql_async::Value;

use super::values::{ColumnInfo, KeyKind};
use crate::conn::quote_identifier;

/// The most keys one `digest_keys` statement names.
pub(crate) const KEYS_PER_STATEMENT: usize = 500;

/// A chunk key column: its quoted name and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyColumn {
    pub quoted: String,
    pub kind: KeyKind,
}

/// A WHERE condition and its parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Condition {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Condition {
    fn and(self, other: Condition) -> Condition {
        match (self.sql.is_empty(), other.sql.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => Condition {
                sql: format!("({}) AND ({})", self.sql, other.sql),
                params: self.params.into_iter().chain(other.params).collect(),
            },
        }
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql)
        }
    }
}

/// Which side of a key a range condition keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// `key > value`
    After,
    /// `key <= value`
    UpTo,
}

fn check_width(columns: &[KeyColumn], key: &[KeyValue]) -> Result<(), String> {
    if columns.len() == key.len() {
        Ok(())
    } else {
        Err(format!(
            "a key of {} values for a chunk key of {} columns",
            key.len(),
            columns.len()
        ))
    }
}

/// `key > value` or `key <= value` in the key's order, expanded into equalities on a prefix
/// and one comparison: `a > ? OR (a = ? AND b > ?)`.
pub(crate) fn range_condition(
    columns: &[KeyColumn],
    key: &[KeyValue],
    bound: Bound,
) -> Result<Condition, String> {
    check_width(columns, key)?;
    let mut terms = Vec::with_capacity(columns.len());
    let mut params = Vec::new();
    for last in 0..columns.len() {
        let mut parts = Vec::with_capacity(last + 1);
        for (i, (column, value)) in columns.iter().zip(key).enumerate().take(last + 1) {
            let (placeholder, param) = column.kind.bind(value)?;
            let op = if i < last {
                "="
            } else {
                match (bound, last + 1 == columns.len()) {
                    (Bound::After, _) => ">",
                    (Bound::UpTo, true) => "<=",
                    (Bound::UpTo, false) => "<",
                }
            };
            parts.push(format!("{} {op} {placeholder}", column.quoted));
            params.push(param);
        }
        terms.push(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" AND "))
        });
    }
    Ok(Condition {
        sql: terms.join(" OR "),
        params,
    })
}

/// `lower < key <= upper`, either end optional.
pub(crate) fn between(
    columns: &[KeyColumn],
    lower: Option<&[KeyValue]>,
    upper: Option<&[KeyValue]>,
) -> Result<Condition, String> {
    let lower = match lower {
        Some(key) => range_condition(columns, key, Bound::After)?,
        None => Condition::default(),
    };
    let upper = match upper {
        Some(key) => range_condition(columns, key, Bound::UpTo)?,
        None => Condition::default(),
    };
    Ok(lower.and(upper))
}

/// The rows with one of `keys`: `a IN (?, ?)` for a one-column key, else
/// `(a = ? AND b = ?) OR …`.
pub(crate) fn keys_condition(
    columns: &[KeyColumn],
    keys: &[Vec<KeyValue>],
) -> Result<Condition, String> {
    let mut params = Vec::with_capacity(keys.len() * columns.len());
    if let [column] = columns {
        let mut placeholders = Vec::with_capacity(keys.len());
        for key in keys {
            check_width(columns, key)?;
            for value in key {
                let (placeholder, param) = column.kind.bind(value)?;
                placeholders.push(placeholder);
                params.push(param);
            }
        }
        return Ok(Condition {
            sql: format!("{} IN ({})", column.quoted, placeholders.join(", ")),
            params,
        });
    }
    let mut terms = Vec::with_capacity(keys.len());
    for key in keys {
        check_width(columns, key)?;
        let mut parts = Vec::with_capacity(columns.len());
        for (column, value) in columns.iter().zip(key) {
            let (placeholder, param) = column.kind.bind(value)?;
            parts.push(format!("{} = {placeholder}", column.quoted));
            params.push(param);
        }
        terms.push(format!("({})", parts.join(" AND ")));
    }
    Ok(Condition {
        sql: terms.join(" OR "),
        params,
    })
}

/// `` `db`.`table` ``
pub(crate) fn table_name(database: &str, table: &str) -> String {
    format!("{}.{}", quote_identifier(database), quote_identifier(table))
}

/// The key of the row `offset` rows into the rows matching `condition`, in key order.
pub(crate) fn upper_sql(
    table: &str,
    columns: &[KeyColumn],
    condition: &Condition,
    offset: u64,
) -> String {
    let keys = columns
        .iter()
        .map(|c| c.quoted.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {keys} FROM {table}{} ORDER BY {keys} LIMIT 1 OFFSET {offset}",
        condition.where_clause()
    )
}

/// One column's contribution to a row's text. Character columns (and JSON, binary in MySQL,
/// text in MariaDB) are rendered in utf8mb4 and then taken as bytes: the whole concatenation
/// is then a binary string, so no collation mix can fail and no byte of a binary column is
/// converted (MariaDB would turn a BLOB's non-UTF-8 bytes into `?` in a utf8mb4
/// concatenation). Numbers, temporal values (in the session's zone) and binary strings
/// concatenate as they are.
fn column_text(column: &ColumnInfo) -> String {
    let quoted = quote_identifier(&column.name);
    if column.charset.is_some() || column.data_type == "json" {
        format!("CAST(CONVERT({quoted} USING utf8mb4) AS BINARY)")
    } else {
        quoted
    }
}

/// MD5 of one row: every column in table order, `#`-separated, then a NULL flag per column
/// (`CONCAT_WS` skips NULLs, so NULL, `''` and `'NULL'` differ only there), as
/// pt-table-checksum does.
pub(crate) fn row_hash(columns: &[ColumnInfo]) -> String {
    let values: Vec<String> = columns.iter().map(column_text).collect();
    let nulls: Vec<String> = columns
        .iter()
        .map(|c| format!("ISNULL({})", quote_identifier(&c.name)))
        .collect();
    format!(
        "MD5(CONCAT_WS('#', {}, CONCAT({})))",
        values.join(", "),
        nulls.join(", ")
    )
}

/// Count of the rows matching `condition`, and the BIT_XOR of each half of their row hashes:
/// an order-independent digest.
pub(crate) fn digest_sql(table: &str, columns: &[ColumnInfo], condition: &Condition) -> String {
    let half = |from: u32| {
        format!("COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(h, {from}, 16), 16, 10) AS UNSIGNED)), 0)")
    };
    format!(
        "SELECT COUNT(*), {}, {} FROM (SELECT {} AS h FROM {table}{}) AS rows_",
        half(1),
        half(17),
        row_hash(columns),
        condition.where_clause()
    )
}

/// The digest's text: 32 hex digits, empty for no rows.
pub(crate) fn digest_text(rows: u64, high: u64, low: u64) -> String {
    if rows == 0 {
        String::new()
    } else {
        format!("{high:016x}{low:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(name: &str) -> KeyColumn {
        KeyColumn {
            quoted: quote_identifier(name),
            kind: KeyKind::Integer {
                unsigned: false,
                bytes: 4,
            },
        }
    }

    fn column(name: &str, data_type: &str, charset: Option<&str>) -> ColumnInfo {
        ColumnInfo {
            database: "d".into(),
            table: "t".into(),
            name: name.into(),
            data_type: data_type.into(),
            unsigned: false,
            charset: charset.map(Into::into),
            nullable: true,
            precision: None,
            scale: None,
            fsp: 0,
            octet_length: None,
        }
    }

    #[test]
    fn ranges_expand_into_a_prefix_of_equalities_and_one_comparison() {
        let columns = [int("a"), int("b"), int("c")];
        let key = [KeyValue::Int(1), KeyValue::Int(2), KeyValue::Int(3)];
        let after = range_condition(&columns, &key, Bound::After).unwrap();
        assert_eq!(
            after.sql,
            "`a` > ? OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?)"
        );
        assert_eq!(
            after.params,
            [1, 1, 2, 1, 2, 3].map(Value::Int).to_vec(),
            "one parameter per placeholder"
        );
        let up_to = range_condition(&columns, &key, Bound::UpTo).unwrap();
        assert_eq!(
            up_to.sql,
            "`a` < ? OR (`a` = ? AND `b` < ?) OR (`a` = ? AND `b` = ? AND `c` <= ?)"
        );
        let single = range_condition(&columns[..1], &key[..1], Bound::UpTo).unwrap();
        assert_eq!(single.sql, "`a` <= ?");
    }

    #[test]
    fn both_ends_combine_and_a_key_of_the_wrong_width_is_refused() {
        let columns = [int("a")];
        let range = between(
            &columns,
            Some(&[KeyValue::Int(1)]),
            Some(&[KeyValue::Int(9)]),
        )
        .unwrap();
        assert_eq!(range.sql, "(`a` > ?) AND (`a` <= ?)");
        assert_eq!(range.where_clause(), " WHERE (`a` > ?) AND (`a` <= ?)");
        assert_eq!(between(&columns, None, None).unwrap().where_clause(), "");
        assert!(between(&columns, Some(&[KeyValue::Int(1), KeyValue::Int(2)]), None).is_err());
    }

    #[test]
    fn key_lists_use_in_for_one_column_and_equalities_otherwise() {
        let one = keys_condition(
            &[int("a")],
            &[vec![KeyValue::Int(1)], vec![KeyValue::Int(2)]],
        )
        .unwrap();
        assert_eq!(one.sql, "`a` IN (?, ?)");
        let binary = KeyColumn {
            quoted: "`b`".into(),
            kind: KeyKind::Binary { pad_to: None },
        };
        let two = keys_condition(
            &[int("a"), binary],
            &[
                vec![KeyValue::Int(1), KeyValue::Bytes { hex: "ff".into() }],
                vec![KeyValue::Int(2), KeyValue::Text("x".into())],
            ],
        )
        .unwrap();
        assert_eq!(
            two.sql,
            "(`a` = ? AND `b` = UNHEX(?)) OR (`a` = ? AND `b` = ?)"
        );
        assert_eq!(two.params.len(), 4);
    }

    #[test]
    fn the_row_hash_covers_every_column_and_its_null_flag() {
        let columns = [
            column("id", "int", None),
            column("name", "varchar", Some("latin1")),
            column("doc", "json", None),
            column("raw", "varbinary", None),
        ];
        assert_eq!(
            row_hash(&columns),
            "MD5(CONCAT_WS('#', `id`, CAST(CONVERT(`name` USING utf8mb4) AS BINARY), \
             CAST(CONVERT(`doc` USING utf8mb4) AS BINARY), `raw`, \
             CONCAT(ISNULL(`id`), ISNULL(`name`), ISNULL(`doc`), ISNULL(`raw`))))"
        );
    }

    #[test]
    fn chunk_uppers_order_by_the_key_and_skip_to_the_last_row_of_the_chunk() {
        let columns = [int("a"), int("b")];
        let condition =
            between(&columns, Some(&[KeyValue::Int(1), KeyValue::Int(2)]), None).unwrap();
        assert_eq!(
            upper_sql("`d`.`t`", &columns, &condition, 99),
            "SELECT `a`, `b` FROM `d`.`t` WHERE `a` > ? OR (`a` = ? AND `b` > ?) \
             ORDER BY `a`, `b` LIMIT 1 OFFSET 99"
        );
    }

    #[test]
    fn digests_are_32_hex_digits_or_empty_for_no_rows() {
        assert_eq!(digest_text(0, 0, 0), "");
        assert_eq!(
            digest_text(1, 1, u64::MAX),
            "0000000000000001ffffffffffffffff"
        );
    }
}
