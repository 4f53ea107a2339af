//! `aurora-encrypt watch`: follows an execution until it ends, showing its phase, current step,
//! CDC lag, pending approval and next irreversible step, then its status and what its state
//! transitions cost.
//!
//! It re-reads the history (`GetExecutionHistory`, oldest first, every page) on each poll and
//! applies only the events it has not seen. Polls start at 2 s and back off by half again up to
//! `--max-poll-seconds` while nothing changes, returning to 2 s when something does.

use std::process::ExitCode;
use std::time::Duration;

use super::{aws_config, check_execution_arn, fetch_history};
use crate::failure::{Failure, FAILED};
use crate::progress::{ExecutionStatus, Progress};
use crate::view::{ProgressView, TerminalView};

/// `watch --help`.
pub(crate) const LONG_ABOUT: &str = "\
Follow an execution until it ends.

Shows the phase (preflight, snapshot, restore, replicate, ready, switchover, cleanup, done,
rolled-back), the current step, the CDC lag the last poll reported, a pending approval and the
next step that cannot be undone (FenceWrites, then SwapDns): a spinner on a terminal, one line
per change otherwise. At the end prints the execution status and the state transitions it was
billed, with their cost as a Standard workflow ($0.025 per 1,000). Exits 0 when the execution
succeeded, 1 when it failed, was aborted or timed out.

First prints the URL of the stack's CloudWatch dashboard (CDC lag, phase and fenced window per
source cluster), derived from the execution ARN: the state machine `<stack>-encrypt-cluster`
belongs to the dashboard `<stack>-migrations` (the stack's DashboardUrl output).

The history is read again on every poll, from 2 s apart up to --max-poll-seconds while nothing
changes; stopping `watch` (Ctrl-C) does not affect the execution.

Examples:
  aurora-encrypt watch arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt:orders-20260301-020000
  aurora-encrypt watch \"$arn\" --max-poll-seconds 120 > migration.log";

/// Arguments of `aurora-encrypt watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The execution's ARN (printed by `start`, listed by `list`).
    #[arg(value_name = "EXECUTION_ARN")]
    pub execution_arn: String,

    /// The longest pause between two reads of the history.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub max_poll_seconds: u64,
}

/// How often to read the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Polling {
    pub first: Duration,
    pub max: Duration,
}

impl Polling {
    pub(crate) fn up_to(max: Duration) -> Self {
        Self {
            first: Duration::from_secs(2).min(max),
            max,
        }
    }

    fn next(&self, current: Duration) -> Duration {
        current.mul_f64(1.5).min(self.max)
    }
}

/// Follows the execution until it ends and returns its final progress.
pub(crate) async fn watch(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
    view: &mut dyn ProgressView,
    polling: Polling,
) -> Result<Progress, Failure> {
    let mut progress = Progress::new();
    let mut delay = polling.first;
    loop {
        let events = fetch_history(client, execution_arn).await?;
        let mut changed = false;
        for event in &events {
            changed |= progress.apply(event);
        }
        if progress.status.is_finished() {
            view.finish(&progress);
            return Ok(progress);
        }
        let hint = progress.pending_approval().map(|_| {
            format!(
                "approve with `aurora-encrypt approve {execution_arn}`, or roll back with `aurora-encrypt abort {execution_arn}`"
            )
        });
        view.show(&progress, hint.as_deref());
        delay = if changed {
            polling.first
        } else {
            polling.next(delay)
        };
        tokio::time::sleep(delay).await;
    }
}

/// Where the stack's CloudWatch dashboard is, derived offline from the execution ARN: the
/// template names the state machines `<stack>-encrypt-cluster` / `<stack>-encrypt-fleet` and the
/// dashboard `<stack>-migrations` (`aurora_core::metrics`).
pub(crate) fn dashboard_line(execution_arn: &str) -> String {
    match aurora_core::metrics::dashboard_url_for_execution(execution_arn) {
        Some(url) => format!("dashboard: {url}"),
        None => "dashboard: the DashboardUrl output of the stack that deployed this state machine"
            .to_string(),
    }
}

/// Runs `watch`: exit 0 when the execution succeeded, 1 when it failed, was aborted or timed
/// out.
pub(crate) async fn run(args: Args) -> ExitCode {
    if let Err(failure) = check_execution_arn(&args.execution_arn) {
        return failure.report();
    }
    println!("{}", dashboard_line(&args.execution_arn));
    let client = aws_sdk_sfn::Client::new(&aws_config().await);
    let mut view = TerminalView::for_stdout();
    let polling = Polling::up_to(Duration::from_secs(args.max_poll_seconds));
    match watch(&client, &args.execution_arn, &mut view, polling).await {
        Ok(progress) if progress.status == ExecutionStatus::Succeeded => {
            if let Some(plan) = progress.output.as_ref().and_then(crate::run::plan::render) {
                print!("{plan}");
            }
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::from(FAILED),
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Phase;
    use crate::sfn::test_support::*;
    use crate::view::recording::RecordingView;
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::mock;

    #[tokio::test(start_paused = true)]
    async fn watch_follows_the_history_until_the_execution_ends() {
        let pending = sdk_history(APPROVAL_PENDING);
        let done = sdk_history(SUCCEEDED);
        let split = pending.len() / 2;
        let (p1, p2, d) = (pending.clone(), pending.clone(), done.clone());
        // Poll 1 reads two pages; polls 2 and 3 see no change; poll 4 sees the end.
        let first_pages = mock!(Client::get_execution_history)
            .match_requests(|r| r.next_token().is_none() && r.reverse_order() == Some(false))
            .sequence()
            .output(move || history_page(&p1, 0..split, Some("p2")))
            .output(move || history_page(&pending, 0..pending.len(), None))
            .times(2)
            .output(move || history_page(&d, 0..d.len(), None))
            .build();
        let second_page = mock!(Client::get_execution_history)
            .match_requests(|r| r.next_token() == Some("p2"))
            .then_output(move || history_page(&p2, split..p2.len(), None));
        let client = client!(aws_sdk_sfn, &first_pages, &second_page);
        let mut view = RecordingView::default();
        let started = tokio::time::Instant::now();

        let progress = watch(
            &client,
            EXECUTION_ARN,
            &mut view,
            Polling::up_to(Duration::from_secs(30)),
        )
        .await
        .expect("watched");

        assert_eq!(progress.status, ExecutionStatus::Succeeded);
        assert_eq!(progress.phase, Some(Phase::Done));
        assert_eq!(first_pages.num_calls(), 4);
        assert_eq!(second_page.num_calls(), 1);
        // 2 s after the change, then 3 s and 4.5 s while nothing changed.
        assert_eq!(started.elapsed(), Duration::from_millis(9_500));
        assert_eq!(view.lines.len(), 1, "{:?}", view.lines);
        assert!(view.lines[0].starts_with("ready · AwaitApproval"));
        assert!(view.lines[0].contains("CDC lag 3 s"));
        assert!(view.lines[0].contains("next irreversible: FenceWrites"));
        assert!(view.lines[0].contains(&format!("aurora-encrypt approve {EXECUTION_ARN}")));
        let finished = view.finished.expect("finished");
        assert_eq!(finished.state_transitions, 33);
        assert!(finished
            .summary_line()
            .starts_with("SUCCEEDED (phase done) after 33"));
    }

    #[tokio::test]
    async fn an_unknown_execution_is_reported_by_its_code() {
        let rule = mock!(Client::get_execution_history)
            .then_http_response(|| json_error(400, "ExecutionDoesNotExist", "no such execution"));
        let client = client!(aws_sdk_sfn, &rule);
        let mut view = RecordingView::default();

        let failure = watch(
            &client,
            EXECUTION_ARN,
            &mut view,
            Polling::up_to(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();

        assert_eq!(failure.error, "ExecutionDoesNotExist");
        assert!(view.finished.is_none());
    }

    #[test]
    fn watch_names_the_dashboard_of_the_execution_stack() {
        assert_eq!(
            dashboard_line(
                "arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt-encrypt-cluster:orders-20260301-020000"
            ),
            "dashboard: https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=aurora-encrypt-migrations"
        );
        assert!(dashboard_line(
            "arn:aws:states:eu-west-1:123456789012:execution:hand-made:orders-1"
        )
        .contains("DashboardUrl output"));
    }

    #[test]
    fn polling_backs_off_to_the_maximum() {
        let polling = Polling::up_to(Duration::from_secs(5));
        let mut delay = polling.first;
        let mut seen = vec![delay];
        for _ in 0..4 {
            delay = polling.next(delay);
            seen.push(delay);
        }
        assert_eq!(
            seen,
            [2000, 3000, 4500, 5000, 5000].map(Duration::from_millis)
        );
    }
}
