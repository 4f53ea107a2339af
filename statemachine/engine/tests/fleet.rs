//! `encrypt-fleet.asl.json` on the engine, with a stand-in for encrypt-cluster registered as
//! the child state machine: one child per spec, at most `maxConcurrency` at once, a failed
//! child leaves the others running and is named in the output.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use asl_engine::{Definition, Engine, StateMachines, Status};
use serde_json::{json, Value};

const CLUSTER_ARN: &str = "arn:aws:states:local:000000000000:stateMachine:encrypt-cluster";

fn fleet(machines: &StateMachines) -> Engine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../encrypt-fleet.asl.json");
    let text = std::fs::read_to_string(&path).expect("the fleet definition");
    let substitutions = HashMap::from([(
        "EncryptClusterStateMachineArn".to_string(),
        CLUSTER_ARN.to_string(),
    )]);
    Engine::new(Definition::parse(&text).expect("a valid definition"))
        .with_name("encrypt-fleet")
        .with_substitutions(&substitutions)
        .expect("substitutions apply")
        .with_state_machines(machines.clone())
}

/// Stands in for encrypt-cluster: works a moment, then fails for a source named `broken`.
fn machines() -> StateMachines {
    let cluster = Definition::from_value(json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Wait", "Seconds": 1, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.sourceClusterId", "StringEquals": "broken", "Next": "Fail"}
            ], "Default": "Done"},
            "Done": {"Type": "Pass", "Parameters": {"migrated.$": "$.sourceClusterId"}, "End": true},
            "Fail": {"Type": "Fail", "Error": "VerificationMismatch", "Cause": "checksums differ"}
        }
    }))
    .expect("a valid definition");
    let machines = StateMachines::new();
    machines.register(
        CLUSTER_ARN,
        Engine::new(cluster)
            .with_name("encrypt-cluster")
            .with_time_scale(0.05),
    );
    machines
}

fn specs(ids: &[&str]) -> Value {
    ids.iter()
        .map(|id| json!({"sourceClusterId": id}))
        .collect()
}

#[tokio::test]
async fn every_cluster_runs_as_a_child_at_most_two_at_once() {
    let machines = machines();
    let outcome = fleet(&machines)
        .run(json!({"clusters": specs(&["a", "b", "c"]), "maxConcurrency": 2}))
        .await;
    let output = outcome.output().expect("the fleet succeeds");
    assert_eq!(output["failed"], json!([]));
    let results = output["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    for (i, (result, id)) in results.iter().zip(["a", "b", "c"]).enumerate() {
        assert_eq!(result["index"], i);
        assert_eq!(result["sourceClusterId"], id);
        assert_eq!(result["status"], "SUCCEEDED");
        assert!(result["executionArn"]
            .as_str()
            .is_some_and(|arn| arn.contains(":execution:encrypt-cluster:")));
    }
    assert_eq!(machines.peak_running(), 2);
    let finished = machines.finished();
    assert_eq!(finished.len(), 3);
    assert!(finished
        .iter()
        .all(|c| matches!(&c.outcome.status, Status::Succeeded(out) if out["migrated"] == c.input["sourceClusterId"])));
}

#[tokio::test]
async fn a_failed_child_is_named_and_the_others_finish() {
    let machines = machines();
    let outcome = fleet(&machines)
        .run(json!({"clusters": specs(&["a", "broken", "c"])}))
        .await;
    let output = outcome.output().expect("the fleet itself succeeds");
    assert_eq!(output["failed"], json!([1]));
    let results = &output["results"];
    assert_eq!(results[0]["status"], "SUCCEEDED");
    assert_eq!(results[2]["status"], "SUCCEEDED");
    assert_eq!(results[1]["status"], "FAILED");
    assert_eq!(results[1]["error"], "States.TaskFailed");
    let cause: Value =
        serde_json::from_str(results[1]["cause"].as_str().expect("a cause")).expect("JSON");
    assert_eq!(cause["Error"], "VerificationMismatch");
    assert_eq!(cause["Cause"], "checksums differ");
    assert_eq!(machines.finished().len(), 3);
}
