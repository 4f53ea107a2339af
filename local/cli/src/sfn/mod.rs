//! Commands that drive a deployed stack through Step Functions: `start`, `watch`, `approve`,
//! `abort` and `list`.
//!
//! Each command's logic is an async function over SDK clients (tested with aws-smithy-mocks);
//! its `run` builds the clients from the usual AWS configuration (`AWS_PROFILE`, `AWS_REGION`,
//! SSO, instance roles…) and prints. History interpretation lives in [`crate::progress`].

pub(crate) mod approve;
pub(crate) mod list;
pub(crate) mod start;
pub(crate) mod watch;

#[cfg(test)]
mod test_support;

use std::fmt::Debug;

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::types::HistoryEvent;
use serde_json::{json, Map, Value};

use crate::failure::{Failure, BAD_INPUT, FAILED};
use crate::progress::Event;

/// The stack output that holds the state machine's ARN (infra/template.yaml).
pub(crate) const STATE_MACHINE_ARN_OUTPUT: &str = "EncryptClusterStateMachineArn";

/// Which state machine: by ARN, or through the stack that deployed it.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct MachineArgs {
    /// The state machine's ARN.
    #[arg(long, value_name = "ARN")]
    pub state_machine_arn: Option<String>,

    /// The CloudFormation/SAM stack that deployed aurora-encrypt; the state machine ARN is read
    /// from its `EncryptClusterStateMachineArn` output.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
}

/// The AWS configuration from the environment, shared by every client a command builds.
pub(crate) async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// The state machine ARN the arguments name, reading the stack's outputs if needed.
pub(crate) async fn resolve_machine(
    target: &MachineArgs,
    config: &aws_config::SdkConfig,
) -> Result<String, Failure> {
    if let Some(arn) = &target.state_machine_arn {
        return Ok(arn.clone());
    }
    let Some(stack) = &target.stack else {
        return Err(Failure::new(
            "InvalidInput",
            "give --state-machine-arn or --stack",
            BAD_INPUT,
        ));
    };
    let cloudformation = aws_sdk_cloudformation::Client::new(config);
    machine_arn_from_stack(&cloudformation, stack).await
}

/// Reads the `EncryptClusterStateMachineArn` output of a stack.
pub(crate) async fn machine_arn_from_stack(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<String, Failure> {
    let described = cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_failure("DescribeStacks", e))?;
    described
        .stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(STATE_MACHINE_ARN_OUTPUT))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::new(
                "StateMachineNotFound",
                format!("stack {stack} has no {STATE_MACHINE_ARN_OUTPUT} output"),
                FAILED,
            )
            .with_hint(format!(
                "stack {stack} has no {STATE_MACHINE_ARN_OUTPUT} output: is it the aurora-encrypt stack? Pass --state-machine-arn instead"
            ))
        })
}

/// Turns an SDK error into a failure named by the AWS error code (`ExecutionDoesNotExist`,
/// `TaskTimedOut`, `AccessDeniedException`…) with AWS's message and request id, or, when the
/// request never got an answer (no credentials, no region, no network), a named failure with
/// one sentence saying which.
pub(crate) fn aws_failure<E, R>(operation: &str, error: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    if let Some(code) = error.code() {
        let mut cause = error.message().unwrap_or("no message").to_string();
        if let Some(id) = error.meta().extra("aws_request_id") {
            cause.push_str(&format!(" (request id {id})"));
        }
        let hint = format!("{operation} failed: {code}: {cause}");
        return Failure::new(code, cause, FAILED).with_hint(hint);
    }
    let (name, cause) = unanswered(&DisplayErrorContext(&error).to_string());
    let hint = format!("{operation} was not sent: {cause}");
    Failure::new(name, cause, FAILED).with_hint(hint)
}

/// A name and one sentence for a request that got no answer from AWS, from the SDK's error
/// chain (which runs to kilobytes of nested detail).
fn unanswered(chain: &str) -> (&'static str, String) {
    let lower = chain.to_ascii_lowercase();
    if lower.contains("credential") || lower.contains("no matching auth scheme") {
        (
            "NoCredentials",
            "no AWS credentials were found: set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
        )
    } else if lower.contains("region") {
        (
            "NoRegion",
            "no AWS region is set: export AWS_REGION or set a region in your AWS profile".into(),
        )
    } else if lower.contains("timeout") || lower.contains("timed out") {
        ("AwsRequestTimedOut", "the request to AWS timed out".into())
    } else {
        let first = chain.split(": ").next().unwrap_or(chain);
        (
            "AwsRequestFailed",
            format!(
                "the request could not reach AWS ({first}); check the network and proxy settings"
            ),
        )
    }
}

/// Refuses a malformed execution ARN before anything is sent to AWS.
pub(crate) fn check_execution_arn(arn: &str) -> Result<(), Failure> {
    // The spec's ARN rule, plus the two names an execution's resource part holds.
    let parts: Vec<&str> = arn.split(':').collect();
    let well_formed = aurora_core::spec::check_arn(arn, "EXECUTION_ARN", "states", "execution:")
        .is_ok()
        && parts.len() == 8
        && !parts[6].is_empty()
        && !parts[7].is_empty();
    if well_formed {
        return Ok(());
    }
    let cause = format!(
        "`{arn}` is not an execution ARN (arn:PARTITION:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME)"
    );
    Err(
        Failure::new("InvalidInput", cause.clone(), BAD_INPUT).with_hint(format!(
            "{cause}; `aurora-encrypt list` shows the executions"
        )),
    )
}

/// The whole history of an execution, oldest first, read page by page.
pub(crate) async fn fetch_history(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<Vec<Event>, Failure> {
    let mut pages = client
        .get_execution_history()
        .execution_arn(execution_arn)
        .reverse_order(false)
        .include_execution_data(true)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_failure("GetExecutionHistory", e))?;
        events.extend(page.events().iter().map(event_from_sdk));
    }
    Ok(events)
}

/// An SDK history event in the Step Functions JSON shape [`crate::progress`] reads. Only the
/// details it uses are carried.
pub(crate) fn event_from_sdk(event: &HistoryEvent) -> Event {
    let mut details = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            details.insert(key.to_string(), json!(value));
        }
    };
    if let Some(d) = event.state_entered_event_details() {
        put("name", Some(d.name()));
        put("input", d.input());
    } else if let Some(d) = event.state_exited_event_details() {
        put("name", Some(d.name()));
        put("output", d.output());
    } else if let Some(d) = event.task_scheduled_event_details() {
        put("resourceType", Some(d.resource_type()));
        put("resource", Some(d.resource()));
        put("parameters", Some(d.parameters()));
    } else if let Some(d) = event.task_started_event_details() {
        put("resourceType", Some(d.resource_type()));
        put("resource", Some(d.resource()));
    } else if let Some(d) = event.task_submitted_event_details() {
        put("resourceType", Some(d.resource_type()));
        put("resource", Some(d.resource()));
        put("output", d.output());
    } else if let Some(d) = event.task_succeeded_event_details() {
        put("resourceType", Some(d.resource_type()));
        put("resource", Some(d.resource()));
        put("output", d.output());
    } else if let Some(d) = event.task_failed_event_details() {
        put("resourceType", Some(d.resource_type()));
        put("resource", Some(d.resource()));
        put("error", d.error());
        put("cause", d.cause());
    } else if let Some(d) = event.task_timed_out_event_details() {
        put("error", d.error());
        put("cause", d.cause());
    } else if let Some(d) = event.lambda_function_succeeded_event_details() {
        put("output", d.output());
    } else if let Some(d) = event.lambda_function_failed_event_details() {
        put("error", d.error());
        put("cause", d.cause());
    } else if let Some(d) = event.execution_started_event_details() {
        put("input", d.input());
    } else if let Some(d) = event.execution_succeeded_event_details() {
        put("output", d.output());
    } else if let Some(d) = event.execution_failed_event_details() {
        put("error", d.error());
        put("cause", d.cause());
    } else if let Some(d) = event.execution_aborted_event_details() {
        put("error", d.error());
        put("cause", d.cause());
    } else if let Some(d) = event.execution_timed_out_event_details() {
        put("error", d.error());
        put("cause", d.cause());
    }
    Event {
        id: u64::try_from(event.id()).unwrap_or(0),
        previous_event_id: u64::try_from(event.previous_event_id()).unwrap_or(0),
        event_type: event.r#type().as_str().to_string(),
        details: if details.is_empty() {
            Value::Null
        } else {
            Value::Object(details)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_are_checked_before_anything_is_sent() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-1";
        assert!(check_execution_arn(arn).is_ok());
        let gov = "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:m:n";
        assert!(check_execution_arn(gov).is_ok());
        for bad in [
            "not-an-arn",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-encrypt",
            "arn:aws:states:eu-west-1:1234:execution:aurora-encrypt:orders-1",
            "arn:aws:lambda:eu-west-1:123456789012:execution:aurora-encrypt:orders-1",
        ] {
            let failure = check_execution_arn(bad).unwrap_err();
            assert_eq!(
                (failure.error.as_str(), failure.exit_code),
                ("InvalidInput", BAD_INPUT)
            );
            assert!(failure.cause.contains(bad));
        }
    }

    #[test]
    fn an_unanswered_request_is_one_sentence_naming_what_is_missing() {
        let chain = "dispatch failure: other: no credentials provider was found: the credential provider chain found nothing (Profile(...), Environment(...)) ".repeat(20);
        let (name, cause) = unanswered(&chain);
        assert_eq!(name, "NoCredentials");
        assert!(
            cause.len() < 200 && cause.contains("AWS_PROFILE"),
            "{cause}"
        );
        assert_eq!(
            unanswered("dispatch failure: io: connection refused").0,
            "AwsRequestFailed"
        );
        assert!(!unanswered("dispatch failure: io: connection refused")
            .1
            .contains("io:"));
    }
}
