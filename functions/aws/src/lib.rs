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
pub mod cloudwatch;
pub mod dms;
pub mod fence;
pub mod kms;
pub mod params;
pub mod rds;
pub mod replication_engine;
pub mod retirement;
pub mod route53;
pub mod secrets;
pub mod source_lock;
pub mod state_writers;

#[cfg(test)]
mod iam_policy;
#[cfg(test)]
mod plan_names;
#[cfg(test)]
mod test_support;

pub use cloudwatch::CloudWatchLag;
pub use dms::DmsReplication;
pub use fence::RdsWriteFence;
pub use kms::AwsKmsKeys;
pub use params::RdsClusterParameters;
pub use rds::RdsClusters;
pub use replication_engine::{ReplicationEngines, StateReplication};
pub use retirement::RdsClusterRetirement;
pub use route53::Route53Dns;
pub use secrets::SecretsManagerSecrets;
pub use source_lock::DynamoSourceLock;
pub use state_writers::StateWriters;

use aurora_core::errors::PortError;
use aws_config::{BehaviorVersion, SdkConfig};
use time::OffsetDateTime;

/// The shared SDK configuration from the environment (region, credentials of the Lambda role).
pub async fn load_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Every adapter, built from one configuration: what a binary that needs several ports holds.
#[derive(Clone, Debug)]
pub struct AwsAdapters {
    pub clusters: RdsClusters,
    pub replication: DmsReplication,
    pub lag: CloudWatchLag,
    pub dns: Route53Dns,
}

impl AwsAdapters {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            clusters: RdsClusters::new(config),
            replication: DmsReplication::new(config),
            lag: CloudWatchLag::new(config),
            dns: Route53Dns::new(config),
        }
    }

    /// Loads the configuration from the environment and builds every adapter.
    pub async fn from_env() -> Self {
        Self::new(&load_config().await)
    }
}

/// An SDK timestamp as an `OffsetDateTime`; `None` if it is out of `time`'s range.
pub(crate) fn to_offset(value: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(value.as_nanos()).ok()
}

pub(crate) fn to_smithy(value: OffsetDateTime) -> aws_smithy_types::DateTime {
    // Sub-second precision is irrelevant to every API we pass times to.
    aws_smithy_types::DateTime::from_secs(value.unix_timestamp())
}

/// A request builder refused its input (a required field was empty): the caller's input is wrong.
pub(crate) fn build_error(
    what: &str,
    error: aws_smithy_types::error::operation::BuildError,
) -> PortError {
    PortError::InvalidRequest(format!("{what}: {error}"))
}
