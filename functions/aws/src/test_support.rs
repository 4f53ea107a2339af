//! Helpers for the adapters' aws-smithy-mocks tests: real error responses as each protocol sends
//! them, so classification is tested through the SDK's own deserializers.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// A client with the given rules (any order) and without SDK retries, so one mocked failure is
/// one failed call.
macro_rules! client {
    ($sdk:ident, $($rule:expr),+ $(,)?) => {
        aws_smithy_mocks::mock_client!(
            $sdk,
            aws_smithy_mocks::RuleMode::MatchAny,
            [$($rule),+],
            |config| config.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        )
    };
}
pub(crate) use client;

/// An error as the awsQuery and restXml protocols (RDS, Route 53) send it.
pub(crate) fn xml_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>mocked {code}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
    );
    response(status, body)
}

/// An error as the awsJson protocols (DMS) send it.
pub(crate) fn json_error(status: u16, code: &str) -> HttpResponse {
    response(
        status,
        format!(r#"{{"__type":"{code}","message":"mocked {code}"}}"#),
    )
}

/// A 200 response with a JSON body, as a JSON-protocol service sends it.
pub(crate) fn json_ok(body: &str) -> HttpResponse {
    response(200, body.to_string())
}

fn response(status: u16, body: String) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body),
    )
}
