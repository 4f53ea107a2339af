//! The template's CloudWatch dashboard shows what the functions emit: every metric it graphs from
//! the project's namespace is one of `aurora_core::metrics::ALL` under the dimensions the lines
//! declare, every emitted metric is graphed, both state machines' execution metrics are there,
//! and the dashboard's URL and name follow the convention `aurora-encrypt watch` derives them by.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use aurora_core::metrics::{self, Phase};
use aurora_tests::{resources_of_type, template};
use serde_json::Value;

/// The dashboard resource's logical id and properties.
fn dashboard(template: &Value) -> (&str, &Value) {
    let dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let (id, resource) = dashboards[0];
    (id, &resource["Properties"])
}

/// The dashboard body with each `${…}` of its `Fn::Sub` replaced by the name inside it.
fn body(properties: &Value) -> Value {
    let text = properties["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is an Fn::Sub of one JSON string");
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        out.push_str(&rest[start + 2..end]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).expect("the dashboard body is JSON")
}

/// A metric the dashboard graphs: namespace, name, and the dimension names it selects by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shown {
    namespace: String,
    name: String,
    dimensions: Vec<String>,
}

/// `SEARCH('{Namespace,Dim,…} MetricName="Name"', 'Stat', period)`.
fn parse_search(expression: &str) -> Shown {
    let inner = expression
        .strip_prefix("SEARCH('{")
        .unwrap_or_else(|| panic!("not a SEARCH over a schema: {expression}"));
    let (schema, rest) = inner.split_once('}').expect("schema closed");
    let mut parts = schema.split(',').map(str::trim);
    let namespace = parts.next().expect("namespace").to_string();
    let dimensions = parts.map(str::to_string).collect();
    let name = rest
        .split_once("MetricName=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| panic!("no MetricName in {expression}"));
    Shown {
        namespace,
        name,
        dimensions,
    }
}

/// Every metric the dashboard's metric widgets graph, with the state machine a plain metric row
/// names (its `StateMachineArn` dimension value), if any.
fn shown(body: &Value) -> Vec<(Shown, Option<String>)> {
    let mut all = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let properties = &widget["properties"];
        assert!(properties["region"].is_string(), "{widget}");
        for row in properties["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metrics row is an array");
            match row.as_slice() {
                [Value::Object(math), ..] => {
                    let expression = math["expression"].as_str().expect("expression");
                    all.push((parse_search(expression), None));
                }
                [Value::String(namespace), Value::String(name), rest @ ..] => {
                    let strings: Vec<&str> = rest.iter().filter_map(Value::as_str).collect();
                    let dimensions = strings.chunks(2).map(|p| p[0].to_string()).collect();
                    let machine = strings
                        .chunks(2)
                        .find(|p| p[0] == "StateMachineArn")
                        .and_then(|p| p.get(1))
                        .map(|s| s.to_string());
                    all.push((
                        Shown {
                            namespace: namespace.clone(),
                            name: name.clone(),
                            dimensions,
                        },
                        machine,
                    ));
                }
                other => panic!("unexpected metrics row {other:?}"),
            }
        }
    }
    all
}

#[test]
fn every_metric_the_dashboard_shows_is_emitted_and_every_emitted_metric_is_shown() {
    let template = template();
    let shown = shown(&body(dashboard(&template).1));
    let ours: Vec<&Shown> = shown
        .iter()
        .map(|(s, _)| s)
        .filter(|s| !s.namespace.starts_with("AWS/"))
        .collect();
    let declared_sets: Vec<Vec<&str>> =
        metrics::DIMENSION_SETS.iter().map(|s| s.to_vec()).collect();
    for s in &ours {
        assert_eq!(s.namespace, metrics::NAMESPACE, "{s:?}");
        assert!(
            metrics::ALL.iter().any(|m| m.name == s.name),
            "the dashboard shows {} but no function emits it",
            s.name
        );
        let dimensions: Vec<&str> = s.dimensions.iter().map(String::as_str).collect();
        assert!(
            declared_sets.contains(&dimensions),
            "{} is selected by {dimensions:?}, a dimension set no line declares",
            s.name
        );
    }
    let shown_names: BTreeSet<&str> = ours.iter().map(|s| s.name.as_str()).collect();
    let emitted: BTreeSet<&str> = metrics::ALL.iter().map(|m| m.name).collect();
    assert_eq!(
        shown_names, emitted,
        "every emitted metric is on the dashboard"
    );
}

#[test]
fn the_dashboard_shows_both_state_machines_executions() {
    let template = template();
    let shown = shown(&body(dashboard(&template).1));
    let machines: Vec<&str> = resources_of_type(&template, "AWS::Serverless::StateMachine")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(machines.len(), 2);
    for machine in machines {
        for name in [
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsFailed",
            "ExecutionsAborted",
        ] {
            assert!(
                shown.iter().any(|(s, m)| s.namespace == "AWS/States"
                    && s.name == name
                    && s.dimensions == ["StateMachineArn"]
                    && m.as_deref() == Some(machine)),
                "{machine}: {name} not shown"
            );
        }
    }
}

#[test]
fn the_dashboard_explains_the_phase_numbers_the_functions_emit() {
    let template = template();
    let body = body(dashboard(&template).1);
    let text: String = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "text")
        .filter_map(|w| w["properties"]["markdown"].as_str())
        .collect();
    let legend: Vec<String> = Phase::ALL
        .iter()
        .map(|p| format!("{} {}", p.number(), p.as_str()))
        .collect();
    assert!(
        text.contains(&legend.join(", ")),
        "the text widget lists {legend:?}: {text}"
    );
}

#[test]
fn the_dashboard_url_is_an_output_and_watch_derives_the_same_name() {
    let template = template();
    let (id, properties) = dashboard(&template);
    assert_eq!(
        properties["DashboardName"]["Fn::Sub"],
        format!("${{AWS::StackName}}{}", metrics::DASHBOARD_SUFFIX)
    );
    assert_eq!(
        template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"],
        format!(
            "https://${{AWS::Region}}.console.aws.amazon.com/cloudwatch/home?region=${{AWS::Region}}#dashboards:name=${{{id}}}"
        )
    );
    // The state machines are named after the stack the way watch strips them.
    let mut suffixes: Vec<String> = resources_of_type(&template, "AWS::Serverless::StateMachine")
        .into_iter()
        .map(|(_, m)| {
            m["Properties"]["Name"]["Fn::Sub"]
                .as_str()
                .and_then(|n| n.strip_prefix("${AWS::StackName}"))
                .expect("named ${AWS::StackName}-…")
                .to_string()
        })
        .collect();
    suffixes.sort();
    let mut expected: Vec<&str> = metrics::STATE_MACHINE_SUFFIXES.to_vec();
    expected.sort_unstable();
    assert_eq!(suffixes, expected);
    assert_eq!(
        metrics::dashboard_url_for_execution(
            "arn:aws:states:eu-west-1:123456789012:execution:orders-stack-encrypt-cluster:run-1"
        )
        .as_deref(),
        Some("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=orders-stack-migrations")
    );
}
