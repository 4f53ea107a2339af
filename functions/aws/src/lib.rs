//! AWS SDK adapters of the `aurora-core` ports: RDS ([`RdsClusters`]), DMS homogeneous data
//! migrations ([`DmsReplication`]), CloudWatch ([`CloudWatchLag`]) and Route 53
//! ([`Route53Dns`]); [`ReplicationEngines`] picks DMS or native (`aurora-sql`) replication per
//! state document.
//!
//! Each adapter is a thin translation: it builds the request from the port's types, maps the
//! response back, and classifies failures by error code ([`classify`]). Decisions stay in the
//! steps. A Lambda builds its clients once at start-up and reuses them while warm:
//!
//! ```no_run
//! # async fn init() {
//! let config = aurora_aws::load_config().await;
//! let clusters = aurora_aws::RdsClusters::new(&config);
//! let replication = aurora_aws::DmsReplication::new(&config);
//! # }
//! ```

pub mod classify;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
#[cfg(feature = "dms")]
pub mod dms;
#[cfg(feature = "rds")]
pub mod fence;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "rds")]
pub mod params;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "sql")]
pub mod rds_ca;
#[cfg(feature = "rds")]
pub mod rds_proxy;
#[cfg(all(feature = "rds", feature = "sql"))]
pub mod rds_writers;
#[cfg(feature = "replication")]
pub mod replication_engine;
#[cfg(feature = "rds")]
pub mod retirement;
#[cfg(feature = "route53")]
pub mod route53;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "source-lock")]
pub mod source_lock;
#[cfg(feature = "sql")]
pub mod state_writers;

#[cfg(test)]
#[cfg(feature = "full")]
mod iam_policy;
#[cfg(test)]
#[cfg(feature = "dms")]
mod plan_names;
#[cfg(test)]
// Each service's tests use some of the helpers; a build with a few features leaves others unused.
#[cfg_attr(not(feature = "full"), allow(dead_code, unused_macros, unused_imports))]
mod test_support;

#[cfg(feature = "cloudwatch")]
pub use cloudwatch::CloudWatchLag;
#[cfg(feature = "dms")]
pub use dms::DmsReplication;
#[cfg(feature = "rds")]
pub use fence::RdsWriteFence;
#[cfg(feature = "kms")]
pub use kms::AwsKmsKeys;
#[cfg(feature = "rds")]
pub use params::RdsClusterParameters;
#[cfg(feature = "rds")]
pub use rds::RdsClusters;
#[cfg(feature = "rds")]
pub use rds_proxy::RdsProxies;
#[cfg(all(feature = "rds", feature = "sql"))]
pub use rds_writers::RdsWriters;
#[cfg(feature = "replication")]
pub use replication_engine::{ReplicationEngines, StateReplication};
#[cfg(feature = "rds")]
pub use retirement::RdsClusterRetirement;
#[cfg(feature = "route53")]
pub use route53::Route53Dns;
#[cfg(feature = "secrets")]
pub use secrets::SecretsManagerSecrets;
#[cfg(feature = "source-lock")]
pub use source_lock::DynamoSourceLock;
#[cfg(feature = "sql")]
pub use state_writers::StateWriters;

use aws_config::{BehaviorVersion, SdkConfig};
use time::OffsetDateTime;

/// Prints `sample` as one embedded-metric-format line on stdout, which Lambda ships to the
/// function's log group, where CloudWatch Logs extracts the metrics: no API call, no permission
/// beyond the logs. A failed write loses the datapoint, never the step's result.
pub fn emit_metrics(sample: &aurora_core::metrics::Sample) {
    use std::io::Write;
    let line = sample.to_line(OffsetDateTime::now_utc());
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        tracing::warn!(%error, "metrics line not written");
    }
}

/// A whole number from the optional environment variable `name` (a function's setting):
/// `default` when it is unset, the value when it is within `range`, else an error naming the
/// variable, the range and the `unit`, which stops the function at start-up.
pub fn env_number(
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    unit: &str,
) -> Result<u64, String> {
    number_setting(name, std::env::var(name).ok(), range, default, unit)
}

fn number_setting(
    name: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    unit: &str,
) -> Result<u64, String> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(format!(
            "{name} must be a whole number of {unit} from {} to {}, got {text:?}",
            range.start(),
            range.end()
        )),
    }
}

/// The shared SDK configuration from the environment (region, credentials of the Lambda role).
pub async fn load_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// An SDK timestamp as an `OffsetDateTime`; `None` if it is out of `time`'s range.
#[cfg(feature = "rds")]
pub(crate) fn to_offset(value: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(value.as_nanos()).ok()
}

#[cfg(any(feature = "rds", feature = "cloudwatch"))]
pub(crate) fn to_smithy(value: OffsetDateTime) -> aws_smithy_types::DateTime {
    // Sub-second precision is irrelevant to every API we pass times to.
    aws_smithy_types::DateTime::from_secs(value.unix_timestamp())
}

/// A request builder refused its input (a required field was empty): the caller's input is wrong.
#[cfg(any(feature = "dms", feature = "route53"))]
pub(crate) fn build_error(
    what: &str,
    error: aws_smithy_types::error::operation::BuildError,
) -> aurora_core::errors::PortError {
    aurora_core::errors::PortError::InvalidRequest(format!("{what}: {error}"))
}

#[cfg(test)]
mod settings_tests {
    use super::number_setting;

    #[test]
    fn a_number_setting_is_its_default_unset_its_value_in_range_and_an_error_naming_it_else() {
        let read = |value: Option<&str>| {
            number_setting(
                "DRAIN_BUDGET_SECONDS",
                value.map(String::from),
                1..=840,
                60,
                "seconds",
            )
        };
        assert_eq!(read(None), Ok(60));
        assert_eq!(read(Some("840")), Ok(840));
        assert_eq!(read(Some(" 5 ")), Ok(5));
        for bad in ["0", "841", "-1", "1.5", "", "ten"] {
            let error = read(Some(bad)).unwrap_err();
            assert!(
                error.starts_with(
                    "DRAIN_BUDGET_SECONDS must be a whole number of seconds from 1 to 840"
                ),
                "{error}"
            );
        }
    }
}
