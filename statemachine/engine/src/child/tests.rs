use std::time::Duration;

use serde_json::{json, Value};

use crate::{Definition, Engine, EventType, StateMachines, Status};

const CHILD_ARN: &str = "arn:aws:states:local:000000000000:stateMachine:child";

fn engine(definition: Value) -> Engine {
    Engine::new(Definition::from_value(definition).expect("a valid definition"))
}

/// A parent whose only state starts the child with `resource` on its whole input.
fn parent(resource: &str) -> Engine {
    engine(json!({
        "StartAt": "Child",
        "States": {"Child": {
            "Type": "Task",
            "Resource": resource,
            "Parameters": {"StateMachineArn": CHILD_ARN, "Input.$": "$", "Name": "first"},
            "End": true
        }}
    }))
}

/// A child that echoes its input under `echo`, or fails with `SomeFailure` when `fail` is set.
fn child() -> Engine {
    engine(json!({
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.fail", "IsPresent": true, "Next": "Fail"}
            ], "Default": "Echo"},
            "Echo": {"Type": "Pass", "Parameters": {"echo.$": "$"}, "End": true},
            "Fail": {"Type": "Fail", "Error": "SomeFailure", "Cause": "asked to fail"}
        }
    }))
    .with_name("child")
}

fn machines() -> StateMachines {
    let machines = StateMachines::new();
    machines.register(CHILD_ARN, child());
    machines
}

#[tokio::test]
async fn sync2_returns_the_description_with_parsed_input_and_output() {
    let parent =
        parent("arn:aws:states:::states:startExecution.sync:2").with_state_machines(machines());
    let outcome = parent.run(json!({"n": 1})).await;
    let output = outcome.output().expect("the parent succeeds");
    assert_eq!(output["Status"], "SUCCEEDED");
    assert_eq!(output["Output"], json!({"echo": {"n": 1}}));
    assert_eq!(output["Input"], json!({"n": 1}));
    assert_eq!(output["Name"], "first");
    assert_eq!(output["StateMachineArn"], CHILD_ARN);
    assert!(output["ExecutionArn"]
        .as_str()
        .is_some_and(|arn| arn.ends_with(":execution:child:first")));
    let (start, stop) = (output["StartDate"].as_i64(), output["StopDate"].as_i64());
    assert!(
        matches!((start, stop), (Some(a), Some(b)) if a > 1_600_000_000_000 && a <= b),
        "epoch milliseconds: {output}"
    );
    let types: Vec<EventType> = outcome.history.iter().map(|e| e.event_type).collect();
    assert!(types.contains(&EventType::TaskSubmitted), "{types:?}");
}

#[tokio::test]
async fn sync_returns_input_and_output_as_json_text() {
    let parent =
        parent("arn:aws:states:::states:startExecution.sync").with_state_machines(machines());
    let output = parent.run(json!({"n": 1})).await.status;
    let Status::Succeeded(output) = output else {
        panic!("the parent fails: {output:?}")
    };
    assert_eq!(output["Output"], json!(r#"{"echo":{"n":1}}"#));
    assert_eq!(output["Input"], json!(r#"{"n":1}"#));
}

#[tokio::test]
async fn a_failed_child_fails_the_task_with_its_error_and_cause() {
    let parent =
        parent("arn:aws:states:::states:startExecution.sync:2").with_state_machines(machines());
    let status = parent.run(json!({"fail": true})).await.status;
    let Status::Failed { error, cause } = status else {
        panic!("the parent succeeds: {status:?}")
    };
    assert_eq!(error, "States.TaskFailed");
    let cause: Value = serde_json::from_str(&cause.expect("a cause")).expect("JSON");
    assert_eq!(cause["Error"], "SomeFailure");
    assert_eq!(cause["Cause"], "asked to fail");
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Input"], json!(r#"{"fail":true}"#));
}

#[tokio::test]
async fn an_unknown_state_machine_does_not_exist() {
    let parent = parent("arn:aws:states:::states:startExecution.sync:2");
    let status = parent.run(json!({})).await.status;
    assert!(
        matches!(&status, Status::Failed { error, cause: Some(cause) }
            if error == "StepFunctions.StateMachineDoesNotExistException"
            && cause == &format!("State Machine Does Not Exist: '{CHILD_ARN}'")),
        "{status:?}"
    );
}

#[tokio::test]
async fn resources_of_any_partition_start_children() {
    for resource in [
        "arn:aws-us-gov:states:::states:startExecution.sync:2",
        "arn:${Partition}:states:::states:startExecution.sync:2",
    ] {
        let outcome = parent(resource)
            .with_state_machines(machines())
            .run(json!({}))
            .await;
        assert!(
            outcome.output().is_some(),
            "{resource}: {:?}",
            outcome.status
        );
    }
}

#[tokio::test]
async fn plain_start_execution_returns_at_once_and_the_child_runs_on() {
    let machines = machines();
    let parent =
        parent("arn:aws:states:::states:startExecution").with_state_machines(machines.clone());
    let output = parent.run(json!({})).await;
    let output = output.output().expect("the parent succeeds");
    assert!(output["ExecutionArn"].is_string() && output["StartDate"].is_i64());
    assert!(output.get("Status").is_none(), "{output}");
    for _ in 0..100 {
        if !machines.finished().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        machines.finished()[0].outcome.status,
        Status::Succeeded(_)
    ));
}

#[tokio::test]
async fn a_map_runs_no_more_children_at_once_than_its_max_concurrency() {
    let machines = StateMachines::new();
    machines.register(
        CHILD_ARN,
        engine(json!({
            "StartAt": "Work",
            "States": {"Work": {"Type": "Wait", "Seconds": 1, "End": true}}
        }))
        .with_time_scale(0.05),
    );
    let parent = engine(json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "MaxConcurrency": 2,
            "ItemProcessor": {"StartAt": "Child", "States": {"Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": CHILD_ARN, "Input.$": "$"},
                "OutputPath": "$.Status",
                "End": true
            }}},
            "End": true
        }}
    }))
    .with_state_machines(machines.clone());
    let outcome = parent.run(json!([1, 2, 3, 4, 5])).await;
    assert_eq!(outcome.output(), Some(&json!(vec!["SUCCEEDED"; 5])));
    assert_eq!(machines.peak_running(), 2);
    assert_eq!(machines.finished().len(), 5);
}

#[tokio::test]
async fn stopping_the_parent_stops_a_sync_child() {
    let machines = StateMachines::new();
    machines.register(
        CHILD_ARN,
        engine(json!({
            "StartAt": "Long",
            "States": {"Long": {"Type": "Wait", "Seconds": 3600, "End": true}}
        })),
    );
    let parent = parent("arn:aws:states:::states:startExecution.sync:2")
        .with_state_machines(machines.clone());
    let execution = parent.start(json!({}));
    for _ in 0..100 {
        if machines.running() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(machines.running(), 1);
    execution.stop();
    assert_eq!(execution.wait().await.status, Status::Aborted);
    assert_eq!(machines.running(), 0);
    assert_eq!(machines.finished()[0].outcome.status, Status::Aborted);
}
