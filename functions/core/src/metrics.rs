//! CloudWatch metrics in the embedded metric format (EMF): one JSON log line per invocation of
//! PollLatency, FenceWrites, Drain and SwapDns, which CloudWatch Logs turns into metrics. Lambda
//! ships stdout to the function's log group, so publishing needs no API call and no permission
//! beyond the logs the function already writes.
//!
//! The format is CloudWatch's "Specification: Embedded metric format": the root object carries
//! `_aws` (`Timestamp` in milliseconds since the epoch, `CloudWatchMetrics`: one directive with
//! `Namespace`, `Dimensions` as an array of dimension sets, `Metrics` as `{Name, Unit}`), and
//! every dimension and metric it names as a top-level member (dimensions strings, metrics
//! numbers). A value that is not known (a lag the engine did not report) is left out of the
//! line, never written as 0.
//!
//! | metric            | unit         | emitted by | value |
//! |-------------------|--------------|------------|-------|
//! | `CdcLagSeconds`   | Seconds      | PollLatency, Drain | the engine's CDC latency, when it reports one |
//! | `Phase`           | None         | all four   | [`Phase::number`] |
//! | `FenceConfirmMs`  | Milliseconds | FenceWrites (fence) | ending the sessions and confirming the fence on the writer |
//! | `DrainMs`         | Milliseconds | Drain      | the time this invocation waited for the target (an invocation that ran out of budget is one datapoint of several: their sum is the drain) |
//! | `FencedWindowMs`  | Milliseconds | SwapDns    | from `fence.fencedAt` to the swap in sync on every Route 53 server |
//!
//! Dimension sets: `[SourceCluster]` (per cluster, what the dashboard shows) and
//! `[SourceCluster, Execution]` (per execution). `SourceCluster` is the spec's
//! `sourceClusterId`, `Execution` the execution's name (`$$.Execution.Name`).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::state::{DnsSwapOutput, LagOutput};
use crate::steps::drain::DrainOutput;
use crate::steps::fence_writes::FenceOutput;

/// The CloudWatch namespace of every metric the functions emit.
pub const NAMESPACE: &str = "AuroraEncrypt";

/// Dimension: the source cluster's identifier.
pub const SOURCE_CLUSTER: &str = "SourceCluster";
/// Dimension: the execution's name.
pub const EXECUTION: &str = "Execution";

/// The dimension sets every line declares.
pub const DIMENSION_SETS: &[&[&str]] = &[&[SOURCE_CLUSTER], &[SOURCE_CLUSTER, EXECUTION]];

/// The units of CloudWatch's `MetricDatum.Unit` (the EMF schema's list).
pub const CLOUDWATCH_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A metric's name and CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
}

pub const CDC_LAG_SECONDS: Metric = Metric {
    name: "CdcLagSeconds",
    unit: "Seconds",
};
pub const PHASE: Metric = Metric {
    name: "Phase",
    unit: "None",
};
pub const FENCE_CONFIRM_MS: Metric = Metric {
    name: "FenceConfirmMs",
    unit: "Milliseconds",
};
pub const DRAIN_MS: Metric = Metric {
    name: "DrainMs",
    unit: "Milliseconds",
};
pub const FENCED_WINDOW_MS: Metric = Metric {
    name: "FencedWindowMs",
    unit: "Milliseconds",
};

/// Every metric the functions emit (the dashboard shows each of them; a test checks both ways).
pub const ALL: &[Metric] = &[
    CDC_LAG_SECONDS,
    PHASE,
    FENCE_CONFIRM_MS,
    DRAIN_MS,
    FENCED_WINDOW_MS,
];

/// The operator-facing phases (DESIGN.md §1) as the numbers the `Phase` metric carries, in the
/// order a run goes through them; `rolled-back` is last so a rollback stands out on a graph.
/// The CLI's progress view shows the same phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Preflight = 1,
    Snapshot = 2,
    Restore = 3,
    Replicate = 4,
    /// In sync and waiting for the switchover (approval, window, or the auto check).
    Ready = 5,
    Switchover = 6,
    Cleanup = 7,
    Done = 8,
    RolledBack = 9,
    /// The failback window after the swap, and a failback in it.
    Failback = 10,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Preflight,
        Phase::Snapshot,
        Phase::Restore,
        Phase::Replicate,
        Phase::Ready,
        Phase::Switchover,
        Phase::Cleanup,
        Phase::Done,
        Phase::RolledBack,
        Phase::Failback,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Snapshot => "snapshot",
            Phase::Restore => "restore",
            Phase::Replicate => "replicate",
            Phase::Ready => "ready",
            Phase::Switchover => "switchover",
            Phase::Cleanup => "cleanup",
            Phase::Done => "done",
            Phase::RolledBack => "rolled-back",
            Phase::Failback => "failback",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose metrics these are: the two dimension values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions {
    pub source_cluster: String,
    pub execution: String,
}

impl Dimensions {
    /// From a Lambda's input: `sourceClusterId` and `execution.name` at the top (the state
    /// document, or the Parameters of FenceWrites), or under `document` (the TTL actions).
    /// `None` when either is missing or empty: a line without its dimensions would be counted
    /// under no cluster.
    pub fn from_input(input: &Value) -> Option<Self> {
        let root = match input.get("document") {
            Some(document) if document.is_object() => document,
            _ => input,
        };
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        Some(Self {
            source_cluster: text(root.get("sourceClusterId"))?,
            execution: text(root.get("execution").and_then(|e| e.get("name")))?,
        })
    }
}

/// The values of one EMF line, built by the Lambda main from its step's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub dimensions: Dimensions,
    pub phase: Phase,
    values: Vec<(Metric, f64)>,
}

impl Sample {
    pub fn new(dimensions: Dimensions, phase: Phase) -> Self {
        Self {
            dimensions,
            phase,
            values: Vec::new(),
        }
    }

    /// Adds `metric` when `value` is known; `None` adds nothing (unknown is not 0).
    pub fn with(mut self, metric: Metric, value: Option<f64>) -> Self {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            self.values.retain(|(m, _)| m.name != metric.name);
            self.values.push((metric, value));
        }
        self
    }

    /// The EMF document for this sample at `at`.
    pub fn to_emf(&self, at: OffsetDateTime) -> Value {
        let mut metrics = vec![(PHASE, f64::from(self.phase.number()))];
        metrics.extend(self.values.iter().copied().filter(|(m, _)| *m != PHASE));
        let timestamp = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": DIMENSION_SETS,
                    "Metrics": metrics
                        .iter()
                        .map(|(m, _)| serde_json::json!({"Name": m.name, "Unit": m.unit}))
                        .collect::<Vec<_>>(),
                }]
            }),
        );
        root.insert(
            SOURCE_CLUSTER.into(),
            self.dimensions.source_cluster.clone().into(),
        );
        root.insert(EXECUTION.into(), self.dimensions.execution.clone().into());
        for (metric, value) in &metrics {
            root.insert(metric.name.into(), number(*value));
        }
        // Not a metric: read by people and Logs Insights, not extracted.
        root.insert("phaseName".into(), self.phase.as_str().into());
        Value::Object(root)
    }

    /// [`Self::to_emf`] as one line of JSON (no newline inside it).
    pub fn to_line(&self, at: OffsetDateTime) -> String {
        self.to_emf(at).to_string()
    }
}

/// PollLatency: the engine's CDC lag; `replicate` until in sync, then `ready`.
pub fn poll_latency(dimensions: Dimensions, output: &LagOutput) -> Sample {
    let phase = if output.in_sync {
        Phase::Ready
    } else {
        Phase::Replicate
    };
    Sample::new(dimensions, phase).with(CDC_LAG_SECONDS, output.lag_seconds.map(|l| l as f64))
}

/// Drain: the time this invocation waited, and the last CDC lag read; `switchover`.
pub fn drain(dimensions: Dimensions, output: &DrainOutput) -> Sample {
    Sample::new(dimensions, Phase::Switchover)
        .with(DRAIN_MS, Some(output.waited_ms as f64))
        .with(CDC_LAG_SECONDS, output.lag_seconds.map(|l| l as f64))
}

/// FenceWrites: after a fence, how long confirming it took (`switchover`); after an unfence,
/// which only a rollback does, `rolled-back`.
pub fn fence_writes(dimensions: Dimensions, output: &FenceOutput) -> Sample {
    if output.fenced {
        Sample::new(dimensions, Phase::Switchover).with(
            FENCE_CONFIRM_MS,
            output.confirmation.as_ref().map(|c| c.confirm_ms as f64),
        )
    } else {
        Sample::new(dimensions, Phase::RolledBack)
    }
}

/// SwapDns: the fenced window once the swap is in sync (`switchover`); a revert is
/// `rolled-back`.
pub fn swap_dns(dimensions: Dimensions, output: &DnsSwapOutput, revert: bool) -> Sample {
    if revert {
        Sample::new(dimensions, Phase::RolledBack)
    } else {
        Sample::new(dimensions, Phase::Switchover).with(
            FENCED_WINDOW_MS,
            output.fenced_window_ms.map(|ms| ms as f64),
        )
    }
}

/// ConfirmProxy's sample: the fenced window once a session through the proxy reaches the
/// target, as the DNS swap's once in sync.
pub fn proxy_confirmed(
    dimensions: Dimensions,
    output: &crate::steps::swap_proxy::ProxyConfirmation,
) -> Sample {
    Sample::new(dimensions, Phase::Switchover).with(
        FENCED_WINDOW_MS,
        output.fenced_window_ms.map(|ms| ms as f64),
    )
}

/// ConfirmRename's sample: the fenced window once the cluster endpoint reaches the target.
pub fn renamed(
    dimensions: Dimensions,
    output: &crate::steps::rename::RenameConfirmation,
) -> Sample {
    Sample::new(dimensions, Phase::Switchover).with(
        FENCED_WINDOW_MS,
        output.fenced_window_ms.map(|ms| ms as f64),
    )
}

/// Whole numbers stay integers in the JSON; others are floats.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

/// The dashboard the template creates is named after its stack with this suffix.
pub const DASHBOARD_SUFFIX: &str = "-migrations";
/// The template names the state machines after the stack with these suffixes.
pub const STATE_MACHINE_SUFFIXES: &[&str] = &["-encrypt-cluster", "-encrypt-fleet"];

/// The console URL of the stack's dashboard, from an execution ARN of one of its state
/// machines (`arn:<partition>:states:<region>:<account>:execution:<stack>-encrypt-cluster:<name>`).
/// `None` when the state machine's name does not follow the template's naming.
pub fn dashboard_url_for_execution(execution_arn: &str) -> Option<String> {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let [_, _partition, "states", region, _account, "execution", machine, _name] = parts[..] else {
        return None;
    };
    let stack = STATE_MACHINE_SUFFIXES
        .iter()
        .find_map(|suffix| machine.strip_suffix(suffix))
        .filter(|stack| !stack.is_empty() && !region.is_empty())?;
    Some(dashboard_url(region, &format!("{stack}{DASHBOARD_SUFFIX}")))
}

/// The CloudWatch console URL of dashboard `name` in `region`.
pub fn dashboard_url(region: &str, name: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: i64 = 1_764_500_000_123;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(AT) * 1_000_000).unwrap()
    }

    fn dims() -> Dimensions {
        Dimensions {
            source_cluster: "orders".into(),
            execution: "orders-20261130".into(),
        }
    }

    /// Checks `line` against the embedded metric format specification and returns the metric
    /// values it carries by name.
    pub(crate) fn check_emf(line: &str) -> std::collections::BTreeMap<String, f64> {
        assert!(!line.contains('\n'), "one line: {line}");
        let root: Value = serde_json::from_str(line).expect("a JSON object");
        let root = root.as_object().expect("the root is an object");
        let aws = root["_aws"].as_object().expect("_aws is an object");
        let timestamp = &aws["Timestamp"];
        assert!(
            timestamp.is_i64() && timestamp.as_i64().unwrap() > 0,
            "Timestamp is integer milliseconds: {timestamp}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().expect("an array");
        assert!(!directives.is_empty());
        let mut values = std::collections::BTreeMap::new();
        for directive in directives {
            let namespace = directive["Namespace"].as_str().expect("Namespace string");
            assert!((1..=255).contains(&namespace.len()));
            let sets = directive["Dimensions"]
                .as_array()
                .expect("Dimensions array");
            assert!(!sets.is_empty(), "at least one dimension set");
            for set in sets {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(set.len() <= 30, "at most 30 dimensions in a set");
                for key in set {
                    let key = key.as_str().expect("dimension keys are strings");
                    assert!(
                        root.get(key).is_some_and(Value::is_string),
                        "dimension `{key}` is a top-level string member"
                    );
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics array");
            assert!(metrics.len() <= 100, "at most 100 metric definitions");
            for metric in metrics {
                let name = metric["Name"].as_str().expect("Name string");
                assert!((1..=255).contains(&name.len()));
                if let Some(unit) = metric.get("Unit") {
                    let unit = unit.as_str().expect("Unit string");
                    assert!(CLOUDWATCH_UNITS.contains(&unit), "unit {unit}");
                }
                let value = root
                    .get(name)
                    .unwrap_or_else(|| panic!("metric `{name}` is a top-level member"));
                let value = value
                    .as_f64()
                    .unwrap_or_else(|| panic!("metric `{name}` is a number: {value}"));
                values.insert(name.to_string(), value);
            }
        }
        values
    }

    #[test]
    fn a_line_meets_the_embedded_metric_format() {
        let line = Sample::new(dims(), Phase::Switchover)
            .with(FENCE_CONFIRM_MS, Some(67.0))
            .with(CDC_LAG_SECONDS, Some(1.5))
            .to_line(at());
        let values = check_emf(&line);
        assert_eq!(
            values,
            [
                ("CdcLagSeconds", 1.5),
                ("FenceConfirmMs", 67.0),
                ("Phase", 6.0)
            ]
            .map(|(k, v)| (k.to_string(), v))
            .into()
        );
        let root: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(root["_aws"]["Timestamp"], AT);
        assert_eq!(root["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            root["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["SourceCluster"], ["SourceCluster", "Execution"]])
        );
        assert_eq!(root["SourceCluster"], "orders");
        assert_eq!(root["Execution"], "orders-20261130");
        assert_eq!(root["FenceConfirmMs"], 67, "whole numbers stay integers");
        assert_eq!(root["phaseName"], "switchover");
    }

    #[test]
    fn an_unknown_value_emits_no_datapoint() {
        let line = Sample::new(dims(), Phase::Replicate)
            .with(CDC_LAG_SECONDS, None)
            .with(DRAIN_MS, Some(f64::NAN))
            .to_line(at());
        let values = check_emf(&line);
        assert_eq!(values.keys().collect::<Vec<_>>(), ["Phase"]);
        let root: Value = serde_json::from_str(&line).unwrap();
        assert!(
            root.get("CdcLagSeconds").is_none(),
            "not 0, not null: absent"
        );
        let names: Vec<&Value> = root["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["Name"])
            .collect();
        assert_eq!(names, ["Phase"]);
    }

    #[test]
    fn each_function_line_meets_the_format_and_carries_its_metrics() {
        use crate::ports::{ChangeStatus, ReplicationState};
        let lag = |lag_seconds, in_sync| LagOutput {
            status: ReplicationState::Running,
            status_text: "RUNNING".into(),
            lag_seconds,
            metrics_lag_seconds: None,
            in_sync,
            next_poll_seconds: 15,
            polls: 3,
        };
        let fence: FenceOutput = serde_json::from_value(json!({
            "clusterId": "orders", "methods": ["read-only"], "fencedAt": "2026-11-27T12:00:00Z",
            "fenced": true,
            "confirmation": {
                "position": {"file": "mysql-bin-changelog.000009", "position": 900},
                "marker": {"execution": "e", "sequence": 1},
                "sessionsEnded": 3, "rounds": 1, "readOnly": true, "confirmMs": 35
            }
        }))
        .unwrap();
        let unfenced = FenceOutput {
            fenced: false,
            confirmation: None,
            ..fence.clone()
        };
        let drained: DrainOutput = serde_json::from_value(json!({
            "drained": true, "markerArrived": true, "lagSeconds": null, "waitedMs": 1000,
            "reads": 3, "deadline": "2026-11-27T12:05:00Z", "nextPollSeconds": 0
        }))
        .unwrap();
        let swap = DnsSwapOutput {
            record_name: "db.example.com".into(),
            previous_value: "a".into(),
            value: "b".into(),
            ttl_seconds: 5,
            change_id: None,
            status: ChangeStatus::Insync,
            in_sync: true,
            next_poll_seconds: 0,
            fenced_window_ms: Some(158),
        };
        let cases: Vec<(Sample, &[(&str, f64)])> = vec![
            (
                poll_latency(dims(), &lag(Some(40), false)),
                &[("CdcLagSeconds", 40.0), ("Phase", 4.0)],
            ),
            (
                poll_latency(dims(), &lag(Some(2), true)),
                &[("CdcLagSeconds", 2.0), ("Phase", 5.0)],
            ),
            (poll_latency(dims(), &lag(None, false)), &[("Phase", 4.0)]),
            (
                drain(dims(), &drained),
                &[("DrainMs", 1000.0), ("Phase", 6.0)],
            ),
            (
                fence_writes(dims(), &fence),
                &[("FenceConfirmMs", 35.0), ("Phase", 6.0)],
            ),
            (fence_writes(dims(), &unfenced), &[("Phase", 9.0)]),
            (
                swap_dns(dims(), &swap, false),
                &[("FencedWindowMs", 158.0), ("Phase", 6.0)],
            ),
            (swap_dns(dims(), &swap, true), &[("Phase", 9.0)]),
        ];
        for (sample, expected) in cases {
            let values = check_emf(&sample.to_line(at()));
            let expected = expected
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<std::collections::BTreeMap<_, _>>();
            assert_eq!(values, expected);
            for name in values.keys() {
                assert!(ALL.iter().any(|m| m.name == name), "{name} is in ALL");
            }
        }
    }

    #[test]
    fn every_metric_has_a_cloudwatch_unit_and_a_distinct_name() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        for metric in ALL {
            assert!(CLOUDWATCH_UNITS.contains(&metric.unit), "{metric:?}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for set in DIMENSION_SETS {
            assert!(set.len() <= 30);
        }
    }

    #[test]
    fn phases_are_numbered_in_run_order_from_one() {
        let numbers: Vec<u8> = Phase::ALL.iter().map(|p| p.number()).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<u8>>());
        assert_eq!(Phase::RolledBack.as_str(), "rolled-back");
        assert_eq!(Phase::Failback.as_str(), "failback");
    }

    #[test]
    fn dimensions_come_from_the_state_document_or_the_ttl_document() {
        let doc = crate::fakes::state_document("orders", "exec-1");
        assert_eq!(
            Dimensions::from_input(&doc),
            Some(Dimensions {
                source_cluster: "orders".into(),
                execution: "exec-1".into()
            })
        );
        let ttl = json!({"action": "lower-ttl", "document": doc});
        assert_eq!(Dimensions::from_input(&ttl).unwrap().execution, "exec-1");
        assert_eq!(
            Dimensions::from_input(&json!({"sourceClusterId": "orders"})),
            None
        );
        assert_eq!(
            Dimensions::from_input(&json!({"sourceClusterId": " ", "execution": {"name": "e"}})),
            None
        );
    }

    #[test]
    fn the_dashboard_url_follows_the_template_naming() {
        assert_eq!(
            dashboard_url_for_execution(
                "arn:aws:states:eu-west-1:123456789012:execution:aurora-encrypt-encrypt-cluster:orders-1"
            )
            .as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=aurora-encrypt-migrations")
        );
        assert!(dashboard_url_for_execution(
            "arn:aws:states:eu-west-1:123456789012:execution:prod-encrypt-fleet:f-1"
        )
        .unwrap()
        .ends_with("#dashboards:name=prod-migrations"));
        for other in [
            "arn:aws:states:eu-west-1:123456789012:execution:my-machine:orders-1",
            "arn:aws:states:eu-west-1:123456789012:execution:-encrypt-cluster:orders-1",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:x-encrypt-cluster",
            "not an arn",
        ] {
            assert_eq!(dashboard_url_for_execution(other), None, "{other}");
        }
    }
}
