use super::*;
use serde_json::json;

const APPROVAL_PENDING: &str = include_str!("../../fixtures/history/approval-pending.json");
const SUCCEEDED: &str = include_str!("../../fixtures/history/succeeded.json");
const ROLLED_BACK: &str = include_str!("../../fixtures/history/rolled-back.json");
const FIXTURE_TOKEN: &str =
    "AQCEAAAAKgAAAAMAAAAAAAAAAaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789approvalToken==";

fn progress_of(text: &str) -> Progress {
    let events = Event::parse_history(text);
    assert!(!events.is_empty(), "the fixture has events");
    Progress::from_events(&events)
}

fn event(id: u64, event_type: &str, details: Value) -> Event {
    Event {
        id,
        previous_event_id: id.saturating_sub(1),
        event_type: event_type.into(),
        details,
    }
}

fn entered(id: u64, kind: &str, name: &str) -> Event {
    event(
        id,
        &format!("{kind}StateEntered"),
        json!({"name": name, "input": "{}"}),
    )
}

/// Phases seen, in order, each once, while replaying a history event by event.
fn phases_seen(text: &str) -> Vec<Phase> {
    let mut progress = Progress::new();
    let mut seen = Vec::new();
    for event in Event::parse_history(text) {
        progress.apply(&event);
        if let Some(phase) = progress.phase {
            if seen.last() != Some(&phase) {
                seen.push(phase);
            }
        }
    }
    seen
}

#[test]
fn state_names_map_to_phases() {
    let cases = [
        ("Preflight", Some(Phase::Preflight)),
        ("WaitForSnapshot", Some(Phase::Snapshot)),
        ("Restore", Some(Phase::Restore)),
        ("BinlogPosition", Some(Phase::Restore)),
        ("CreateMigration", Some(Phase::Replicate)),
        ("PollLatency", Some(Phase::Replicate)),
        ("WaitForApproval", Some(Phase::Ready)),
        ("WaitForWindow", Some(Phase::Ready)),
        ("FenceWrites", Some(Phase::Switchover)),
        ("Drain", Some(Phase::Switchover)),
        ("Verify", Some(Phase::Switchover)),
        ("SwapDns", Some(Phase::Switchover)),
        ("StopMigration", Some(Phase::Cleanup)),
        ("Cleanup", Some(Phase::Cleanup)),
        ("UnfenceWrites", Some(Phase::RolledBack)),
        ("RevertDns", Some(Phase::RolledBack)),
        ("Rollback", Some(Phase::RolledBack)),
        ("NotifyFailure", None),
        ("SwitchoverMode?", Some(Phase::Switchover)),
    ];
    for (name, phase) in cases {
        assert_eq!(phase_of_state(name), phase, "{name}");
    }
}

/// Every state of statemachine/encrypt-cluster.asl.json, by the phase it shows.
#[test]
fn the_pipeline_states_show_the_phases_an_operator_expects() {
    let cases = [
        ("Preflight", Some(Phase::Preflight)),
        ("IsDryRun", None),
        ("Snapshot", Some(Phase::Snapshot)),
        ("SnapshotReady", Some(Phase::Snapshot)),
        ("WaitForSnapshot", Some(Phase::Snapshot)),
        ("Restore", Some(Phase::Restore)),
        ("RestoreReady", Some(Phase::Restore)),
        ("WaitForRestore", Some(Phase::Restore)),
        ("BinlogPosition", Some(Phase::Restore)),
        ("CreateMigration", Some(Phase::Replicate)),
        ("PollLatency", Some(Phase::Replicate)),
        ("CaughtUp", None),
        ("WaitForCatchUp", None),
        ("CheckParity", Some(Phase::Replicate)),
        ("VerifyOnline", Some(Phase::Replicate)),
        ("OnlineVerified", Some(Phase::Replicate)),
        ("WaitForOnlineVerify", Some(Phase::Replicate)),
        ("Prewarm", Some(Phase::Replicate)),
        ("Prewarmed", Some(Phase::Replicate)),
        ("NotifyReady", Some(Phase::Ready)),
        ("SwitchoverGate", Some(Phase::Ready)),
        ("AwaitApproval", Some(Phase::Ready)),
        ("WaitForWindow", Some(Phase::Ready)),
        ("PreCheckLag", Some(Phase::Ready)),
        ("PreCheckInSync", Some(Phase::Ready)),
        ("WindowStillOpen", Some(Phase::Ready)),
        ("WaitBeforePreCheck", Some(Phase::Ready)),
        ("NotifyWindowMissed", Some(Phase::Ready)),
        ("NotifySwitchoverStarted", Some(Phase::Switchover)),
        ("FenceWrites", Some(Phase::Switchover)),
        ("Drain", Some(Phase::Switchover)),
        ("Drained", Some(Phase::Switchover)),
        ("WaitForDrain", Some(Phase::Switchover)),
        ("Verify", Some(Phase::Switchover)),
        ("HasDns", None),
        ("SwapDns", Some(Phase::Switchover)),
        ("DnsSwapInSync", Some(Phase::Switchover)),
        ("StopMigration", Some(Phase::Cleanup)),
        ("Cleanup", Some(Phase::Cleanup)),
        ("NotifyDone", None),
        ("FailedAfterSwitchover", Some(Phase::Switchover)),
        ("RevertDns", Some(Phase::RolledBack)),
        ("Rollback", Some(Phase::RolledBack)),
        ("UnfenceWrites", Some(Phase::RolledBack)),
        ("StopMigrationOnRollback", Some(Phase::RolledBack)),
        ("CleanupOnRollback", Some(Phase::RolledBack)),
        ("RolledBack", Some(Phase::RolledBack)),
        ("PreflightFailed", Some(Phase::Preflight)),
        ("LowerDnsTtl", None),
        ("DnsTtlLowered", None),
        ("WaitForDnsTtlChange", None),
        ("DnsTtlGate", Some(Phase::Ready)),
        ("IsDnsTtlLowered", None),
        ("CleanupDnsTtl", Some(Phase::Cleanup)),
        ("CleanupDnsTtlFailed", Some(Phase::Cleanup)),
        ("IsDnsTtlLoweredAfterFailure", None),
        ("CleanupDnsTtlAfterFailure", Some(Phase::Cleanup)),
        ("IsDnsTtlLoweredOnRollback", Some(Phase::RolledBack)),
        ("CleanupDnsTtlOnRollback", Some(Phase::RolledBack)),
    ];
    for (name, phase) in cases {
        assert_eq!(phase_of_state(name), phase, "{name}");
    }
}

#[test]
fn the_dns_ttl_gate_shows_until_when_it_waits_and_why() {
    let mut progress = Progress::new();
    let input = json!({"dnsTtl": {"switchoverNotBefore": "2026-11-30T16:05:00Z", "originalTtlSeconds": 300}});
    progress.apply(&event(
        1,
        "WaitStateEntered",
        json!({"name": "DnsTtlGate", "input": input.to_string()}),
    ));
    let line = progress.status_line();
    assert!(line.starts_with("ready · DnsTtlGate"), "{line}");
    assert!(
        line.contains("waiting until 2026-11-30T16:05:00Z for DNS answers cached before the TTL was lowered (300 s) to expire"),
        "{line}"
    );
    progress.apply(&entered(2, "Task", "NotifyReady"));
    assert!(!progress.status_line().contains("waiting until"));
}

#[test]
fn a_successful_run_goes_through_every_phase_in_order() {
    assert_eq!(
        phases_seen(SUCCEEDED),
        vec![
            Phase::Preflight,
            Phase::Snapshot,
            Phase::Restore,
            Phase::Replicate,
            Phase::Ready,
            Phase::Switchover,
            Phase::Cleanup,
            Phase::Done,
        ]
    );
    let progress = progress_of(SUCCEEDED);
    assert_eq!(progress.status, ExecutionStatus::Succeeded);
    assert_eq!(progress.phase, Some(Phase::Done));
    assert_eq!(progress.pending_approval(), None);
    assert_eq!(progress.next_irreversible_step(), None);
}

#[test]
fn a_failure_after_the_fence_ends_rolled_back_with_the_error() {
    let progress = progress_of(ROLLED_BACK);
    assert_eq!(progress.phase, Some(Phase::RolledBack));
    assert!(progress.is_rolling_back());
    assert_eq!(
        progress.status,
        ExecutionStatus::Failed {
            error: Some("LagNotConverging".into()),
            cause: Some("lag stayed above 0 s for 300 s".into()),
        }
    );
    assert!(progress.summary_line().contains("LagNotConverging"));
    // StopMigration on the rollback path does not read as cleanup.
    assert_eq!(phases_seen(ROLLED_BACK).last(), Some(&Phase::RolledBack));
}

#[test]
fn a_preflight_failure_stays_in_preflight() {
    let events = [
        event(1, "ExecutionStarted", json!({"input": "{}"})),
        entered(2, "Task", "Preflight"),
        event(
            3,
            "ExecutionFailed",
            json!({"error": "InvalidInput", "cause": "bad"}),
        ),
    ];
    let progress = Progress::from_events(&events);
    assert_eq!(progress.phase, Some(Phase::Preflight));
    assert_eq!(progress.status.as_str(), "FAILED");
}

#[test]
fn the_pending_approval_token_is_found_in_the_sns_message() {
    let progress = progress_of(APPROVAL_PENDING);
    let pending = progress.pending_approval().expect("an approval is pending");
    assert_eq!(pending.token, FIXTURE_TOKEN);
    assert_eq!(pending.state_name, "AwaitApproval");
    assert_eq!(progress.phase, Some(Phase::Ready));
    assert_eq!(progress.status, ExecutionStatus::Running);
    assert!(progress
        .status_line()
        .contains("waiting for approval at AwaitApproval"));
}

#[test]
fn an_answered_approval_is_no_longer_pending() {
    // The TaskSucceeded follows the TaskSubmitted, not the TaskScheduled.
    let history = Event::parse_history(SUCCEEDED);
    let answered = history
        .iter()
        .position(|e| {
            e.event_type == "TaskSucceeded" && e.details["resource"] == "publish.waitForTaskToken"
        })
        .expect("the approval was answered");
    let before = Progress::from_events(&history[..answered]);
    assert!(before.pending_approval().is_some());
    let after = Progress::from_events(&history[..=answered]);
    assert_eq!(after.pending_approval(), None);
}

#[test]
fn a_task_without_wait_for_task_token_is_not_an_approval() {
    let events = [
        entered(1, "Task", "NotifyStarted"),
        event(
            2,
            "TaskScheduled",
            json!({"resourceType": "sns", "resource": "publish",
                   "parameters": r#"{"Message":{"TaskToken":"not-a-wait"}}"#}),
        ),
    ];
    assert_eq!(Progress::from_events(&events).pending_approval(), None);
}

#[test]
fn no_token_means_no_pending_approval() {
    let events = [
        entered(1, "Task", "AwaitApproval"),
        event(
            2,
            "TaskScheduled",
            json!({"resourceType": "sns", "resource": "publish.waitForTaskToken",
                   "parameters": r#"{"Message":"approve please"}"#}),
        ),
    ];
    assert_eq!(Progress::from_events(&events).pending_approval(), None);
}

#[test]
fn an_ended_execution_has_no_pending_approval() {
    let mut events = Event::parse_history(APPROVAL_PENDING);
    let next = events.len() as u64 + 1;
    events.push(event(next, "ExecutionAborted", json!({})));
    let progress = Progress::from_events(&events);
    assert_eq!(progress.pending_approval(), None);
    assert_eq!(progress.status, ExecutionStatus::Aborted);
}

#[test]
fn task_tokens_are_found_at_any_depth_and_inside_json_strings() {
    assert_eq!(
        find_task_token(&json!({"TaskToken": "a"})),
        Some("a".into())
    );
    assert_eq!(
        find_task_token(&json!({"Message": {"detail": {"taskToken": "b"}}})),
        Some("b".into())
    );
    assert_eq!(
        find_task_token(&json!({"Message": r#"{"TaskToken":"c","x":1}"#})),
        Some("c".into())
    );
    assert_eq!(
        find_task_token(&json!({"Entries": [{"Detail": {"token": "d"}}]})),
        Some("d".into())
    );
    assert_eq!(
        find_task_token(&json!({"TaskToken": 5, "other": "x"})),
        None
    );
    assert_eq!(find_task_token(&json!({"Message": "{not json"})), None);
}

#[test]
fn lag_is_the_last_reported_lag_seconds() {
    let history = Event::parse_history(APPROVAL_PENDING);
    let polls: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, e)| e.state_name() == Some("PollLatency"))
        .map(|(i, _)| i)
        .collect();
    // After the first poll's output, 42 s; at the end, 3 s.
    let first_poll_done = history[polls[0]..]
        .iter()
        .position(|e| e.event_type == "LambdaFunctionSucceeded")
        .map(|p| p + polls[0])
        .expect("the first poll succeeded");
    assert_eq!(
        Progress::from_events(&history[..=first_poll_done]).lag_seconds,
        Some(42.0)
    );
    let progress = Progress::from_events(&history);
    assert_eq!(progress.lag_seconds, Some(3.0));
    assert!(progress.status_line().contains("CDC lag 3 s"));
}

#[test]
fn lag_is_read_from_engine_task_outputs_and_wrapped_payloads() {
    let mut progress = Progress::new();
    progress.apply(&entered(1, "Task", "PollLatency"));
    progress.apply(&event(
        2,
        "TaskSucceeded",
        json!({"output": r#"{"lagSeconds": 12.5, "inSync": false}"#}),
    ));
    assert_eq!(progress.lag_seconds, Some(12.5));
    progress.apply(&event(
        3,
        "TaskSucceeded",
        json!({"output": r#"{"Payload": {"lagSeconds": 7}}"#}),
    ));
    assert_eq!(progress.lag_seconds, Some(7.0));
    progress.apply(&event(
        4,
        "TaskSucceeded",
        json!({"output": r#"{"lagSeconds": null}"#}),
    ));
    assert_eq!(
        progress.lag_seconds, None,
        "an unknown lag is shown as such"
    );
    progress.apply(&event(5, "TaskSucceeded", json!({"output": "{}"})));
    assert_eq!(progress.lag_seconds, None);
}

#[test]
fn the_sparkline_scales_to_the_largest_value_and_leaves_unknowns_blank() {
    let values = [
        Some(0.0),
        Some(7.0),
        Some(14.0),
        None,
        Some(3.5),
        Some(-1.0),
    ];
    assert_eq!(sparkline(&values), "▁▅█ ▃▁");
    assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
    assert_eq!(sparkline(&[None, Some(f64::NAN)]), "  ");
    assert_eq!(sparkline(&[]), "");
}

#[test]
fn the_online_verification_shows_rows_verified_and_the_rate_until_the_gate() {
    let mut progress = Progress::new();
    progress.apply(&entered(1, "Task", "VerifyOnline"));
    progress.apply(&event(
        2,
        "TaskSucceeded",
        json!({"output": r#"{"done": false, "rowsVerified": 120000, "rowsPerSecond": 40000}"#}),
    ));
    assert_eq!(progress.phase, Some(Phase::Replicate));
    let line = progress.status_line();
    assert!(
        line.contains("120000 rows verified online (40000 rows/s)"),
        "{line}"
    );
    progress.apply(&entered(3, "Task", "AwaitApproval"));
    assert!(!progress.status_line().contains("verified online"));
}

#[test]
fn the_parity_report_shows_until_the_switchover() {
    let mut progress = Progress::new();
    progress.apply(&entered(1, "Task", "CheckParity"));
    progress.apply(&event(
        2,
        "TaskSucceeded",
        json!({"output": r#"{"enabled": true, "ignore": ["variable:x"], "compared": 612, "differences": [], "ignored": [], "ignoredCount": 1, "elapsedMs": 80}"#}),
    ));
    let line = progress.status_line();
    assert!(
        line.contains("parity: 612 settings compared, 1 differences allowed"),
        "{line}"
    );
    progress.apply(&entered(3, "Task", "AwaitApproval"));
    assert!(progress.status_line().contains("parity: 612"));
    progress.apply(&entered(4, "Task", "FenceWrites"));
    assert!(!progress.status_line().contains("parity"));
}

#[test]
fn while_catching_up_the_status_line_shows_the_lag_trend() {
    let mut progress = Progress::new();
    progress.apply(&entered(1, "Task", "PollLatency"));
    let lags = ["40", "20", "null", "10", "0"];
    for (i, lag) in lags.iter().enumerate() {
        progress.apply(&event(
            i as u64 + 2,
            "TaskSucceeded",
            json!({"output": format!(r#"{{"lagSeconds": {lag}}}"#)}),
        ));
    }
    assert_eq!(progress.phase, Some(Phase::Replicate));
    let line = progress.status_line();
    assert!(line.contains("CDC lag 0 s █▅ ▃▁"), "{line}");
    for i in 0..LAG_HISTORY as u64 {
        progress.apply(&event(
            i + 10,
            "TaskSucceeded",
            json!({"output": r#"{"lagSeconds": 1}"#}),
        ));
    }
    assert_eq!(progress.lag_history, vec![Some(1.0); LAG_HISTORY]);
    progress.apply(&entered(40, "Task", "FenceWrites"));
    let line = progress.status_line();
    assert!(
        line.contains("CDC lag 1 s") && !line.contains('▁'),
        "{line}"
    );
}

#[test]
fn transitions_count_states_entered_plus_retries() {
    // 32 states entered and one retried Snapshot.
    let progress = progress_of(SUCCEEDED);
    assert_eq!(progress.state_transitions, 33);
    assert!((progress.cost_usd() - 33.0 * 0.000_025).abs() < 1e-12);
    assert_eq!(progress_of(APPROVAL_PENDING).state_transitions, 19);
    assert_eq!(progress_of(ROLLED_BACK).state_transitions, 31);
}

#[test]
fn cost_is_two_and_a_half_cents_per_thousand_transitions() {
    assert!((cost_usd(1000) - 0.025).abs() < 1e-12);
    assert!((cost_usd(0)).abs() < 1e-12);
    assert!((cost_usd(40_000) - 1.0).abs() < 1e-9);
    let mut progress = Progress::new();
    progress.state_transitions = 1234;
    assert!(progress.summary_line().contains("1234 state transitions"));
    assert!(progress.summary_line().contains("$0.0309"));
}

#[test]
fn next_irreversible_step_is_the_fence_then_the_dns_swap() {
    let mut progress = Progress::new();
    progress.apply(&event(
        1,
        "ExecutionStarted",
        json!({"input": r#"{"sourceClusterId":"orders","dns":{"hostedZoneId":"Z","recordName":"db"}}"#}),
    ));
    progress.apply(&entered(2, "Task", "PollLatency"));
    assert_eq!(progress.next_irreversible_step(), Some(FENCE_WRITES));
    progress.apply(&entered(3, "Task", FENCE_WRITES));
    assert_eq!(progress.next_irreversible_step(), Some(SWAP_DNS));
    progress.apply(&entered(4, "Task", SWAP_DNS));
    assert_eq!(progress.next_irreversible_step(), None);
}

#[test]
fn with_a_proxy_the_irreversible_step_after_the_fence_is_its_swap() {
    let mut progress = Progress::new();
    progress.apply(&event(
        1,
        "ExecutionStarted",
        json!({"input": r#"{"sourceClusterId":"orders","proxy":{"name":"orders-proxy"}}"#}),
    ));
    progress.apply(&entered(2, "Task", FENCE_WRITES));
    assert_eq!(progress.next_irreversible_step(), Some(SWAP_PROXY));
    progress.apply(&entered(3, "Task", SWAP_PROXY));
    assert_eq!(progress.next_irreversible_step(), None);
    assert_eq!(phase_of_state("SwapProxy"), Some(Phase::Switchover));
    assert_eq!(phase_of_state("RevertProxy"), Some(Phase::RolledBack));
}

#[test]
fn without_dns_nothing_is_irreversible_after_the_fence() {
    let mut progress = Progress::new();
    progress.apply(&event(
        1,
        "ExecutionStarted",
        json!({"input": r#"{"sourceClusterId":"orders"}"#}),
    ));
    progress.apply(&entered(2, "Task", FENCE_WRITES));
    assert_eq!(progress.next_irreversible_step(), None);
}

#[test]
fn a_dry_run_has_no_irreversible_step() {
    let progress = Progress::from_events(&[event(
        1,
        "ExecutionStarted",
        json!({"input": r#"{"sourceClusterId":"orders","dryRun":true}"#}),
    )]);
    assert_eq!(progress.next_irreversible_step(), None);
}

#[test]
fn replayed_events_are_ignored() {
    let history = Event::parse_history(APPROVAL_PENDING);
    let mut progress = Progress::from_events(&history);
    let once = progress.clone();
    for event in &history {
        assert!(!progress.apply(event));
    }
    assert_eq!(progress, once);
}

#[test]
fn json_lines_arrays_and_aws_cli_output_all_parse() {
    let lines = "{\"id\":1,\"previousEventId\":0,\"type\":\"ExecutionStarted\",\"executionStartedEventDetails\":{\"input\":\"{}\"}}\nnot json\n{\"id\":2,\"previousEventId\":1,\"type\":\"PassStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"P\"}}\n";
    let parsed = Event::parse_history(lines);
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1].state_name(), Some("P"));
    let array = r#"[{"id":1,"type":"ExecutionStarted"}]"#;
    assert_eq!(Event::parse_history(array).len(), 1);
    assert_eq!(Event::parse_history(SUCCEEDED).len(), 127);
}

/// The local runner's view: the engine's own history gives the same progress.
#[tokio::test]
async fn the_engine_history_shows_the_pending_approval_and_the_outcome() {
    use asl_engine::{Definition, Engine, Status};

    let definition = Definition::parse(
        &json!({
            "StartAt": "Preflight",
            "States": {
                "Preflight": {"Type": "Pass", "Next": "PollLatency"},
                "PollLatency": {"Type": "Pass", "Result": {"lagSeconds": 2}, "ResultPath": "$.lag",
                                "Next": "WaitForApproval"},
                "WaitForApproval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                    "Parameters": {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:t",
                                   "Message": {"TaskToken.$": "$$.Task.Token"}},
                    "ResultPath": "$.approval",
                    "Next": "Done"
                },
                "Done": {"Type": "Succeed"}
            }
        })
        .to_string(),
    )
    .expect("valid definition");
    let execution = Engine::new(definition).start(json!({"sourceClusterId": "orders"}));
    let asked = execution.next_pending_task().await;

    let history: Vec<Event> = execution.history().iter().map(Event::from).collect();
    let progress = Progress::from_events(&history);
    let pending = progress.pending_approval().expect("pending in the engine");
    assert_eq!(pending.token, asked.token);
    assert_eq!(progress.phase, Some(Phase::Ready));
    assert_eq!(progress.next_irreversible_step(), Some(FENCE_WRITES));

    execution
        .send_task_success(&pending.token, json!({"approved": true}))
        .expect("the token is open");
    let outcome = execution.wait().await;
    assert!(matches!(outcome.status, Status::Succeeded(_)));
    let history: Vec<Event> = outcome.history.iter().map(Event::from).collect();
    let progress = Progress::from_events(&history);
    assert_eq!(progress.status, ExecutionStatus::Succeeded);
    assert_eq!(progress.phase, Some(Phase::Done));
    assert_eq!(progress.pending_approval(), None);
    assert_eq!(progress.state_transitions, outcome.state_transitions);
}

#[tokio::test]
async fn retries_count_as_transitions_like_the_engine_counts_them() {
    use asl_engine::{Definition, Engine, TaskError, TaskRegistry};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let definition = Definition::parse(
        &json!({
            "StartAt": "Snapshot",
            "States": {
                "Snapshot": {"Type": "Task", "Resource": "snapshot",
                             "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 3}],
                             "End": true}
            }
        })
        .to_string(),
    )
    .expect("valid definition");
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let registry = TaskRegistry::new().register_fn("snapshot", move |_input| {
        let attempt = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt < 2 {
                Err(TaskError::new("Transient", Some("throttled".into())))
            } else {
                Ok(json!({"ready": true}))
            }
        }
    });
    let outcome = Engine::new(definition)
        .with_registry(registry)
        .with_time_scale(0.001)
        .run(json!({}))
        .await;
    let history: Vec<Event> = outcome.history.iter().map(Event::from).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        Progress::from_events(&history).state_transitions,
        outcome.state_transitions
    );
    assert_eq!(outcome.state_transitions, 3);
}

#[test]
fn a_succeeded_execution_keeps_its_output_so_a_dry_runs_plan_can_be_shown() {
    let mut progress = Progress::new();
    let output = json!({"preflight": {"dryRun": true, "resources": []}});
    progress.apply(&event(
        1,
        "ExecutionSucceeded",
        json!({"output": output.to_string()}),
    ));
    assert_eq!(progress.status, ExecutionStatus::Succeeded);
    assert_eq!(progress.output, Some(output.clone()));
    assert!(crate::run::plan::render(&output)
        .unwrap()
        .contains("0 resource(s)"));
}

#[test]
fn the_failback_window_shows_its_end_and_a_failback_its_own_phase() {
    let mut progress = Progress::new();
    progress.apply(&event(
        1,
        "ExecutionStarted",
        json!({"input": r#"{"sourceClusterId":"orders","dns":{"recordName":"db"}}"#}),
    ));
    progress.apply(&event(
        2,
        "ParallelStateEntered",
        json!({"name": "FailbackWindow", "input": r#"{"reverse":{"endsAt":"2026-12-02T18:00:00Z"}}"#}),
    ));
    progress.apply(&entered(3, "Task", "PollReverse"));
    assert_eq!(progress.phase, Some(Phase::Failback));
    let line = progress.status_line();
    assert!(
        line.contains("failback possible until 2026-12-02T18:00:00Z"),
        "{line}"
    );
    // The window closes with the first state after it.
    progress.apply(&entered(4, "Task", "NotifyFailbackStarted"));
    assert!(!progress.status_line().contains("failback possible"));
    // A failback unfences the old cluster: that is not a rollback.
    for (id, name) in [
        (5, "FenceNewCluster"),
        (6, "SwapBack"),
        (7, "UnfenceOldCluster"),
    ] {
        progress.apply(&entered(id, "Task", name));
        assert_eq!(progress.phase, Some(Phase::Failback), "{name}");
    }
    assert!(!progress.is_rolling_back());
    assert_eq!(phase_of_state("UnfenceNewCluster"), Some(Phase::Failback));
    assert_eq!(phase_of_state("RevertSwapBack"), Some(Phase::Failback));
}
