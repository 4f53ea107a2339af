//! The error contract: what adapters report ([`PortError`]) and how a step's error becomes the
//! Lambda `errorType` the state machine matches on ([`NamedError`]).

use crate::error_names;

/// What kind of resource a port call was about, so a step can turn "not found" into its own
/// business name (a missing source cluster is `SourceNotFound`, a missing snapshot is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cluster,
    Instance,
    Snapshot,
    ParameterGroup,
    Migration,
    HostedZone,
    Record,
    DnsChange,
    KmsKey,
    Proxy,
    /// A cluster's custom endpoint.
    ClusterEndpoint,
    Other,
}

/// A failed port call, classified by the adapter from the service's error code (never from the
/// message text). Messages carry identifiers and ARNs only, never secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Throttling, 5xx, timeouts, dispatch failures: safe to retry.
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("{resource:?} not found: {message}")]
    NotFound { resource: Resource, message: String },
    #[error("{resource:?} already exists: {message}")]
    AlreadyExists { resource: Resource, message: String },
    /// The resource exists but is in a state that does not allow the call.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The request was rejected as malformed or unsupported.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// Anything else the service reported, with its code.
    #[error("{0}")]
    Other(String),
    /// A KMS key the call depends on cannot be used: disabled, pending deletion, or not usable by
    /// the caller or the service (RDS/DMS `KMSKeyNotAccessibleFault`, Secrets Manager
    /// `DecryptionFailure`).
    #[error("KMS key unusable: {0}")]
    KeyUnusable(String),
    /// An AWS error this project has no meaning for (a quota, a failed dependency, a code it
    /// has never seen): it reaches the operator under its own code and message.
    #[error("{message}")]
    Aws { code: String, message: String },
}

impl PortError {
    /// The error name this failure carries when a step has no better, business-specific name.
    pub fn default_name(&self) -> &'static str {
        match self {
            PortError::Transient(_) => error_names::TRANSIENT,
            PortError::AccessDenied(_) => error_names::ACCESS_DENIED,
            PortError::InvalidRequest(_) => error_names::INVALID_INPUT,
            PortError::InvalidState(_) => error_names::NOT_READY,
            PortError::KeyUnusable(_) => error_names::KMS_KEY_UNUSABLE,
            PortError::Aws { .. } => error_names::AWS_ERROR,
            PortError::NotFound { .. } | PortError::AlreadyExists { .. } | PortError::Other(_) => {
                error_names::INVALID_INPUT
            }
        }
    }

    pub fn is_not_found(&self, kind: Resource) -> bool {
        matches!(self, PortError::NotFound { resource, .. } if *resource == kind)
    }
}

/// A step error with a stable name from [`error_names`].
pub trait NamedError: std::error::Error {
    fn error_name(&self) -> &'static str;
}

/// The Lambda error a step error becomes: `errorType` is the stable name, `errorMessage` the
/// error's display text (which never holds a secret).
#[cfg(feature = "lambda")]
pub fn diagnostic<E: NamedError>(error: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error.error_name().to_string(),
        error_message: error.to_string(),
    }
}

/// A step's output as the Lambda's JSON result, for a handler that returns one of several
/// output types; a value that does not serialise is `InvalidInput`, naming why.
#[cfg(feature = "lambda")]
pub fn output_json<T: serde::Serialize>(
    output: T,
) -> Result<serde_json::Value, lambda_runtime::Diagnostic> {
    serde_json::to_value(output).map_err(|e| lambda_runtime::Diagnostic {
        error_type: crate::error_names::INVALID_INPUT.into(),
        error_message: format!("serialising the output: {e}"),
    })
}

/// Implements `From<StepError> for Diagnostic` for step error enums.
macro_rules! impl_diagnostic {
    ($($error:ty),+ $(,)?) => {
        $(#[cfg(feature = "lambda")]
        impl From<$error> for lambda_runtime::Diagnostic {
            fn from(error: $error) -> Self {
                $crate::errors::diagnostic(&error)
            }
        })+
    };
}
pub(crate) use impl_diagnostic;

/// The input did not parse or does not make sense; names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input at `{field}`: {reason}")]
pub struct InvalidInput {
    pub field: String,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl NamedError for InvalidInput {
    fn error_name(&self) -> &'static str {
        error_names::INVALID_INPUT
    }
}

impl_diagnostic!(InvalidInput);

/// Deserializes a step's input from the state document, naming the offending field on failure
/// (the Lambda runtime's own deserialization error would carry no usable name).
pub fn parse_input<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, InvalidInput> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| InvalidInput::new(e.path().to_string(), e.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "lambda")]
    #[test]
    fn diagnostic_carries_the_stable_name_not_the_rust_type() {
        let d: lambda_runtime::Diagnostic = InvalidInput::new("dns.ttlSeconds", "negative").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert_eq!(
            d.error_message,
            "invalid input at `dns.ttlSeconds`: negative"
        );
    }

    #[test]
    fn step_input_errors_name_the_field() {
        let err =
            parse_input::<crate::state::ExecutionRef>(serde_json::json!({"name": 5})).unwrap_err();
        assert_eq!(err.field, "name");
        assert_eq!(err.error_name(), "InvalidInput");
    }

    #[test]
    fn port_errors_default_to_retryable_only_when_transient() {
        assert_eq!(PortError::Transient("x".into()).default_name(), "Transient");
        assert_eq!(
            PortError::AccessDenied("x".into()).default_name(),
            "AccessDenied"
        );
        assert_eq!(
            PortError::InvalidState("x".into()).default_name(),
            "NotReady"
        );
        let quota = PortError::Aws {
            code: "ResourceQuotaExceededFault".into(),
            message: "orders: ResourceQuotaExceededFault: too many".into(),
        };
        assert_eq!(quota.default_name(), "AwsError");
        assert!(quota.to_string().contains("ResourceQuotaExceededFault"));
        assert_eq!(
            PortError::KeyUnusable("k".into()).default_name(),
            "KmsKeyUnusable"
        );
    }
}
