//! Behaviour of whole executions: each state type, Task handlers, Retry/Catch, task tokens,
//! history, state transitions and time scaling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{Definition, Engine, EventType, Outcome, Status, TaskError, TaskRegistry};

fn engine(definition: Value) -> Engine {
    Engine::new(Definition::from_value(definition).expect("valid definition")).with_seed(1)
}

fn failed(outcome: &Outcome) -> (&str, Option<&str>) {
    match &outcome.status {
        Status::Failed { error, cause } => (error.as_str(), cause.as_deref()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn event_types(outcome: &Outcome) -> Vec<&'static str> {
    outcome
        .history
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

fn task_machine(resource: &str, extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": resource, "End": true});
    if let (Some(s), Some(e)) = (state.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let mut machine = json!({"StartAt": "T", "States": {"T": state}});
    // Only a machine with a catcher may have the state it targets: unreachable states are invalid.
    if extra.get("Catch").is_some() {
        machine["States"]["Caught"] = json!({"Type": "Pass", "End": true});
    }
    machine
}

/// A handler that fails `failures` times with `error`, then returns its input.
fn flaky(failures: usize, error: &'static str) -> (TaskRegistry, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let registry = TaskRegistry::new().register_fn("flaky", move |input| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                Err(TaskError::new(error, Some(format!("attempt {n}"))))
            } else {
                Ok(input)
            }
        }
    });
    (registry, calls)
}

#[tokio::test]
async fn pass_state_result_path_places_the_result() {
    let outcome = engine(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "End": true}}}))
        .run(json!({"a": 1}))
        .await;
    assert_eq!(outcome.output(), Some(&json!({"a": 1, "r": {"x": 1}})));
}

#[tokio::test]
async fn choice_state_follows_the_first_matching_rule_then_default() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Medium"}],
            "Default": "Small"},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Medium": {"Type": "Pass", "Result": "medium", "End": true},
        "Small": {"Type": "Pass", "Result": "small", "End": true}}});
    for (n, expected) in [(20, "big"), (7, "medium"), (1, "small")] {
        let outcome = engine(def.clone()).run(json!({"n": n})).await;
        assert_eq!(outcome.output(), Some(&json!(expected)), "n = {n}");
    }
}

#[tokio::test]
async fn succeed_and_fail_states_end_the_execution() {
    let ok =
        engine(json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "InputPath": "$.a"}}}))
            .run(json!({"a": [1]}))
            .await;
    assert_eq!(ok.output(), Some(&json!([1])));
    let ko = engine(json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "because"}}}))
        .run(json!({}))
        .await;
    assert_eq!(failed(&ko), ("Boom", Some("because")));
    assert_eq!(
        ko.history.last().map(|e| e.event_type),
        Some(EventType::ExecutionFailed)
    );
}

#[tokio::test(start_paused = true)]
async fn wait_seconds_is_compressed_by_the_time_scale() {
    let def =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    let started = tokio::time::Instant::now();
    let outcome = engine(def.clone())
        .with_time_scale(0.01)
        .run(json!({"k": 1}))
        .await;
    assert_eq!(outcome.output(), Some(&json!({"k": 1})));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(999) && elapsed < Duration::from_millis(1100),
        "{elapsed:?}"
    );

    let started = tokio::time::Instant::now();
    engine(def).run(json!({})).await;
    assert!(started.elapsed() >= Duration::from_secs(100));
}

#[tokio::test(start_paused = true)]
async fn wait_seconds_path_and_timestamp_path() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "T"},
        "T": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}});
    let started = tokio::time::Instant::now();
    let outcome = engine(def)
        .run(json!({"s": 5, "t": "2001-01-01T00:00:00Z"}))
        .await;
    assert!(outcome.output().is_some());
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test]
async fn negative_seconds_path_is_a_runtime_error_naming_the_state() {
    let outcome = engine(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}))
        .run(json!({"s": -1}))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.unwrap().starts_with(
        "An error occurred while executing the state 'W' (entered at the event id #2)."
    ));
}

#[tokio::test]
async fn parallel_state_outputs_branch_results_in_order() {
    let outcome = engine(json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 1, "Next": "A"}, "A": {"Type": "Pass", "Result": "a", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "InputPath": "$.v", "End": true}}}]}}}))
        .with_time_scale(0.01)
        .run(json!({"v": 2}))
        .await;
    assert_eq!(outcome.output(), Some(&json!(["a", 2])));
    let types = event_types(&outcome);
    assert!(types.contains(&"ParallelStateStarted") && types.contains(&"ParallelStateSucceeded"));
}

#[tokio::test]
async fn map_state_respects_max_concurrency_and_keeps_item_order() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let registry = TaskRegistry::new().register_fn("work", move |input: Value| {
        let (r, p) = (r.clone(), p.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(json!(input.as_i64().unwrap_or(0) * 10))
        }
    });
    let outcome = engine(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "End": true,
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "work", "End": true}}}}}}))
        .with_registry(registry)
        .run(json!([1, 2, 3, 4, 5]))
        .await;
    assert_eq!(outcome.output(), Some(&json!([10, 20, 30, 40, 50])));
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    let started = outcome
        .history
        .iter()
        .filter(|e| e.event_type == EventType::MapIterationStarted)
        .count();
    assert_eq!(started, 5);
}

#[tokio::test]
async fn task_applies_parameters_result_selector_and_result_path() {
    let registry = TaskRegistry::new().register_fn("echo", |input| async move {
        Ok(json!({"got": input, "extra": 1}))
    });
    let def = task_machine(
        "${Echo}",
        json!({
        "Parameters": {"id.$": "$.id", "fixed": true},
        "ResultSelector": {"echoed.$": "$.got"},
        "ResultPath": "$.result"}),
    );
    let outcome = Engine::new(Definition::from_value(def).unwrap())
        .with_substitutions(&[("Echo".to_string(), "echo".to_string())].into())
        .unwrap()
        .with_registry(registry)
        .run(json!({"id": 7}))
        .await;
    assert_eq!(
        outcome.output(),
        Some(&json!({"id": 7, "result": {"echoed": {"id": 7, "fixed": true}}}))
    );
    assert_eq!(
        event_types(&outcome),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn lambda_invoke_integration_wraps_the_payload() {
    let registry =
        TaskRegistry::new().register_fn(
            "snapshot",
            |input| async move { Ok(json!({"seen": input})) },
        );
    let def = task_machine(
        "arn:aws:states:::lambda:invoke",
        json!({
        "Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:snapshot", "Payload.$": "$"},
        "ResultSelector": {"out.$": "$.Payload"}}),
    );
    let outcome = engine(def)
        .with_registry(registry)
        .run(json!({"a": 1}))
        .await;
    assert_eq!(outcome.output(), Some(&json!({"out": {"seen": {"a": 1}}})));
}

#[tokio::test]
async fn lambda_invoke_of_a_function_nobody_serves_is_a_catchable_resource_not_found() {
    let def = task_machine(
        "arn:aws:states:::lambda:invoke",
        json!({
        "Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:smoke", "Payload": {}},
        "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "Next": "Caught"}]}),
    );
    let outcome = engine(def).run(json!({})).await;
    let output = outcome.output().cloned().unwrap_or_default();
    assert_eq!(
        output["Error"], "Lambda.ResourceNotFoundException",
        "{output}"
    );
    assert!(output["Cause"]
        .as_str()
        .unwrap_or_default()
        .contains("Function not found: arn:aws:lambda:eu-west-1:123456789012:function:smoke"));
}

#[tokio::test]
async fn unknown_task_resource_fails_with_a_clear_runtime_error() {
    let outcome = engine(task_machine(
        "arn:aws:lambda:x:1:function:nope",
        json!({
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]}),
    ))
    .run(json!({}))
    .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.Runtime");
    assert!(cause.unwrap().contains(
        "no handler is registered for the Task resource 'arn:aws:lambda:x:1:function:nope'"
    ));
}

#[tokio::test(start_paused = true)]
async fn retry_waits_with_backoff_then_succeeds() {
    let (registry, calls) = flaky(2, "Transient");
    let def = task_machine(
        "flaky",
        json!({"Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 2, "BackoffRate": 3}]}),
    );
    let started = tokio::time::Instant::now();
    let outcome = engine(def)
        .with_registry(registry)
        .run(json!({"ok": true}))
        .await;
    assert_eq!(outcome.output(), Some(&json!({"ok": true})));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // 2 s, then 2 × 3 = 6 s.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(8) && elapsed < Duration::from_secs(9),
        "{elapsed:?}"
    );
    let scheduled = outcome
        .history
        .iter()
        .filter(|e| e.event_type == EventType::TaskScheduled)
        .count();
    assert_eq!(scheduled, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_intervals_are_compressed_by_the_time_scale() {
    let (registry, _) = flaky(1, "Transient");
    let def = task_machine(
        "flaky",
        json!({"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100}]}),
    );
    let started = tokio::time::Instant::now();
    let outcome = engine(def)
        .with_registry(registry)
        .with_time_scale(0.01)
        .run(json!({}))
        .await;
    assert!(outcome.output().is_some());
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn catch_sends_the_error_output_to_the_catcher() {
    let (registry, calls) = flaky(usize::MAX, "Business");
    let def = task_machine(
        "flaky",
        json!({
        "Retry": [{"ErrorEquals": ["Transient"]}],
        "Catch": [{"ErrorEquals": ["Business"], "ResultPath": "$.error", "Next": "Caught"}]}),
    );
    let outcome = engine(def)
        .with_registry(registry)
        .run(json!({"in": 1}))
        .await;
    assert_eq!(
        outcome.output(),
        Some(&json!({"in": 1, "error": {"Error": "Business", "Cause": "attempt 0"}}))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "Business is not retried");
}

#[tokio::test]
async fn map_and_parallel_retry_a_failed_attempt_then_catch_it() {
    let failing = json!({"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "bad"}}});
    let states = [
        (
            "Map",
            json!({"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": failing}),
        ),
        (
            "Parallel",
            json!({"Type": "Parallel", "Branches": [failing]}),
        ),
    ];
    for (kind, mut state) in states {
        state["Retry"] = json!([{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}]);
        state["Catch"] =
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]);
        state["End"] = json!(true);
        let outcome = engine(json!({"StartAt": "S", "States": {"S": state, "Caught": {"Type": "Pass", "End": true}}}))
            .with_time_scale(0.01)
            .run(json!({"items": [1]}))
            .await;
        assert_eq!(
            outcome.output(),
            Some(&json!({"items": [1], "error": {"Error": "Boom", "Cause": "bad"}})),
            "{kind}"
        );
        let types = event_types(&outcome);
        let count = |suffix: &str| {
            let name = format!("{kind}State{suffix}");
            types.iter().filter(|t| **t == name).count()
        };
        assert_eq!(
            (count("Started"), count("Failed"), count("Succeeded")),
            (2, 2, 0),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn states_all_does_not_catch_runtime_errors() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
              "Branches": [{"StartAt": "Bad", "States": {"Bad": {"Type": "Pass", "InputPath": "$.missing", "End": true}}}]},
        "Caught": {"Type": "Pass", "End": true}}});
    let outcome = engine(def).run(json!({})).await;
    assert_eq!(failed(&outcome).0, "States.Runtime");
}

#[tokio::test]
async fn task_timeout_raises_states_timeout() {
    let registry = TaskRegistry::new().register_fn("slow", |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(json!({}))
    });
    let def = task_machine("slow", json!({"TimeoutSeconds": 1}));
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        engine(def).with_registry(registry).run(json!({})),
    )
    .await
    .expect("the task timeout must end the execution");
    assert_eq!(failed(&outcome).0, "States.Timeout");
    assert!(event_types(&outcome).contains(&"TaskTimedOut"));
}

fn approval_machine(extra: Value) -> Value {
    task_machine("arn:aws:states:::sqs:sendMessage.waitForTaskToken", {
        let mut fields = json!({"Parameters": {"token.$": "$$.Task.Token", "ask": "approve?"}, "ResultPath": "$.answer"});
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        fields
    })
}

#[tokio::test]
async fn wait_for_task_token_resumes_on_success() {
    let execution = engine(approval_machine(json!({}))).start(json!({"id": 1}));
    let pending = execution.next_pending_task().await;
    assert_eq!(pending.state_name, "T");
    assert_eq!(pending.parameters["token"], json!(pending.token));
    let scheduled = execution
        .history()
        .into_iter()
        .find(|e| e.event_type == EventType::TaskScheduled)
        .expect("TaskScheduled recorded");
    assert!(scheduled.details["parameters"]
        .as_str()
        .unwrap()
        .contains(&pending.token));

    execution
        .send_task_success(&pending.token, json!({"approved": true}))
        .unwrap();
    assert!(
        execution
            .send_task_success(&pending.token, json!({}))
            .is_err(),
        "a token is answered once"
    );
    let outcome = execution.wait().await;
    assert_eq!(
        outcome.output(),
        Some(&json!({"id": 1, "answer": {"approved": true}}))
    );
}

#[tokio::test]
async fn wait_for_task_token_failure_is_a_task_error() {
    let caught = engine(approval_machine(
        json!({"Catch": [{"ErrorEquals": ["Rejected"], "Next": "Caught"}]}),
    ))
    .start(json!({}));
    let pending = caught.next_pending_task().await;
    caught
        .send_task_failure(&pending.token, "Rejected", Some("no".into()))
        .unwrap();
    assert_eq!(
        caught.wait().await.output(),
        Some(&json!({"Error": "Rejected", "Cause": "no"}))
    );

    let uncaught = engine(approval_machine(json!({}))).start(json!({}));
    let pending = uncaught.next_pending_task().await;
    uncaught
        .send_task_failure(&pending.token, "Rejected", None)
        .unwrap();
    let outcome = uncaught.wait().await;
    assert_eq!(failed(&outcome), ("Rejected", None));
    assert!(event_types(&outcome).contains(&"TaskFailed"));
}

#[tokio::test]
async fn missing_heartbeat_times_the_task_out_and_heartbeats_keep_it_alive() {
    let execution = engine(approval_machine(json!({"HeartbeatSeconds": 1}))).start(json!({}));
    let pending = execution.next_pending_task().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        execution.send_task_heartbeat(&pending.token).unwrap();
    }
    assert!(!execution.is_finished(), "heartbeats keep the task waiting");
    let outcome = tokio::time::timeout(Duration::from_secs(10), execution.wait())
        .await
        .unwrap();
    assert_eq!(failed(&outcome).0, "States.Timeout");
}

#[tokio::test]
async fn stop_aborts_the_execution() {
    let execution = engine(approval_machine(json!({}))).start(json!({}));
    execution.next_pending_task().await;
    execution.stop();
    while !execution.is_finished() {
        tokio::task::yield_now().await;
    }
    assert!(
        execution.pending_tasks().is_empty(),
        "a stopped task's token is withdrawn"
    );
    let outcome = execution.wait().await;
    assert_eq!(outcome.status, Status::Aborted);
    assert_eq!(
        outcome.history.last().map(|e| e.event_type),
        Some(EventType::ExecutionAborted)
    );
}

#[tokio::test]
async fn state_transitions_count_every_state_entered_and_retry() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "M"},
        "M": {"Type": "Map", "Next": "Done", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}},
        "Done": {"Type": "Succeed"}}});
    let outcome = engine(def).run(json!([1, 2, 3])).await;
    // A, M, three iterations of I, Done.
    assert_eq!(outcome.state_transitions, 6);

    let (registry, _) = flaky(1, "Transient");
    let retried = engine(task_machine(
        "flaky",
        json!({"Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1}]}),
    ))
    .with_registry(registry)
    .with_time_scale(0.001)
    .run(json!({}))
    .await;
    assert_eq!(retried.state_transitions, 2);
}

#[tokio::test]
async fn history_links_events_and_names_states() {
    let outcome = engine(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "W"}]},
        "W": {"Type": "Wait", "Seconds": 0, "Next": "S"},
        "S": {"Type": "Succeed"}}}))
        .run(json!({"go": true}))
        .await;
    assert_eq!(
        event_types(&outcome),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, event) in outcome.history.iter().enumerate() {
        assert_eq!(event.id, i as u64 + 1);
        assert_eq!(event.previous_event_id, i as u64);
    }
    assert_eq!(outcome.history[3].state_name(), Some("C"));
    let lines = outcome.history_json_lines();
    assert_eq!(lines.lines().count(), 10);
}

#[tokio::test]
async fn context_object_exposes_execution_and_state_machine() {
    let outcome = engine(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
        "machine.$": "$$.StateMachine.Name", "input.$": "$$.Execution.Input", "retries.$": "$$.State.RetryCount"}}}}))
        .with_name("encrypt-cluster")
        .run(json!({"x": 1}))
        .await;
    assert_eq!(
        outcome.output(),
        Some(&json!({"machine": "encrypt-cluster", "input": {"x": 1}, "retries": 0}))
    );
}

#[tokio::test]
async fn seeded_engines_are_reproducible() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
        "n.$": "States.MathRandom(0, 1000000)", "id.$": "States.UUID()"}}}});
    let a = engine(def.clone()).run(json!({})).await;
    let b = engine(def).run(json!({})).await;
    assert_eq!(a.output(), b.output());
}
