use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<Definition, DefinitionError> {
    Definition::from_value(v)
}

fn error_of(v: Value) -> DefinitionError {
    parse(v).expect_err("definition should be rejected")
}

#[test]
fn a_minimal_machine_parses() {
    let def = parse(json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})).unwrap();
    assert_eq!(def.start_at(), "A");
    assert_eq!(def.state_names(), vec!["A"]);
}

#[test]
fn invalid_json_is_reported() {
    let err = Definition::parse("{ not json").unwrap_err();
    assert!(err.message.contains("not valid JSON"), "{err}");
}

#[test]
fn unknown_state_type_is_rejected() {
    let err = error_of(json!({"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": true}}}));
    assert_eq!(err.location, "/States/A/Type");
    assert!(err.message.contains("unknown state type 'Sleep'"));
}

#[test]
fn missing_next_and_end_is_rejected() {
    let err = error_of(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}));
    assert_eq!(err.location, "/States/A");
    assert!(err.message.contains("'Next' or 'End: true'"));
}

#[test]
fn next_and_end_together_are_rejected() {
    let err = error_of(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}}}));
    assert!(err.message.contains("both"));
}

#[test]
fn start_at_must_name_a_state() {
    let err = error_of(json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}));
    assert_eq!(err.location, "/StartAt");
}

#[test]
fn next_must_name_a_state_in_the_same_scope() {
    let err = error_of(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}));
    assert_eq!(err.location, "/States/A/Next");
    let err = error_of(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}]},
        "Out": {"Type": "Succeed"}}}));
    assert_eq!(err.location, "/States/P/Branches/0/States/In/Next");
}

#[test]
fn choice_and_catch_targets_are_checked() {
    let err = error_of(json!({"StartAt": "C", "States": {"C": {"Type": "Choice",
        "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Missing"}]}}}));
    assert_eq!(err.location, "/States/C/Choices/0/Next");
    let err = error_of(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r",
        "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}}}),
    );
    assert_eq!(err.location, "/States/T/Catch/0/Next");
}

#[test]
fn unreachable_states_are_rejected() {
    let err = error_of(json!({"StartAt": "A", "States": {
        "A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}));
    assert_eq!(err.location, "/States/Orphan");
}

#[test]
fn bad_paths_are_rejected_with_their_field() {
    let err = error_of(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "a.b"}}}),
    );
    assert_eq!(err.location, "/States/A/InputPath");
    let err = error_of(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]"}}}),
    );
    assert_eq!(err.location, "/States/A/ResultPath");
    let err = error_of(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "nope"}}}}),
    );
    assert_eq!(err.location, "/States/A/Parameters");
}

#[test]
fn unknown_and_unsupported_fields_are_rejected() {
    let err =
        error_of(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Foo": 1}}}));
    assert!(err.message.contains("unknown field 'Foo'"));
    let err = error_of(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": {}}}}),
    );
    assert!(err.message.contains("not supported"));
    let err = error_of(
        json!({"StartAt": "A", "QueryLanguage": "JSONata", "States": {"A": {"Type": "Succeed"}}}),
    );
    assert!(err.message.contains("JSONPath"));
}

#[test]
fn wait_needs_exactly_one_duration() {
    let err = error_of(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true}}}));
    assert!(err.message.contains("exactly one"));
    let err = error_of(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Seconds": 1, "SecondsPath": "$.s"}}}),
    );
    assert!(err.message.contains("exactly one"));
    let err = error_of(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true, "Timestamp": "tomorrow"}}}),
    );
    assert_eq!(err.location, "/States/W/Timestamp");
}

#[test]
fn map_needs_a_processor_and_task_a_resource() {
    let err = error_of(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}));
    assert!(err.message.contains("ItemProcessor"));
    let err = error_of(json!({"StartAt": "T", "States": {"T": {"Type": "Task", "End": true}}}));
    assert!(err.message.contains("Resource"));
}

#[test]
fn heartbeat_must_be_below_timeout() {
    let err = error_of(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r",
        "End": true, "TimeoutSeconds": 10, "HeartbeatSeconds": 10}}}),
    );
    assert_eq!(err.location, "/States/T/HeartbeatSeconds");
}

#[test]
fn substitutions_replace_placeholders_in_strings() {
    let def = parse(json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "${SnapshotFunctionArn}", "End": true}}}))
    .unwrap();
    let subs = HashMap::from([(
        "SnapshotFunctionArn".to_string(),
        "arn:aws:lambda:x:1:function:snap".to_string(),
    )]);
    let def = def.substitute(&subs).unwrap();
    assert_eq!(
        def.task_resources(),
        vec!["arn:aws:lambda:x:1:function:snap".to_string()]
    );
}
