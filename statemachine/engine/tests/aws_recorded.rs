//! Executions recorded against AWS Step Functions, replayed on the engine.
//!
//! Each file under `tests/aws-recorded/` holds groups of cases taken from LocalStack's snapshot
//! suite (`localstack/localstack`, `tests/aws/services/stepfunctions`: the `*.snapshot.json`
//! files record what AWS answered); every group names its snapshot file, test and template. A
//! case is an input and what AWS did with it: `SUCCEEDED` with the output, `FAILED` with the
//! error and cause (`null` when AWS reported none), or `INVALID_DEFINITION` when
//! CreateStateMachine refused the definition. Waits are compressed to nothing.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use asl_engine::{Definition, Engine, EventType, Status};
use serde_json::Value;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws-recorded")
}

/// JSON equality where `1` equals `1.0`, as when AWS's output is compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Text equality where the snapshot's mask `<json-input:1>` (a state input as JSON text)
/// stands for any text.
fn masked_eq(got: &str, want: &str) -> bool {
    match want.split_once("<json-input:1>") {
        Some((before, after)) => {
            got.len() >= before.len() + after.len()
                && got.starts_with(before)
                && got.ends_with(after)
        }
        None => got == want,
    }
}

/// Runs one case; `None` when the engine did what AWS did, else what differed.
async fn check(definition: &Result<Definition, String>, case: &Value) -> Option<String> {
    let expected = &case["expected"];
    let status = expected["status"].as_str().unwrap_or_default();
    let definition = match (status, definition) {
        ("INVALID_DEFINITION", Err(_)) => return None,
        ("INVALID_DEFINITION", Ok(_)) => return Some("the definition was accepted".into()),
        (_, Err(e)) => return Some(format!("the definition was refused: {e}")),
        (_, Ok(d)) => d.clone(),
    };
    let outcome = Engine::new(definition)
        .with_time_scale(0.0)
        .run(case["input"].clone())
        .await;
    match (status, &outcome.status) {
        ("SUCCEEDED", Status::Succeeded(output)) if same(output, &expected["output"]) => None,
        ("FAILED", Status::Failed { error, cause }) => {
            // The history must say it as AWS does too: no error field when there is no name.
            let failed = outcome.history.last().map(|e| (e.event_type, &e.details));
            let recorded_error = match failed {
                Some((EventType::ExecutionFailed, details)) => details.get("error").cloned(),
                _ => return Some(format!("the history ends with {failed:?}")),
            };
            let error = (!error.is_empty()).then(|| Value::from(error.as_str()));
            if recorded_error != error {
                return Some(format!("ExecutionFailed records error {recorded_error:?}"));
            }
            let cause = cause.as_deref().map(Value::from);
            let want_error = (!expected["error"].is_null()).then(|| expected["error"].clone());
            let want_cause = (!expected["cause"].is_null()).then(|| expected["cause"].clone());
            let cause_matches = match (&cause, &want_cause) {
                (Some(Value::String(got)), Some(Value::String(want))) => masked_eq(got, want),
                _ => cause == want_cause,
            };
            (error != want_error || !cause_matches).then(|| {
                format!(
                    "failed with error {error:?} cause {cause:?}, AWS: error {want_error:?} cause {want_cause:?}"
                )
            })
        }
        _ => Some(format!("ended {:?}, AWS: {expected}", outcome.status)),
    }
}

/// Replays every case of one file and fails listing each case that differs from AWS.
async fn replay(file: &str) {
    let path = cases_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("the case file is JSON");
    let mut differences = Vec::new();
    let mut count = 0;
    for group in doc["groups"].as_array().expect("groups") {
        let definition =
            Definition::from_value(group["definition"].clone()).map_err(|e| e.to_string());
        for case in group["cases"].as_array().expect("cases") {
            count += 1;
            if let Some(difference) = check(&definition, case).await {
                differences.push(format!(
                    "{} ({}): {difference}",
                    case["name"].as_str().unwrap_or_default(),
                    group["source"]["snapshot"].as_str().unwrap_or_default(),
                ));
            }
        }
    }
    assert!(count > 0, "{file} holds no cases");
    assert!(
        differences.is_empty(),
        "{} of {count} cases in {file} differ from AWS:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

macro_rules! recorded {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                replay($file).await;
            }
        )*

        #[test]
        fn every_case_file_is_replayed() {
            let replayed = [$($file),*];
            for entry in std::fs::read_dir(cases_dir()).expect("tests/aws-recorded") {
                let name = entry.expect("a directory entry").file_name();
                let name = name.to_string_lossy();
                assert!(replayed.contains(&name.as_ref()), "{name} has no test");
            }
        }
    };
}

recorded! {
    jsonpath_bracket_notation_keeps_backslashes_as_on_aws => "jsonpath-bracket-escapes.json",
    format_renders_objects_and_arrays_as_on_aws => "intrinsic-format.json",
    string_to_json_of_blank_is_null_as_on_aws => "intrinsic-string-to-json.json",
    math_add_rounds_half_up_as_on_aws => "intrinsic-math-add.json",
    wait_timestamp_path_is_validated_as_on_aws => "wait-timestamp-path.json",
    wait_seconds_path_errors_match_aws => "wait-seconds-path.json",
    legacy_iterator_takes_a_processor_config_as_on_aws => "map-legacy-iterator-processor-config.json",
    map_tolerated_failures_and_concurrency_paths_match_aws => "map-tolerated-failure.json",
    map_label_is_accepted_and_checked_as_on_aws => "map-label.json",
    fail_without_error_has_no_error_name_as_on_aws => "fail-without-error.json",
    runtime_error_causes_are_worded_as_on_aws => "error-causes.json",
}
