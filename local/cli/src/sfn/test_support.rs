//! Helpers for the commands' aws-smithy-mocks tests: SDK history events built from the
//! progress fixtures, served in pages as `GetExecutionHistory` serves them.

use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{
    ExecutionFailedEventDetails, ExecutionStartedEventDetails, ExecutionSucceededEventDetails,
    HistoryEvent, HistoryEventType, LambdaFunctionFailedEventDetails,
    LambdaFunctionSucceededEventDetails, StateEnteredEventDetails, StateExitedEventDetails,
    TaskScheduledEventDetails, TaskStartedEventDetails, TaskSubmittedEventDetails,
    TaskSucceededEventDetails,
};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use crate::progress::Event;

/// A client with the given rules (matched in any order) and without SDK retries.
macro_rules! client {
    ($sdk:ident, $($rule:expr),+ $(,)?) => {
        aws_smithy_mocks::mock_client!(
            $sdk,
            aws_smithy_mocks::RuleMode::MatchAny,
            [$($rule),+],
            |config| config.retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        )
    };
}
pub(crate) use client;

pub(super) const APPROVAL_PENDING: &str =
    include_str!("../../fixtures/history/approval-pending.json");
pub(super) const SUCCEEDED: &str = include_str!("../../fixtures/history/succeeded.json");
pub(super) const FIXTURE_TOKEN: &str =
    "AQCEAAAAKgAAAAMAAAAAAAAAAaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789approvalToken==";
pub(super) const EXECUTION_ARN: &str =
    "arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-20260301-020000";

fn text(event: &Event, key: &str) -> String {
    event.details[key].as_str().unwrap_or_default().to_string()
}

/// The SDK form of a fixture event (the details the fixtures use).
pub(super) fn sdk_event(event: &Event) -> HistoryEvent {
    let kind = HistoryEventType::from(event.event_type.as_str());
    let mut builder = HistoryEvent::builder()
        .timestamp(DateTime::from_secs(1_772_330_400 + event.id as i64))
        .r#type(kind)
        .id(event.id as i64)
        .previous_event_id(event.previous_event_id as i64);
    let t = event.event_type.as_str();
    if t.ends_with("StateEntered") {
        builder = builder.state_entered_event_details(
            StateEnteredEventDetails::builder()
                .name(text(event, "name"))
                .input(text(event, "input"))
                .build()
                .unwrap(),
        );
    } else if t.ends_with("StateExited") {
        builder = builder.state_exited_event_details(
            StateExitedEventDetails::builder()
                .name(text(event, "name"))
                .output(text(event, "output"))
                .build()
                .unwrap(),
        );
    } else {
        builder = match t {
            "ExecutionStarted" => builder.execution_started_event_details(
                ExecutionStartedEventDetails::builder()
                    .input(text(event, "input"))
                    .build(),
            ),
            "ExecutionSucceeded" => builder.execution_succeeded_event_details(
                ExecutionSucceededEventDetails::builder()
                    .output(text(event, "output"))
                    .build(),
            ),
            "ExecutionFailed" => builder.execution_failed_event_details(
                ExecutionFailedEventDetails::builder()
                    .error(text(event, "error"))
                    .cause(text(event, "cause"))
                    .build(),
            ),
            "TaskScheduled" => builder.task_scheduled_event_details(
                TaskScheduledEventDetails::builder()
                    .resource_type(text(event, "resourceType"))
                    .resource(text(event, "resource"))
                    .region("eu-west-1")
                    .parameters(text(event, "parameters"))
                    .build()
                    .unwrap(),
            ),
            "TaskStarted" => builder.task_started_event_details(
                TaskStartedEventDetails::builder()
                    .resource_type(text(event, "resourceType"))
                    .resource(text(event, "resource"))
                    .build()
                    .unwrap(),
            ),
            "TaskSubmitted" => builder.task_submitted_event_details(
                TaskSubmittedEventDetails::builder()
                    .resource_type(text(event, "resourceType"))
                    .resource(text(event, "resource"))
                    .output(text(event, "output"))
                    .build()
                    .unwrap(),
            ),
            "TaskSucceeded" => builder.task_succeeded_event_details(
                TaskSucceededEventDetails::builder()
                    .resource_type(text(event, "resourceType"))
                    .resource(text(event, "resource"))
                    .output(text(event, "output"))
                    .build()
                    .unwrap(),
            ),
            "LambdaFunctionSucceeded" => builder.lambda_function_succeeded_event_details(
                LambdaFunctionSucceededEventDetails::builder()
                    .output(text(event, "output"))
                    .build(),
            ),
            "LambdaFunctionFailed" => builder.lambda_function_failed_event_details(
                LambdaFunctionFailedEventDetails::builder()
                    .error(text(event, "error"))
                    .cause(text(event, "cause"))
                    .build(),
            ),
            _ => builder,
        };
    }
    builder.build().unwrap()
}

/// A fixture's events in the SDK form.
pub(super) fn sdk_history(fixture: &str) -> Vec<HistoryEvent> {
    Event::parse_history(fixture)
        .iter()
        .map(sdk_event)
        .collect()
}

/// One page of a history: `events[range]`, with `next_token` when more follow.
pub(super) fn history_page(
    events: &[HistoryEvent],
    range: std::ops::Range<usize>,
    next_token: Option<&str>,
) -> GetExecutionHistoryOutput {
    GetExecutionHistoryOutput::builder()
        .set_events(Some(events[range].to_vec()))
        .set_next_token(next_token.map(str::to_string))
        .build()
        .unwrap()
}

/// An error as the awsJson protocol (Step Functions, CloudFormation's JSON errors) sends it.
pub(super) fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"__type":"{code}","message":"{message}"}}"#)),
    )
}
