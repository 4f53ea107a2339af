//! What a first `sam deploy` needs beyond a valid template: the RDS CA bundle every SQL function
//! verifies TLS with, definitions that work in every partition, and triggers that cannot be
//! deployed without what their runs need.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use aurora_core::MigrationSpec;
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

/// The template's parameter values: `overrides` over each parameter's `Default`.
fn parameters(template: &Value, overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut values: HashMap<String, String> = template["Parameters"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, p)| {
            let default = match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((name.clone(), default))
        })
        .collect();
    for (name, value) in overrides {
        assert!(
            template["Parameters"].get(*name).is_some(),
            "no parameter {name}"
        );
        values.insert(name.to_string(), value.to_string());
    }
    values
}

/// Evaluates a condition of a `Rules` section with the functions this template's rules use,
/// as CloudFormation does before it creates anything.
fn evaluate(expression: &Value, parameters: &HashMap<String, String>) -> Value {
    let object = match expression {
        Value::Object(o) if o.len() == 1 => o,
        literal => return literal.clone(),
    };
    let (function, argument) = object.iter().next().unwrap();
    let args = || -> Vec<Value> {
        argument
            .as_array()
            .unwrap_or_else(|| panic!("{function} takes a list"))
            .iter()
            .map(|a| evaluate(a, parameters))
            .collect()
    };
    let truth = |v: &Value| {
        v.as_bool()
            .unwrap_or_else(|| panic!("{v} is not a condition"))
    };
    match function.as_str() {
        "Ref" => {
            let name = argument.as_str().unwrap();
            json!(parameters
                .get(name)
                .unwrap_or_else(|| panic!("Ref to unknown parameter {name}")))
        }
        "Fn::Equals" => {
            let a = args();
            json!(a[0] == a[1])
        }
        "Fn::Not" => json!(!truth(&args()[0])),
        "Fn::Or" => json!(args().iter().any(truth)),
        "Fn::And" => json!(args().iter().all(truth)),
        other => panic!("the test evaluator does not know {other}"),
    }
}

/// The `AssertDescription`s of every assertion the stack's `Rules` fail with these values;
/// empty when CloudFormation would go ahead.
fn failed_assertions(template: &Value, overrides: &[(&str, &str)]) -> Vec<String> {
    let values = parameters(template, overrides);
    let mut failed = Vec::new();
    for (name, rule) in template["Rules"].as_object().expect("a Rules section") {
        let applies = rule
            .get("RuleCondition")
            .is_none_or(|c| evaluate(c, &values) == json!(true));
        if !applies {
            continue;
        }
        for assertion in rule["Assertions"].as_array().unwrap() {
            if evaluate(&assertion["Assert"], &values) != json!(true) {
                failed.push(format!("{name}: {}", assertion["AssertDescription"]));
            }
        }
    }
    failed
}

const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf";

#[test]
fn the_config_trigger_parameters_are_required_together() {
    let template = template();
    assert!(failed_assertions(&template, &[]).is_empty());
    let complete = [
        ("EnableConfigTrigger", "true"),
        ("ConfigTriggerSourceSecretArn", SECRET),
        ("ConfigTriggerTargetSecretArn", SECRET),
        ("ConfigTriggerDmsSubnetGroup", "dms-private"),
    ];
    assert_eq!(
        failed_assertions(&template, &complete),
        Vec::<String>::new()
    );
    // Every parameter the trigger's spec is built from, left empty alone, stops the deploy.
    let input = &template["Resources"]["ConfigNonCompliantRule"]["Properties"]["Targets"][0]
        ["InputTransformer"]["InputTemplate"]["Fn::Sub"];
    let used = aurora_tests::placeholders(input);
    let mut checked = 0;
    for name in used.iter().filter(|n| n.starts_with("ConfigTrigger")) {
        let mut missing: Vec<(&str, &str)> = complete.to_vec();
        missing.retain(|(n, _)| n != name);
        missing.push((name, ""));
        let failed = failed_assertions(&template, &missing);
        assert!(
            failed.len() == 1 && failed[0].contains(name.as_str()),
            "{name} empty: {failed:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "the trigger's spec uses {used:?}");
    // The default rule evaluates DB clusters, which is what the event pattern matches.
    assert_eq!(
        template["Parameters"]["ConfigRuleName"]["Default"],
        "rds-cluster-encrypted-at-rest"
    );
    assert_eq!(
        template["Resources"]["ConfigNonCompliantRule"]["Properties"]["EventPattern"]["detail"]
            ["resourceType"],
        json!(["AWS::RDS::DBCluster"])
    );
}

/// A window-mode copy of `infra/events/example-input.json`, as a user would give ScheduledSpec.
fn scheduled_spec() -> String {
    let mut spec: Value = serde_json::from_str(&read("infra/events/example-input.json")).unwrap();
    spec["switchover"] = json!({
        "mode": "window",
        "windowStart": "2030-12-06T02:00:00Z",
        "windowEnd": "2030-12-06T04:00:00Z"
    });
    spec.to_string()
}

#[test]
fn the_schedule_and_its_spec_are_required_together() {
    let template = template();
    let at = ("ScheduleExpression", "at(2030-12-05T02:00:00)");
    assert_eq!(failed_assertions(&template, &[at]).len(), 1);
    assert_eq!(
        failed_assertions(&template, &[at, ("ScheduledSpec", "")]).len(),
        1
    );
    let spec = scheduled_spec();
    assert!(failed_assertions(&template, &[at, ("ScheduledSpec", &spec)]).is_empty());
    // A spec without a schedule is harmless: nothing starts it.
    assert!(failed_assertions(&template, &[("ScheduledSpec", &spec)]).is_empty());
}

/// The schedule starts the execution with its `Input` verbatim: rendered with the parameters,
/// it must be a spec `validate` accepts, and the template's default must not be one.
#[test]
fn the_schedule_input_renders_to_a_spec_that_validates() {
    let template = template();
    let schedule = &template["Resources"]["MaintenanceWindowSchedule"];
    assert_eq!(schedule["Condition"], "HasSchedule");
    let input = &schedule["Properties"]["Target"]["Input"];
    let render = |overrides: &[(&str, &str)]| evaluate(input, &parameters(&template, overrides));
    let long_ago = time::macros::datetime!(2026-01-01 00:00 UTC);
    let spec = scheduled_spec();
    let rendered = render(&[("ScheduledSpec", &spec)]);
    let parsed =
        MigrationSpec::from_json(rendered.as_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    parsed.validate(long_ago).unwrap_or_else(|e| panic!("{e}"));
    let default = render(&[]);
    assert!(
        MigrationSpec::from_json(default.as_str().unwrap()).is_err(),
        "the default ScheduledSpec {default} must not pass for a spec"
    );
}

/// The SubnetIds description names the endpoint of every API a function in the VPC calls
/// (its policy's service prefixes), and says that Route 53 needs a NAT.
#[test]
fn subnet_description_names_every_endpoint_the_vpc_functions_need() {
    let template = template();
    let description = template["Parameters"]["SubnetIds"]["Description"]
        .as_str()
        .unwrap();
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        if function["Properties"].get("VpcConfig").is_none() {
            continue;
        }
        let short = id.trim_end_matches("Function");
        for action in aurora_tests::function_actions(function) {
            let endpoint = match action.split(':').next().unwrap() {
                "iam" => continue,
                "cloudwatch" => "monitoring",
                "route53" => {
                    assert!(description.contains("Route 53 has no"), "{id}: {action}");
                    assert!(description.contains("NAT"), "{id}: {action}");
                    continue;
                }
                // Decrypting a secret goes through Secrets Manager, not the KMS endpoint.
                "kms" if action == "kms:Decrypt" => continue,
                service => service,
            };
            let at = description
                .find(&format!("{endpoint} ("))
                .unwrap_or_else(|| panic!("{id} calls {action}: no {endpoint} endpoint named"));
            let list = &description[at..at + description[at..].find(')').unwrap()];
            assert!(
                list.contains(short) || list.contains("all eight"),
                "{id} calls {action}, but the {endpoint} endpoint lists {list}"
            );
        }
    }
}
