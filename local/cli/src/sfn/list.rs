//! `aurora-encrypt list`: the executions of the deployed state machine, newest first, one per
//! line (status, start time, name, ARN), read page by page.

use std::process::ExitCode;

use aws_sdk_sfn::primitives::DateTimeFormat;
use aws_sdk_sfn::types::{ExecutionListItem, ExecutionStatus};

use super::{aws_config, aws_failure, resolve_machine, MachineArgs};
use crate::failure::Failure;

/// `list --help`.
pub(crate) const LONG_ABOUT: &str = "\
List the executions of the deployed state machine.

Prints one line per execution, newest first: status, start time (UTC), name and ARN. Reads
every page of ListExecutions.

Examples:
  aurora-encrypt list --stack aurora-encrypt
  aurora-encrypt list --stack aurora-encrypt --status RUNNING
  aurora-encrypt list --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-encrypt";

/// The statuses `--status` accepts (Step Functions' names).
const STATUSES: [&str; 6] = [
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

/// Arguments of `aurora-encrypt list`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub machine: MachineArgs,

    /// Only executions with this status.
    #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(STATUSES))]
    pub status: Option<String>,
}

/// Every execution of `machine_arn` (with `status`, if given), as Step Functions orders them.
pub(crate) async fn list(
    client: &aws_sdk_sfn::Client,
    machine_arn: &str,
    status: Option<&str>,
) -> Result<Vec<ExecutionListItem>, Failure> {
    let mut pages = client
        .list_executions()
        .state_machine_arn(machine_arn)
        .set_status_filter(status.map(ExecutionStatus::from))
        .max_results(100)
        .into_paginator()
        .send();
    let mut executions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_failure("ListExecutions", e))?;
        executions.extend(page.executions().iter().cloned());
    }
    Ok(executions)
}

/// `STATUS  START  NAME  ARN`.
pub(crate) fn format_line(item: &ExecutionListItem) -> String {
    let started = item
        .start_date()
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default();
    format!(
        "{:<9} {:<20} {} {}",
        item.status().as_str(),
        started,
        item.name(),
        item.execution_arn()
    )
}

/// Runs `list`.
pub(crate) async fn run(args: Args) -> ExitCode {
    let config = aws_config().await;
    let machine_arn = match resolve_machine(&args.machine, &config).await {
        Ok(arn) => arn,
        Err(failure) => return failure.report(),
    };
    let client = aws_sdk_sfn::Client::new(&config);
    match list(&client, &machine_arn, args.status.as_deref()).await {
        Ok(executions) => {
            for item in &executions {
                println!("{}", format_line(item));
            }
            if executions.is_empty() {
                eprintln!("no executions");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::test_support::*;
    use aws_sdk_sfn::operation::list_executions::ListExecutionsOutput;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::mock;

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-encrypt";

    fn item(name: &str) -> ExecutionListItem {
        ExecutionListItem::builder()
            .execution_arn(format!(
                "arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:{name}"
            ))
            .state_machine_arn(MACHINE)
            .name(name)
            .status(ExecutionStatus::Running)
            .start_date(DateTime::from_secs(1_772_330_400))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn list_reads_every_page_with_the_status_filter() {
        let page1 = mock!(Client::list_executions)
            .match_requests(|r| {
                r.state_machine_arn() == Some(MACHINE)
                    && r.status_filter() == Some(&ExecutionStatus::Running)
                    && r.next_token().is_none()
            })
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("orders-2"))
                    .executions(item("orders-1"))
                    .next_token("more")
                    .build()
                    .unwrap()
            });
        let page2 = mock!(Client::list_executions)
            .match_requests(|r| r.next_token() == Some("more"))
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("users-1"))
                    .build()
                    .unwrap()
            });
        let client = client!(aws_sdk_sfn, &page1, &page2);

        let executions = list(&client, MACHINE, Some("RUNNING"))
            .await
            .expect("listed");

        let names: Vec<_> = executions.iter().map(|e| e.name()).collect();
        assert_eq!(names, ["orders-2", "orders-1", "users-1"]);
        assert_eq!(page1.num_calls(), 1);
        assert_eq!(page2.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_state_machine_is_reported_by_its_code() {
        let rule = mock!(Client::list_executions)
            .then_http_response(|| json_error(400, "StateMachineDoesNotExist", "no such machine"));
        let client = client!(aws_sdk_sfn, &rule);

        let failure = list(&client, MACHINE, None).await.unwrap_err();

        assert_eq!(failure.error, "StateMachineDoesNotExist");
        assert_eq!(failure.cause, "no such machine");
    }

    #[test]
    fn lines_show_status_start_name_and_arn() {
        let line = format_line(&item("orders-1"));
        assert!(line.starts_with("RUNNING"), "{line}");
        assert!(line.contains("2026-03-01T02:00:00Z"), "{line}");
        assert!(
            line.ends_with("execution:aurora-encrypt:orders-1"),
            "{line}"
        );
    }
}
