//! A Task resolved through the registry is retried on a transient error, then caught when a
//! business error follows, as encrypt-cluster.asl.json does for its steps.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use asl_engine::{Definition, Engine, EventType, TaskError, TaskRegistry};
use serde_json::json;

const DEFINITION: &str = r#"{
  "StartAt": "Snapshot",
  "States": {
    "Snapshot": {
      "Type": "Task",
      "Resource": "${SnapshotFunctionArn}",
      "Parameters": {"clusterId.$": "$.clusterId"},
      "ResultPath": "$.snapshot",
      "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportFailure"}],
      "Next": "Done"
    },
    "ReportFailure": {"Type": "Pass", "End": true},
    "Done": {"Type": "Succeed"}
  }
}"#;

#[tokio::test]
async fn transient_error_is_retried_then_business_error_is_caught() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let registry = TaskRegistry::new().register_fn("snapshot", move |input| {
        let attempt = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            assert_eq!(input, json!({"clusterId": "db-1"}));
            Err(if attempt == 0 {
                TaskError::new("Transient", Some("throttled".into()))
            } else {
                TaskError::new("SourceAlreadyEncrypted", Some("db-1 is encrypted".into()))
            })
        }
    });
    let substitutions = HashMap::from([(
        "SnapshotFunctionArn".to_string(),
        "arn:aws:lambda:eu-west-1:123456789012:function:snapshot".to_string(),
    )]);
    let outcome = Engine::new(Definition::parse(DEFINITION).unwrap())
        .with_substitutions(&substitutions)
        .unwrap()
        .with_registry(registry)
        .with_time_scale(0.001)
        .run(json!({"clusterId": "db-1"}))
        .await;

    assert_eq!(
        outcome.output(),
        Some(&json!({
            "clusterId": "db-1",
            "error": {"Error": "SourceAlreadyEncrypted", "Cause": "db-1 is encrypted"}
        }))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let failures = outcome
        .history
        .iter()
        .filter(|e| e.event_type == EventType::TaskFailed)
        .count();
    assert_eq!(failures, 2);
    assert!(outcome
        .history
        .iter()
        .any(|e| e.event_type == EventType::PassStateEntered
            && e.state_name() == Some("ReportFailure")));
}
