//! The AWS Config trigger end to end up to preflight: a Config compliance-change event, turned into
//! an execution input by the template's own InputTransformer, names the cluster by its resource id
//! (`cluster-…`), and preflight resolves that to the cluster's identifier.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aurora_core::fakes::{
    FakeClock, FakeClusters, FakeDns, FakeKms, FakeParameters, FakeSourceLock,
};
use aurora_core::state::ExecutionRef;
use aurora_core::steps::preflight::{self, PreflightInput, PreflightSettings};
use aurora_core::NamedError;
use aurora_tests::{read, resources_of_type, template};
use serde_json::Value;

const EVENT: &str = "infra/events/config-compliance-change.json";

/// Stack parameters the InputTemplate's `Fn::Sub` names, with values a deployment could have.
const PARAMETERS: &[(&str, &str)] = &[
    (
        "DmsServiceRoleArn",
        "arn:aws:iam::123456789012:role/aurora-encrypt-dms",
    ),
    (
        "ConfigTriggerSourceSecretArn",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf",
    ),
    (
        "ConfigTriggerTargetSecretArn",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf",
    ),
    ("ConfigTriggerDmsSubnetGroup", "dms-private"),
    ("ReplicationSecurityGroupId", "sg-0123456789abcdef0"),
];

/// The value at a JSONPath of the form `$.a.b.c`.
fn select<'v>(event: &'v Value, path: &str) -> &'v Value {
    path.strip_prefix("$.")
        .unwrap_or_else(|| panic!("unsupported path {path}"))
        .split('.')
        .fold(event, |value, key| &value[key])
}

/// Applies an EventBridge input transformer to `event`: each `<name>` of the template becomes the
/// JSON value its path selects (a string with its quotes, as EventBridge inserts a value into a
/// JSON template), after `Fn::Sub` has put in the stack parameters.
fn transform(transformer: &Value, event: &Value) -> Value {
    let mut text = transformer["InputTemplate"]["Fn::Sub"]
        .as_str()
        .expect("InputTemplate is an Fn::Sub string")
        .to_string();
    for (name, value) in PARAMETERS {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    assert!(!text.contains("${"), "unsubstituted parameter in {text}");
    let paths = transformer["InputPathsMap"]
        .as_object()
        .expect("InputPathsMap");
    for (name, path) in paths {
        let value = select(event, path.as_str().expect("a JSONPath"));
        assert!(!value.is_null(), "{path} selects nothing in {EVENT}");
        text = text.replace(&format!("<{name}>"), &value.to_string());
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn config_transformer() -> Value {
    let template = template();
    let (_, rule) = resources_of_type(&template, "AWS::Events::Rule")
        .into_iter()
        .find(|(_, r)| r["Properties"]["EventPattern"]["source"][0] == "aws.config")
        .expect("an EventBridge rule for aws.config");
    rule["Properties"]["Targets"][0]["InputTransformer"].clone()
}

async fn preflight(
    spec: Value,
    clusters: &FakeClusters,
) -> Result<Value, preflight::PreflightError> {
    let parameters = FakeParameters::for_source("orders");
    let kms = FakeKms::with_key("alias/aurora-orders");
    let dns = FakeDns::default();
    let clock = FakeClock::default();
    let lock = FakeSourceLock::default();
    let deps = preflight::Deps {
        clusters,
        parameters: &parameters,
        kms: &kms,
        dns: &dns,
        retention: None,
        fence_sql: None,
        clock: &clock,
        lock: &lock,
        settings: PreflightSettings::default(),
    };
    let input = PreflightInput {
        spec,
        execution: ExecutionRef {
            name: "config-2a8d4f6e".into(),
            id: Some(
                "arn:aws:states:eu-west-1:123456789012:execution:encrypt-cluster:config-2a8d4f6e"
                    .into(),
            ),
        },
    };
    preflight::run(&input, &deps).await
}

#[tokio::test]
async fn a_config_event_becomes_a_run_on_the_cluster_it_names() {
    let event: Value = serde_json::from_str(&read(EVENT)).unwrap();
    let resource_id = event["detail"]["resourceId"].as_str().unwrap();
    let spec = transform(&config_transformer(), &event);
    assert_eq!(spec["sourceClusterResourceId"], resource_id);

    let clusters = FakeClusters::with_source("orders");
    clusters.set_resource_id("orders", resource_id);
    let document = preflight(spec, &clusters).await.unwrap();

    assert_eq!(document["sourceClusterId"], "orders");
    assert_eq!(document["targetClusterId"], "orders-encrypted");
    assert_eq!(document["switchover"]["mode"], "approval");
}

#[tokio::test]
async fn a_config_event_for_a_cluster_that_is_gone_is_source_not_found() {
    let event: Value = serde_json::from_str(&read(EVENT)).unwrap();
    let spec = transform(&config_transformer(), &event);
    let clusters = FakeClusters::with_source("orders");
    let error = preflight(spec, &clusters).await.unwrap_err();
    assert_eq!(error.error_name(), "SourceNotFound", "{error}");
}
