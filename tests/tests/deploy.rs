//! What a first `sam deploy` needs beyond a valid template: the RDS CA bundle every SQL function
//! verifies TLS with, definitions that work in every partition, and triggers that cannot be
//! deployed without what their runs need.

use aurora_tests::{asl, read, resources_of_type, template};
use serde_json::{json, Value};

const CLUSTER_ASL: &str = "statemachine/encrypt-cluster.asl.json";
const FLEET_ASL: &str = "statemachine/encrypt-fleet.asl.json";

/// The `DefinitionSubstitutions` of the state machine deploying `asl_path`.
fn substitutions(template: &Value, asl_path: &str) -> serde_json::Map<String, Value> {
    let uri = format!("../{asl_path}");
    resources_of_type(template, "AWS::Serverless::StateMachine")
        .into_iter()
        .find(|(_, r)| r["Properties"]["DefinitionUri"] == uri.as_str())
        .and_then(|(_, r)| {
            r["Properties"]["DefinitionSubstitutions"]
                .as_object()
                .cloned()
        })
        .unwrap_or_else(|| panic!("no state machine with substitutions deploys {asl_path}"))
}

fn walk_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            f(k);
            walk_strings(v, f)
        }),
        _ => {}
    }
}

/// The template is partition-aware (`${AWS::Partition}`), so the definitions must be too: an ARN
/// written `arn:aws:` would fail in aws-cn and aws-us-gov.
#[test]
fn no_asl_string_names_a_fixed_partition_and_partition_is_substituted() {
    let template = template();
    for path in [CLUSTER_ASL, FLEET_ASL] {
        let mut fixed = Vec::new();
        walk_strings(&asl(path), &mut |s| {
            if s.contains("arn:aws:") || s.contains("arn:aws-cn:") || s.contains("arn:aws-us-gov:")
            {
                fixed.push(s.to_string());
            }
        });
        assert!(fixed.is_empty(), "{path}: fixed partition in {fixed:?}");
        assert_eq!(
            substitutions(&template, path).get("Partition"),
            Some(&json!({"Ref": "AWS::Partition"})),
            "{path}"
        );
    }
}

/// Preflight checks its own RDS CA bundle on behalf of Verify and the native engine's steps,
/// so every function that speaks SQL must have the same one: the layer the template builds,
/// at the path its Makefile writes (a layer's files appear under /opt).
#[test]
fn every_sql_function_has_the_rds_ca_bundle_layer_preflight_checks() {
    let template = template();
    let layer = &template["Resources"]["RdsCaBundleLayer"];
    assert_eq!(layer["Type"], "AWS::Serverless::LayerVersion");
    assert_eq!(layer["Metadata"]["BuildMethod"], "makefile");
    let content = layer["Properties"]["ContentUri"].as_str().unwrap();
    let makefile = read(&format!("infra/{content}/Makefile"));
    assert!(
        makefile.contains("build-RdsCaBundleLayer:")
            && makefile.contains("BUNDLE = $(ARTIFACTS_DIR)/rds-ca/global-bundle.pem"),
        "infra/{content}/Makefile does not build /opt/rds-ca/global-bundle.pem"
    );
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        if properties.get("VpcConfig").is_none() {
            assert!(properties.get("Layers").is_none(), "{id}");
            continue;
        }
        assert_eq!(
            properties["Environment"]["Variables"]["RDS_CA_BUNDLE"],
            "/opt/rds-ca/global-bundle.pem",
            "{id}"
        );
        assert_eq!(
            properties["Layers"],
            json!([{"Ref": "RdsCaBundleLayer"}]),
            "{id}"
        );
    }
}
