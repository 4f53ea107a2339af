//! Binlog coordinates, and the parser for the RDS event that reports them after a restore:
//! `Binlog position from crash recovery is mysql-bin-changelog.000005 940`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The text RDS puts before the coordinates in the restored writer's event.
pub const EVENT_PREFIX: &str = "Binlog position from crash recovery is ";

/// A position in the source's binary log: where change data capture starts.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct BinlogPosition {
    /// Binlog file name, e.g. `mysql-bin-changelog.000005` (Aurora) or `mysql-bin.000001`.
    pub file: String,
    /// Byte offset within the file.
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinlogParseError {
    #[error("not a binlog position event: {0:?}")]
    NotABinlogEvent(String),
    #[error("malformed binlog coordinates: {0:?}")]
    Malformed(String),
}

impl BinlogPosition {
    pub fn new(file: impl Into<String>, position: u64) -> Self {
        Self {
            file: file.into(),
            position,
        }
    }

    /// Parses the restored writer's event message. Any file name is accepted as long as it has
    /// the numeric extension every MySQL binlog file has; nothing may follow the position.
    pub fn from_event_message(message: &str) -> Result<Self, BinlogParseError> {
        let rest = message
            .trim()
            .strip_prefix(EVENT_PREFIX)
            .ok_or_else(|| BinlogParseError::NotABinlogEvent(message.to_string()))?;
        let mut parts = rest.split_whitespace();
        let (Some(file), Some(position), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(BinlogParseError::Malformed(rest.to_string()));
        };
        Self::from_parts(file, position)
            .ok_or_else(|| BinlogParseError::Malformed(rest.to_string()))
    }

    /// Parses `file:position`, the form DMS's `CDCStartPosition` takes.
    pub fn from_start_position(text: &str) -> Result<Self, BinlogParseError> {
        let (file, position) = text
            .rsplit_once(':')
            .ok_or_else(|| BinlogParseError::Malformed(text.to_string()))?;
        Self::from_parts(file, position)
            .ok_or_else(|| BinlogParseError::Malformed(text.to_string()))
    }

    /// `file:position`, e.g. `mysql-bin-changelog.000005:940`.
    pub fn start_position(&self) -> String {
        format!("{}:{}", self.file, self.position)
    }

    fn from_parts(file: &str, position: &str) -> Option<Self> {
        let (base, sequence) = file.rsplit_once('.')?;
        let file_ok = !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !sequence.is_empty()
            && sequence.chars().all(|c| c.is_ascii_digit());
        // Every binlog file starts with a 4-byte magic number, so no event starts before 4.
        let position: u64 = position
            .chars()
            .all(|c| c.is_ascii_digit())
            .then(|| position.parse().ok())
            .flatten()
            .filter(|p| *p >= 4)?;
        file_ok.then(|| Self::new(file, position))
    }
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.file, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aurora_mysql_3_changelog_file() {
        let p = BinlogPosition::from_event_message(
            "Binlog position from crash recovery is mysql-bin-changelog.000005 940",
        )
        .unwrap();
        assert_eq!(p, BinlogPosition::new("mysql-bin-changelog.000005", 940));
        assert_eq!(p.start_position(), "mysql-bin-changelog.000005:940");
    }

    #[test]
    fn parses_aurora_mysql_2_and_community_file_names() {
        for (message, file, position) in [
            (
                "Binlog position from crash recovery is mysql-bin.000001 11592997",
                "mysql-bin.000001",
                11592997,
            ),
            (
                "Binlog position from crash recovery is mysql-bin-changelog.000003 4278",
                "mysql-bin-changelog.000003",
                4278,
            ),
            (
                "Binlog position from crash recovery is mariadb-bin.000012 4 ",
                "mariadb-bin.000012",
                4,
            ),
            (
                "  Binlog position from crash recovery is my_custom.log.000123 120",
                "my_custom.log.000123",
                120,
            ),
        ] {
            assert_eq!(
                BinlogPosition::from_event_message(message).unwrap(),
                BinlogPosition::new(file, position),
                "{message}"
            );
        }
    }

    #[test]
    fn rejects_other_events_and_malformed_coordinates() {
        for message in [
            "DB instance restarted",
            "binlog position from crash recovery is mysql-bin.000001 4",
            "Binlog position from crash recovery is ",
            "Binlog position from crash recovery is mysql-bin.000001",
            "Binlog position from crash recovery is mysql-bin.000001 abc",
            "Binlog position from crash recovery is mysql-bin.000001 -5",
            "Binlog position from crash recovery is mysql-bin.000001 3",
            "Binlog position from crash recovery is mysql-bin.000001 940 extra",
            "Binlog position from crash recovery is mysql-bin 940",
            "Binlog position from crash recovery is mysql-bin.00a1 940",
            "Binlog position from crash recovery is .000001 940",
            "Binlog position from crash recovery is mysql-bin.000001 99999999999999999999999",
            "Binlog position from crash recovery is bin;DROP.000001 940",
        ] {
            assert!(
                BinlogPosition::from_event_message(message).is_err(),
                "{message}"
            );
        }
    }

    #[test]
    fn start_position_round_trips() {
        let p = BinlogPosition::new("mysql-bin-changelog.000005", 940);
        assert_eq!(
            BinlogPosition::from_start_position(&p.start_position()).unwrap(),
            p
        );
        assert!(BinlogPosition::from_start_position("mysql-bin-changelog.000005").is_err());
    }
}
