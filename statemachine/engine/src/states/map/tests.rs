//! Tolerated failures with items that really fail (AWS's recorded cases only cover values).

use serde_json::{json, Value};

use crate::{Definition, Engine, Status};

/// A Map whose iteration fails for every item that is `"bad"`, with `tolerance` merged in.
async fn run(tolerance: Value, items: Value) -> Status {
    let mut map = json!({
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Choice", "Choices": [
                    {"Variable": "$", "StringEquals": "bad", "Next": "Bad"}
                ], "Default": "Good"},
                "Bad": {"Type": "Fail", "Error": "ItemFailed", "Cause": "bad item"},
                "Good": {"Type": "Pass", "End": true}
            }
        },
        "End": true
    });
    if let (Some(map), Some(extra)) = (map.as_object_mut(), tolerance.as_object()) {
        map.extend(extra.clone());
    }
    let definition = Definition::from_value(json!({"StartAt": "Each", "States": {"Each": map}}))
        .expect("a valid definition");
    Engine::new(definition).run(items).await.status
}

fn exceeded(status: &Status) -> bool {
    matches!(status, Status::Failed { error, cause: Some(cause) }
        if error == "States.ExceedToleratedFailureThreshold"
        && cause == "The specified tolerated failure threshold was exceeded")
}

#[tokio::test]
async fn failures_within_the_count_leave_their_error_output_in_place() {
    let status = run(
        json!({"ToleratedFailureCount": 1}),
        json!(["ok", "bad", "ok"]),
    )
    .await;
    assert_eq!(
        status,
        Status::Succeeded(json!([
            "ok",
            {"Error": "ItemFailed", "Cause": "bad item"},
            "ok"
        ]))
    );
}

#[tokio::test]
async fn one_failure_more_than_the_count_fails_the_map() {
    let status = run(
        json!({"ToleratedFailureCount": 1}),
        json!(["bad", "ok", "bad"]),
    )
    .await;
    assert!(exceeded(&status), "{status:?}");
}

#[tokio::test]
async fn the_percentage_is_of_all_items() {
    let items = json!(["bad", "ok", "ok", "ok"]);
    let within = run(json!({"ToleratedFailurePercentage": 25}), items.clone()).await;
    assert!(matches!(within, Status::Succeeded(_)), "{within:?}");
    let over = run(json!({"ToleratedFailurePercentage": 24.9}), items).await;
    assert!(exceeded(&over), "{over:?}");
}

#[tokio::test]
async fn exceeding_either_threshold_fails_the_map() {
    let status = run(
        json!({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 10}),
        json!(["bad", "ok", "ok"]),
    )
    .await;
    assert!(exceeded(&status), "{status:?}");
}

#[tokio::test]
async fn without_a_tolerance_the_item_error_fails_the_map() {
    let status = run(json!({}), json!(["ok", "bad"])).await;
    assert!(
        matches!(&status, Status::Failed { error, .. } if error == "ItemFailed"),
        "{status:?}"
    );
}
