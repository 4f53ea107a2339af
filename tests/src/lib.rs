//! Helpers for the cross-crate tests in `tests/`: where the repository's artefacts are, and how
//! to read them. The SAM template is written in long form (`Ref`, `Fn::Sub`), so a plain YAML
//! parser reads it; it is converted to JSON values to be walked like the ASL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Reads a file under the workspace root, panicking with its path (these are tests' fixtures).
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A state machine definition as JSON.
pub fn asl(relative: &str) -> Value {
    serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `infra/template.yaml` as JSON.
pub fn template() -> Value {
    let yaml: serde_norway::Value = serde_norway::from_str(&read("infra/template.yaml"))
        .unwrap_or_else(|e| panic!("infra/template.yaml: {e}"));
    serde_json::to_value(yaml).unwrap_or_else(|e| panic!("infra/template.yaml: {e}"))
}

/// Every `${Name}` in the strings of a JSON document.
pub fn placeholders(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk_strings(value, &mut |s| {
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.insert(after[..end].to_string());
                    rest = &after[end + 1..];
                }
                None => break,
            }
        }
    });
    out
}

fn walk_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// Every state of a definition, Parallel branches and Map processors included, as
/// `(name, state)`.
pub fn all_states(definition: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    collect_states(definition, &mut out);
    out
}

fn collect_states(machine: &Value, out: &mut Vec<(String, Value)>) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        out.push((name.clone(), state.clone()));
        for branch in state
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_states(branch, out);
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(processor) = state.get(key) {
                collect_states(processor, out);
            }
        }
    }
}

/// The error names of every `Retry` and `Catch` of a state.
pub fn handled_errors(state: &Value) -> Vec<String> {
    ["Retry", "Catch"]
        .iter()
        .filter_map(|k| state.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|r| r.get("ErrorEquals").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The resources of the template's `Resources` section with the given `Type`.
pub fn resources_of_type<'t>(template: &'t Value, type_name: &str) -> Vec<(&'t str, &'t Value)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == type_name)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// The IAM actions a SAM function's inline policy statements grant (SAM policy templates such
/// as `VPCAccessPolicy` and managed policies are not counted: they are not the step's calls).
pub fn function_actions(function: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for policy in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            match &statement["Action"] {
                Value::String(a) => {
                    out.insert(a.clone());
                }
                Value::Array(actions) => {
                    out.extend(actions.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => {}
            }
        }
    }
    out
}
