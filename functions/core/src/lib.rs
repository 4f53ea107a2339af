//! The heart of aurora-encrypt: the migration model (execution input and state document), the error
//! contract with the state machine, the ports the steps depend on, and the steps themselves.
//!
//! Nothing here talks to AWS or to a database: adapters in `aurora-aws` (and the sandbox) implement
//! the ports, and each Lambda bin only wires an adapter to a step.

pub mod binlog;
pub mod error_names;
pub mod errors;
pub mod metrics;
pub mod naming;
pub mod parity;
pub mod poll;
pub mod ports;
pub mod spec;
pub mod state;
pub mod steps;

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;

pub use binlog::BinlogPosition;
pub use errors::{parse_input, InvalidInput, NamedError, PortError};
pub use spec::MigrationSpec;
