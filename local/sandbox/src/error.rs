//! What can go wrong in the sandbox, and how it becomes a [`PortError`] when a port call fails.

use std::path::PathBuf;

use aurora_core::errors::{PortError, Resource};

use crate::tools::INSTALL_COMMAND;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("MariaDB is not installed (missing: {}); install it with `{INSTALL_COMMAND}`", missing.join(", "))]
    MariaDbMissing { missing: Vec<String> },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` failed ({status}): {output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    #[error("SQL on {cluster}: {message}")]
    Sql { cluster: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("sandbox registry {path}: {message}")]
    Registry { path: PathBuf, message: String },
}

pub type SandboxResult<T> = Result<T, SandboxError>;

impl SandboxError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| SandboxError::Io { context, source }
    }

    /// A driver error on `cluster`, for `map_err`.
    pub fn sql(cluster: &str) -> impl FnOnce(mysql_async::Error) -> Self + '_ {
        move |e| SandboxError::Sql {
            cluster: cluster.to_string(),
            message: e.to_string(),
        }
    }
}

impl From<SandboxError> for PortError {
    fn from(error: SandboxError) -> Self {
        match error {
            // A server that is restarting or a connection refused may well work on the next try.
            SandboxError::Sql { .. } | SandboxError::Timeout { .. } => {
                PortError::Transient(error.to_string())
            }
            SandboxError::NotFound(message) => PortError::NotFound {
                resource: Resource::Other,
                message,
            },
            SandboxError::InvalidState(message) => PortError::InvalidState(message),
            SandboxError::Port(e) => e,
            other => PortError::Other(other.to_string()),
        }
    }
}
