//! `aurora-encrypt approve` and `abort`: answer the switchover approval gate.
//!
//! Both read the execution history, find the `.waitForTaskToken` task that is still waiting
//! (its task token is in the scheduled parameters), and answer it: `SendTaskSuccess` to go on
//! with the switchover, `SendTaskFailure` with error `Aborted` to make the state machine roll
//! back through its Catch. Neither uses `StopExecution`, which would end the execution without
//! running the rollback (the source could stay fenced and the replication keep running).

use std::path::PathBuf;
use std::process::ExitCode;

use aurora_core::error_names;
use aurora_local::approval_box::{
    ApprovalAnswer, ApprovalBox, ApprovalBoxError, PendingApproval as LocalPending,
};
use serde_json::json;

use super::{aws_config, aws_failure, check_execution_arn, fetch_history};
use crate::failure::{Failure, FAILED};
use crate::progress::{PendingApproval, Progress};

/// `approve --help`.
pub(crate) const APPROVE_LONG_ABOUT: &str = "\
Approve the switchover of an execution waiting at its approval gate.

In switchover mode `approval`, the state machine waits once the target is in sync, with a task
token published to the notification topic. `approve` finds that token in the execution history
and sends SendTaskSuccess: the state machine then fences writes on the source (downtime starts),
drains, verifies and swaps DNS. If no approval is pending (not yet in sync, already answered,
execution ended) it changes nothing, says where the execution is, and exits 1.

Examples:
  aurora-encrypt approve arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-20260301-020000
  aurora-encrypt approve \"$arn\" --comment CHG-4711";

/// `abort --help`.
pub(crate) const ABORT_LONG_ABOUT: &str = "\
Refuse the switchover at the approval gate: the execution rolls back.

Finds the pending approval's task token in the execution history and sends SendTaskFailure
with error `Aborted`; the state machine catches it and rolls back (stops and removes the
replication; the target is kept for inspection unless cleanup.deleteTargetOnRollback) and fails.

abort works only while an approval is pending. At any other time it changes nothing and exits 1:
StopExecution would end the execution without its rollback, leaving the replication running
and what the run created in place. To stop a run before the gate, wait for the gate and abort
there, or, if you accept cleaning up by hand, `aws stepfunctions stop-execution`.

Examples:
  aurora-encrypt abort arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-20260301-020000
  aurora-encrypt abort \"$arn\" --reason \"window moved to Sunday\"";

/// `failback --help`.
pub(crate) const FAILBACK_LONG_ABOUT: &str = "\
Fail back: move the application from the new, encrypted cluster back to the old one, without
losing a write.

With failback.windowHours in the spec, the run keeps replicating from the new cluster back to
the old one after the DNS swap, and waits at its failback window (AwaitFailbackDecision) until
windowEndsAt. `failback` finds that wait's task token in the execution history and sends
SendTaskSuccess with {\"failback\": true}: the state machine fences the new cluster, drains the
replication back, verifies, points the DNS record at the old cluster, makes it writable again
and stops the replication back. A failure before the record is back in sync is undone: the new
cluster is unfenced and keeps serving. The execution then ends FAILED with error FailedBack.

`aurora-encrypt approve` at the window closes it at once and keeps the encrypted cluster. Outside
a window `failback` changes nothing and exits 1.

Examples:
  aurora-encrypt failback arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-20260301-020000
  aurora-encrypt failback --local --comment \"p99 regression, INC-913\"";

/// The state of a failback window that waits for an operator.
const FAILBACK_DECISION: &str = aurora_local::runner::FAILBACK_DECISION;

/// Arguments of `aurora-encrypt failback`.
#[derive(Debug, clap::Args)]
pub(crate) struct FailbackArgs {
    /// The execution's ARN (printed by `start`, listed by `list`).
    #[arg(value_name = "EXECUTION_ARN", required_unless_present = "local")]
    pub execution_arn: Option<String>,

    #[command(flatten)]
    pub local: LocalGate,

    /// Why: recorded in the answer (e.g. an incident number).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

/// Arguments of `aurora-encrypt approve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    /// The execution's ARN (printed by `start`, listed by `list`).
    #[arg(value_name = "EXECUTION_ARN", required_unless_present = "local")]
    pub execution_arn: Option<String>,

    #[command(flatten)]
    pub local: LocalGate,

    /// A note recorded in the approval's output (e.g. a change ticket).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

/// Arguments of `aurora-encrypt abort`.
#[derive(Debug, clap::Args)]
pub(crate) struct AbortArgs {
    /// The execution's ARN (printed by `start`, listed by `list`).
    #[arg(value_name = "EXECUTION_ARN", required_unless_present = "local")]
    pub execution_arn: Option<String>,

    #[command(flatten)]
    pub local: LocalGate,

    /// Why: becomes the failure's cause in the execution history and the notification.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Answering a local run (`aurora-encrypt run --local` over the sandbox) instead of a deployed
/// execution.
#[derive(Debug, clap::Args)]
pub(crate) struct LocalGate {
    /// Answer the approval of the local run waiting on the sandbox (`run --local`).
    #[arg(long, conflicts_with = "execution_arn")]
    pub local: bool,

    /// Sandbox directory of that run [default: <system temp dir>/aurora-encrypt-sandbox].
    #[arg(long, value_name = "DIR", requires = "local")]
    pub sandbox_dir: Option<PathBuf>,
}

impl LocalGate {
    /// Writes `answer` to the local run's mailbox; the run picks it up within moments.
    fn answer(&self, answer: ApprovalAnswer) -> Result<LocalPending, Failure> {
        let dir = self
            .sandbox_dir
            .clone()
            .unwrap_or_else(aurora_sandbox::SandboxConfig::default_dir);
        ApprovalBox::in_sandbox(&dir)
            .answer(&answer)
            .map_err(|e| match e {
                ApprovalBoxError::NothingPending(_) => Failure::new(
                    "NoPendingApproval",
                    e.to_string(),
                    FAILED,
                )
                .with_hint(format!(
                    "{e}: `aurora-encrypt run --local --sandbox-dir {}` asks for approval once the target is in sync (switchover mode `approval`)",
                    dir.display()
                )),
                ApprovalBoxError::Io { .. } => Failure::new("SandboxUnusable", e.to_string(), FAILED),
            })
    }
}

/// The approval the execution waits for, or why there is none.
pub(crate) async fn pending_approval(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<PendingApproval, Failure> {
    let events = fetch_history(client, execution_arn).await?;
    let progress = Progress::from_events(&events);
    if let Some(pending) = progress.pending_approval() {
        return Ok(pending.clone());
    }
    let situation = if progress.status.is_finished() {
        format!("the execution has ended ({})", progress.status.as_str())
    } else {
        format!(
            "the execution is at {} (phase {})",
            progress.current_step.as_deref().unwrap_or("its start"),
            progress.phase.map_or("none", |p| p.as_str()),
        )
    };
    let cause = format!("no approval is pending: {situation}");
    Err(Failure::new("NoPendingApproval", cause.clone(), FAILED).with_hint(format!(
        "{cause}; approve and abort answer the switchover approval gate only (switchover mode `approval`, once the target is in sync). `aurora-encrypt watch {execution_arn}` shows when it is reached"
    )))
}

/// Approves the pending switchover; returns the approval that was answered.
pub(crate) async fn approve(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    comment: Option<&str>,
) -> Result<PendingApproval, Failure> {
    let pending = pending_approval(client, execution_arn).await?;
    let mut output = json!({"approved": true});
    if let Some(comment) = comment {
        output["comment"] = json!(comment);
    }
    client
        .send_task_success()
        .task_token(&pending.token)
        .output(output.to_string())
        .send()
        .await
        .map_err(|e| aws_failure("SendTaskSuccess", e))?;
    Ok(pending)
}

/// Answers the pending failback window with `{"failback": true}`; refuses anything else.
pub(crate) async fn failback(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    comment: Option<&str>,
) -> Result<PendingApproval, Failure> {
    let pending = pending_approval(client, execution_arn).await?;
    if pending.state_name != FAILBACK_DECISION {
        let cause = format!(
            "no failback window is open: the execution waits at {}",
            pending.state_name
        );
        return Err(Failure::new("NoFailbackWindow", cause.clone(), FAILED).with_hint(format!(
            "{cause}; a failback window opens after the DNS swap when the spec sets failback.windowHours"
        )));
    }
    let mut output = json!({"failback": true});
    if let Some(comment) = comment {
        output["comment"] = json!(comment);
    }
    client
        .send_task_success()
        .task_token(&pending.token)
        .output(output.to_string())
        .send()
        .await
        .map_err(|e| aws_failure("SendTaskSuccess", e))?;
    Ok(pending)
}

/// Runs `failback`.
pub(crate) async fn run_failback(args: FailbackArgs) -> ExitCode {
    let Some(execution_arn) = args.execution_arn.filter(|_| !args.local.local) else {
        return match args.local.answer(ApprovalAnswer {
            approved: false,
            failback: true,
            note: args.comment,
        }) {
            Ok(pending) if pending.state == FAILBACK_DECISION => {
                println!(
                    "failing back {}: the new cluster is fenced, drained and verified, then the record moves back",
                    pending.execution
                );
                ExitCode::SUCCESS
            }
            Ok(pending) => Failure::new(
                "NoFailbackWindow",
                format!(
                    "the local run waits at {}, not at a failback window; the answer was left unread",
                    pending.state
                ),
                FAILED,
            )
            .report(),
            Err(failure) => failure.report(),
        };
    };
    if let Err(failure) = check_execution_arn(&execution_arn) {
        return failure.report();
    }
    let client = aws_sdk_sfn::Client::new(&aws_config().await);
    match failback(&client, &execution_arn, args.comment.as_deref()).await {
        Ok(_) => {
            println!(
                "failing back: FenceNewCluster next; `aurora-encrypt watch {execution_arn}` follows it"
            );
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

/// Refuses the pending switchover with error `Aborted`, so the state machine rolls back.
pub(crate) async fn abort(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    reason: Option<&str>,
) -> Result<PendingApproval, Failure> {
    let pending = pending_approval(client, execution_arn).await?;
    client
        .send_task_failure()
        .task_token(&pending.token)
        .error(error_names::ABORTED)
        .cause(reason.unwrap_or("aborted by an operator with aurora-encrypt abort"))
        .send()
        .await
        .map_err(|e| aws_failure("SendTaskFailure", e))?;
    Ok(pending)
}

/// Runs `approve`.
pub(crate) async fn run_approve(args: ApproveArgs) -> ExitCode {
    let Some(execution_arn) = args.execution_arn.filter(|_| !args.local.local) else {
        return match args.local.answer(ApprovalAnswer {
            approved: true,
            failback: false,
            note: args.comment,
        }) {
            Ok(pending) => {
                println!(
                    "approved {} at {}: the switchover proceeds (FenceWrites next)",
                    pending.execution, pending.state
                );
                ExitCode::SUCCESS
            }
            Err(failure) => failure.report(),
        };
    };
    if let Err(failure) = check_execution_arn(&execution_arn) {
        return failure.report();
    }
    let client = aws_sdk_sfn::Client::new(&aws_config().await);
    match approve(&client, &execution_arn, args.comment.as_deref()).await {
        Ok(pending) => {
            println!(
                "approved at {}: the switchover proceeds (FenceWrites next)",
                pending.state_name
            );
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

/// Runs `abort`.
pub(crate) async fn run_abort(args: AbortArgs) -> ExitCode {
    let Some(execution_arn) = args.execution_arn.filter(|_| !args.local.local) else {
        return match args.local.answer(ApprovalAnswer {
            approved: false,
            failback: false,
            note: args.reason,
        }) {
            Ok(pending) => {
                println!(
                    "aborted {} at {}: the local run rolls back",
                    pending.execution, pending.state
                );
                ExitCode::SUCCESS
            }
            Err(failure) => failure.report(),
        };
    };
    if let Err(failure) = check_execution_arn(&execution_arn) {
        return failure.report();
    }
    let client = aws_sdk_sfn::Client::new(&aws_config().await);
    match abort(&client, &execution_arn, args.reason.as_deref()).await {
        Ok(pending) => {
            println!(
                "aborted at {}: the state machine rolls back; `aurora-encrypt watch {}` follows it",
                pending.state_name, execution_arn
            );
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::test_support::*;
    use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
    use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput;
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn approve_sends_the_token_found_across_history_pages() {
        let events = sdk_history(APPROVAL_PENDING);
        let split = events.len() / 2;
        let (first, rest) = (events.clone(), events.clone());
        let page1 = mock!(Client::get_execution_history)
            .match_requests(|r| {
                r.execution_arn() == Some(EXECUTION_ARN)
                    && r.next_token().is_none()
                    && r.reverse_order() == Some(false)
            })
            .then_output(move || history_page(&first, 0..split, Some("page-2")));
        let page2 = mock!(Client::get_execution_history)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(move || history_page(&rest, split..rest.len(), None));
        let success = mock!(Client::send_task_success)
            .match_requests(|r| {
                r.task_token() == Some(FIXTURE_TOKEN)
                    && r.output() == Some(r#"{"approved":true,"comment":"CHG-42"}"#)
            })
            .then_output(|| SendTaskSuccessOutput::builder().build());
        let client = client!(aws_sdk_sfn, &page1, &page2, &success);

        let answered = approve(&client, EXECUTION_ARN, Some("CHG-42"))
            .await
            .expect("approved");

        assert_eq!(answered.state_name, "AwaitApproval");
        assert_eq!(page1.num_calls(), 1);
        assert_eq!(page2.num_calls(), 1);
        assert_eq!(success.num_calls(), 1);
    }

    #[tokio::test]
    async fn approve_refuses_when_no_approval_is_pending() {
        let events = sdk_history(SUCCEEDED);
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let success = mock!(Client::send_task_success)
            .then_output(|| SendTaskSuccessOutput::builder().build());
        let client = client!(aws_sdk_sfn, &history, &success);

        let failure = approve(&client, EXECUTION_ARN, None).await.unwrap_err();

        assert_eq!(failure.error, "NoPendingApproval");
        assert!(
            failure.cause.contains("has ended (SUCCEEDED)"),
            "{}",
            failure.cause
        );
        assert_eq!(success.num_calls(), 0);
    }

    #[tokio::test]
    async fn failback_answers_the_failback_window_and_nothing_else() {
        // The same history, waiting at a failback window instead of the approval gate.
        let window = APPROVAL_PENDING.replace("\"AwaitApproval\"", "\"AwaitFailbackDecision\"");
        let events = sdk_history(&window);
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let success = mock!(Client::send_task_success)
            .match_requests(|r| {
                r.task_token() == Some(FIXTURE_TOKEN)
                    && r.output() == Some(r#"{"failback":true,"comment":"INC-913"}"#)
            })
            .then_output(|| SendTaskSuccessOutput::builder().build());
        let client = client!(aws_sdk_sfn, &history, &success);
        let answered = failback(&client, EXECUTION_ARN, Some("INC-913"))
            .await
            .expect("failed back");
        assert_eq!(answered.state_name, "AwaitFailbackDecision");
        assert_eq!(success.num_calls(), 1);

        // At the switchover's approval gate a failback is refused and nothing is sent.
        let events = sdk_history(APPROVAL_PENDING);
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let success = mock!(Client::send_task_success)
            .then_output(|| SendTaskSuccessOutput::builder().build());
        let client = client!(aws_sdk_sfn, &history, &success);
        let refused = failback(&client, EXECUTION_ARN, None).await.unwrap_err();
        assert_eq!(refused.error, "NoFailbackWindow");
        assert!(refused.cause.contains("AwaitApproval"), "{}", refused.cause);
        assert_eq!(success.num_calls(), 0);
    }

    #[tokio::test]
    async fn abort_fails_the_approval_task_with_error_aborted() {
        let events = sdk_history(APPROVAL_PENDING);
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let failure_sent = mock!(Client::send_task_failure)
            .match_requests(|r| {
                r.task_token() == Some(FIXTURE_TOKEN)
                    && r.error() == Some("Aborted")
                    && r.cause() == Some("window moved")
            })
            .then_output(|| SendTaskFailureOutput::builder().build());
        let client = client!(aws_sdk_sfn, &history, &failure_sent);

        abort(&client, EXECUTION_ARN, Some("window moved"))
            .await
            .expect("aborted");

        assert_eq!(failure_sent.num_calls(), 1);
    }

    #[tokio::test]
    async fn abort_before_the_gate_changes_nothing() {
        // The history up to PollLatency: replicating, no approval yet.
        let events: Vec<_> = sdk_history(APPROVAL_PENDING)
            .into_iter()
            .take_while(|e| {
                e.state_entered_event_details()
                    .is_none_or(|d| d.name() != "AwaitApproval")
            })
            .collect();
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let failure_sent = mock!(Client::send_task_failure)
            .then_output(|| SendTaskFailureOutput::builder().build());
        let client = client!(aws_sdk_sfn, &history, &failure_sent);

        let failure = abort(&client, EXECUTION_ARN, None).await.unwrap_err();

        assert_eq!(failure.error, "NoPendingApproval");
        assert!(failure.cause.contains("phase"), "{}", failure.cause);
        assert_eq!(failure_sent.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_answered_token_reports_the_aws_error_code() {
        let events = sdk_history(APPROVAL_PENDING);
        let history = mock!(Client::get_execution_history)
            .then_output(move || history_page(&events, 0..events.len(), None));
        let success = mock!(Client::send_task_success)
            .then_http_response(|| json_error(400, "TaskTimedOut", "Task Timed Out"));
        let client = client!(aws_sdk_sfn, &history, &success);

        let failure = approve(&client, EXECUTION_ARN, None).await.unwrap_err();

        assert_eq!(failure.error, "TaskTimedOut");
        assert_eq!(failure.exit_code, FAILED);
    }
}
