//! Turns SDK errors into [`PortError`]s by the service's error *code* (and HTTP status), never by
//! the message text, which AWS may reword at any time.
//!
//! The SDK already retries throttling and 5xx a few times before it gives up; whatever still
//! fails that way becomes [`PortError::Transient`] so the state machine's Retry takes over with a
//! longer backoff.

use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::PortResult;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Codes AWS services use when the caller is being rate limited.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "EC2ThrottledException",
    "ProvisionedThroughputExceededException",
    // Route 53: another change to the same zone is still being applied; retrying later works.
    "PriorRequestNotComplete",
    // DMS: KMS throttled DMS on our behalf.
    "KMSThrottlingFault",
];

/// Codes of server-side failures (HTTP 5xx) that say nothing about the request itself.
const SERVER_FAULTS: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalServiceError",
    "InternalServiceFault",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AccessDeniedFault",
    "UnauthorizedOperation",
    "AuthorizationError",
    "KMSAccessDeniedFault",
];

const INVALID_REQUEST: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidParameterValueException",
    "InvalidInput",
    "InvalidChangeBatch",
    "ValidationError",
    "ValidationException",
    "MissingParameter",
    "InvalidNextToken",
    // Route 53, KMS, Secrets Manager and RDS codes for a malformed or unusable argument.
    "InvalidArgument",
    "InvalidDomainName",
    "InvalidArnException",
    "InvalidParameterException",
    "InvalidSubnet",
    // Secrets Manager: e.g. the secret is scheduled for deletion.
    "InvalidRequestException",
];

const INVALID_STATE: &[&str] = &[
    "InvalidDBClusterStateFault",
    "InvalidDBProxyStateFault",
    "InvalidDBClusterEndpointStateFault",
    "InvalidDBInstanceState",
    "InvalidDBClusterSnapshotStateFault",
    "InvalidDBParameterGroupState",
    "InvalidDBSubnetGroupStateFault",
    "InvalidVPCNetworkStateFault",
    "InvalidResourceStateFault",
    "InvalidOperationFault",
    "InvalidDBSnapshotState",
];

/// Not-found codes, with the kind of resource each one names.
const NOT_FOUND: &[(&str, Resource)] = &[
    ("DBClusterNotFoundFault", Resource::Cluster),
    ("DBInstanceNotFound", Resource::Instance),
    ("DBClusterSnapshotNotFoundFault", Resource::Snapshot),
    ("DBSnapshotNotFound", Resource::Snapshot),
    ("DBParameterGroupNotFound", Resource::ParameterGroup),
    ("DBClusterParameterGroupNotFound", Resource::ParameterGroup),
    ("DBSubnetGroupNotFoundFault", Resource::Other),
    ("DBProxyNotFoundFault", Resource::Proxy),
    ("DBClusterEndpointNotFoundFault", Resource::ClusterEndpoint),
    ("DBProxyTargetNotFoundFault", Resource::Proxy),
    ("DBProxyTargetGroupNotFoundFault", Resource::Proxy),
    ("ResourceNotFoundFault", Resource::Migration),
    ("NoSuchHostedZone", Resource::HostedZone),
    ("NoSuchChange", Resource::DnsChange),
    // KMS's code for a key or alias that does not exist; the caller says which.
    ("NotFoundException", Resource::Other),
    // Secrets Manager: the secret does not exist (or is not visible to the caller).
    ("ResourceNotFoundException", Resource::Other),
];

/// Codes that say a KMS key cannot be used by the caller or by the service on its behalf.
const KEY_UNUSABLE: &[&str] = &[
    // RDS and DMS: the key is disabled, pending deletion, or its policy shuts the service out.
    "KMSKeyNotAccessibleFault",
    // Secrets Manager: the secret's key does not decrypt for the caller (`kms:Decrypt`).
    "DecryptionFailure",
    // DMS, for the instance profile's or the migration's key.
    "KMSDisabledFault",
    "KMSInvalidStateFault",
    "KMSNotFoundFault",
    "KMSFault",
    // KMS itself (DescribeKey).
    "DisabledException",
    "KMSInvalidStateException",
];

const ALREADY_EXISTS: &[(&str, Resource)] = &[
    ("DBClusterAlreadyExistsFault", Resource::Cluster),
    ("DBInstanceAlreadyExists", Resource::Instance),
    ("DBClusterSnapshotAlreadyExistsFault", Resource::Snapshot),
    ("DBSnapshotAlreadyExists", Resource::Snapshot),
    ("DBParameterGroupAlreadyExists", Resource::ParameterGroup),
    ("ResourceAlreadyExistsFault", Resource::Migration),
    ("DBProxyTargetAlreadyRegisteredFault", Resource::Proxy),
    (
        "DBClusterEndpointAlreadyExistsFault",
        Resource::ClusterEndpoint,
    ),
];

/// Lets [`classify`] read the HTTP status of whatever raw response type an SDK error carries.
pub trait HttpStatus {
    fn http_status(&self) -> u16;
}

impl HttpStatus for HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classifies a failed SDK call. `resource` names what the call was about; a not-found or
/// already-exists code that names a more specific resource (a missing snapshot during a restore)
/// wins over it. `context` (an id or ARN) is prefixed to the message.
pub fn classify<E, R>(error: SdkError<E, R>, resource: Resource, context: &str) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + std::fmt::Debug,
{
    let code = error.code().map(str::to_owned);
    let status = error.raw_response().map(HttpStatus::http_status);
    let detail = error.message().map(str::to_owned);
    match error {
        SdkError::TimeoutError(_) => PortError::Transient(format!("{context}: request timed out")),
        SdkError::DispatchFailure(failure) => {
            PortError::Transient(format!("{context}: request not sent: {failure:?}"))
        }
        SdkError::ResponseError(_) => PortError::Transient(format!(
            "{context}: response could not be read (HTTP {})",
            status.map_or_else(|| "?".to_string(), |s| s.to_string())
        )),
        SdkError::ConstructionFailure(_) => {
            PortError::InvalidRequest(format!("{context}: request could not be built"))
        }
        _ => from_code(
            code.as_deref(),
            status,
            resource,
            &describe(context, code.as_deref(), status, detail),
        ),
    }
}

/// A describe call's response, or `None` when the service says the resource asked for does not
/// exist; every other failure is classified as by [`classify`].
pub fn found<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    resource: Resource,
    context: &str,
) -> PortResult<Option<O>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) => match classify(error, resource, context) {
            missing if missing.is_not_found(resource) => Ok(None),
            error => Err(error),
        },
    }
}

/// The classification of a service error from its code and HTTP status alone.
pub fn from_code(
    code: Option<&str>,
    status: Option<u16>,
    resource: Resource,
    message: &str,
) -> PortError {
    let message = message.to_string();
    let Some(code) = code else {
        // No code at all (an unparseable body): the status is all there is to go on.
        return match status {
            Some(429) | Some(500..=599) => PortError::Transient(message),
            Some(403) => PortError::AccessDenied(message),
            Some(404) => PortError::NotFound { resource, message },
            _ => PortError::Other(message),
        };
    };
    if THROTTLING.contains(&code) || SERVER_FAULTS.contains(&code) {
        return PortError::Transient(message);
    }
    if let Some((_, specific)) = NOT_FOUND.iter().find(|(c, _)| *c == code) {
        return PortError::NotFound {
            resource: more_specific(*specific, resource),
            message,
        };
    }
    if let Some((_, specific)) = ALREADY_EXISTS.iter().find(|(c, _)| *c == code) {
        return PortError::AlreadyExists {
            resource: more_specific(*specific, resource),
            message,
        };
    }
    if KEY_UNUSABLE.contains(&code) {
        return PortError::KeyUnusable(message);
    }
    if ACCESS_DENIED.contains(&code) {
        return PortError::AccessDenied(message);
    }
    if INVALID_STATE.contains(&code) {
        return PortError::InvalidState(message);
    }
    if INVALID_REQUEST.contains(&code) {
        return PortError::InvalidRequest(message);
    }
    match status {
        // A code we do not know, but the status says the server failed or throttled us.
        Some(429) | Some(500..=599) => PortError::Transient(message),
        // Quotas (DMS `ResourceQuotaExceededFault`, RDS `DBClusterQuotaExceededFault` …), DMS
        // `FailedDependencyFault` and every code not listed above: the operator sees the
        // service's own code and message, under `AwsError`, not a guess such as `InvalidInput`.
        _ => PortError::Aws {
            code: code.to_string(),
            message,
        },
    }
}

/// A not-found from a call that names something this run created moments ago: AWS control
/// planes are eventually consistent, so it is a reason to retry, not bad input.
pub fn not_yet_visible(error: PortError) -> PortError {
    match error {
        PortError::NotFound { message, .. } => {
            PortError::Transient(format!("{message} (created moments ago; not visible yet)"))
        }
        other => other,
    }
}

/// DMS uses one `ResourceNotFoundFault` for every kind of resource, so the caller's resource is
/// the better answer unless the caller has none.
fn more_specific(from_code: Resource, from_caller: Resource) -> Resource {
    match (from_code, from_caller) {
        (Resource::Migration, caller) if caller != Resource::Other => caller,
        (Resource::Other, caller) => caller,
        (code, _) => code,
    }
}

fn describe(
    context: &str,
    code: Option<&str>,
    status: Option<u16>,
    detail: Option<String>,
) -> String {
    let code = code.unwrap_or("no error code");
    let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    match detail {
        Some(detail) if !detail.is_empty() => format!("{context}: {code}{status}: {detail}"),
        _ => format!("{context}: {code}{status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_code(code: &str) -> PortError {
        from_code(Some(code), Some(400), Resource::Other, "m")
    }

    #[test]
    fn throttling_codes_are_transient() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "PriorRequestNotComplete",
        ] {
            assert!(
                matches!(classify_code(code), PortError::Transient(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn server_faults_and_5xx_without_a_code_are_transient() {
        assert!(matches!(
            from_code(Some("InternalFailure"), Some(500), Resource::Other, "m"),
            PortError::Transient(_)
        ));
        assert!(matches!(
            from_code(None, Some(503), Resource::Other, "m"),
            PortError::Transient(_)
        ));
        assert!(matches!(
            from_code(Some("SomethingNew"), Some(502), Resource::Other, "m"),
            PortError::Transient(_)
        ));
        assert!(matches!(
            from_code(Some("SomethingNew"), Some(400), Resource::Other, "m"),
            PortError::Aws { .. }
        ));
    }

    #[test]
    fn not_found_codes_name_their_resource() {
        assert!(classify_code("DBClusterSnapshotNotFoundFault").is_not_found(Resource::Snapshot));
        assert!(
            classify_code("DBClusterParameterGroupNotFound").is_not_found(Resource::ParameterGroup)
        );
        assert!(classify_code("NoSuchHostedZone").is_not_found(Resource::HostedZone));
        // DMS's one not-found code takes the caller's resource.
        let dms = from_code(
            Some("ResourceNotFoundFault"),
            Some(400),
            Resource::Migration,
            "m",
        );
        assert!(dms.is_not_found(Resource::Migration));
    }

    #[test]
    fn other_families_map_to_their_variants() {
        assert!(matches!(
            classify_code("DBInstanceAlreadyExists"),
            PortError::AlreadyExists {
                resource: Resource::Instance,
                ..
            }
        ));
        assert!(matches!(
            classify_code("AccessDeniedException"),
            PortError::AccessDenied(_)
        ));
        assert!(matches!(
            classify_code("InvalidDBClusterStateFault"),
            PortError::InvalidState(_)
        ));
        assert!(matches!(
            classify_code("InvalidChangeBatch"),
            PortError::InvalidRequest(_)
        ));
        assert_eq!(
            classify_code("Unheard"),
            PortError::Aws {
                code: "Unheard".into(),
                message: "m".into()
            }
        );
    }

    #[test]
    fn secrets_manager_dms_and_kms_codes_have_their_own_meaning() {
        assert!(classify_code("ResourceNotFoundException").is_not_found(Resource::Other));
        for code in ["DecryptionFailure", "KMSKeyNotAccessibleFault"] {
            let error = classify_code(code);
            assert!(matches!(error, PortError::KeyUnusable(_)), "{code}");
            assert_eq!(error.default_name(), "KmsKeyUnusable");
        }
        for code in [
            "FailedDependencyFault",
            "ResourceQuotaExceededFault",
            "DBClusterQuotaExceededFault",
        ] {
            let error = from_code(Some(code), Some(400), Resource::Migration, "ctx: why");
            assert_eq!(error.default_name(), "AwsError", "{code}");
            assert!(
                matches!(&error, PortError::Aws { code: c, .. } if c == code),
                "{error:?}"
            );
        }
    }

    #[test]
    fn an_unclassified_error_reaches_the_operator_with_its_code_and_message() {
        let error = describe(
            "orders",
            Some("BrandNewFault"),
            Some(400),
            Some("the why".into()),
        );
        let error = from_code(Some("BrandNewFault"), Some(400), Resource::Cluster, &error);
        assert_eq!(error.default_name(), "AwsError");
        assert_eq!(
            error.to_string(),
            "orders: BrandNewFault (HTTP 400): the why"
        );
    }

    #[test]
    fn not_found_right_after_a_create_is_transient() {
        let missing = classify_code("ResourceNotFoundFault");
        assert!(matches!(not_yet_visible(missing), PortError::Transient(_)));
        let denied = classify_code("AccessDeniedFault");
        assert!(matches!(
            not_yet_visible(denied),
            PortError::AccessDenied(_)
        ));
    }
}
