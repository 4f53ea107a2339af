//! The ports: small async traits named for what the steps need, a file per concept. Adapters
//! implement them over the AWS SDK (`aurora-aws`), over MariaDB (the sandbox) and in memory
//! (`fakes`). An adapter only translates; every decision is the step's.

mod chunks;
mod clock;
mod clusters;
mod dns;
mod fence;
mod fence_sql;
mod kms;
mod parameters;
mod prewarm;
mod proxy;
mod replication;
mod retention;
mod retirement;
mod sleep;
mod source_lock;
mod verify;

pub use chunks::*;
pub use clock::*;
pub use clusters::*;
pub use dns::*;
pub use fence::*;
pub use fence_sql::*;
pub use kms::*;
pub use parameters::*;
pub use prewarm::*;
pub use proxy::*;
pub use replication::*;
pub use retention::*;
pub use retirement::*;
pub use sleep::*;
pub use source_lock::*;
pub use verify::*;

use serde::{Deserialize, Serialize};

use crate::errors::PortError;

pub type PortResult<T> = Result<T, PortError>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}
