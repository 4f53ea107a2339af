use super::*;
use crate::errors::NamedError;
use crate::fakes::{
    self, FakeClock, FakeClusters, FakeDns, FakeFenceSql, FakeKms, FakeParameters, FakeRetention,
    FakeSourceLock,
};
use crate::naming;
use crate::ports::{ReadOnlyBypassUser, Tag};
use serde_json::json;

const WRITER: &str = "orders.cluster-abc.eu-west-1.rds.amazonaws.com";
const EXECUTION_ARN: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-1";

/// Every port, in a state where preflight passes.
struct World {
    clusters: FakeClusters,
    parameters: FakeParameters,
    kms: FakeKms,
    dns: FakeDns,
    retention: FakeRetention,
    fence_sql: FakeFenceSql,
    clock: FakeClock,
    lock: FakeSourceLock,
    with_retention: bool,
    sql_tls: SqlTls,
    smoke_functions: Option<Vec<String>>,
}

impl World {
    fn new() -> Self {
        Self {
            clusters: FakeClusters::with_source("orders"),
            parameters: FakeParameters::for_source("orders"),
            kms: FakeKms::with_key("alias/aurora-orders"),
            dns: FakeDns::with_record("db.example.com", "CNAME", Some(WRITER)),
            retention: FakeRetention::hours(Some(48)),
            fence_sql: FakeFenceSql::default(),
            clock: FakeClock::default(),
            lock: FakeSourceLock::default(),
            with_retention: true,
            sql_tls: SqlTls::Ready,
            smoke_functions: None,
        }
    }

    async fn run(&self, spec: Value) -> Result<Value, PreflightError> {
        let input = PreflightInput {
            spec,
            execution: ExecutionRef {
                name: "exec-1".into(),
                id: Some(EXECUTION_ARN.into()),
            },
        };
        let deps = Deps {
            clusters: &self.clusters,
            parameters: &self.parameters,
            kms: &self.kms,
            dns: &self.dns,
            retention: self
                .with_retention
                .then_some(&self.retention as &dyn BinlogRetention),
            fence_sql: Some(&self.fence_sql),
            clock: &self.clock,
            lock: &self.lock,
            settings: PreflightSettings {
                sql_tls: self.sql_tls.clone(),
                smoke_functions: self.smoke_functions.clone(),
                ..PreflightSettings::default()
            },
        };
        run(&input, &deps).await
    }

    /// Preflight only reads: the fakes' logs of calls that create or change something.
    fn assert_nothing_changed(&self, case: &str) {
        assert!(
            self.clusters.mutations().is_empty(),
            "{case}: {:?}",
            self.clusters.mutations()
        );
        assert!(
            self.dns.mutations().is_empty(),
            "{case}: {:?}",
            self.dns.mutations()
        );
    }
}

fn spec() -> Value {
    let mut doc = fakes::state_document("orders", "exec-1");
    doc.as_object_mut().unwrap().remove("execution");
    doc["kmsKeyId"] = json!("alias/aurora-orders");
    doc
}

fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = value.pointer_mut(parent).unwrap();
    match new {
        Value::Null => {
            target.as_object_mut().unwrap().remove(key);
        }
        new => target[key] = new,
    }
    value
}

fn plan(document: &Value) -> PreflightPlan {
    serde_json::from_value(document["preflight"].clone()).unwrap()
}

#[tokio::test]
async fn returns_the_normalised_document_with_defaults_and_plan() {
    let world = World::new();
    let doc = world.run(spec()).await.unwrap();

    assert_eq!(doc["targetClusterId"], "orders-encrypted");
    assert_eq!(doc["kmsKeyId"], fakes::key_arn("alias/aurora-orders"));
    assert_eq!(doc["execution"], json!({"name": "exec-1"}));
    assert_eq!(doc["switchover"]["drainTimeoutSeconds"], 300);
    assert_eq!(doc["switchover"]["fence"], json!(["read-only"]));
    assert_eq!(doc["verify"]["mode"], "online");
    assert!(doc["preflight"]["verification"]
        .as_str()
        .unwrap()
        .starts_with("online: every table in chunks of 1000 rows"));
    assert_eq!(doc["verify"]["timeoutSeconds"], 600);
    assert_eq!(doc["cleanup"]["deleteMigrationResources"], true);
    assert_eq!(doc["dryRun"], false);

    let plan = plan(&doc);
    assert_eq!(plan.engine_major_version, 3);
    assert_eq!(plan.binlog_retention_hours, Some(48));
    assert!(!plan.encryption.rekey);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let names: Vec<(&str, &str)> = plan
        .resources
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    let snapshot = naming::snapshot_id("orders", "exec-1");
    for expected in [
        ("db-cluster-snapshot", snapshot.as_str()),
        (
            "db-cluster-parameter-group",
            "orders-encrypted-aurora-encrypt",
        ),
        ("db-cluster", "orders-encrypted"),
        ("db-instance", "orders-encrypted-writer"),
        ("db-instance", "orders-encrypted-reader-1"),
        ("db-instance", "orders-encrypted-reader-2"),
        ("dms-data-migration", "aurora-encrypt-orders-encrypted"),
        (
            "dms-instance-profile",
            "aurora-encrypt-orders-encrypted-profile",
        ),
        ("db-cluster-parameter", "orders-params"),
        ("route53-record", "db.example.com"),
    ] {
        assert!(names.contains(&expected), "{expected:?} not in {names:?}");
    }
    assert_eq!(
        plan.resources
            .iter()
            .find(|r| r.kind == "db-instance")
            .map(|r| r.name.as_str()),
        Some("orders-encrypted-writer"),
        "the writer comes first"
    );
    world.assert_nothing_changed("happy path");
    assert_eq!(
        *world.retention.asked.lock().unwrap(),
        vec![(
            WRITER.to_string(),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf".to_string()
        )]
    );
}

#[tokio::test]
async fn takes_the_sources_lock_for_this_execution_last() {
    let world = World::new();
    let doc = world.run(spec()).await.unwrap();
    let source_arn = plan(&doc).source_cluster_arn;
    assert_eq!(doc["lock"]["resource"], source_arn.as_str());
    assert_eq!(doc["lock"]["holder"], EXECUTION_ARN);
    assert!(doc["lock"].get("takenOver").is_none());
    assert_eq!(
        world.lock.record(&source_arn).unwrap().holder,
        EXECUTION_ARN
    );

    // A failed check takes nothing.
    let world = World::new();
    world
        .run(with(spec(), "/sourceClusterId", json!("nope")))
        .await
        .unwrap_err();
    assert!(world.lock.writes().is_empty());
}

#[tokio::test]
async fn a_source_another_execution_holds_is_refused_by_name_before_anything_is_created() {
    let world = World::new();
    let source_arn = world.clusters.cluster("orders").unwrap().arn;
    let other = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-0";
    world.lock.put(crate::ports::LockRecord {
        resource: source_arn,
        holder: other.into(),
        lease_expires_at: fakes::EPOCH,
        released: false,
        version: 4,
    });
    let error = world.run(spec()).await.unwrap_err();
    assert_eq!(error.error_name(), "SourceBusy");
    assert!(error.to_string().contains(other), "{error}");
    assert!(world.lock.writes().is_empty());
    world.assert_nothing_changed("busy source");
}

#[tokio::test]
async fn a_dry_run_reports_the_lock_without_taking_it() {
    let world = World::new();
    let source_arn = world.clusters.cluster("orders").unwrap().arn;
    let other = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-0";
    world.lock.put(crate::ports::LockRecord {
        resource: source_arn.clone(),
        holder: other.into(),
        lease_expires_at: fakes::EPOCH,
        released: false,
        version: 1,
    });
    let doc = world
        .run(with(spec(), "/dryRun", json!(true)))
        .await
        .unwrap();
    let report = plan(&doc).lock.unwrap();
    assert_eq!(report.resource, source_arn);
    assert!(!report.free);
    assert_eq!(report.holder.as_deref(), Some(other));
    assert!(doc.get("lock").is_none());
    assert!(world.lock.writes().is_empty());
}

#[tokio::test]
async fn a_real_run_needs_the_execution_arn() {
    let world = World::new();
    let input = PreflightInput {
        spec: spec(),
        execution: ExecutionRef {
            name: "exec-1".into(),
            id: None,
        },
    };
    let deps = Deps {
        clusters: &world.clusters,
        parameters: &world.parameters,
        kms: &world.kms,
        dns: &world.dns,
        retention: None,
        fence_sql: None,
        clock: &world.clock,
        lock: &world.lock,
        settings: PreflightSettings::default(),
    };
    let error = run(&input, &deps).await.unwrap_err();
    assert!(error.to_string().contains("execution.id"), "{error}");
}

#[tokio::test]
async fn the_normalised_spec_parses_strictly_again() {
    let world = World::new();
    let mut doc = world.run(spec()).await.unwrap();
    let map = doc.as_object_mut().unwrap();
    map.remove("execution");
    map.remove("preflight");
    map.remove("lock");
    let spec = MigrationSpec::from_value(&doc).unwrap();
    spec.validate(fakes::EPOCH).unwrap();
    assert_eq!(spec.target_cluster_id.as_deref(), Some("orders-encrypted"));
}

#[tokio::test]
async fn default_key_is_resolved_to_the_aws_managed_rds_key() {
    let world = World::new();
    let doc = world
        .run(with(spec(), "/kmsKeyId", Value::Null))
        .await
        .unwrap();
    assert_eq!(doc["kmsKeyId"], fakes::key_arn("alias/aws/rds"));
    assert_eq!(plan(&doc).encryption.requested_kms_key_id, "alias/aws/rds");
}

fn bypass_user(grantee: &str, sessions: u32) -> ReadOnlyBypassUser {
    ReadOnlyBypassUser {
        grantee: grantee.into(),
        privileges: vec!["CONNECTION_ADMIN".into()],
        sessions,
    }
}

#[tokio::test]
async fn a_read_only_fence_alone_is_refused_while_a_user_that_bypasses_it_is_connected() {
    let world = World::new();
    world.fence_sql.set_bypass_users(
        "orders",
        vec![
            bypass_user("'admin'@'%'", 3),
            bypass_user("'rdsadmin'@'localhost'", 2),
        ],
    );
    let error = world.run(spec()).await.unwrap_err();
    assert_eq!(error.error_name(), "FenceCannotStopWriters");
    let text = error.to_string();
    assert!(text.contains("'admin'@'%' (3 session(s)"), "{text}");
    assert!(!text.contains("rdsadmin"), "{text}");
    world.assert_nothing_changed("refused fence");

    // With the security group, new connections are refused: the fence can stop them.
    let guarded = with(
        with(
            spec(),
            "/switchover/fence",
            json!(["security-group", "read-only"]),
        ),
        "/switchover/fenceSecurityGroupId",
        json!("sg-0fe0ce0000000000f"),
    );
    let doc = world.run(guarded).await.unwrap();
    let users = plan(&doc).read_only_bypass_users.unwrap();
    assert_eq!(users, vec![bypass_user("'admin'@'%'", 3)]);
}

#[tokio::test]
async fn bypass_users_without_sessions_are_listed_not_refused() {
    let world = World::new();
    world
        .fence_sql
        .set_bypass_users("orders", vec![bypass_user("'admin'@'%'", 0)]);
    let doc = world.run(spec()).await.unwrap();
    assert_eq!(
        plan(&doc).read_only_bypass_users.unwrap(),
        vec![bypass_user("'admin'@'%'", 0)]
    );
}

#[tokio::test]
async fn aurora_mysql_2_is_detected() {
    let world = World::new();
    world.clusters.update_cluster("orders", |c| {
        c.engine_version = "5.7.mysql_aurora.2.11.2".into()
    });
    let doc = world.run(spec()).await.unwrap();
    assert_eq!(doc["preflight"]["engineMajorVersion"], 2);
}

#[tokio::test]
async fn encrypted_source_with_a_different_key_is_a_rekey() {
    let world = World::new();
    world.clusters.update_cluster("orders", |c| {
        c.storage_encrypted = true;
        c.kms_key_id = Some(fakes::key_arn("alias/old"));
    });
    let doc = world.run(spec()).await.unwrap();
    let plan = plan(&doc);
    assert!(plan.encryption.rekey);
    assert_eq!(
        plan.encryption.source_kms_key_id,
        Some(fakes::key_arn("alias/old"))
    );
}

#[tokio::test]
async fn without_a_retention_reader_the_check_is_a_warning() {
    let mut world = World::new();
    world.with_retention = false;
    let doc = world.run(spec()).await.unwrap();
    let plan = plan(&doc);
    assert_eq!(plan.binlog_retention_hours, None);
    assert!(plan.warnings[0].contains("binlog retention was not checked"));
}

#[tokio::test]
async fn a_target_left_by_an_earlier_run_is_refused() {
    let world = World::new();
    world.clusters.add_foreign_cluster("orders-encrypted");
    world.clusters.update_cluster("orders-encrypted", |c| {
        c.tags.push(Tag::new(naming::OWNER_TAG, "orders"));
        c.tags.push(Tag::new(naming::EXECUTION_TAG, "run-1"));
    });
    let err = world.run(spec()).await.unwrap_err();
    assert_eq!(err.error_name(), "TargetClusterTaken");
    assert!(err.to_string().contains("run-1"), "{err}");
    assert!(world.clusters.mutations().is_empty());
}

#[tokio::test]
async fn a_shared_group_is_fine_when_the_fence_is_security_group_only() {
    let world = World::new();
    world.parameters.use_group("payments", "orders-params");
    let spec = with(spec(), "/switchover/fence", json!(["security-group"]));
    let spec = with(
        spec,
        "/switchover/fenceSecurityGroupId",
        json!("sg-0fe0ce0000000000f"),
    );
    world.run(spec).await.unwrap();
}

#[tokio::test]
async fn retire_source_plans_the_final_snapshot_and_the_deletion() {
    let world = World::new();
    let doc = world
        .run(with(spec(), "/cleanup", json!({"retireSource": true})))
        .await
        .unwrap();
    let plan = plan(&doc);
    assert!(plan
        .resources
        .iter()
        .any(|r| r.name == naming::final_snapshot_id("orders", "exec-1")));
    assert!(plan
        .resources
        .iter()
        .any(|r| r.action == PlannedAction::Delete && r.name == "orders"));
}

const NO_BUNDLE: &str = "RDS CA bundle `/opt/rds-ca/global-bundle.pem` cannot be read";

#[tokio::test]
async fn the_native_engine_without_a_ca_bundle_is_refused_by_name() {
    let mut world = World::new();
    world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
    let native = with(
        with(spec(), "/verify", json!({"mode": "off"})),
        "/replication",
        json!({
            "engine": "native",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf"
        }),
    );
    let err = world.run(native).await.unwrap_err();
    assert_eq!(err.error_name(), "RdsCaBundleMissing");
    let text = err.to_string();
    assert!(text.contains("replication.engine `native`"), "{text}");
    assert!(!text.contains("verify.mode"), "{text}");
    assert!(text.contains("/opt/rds-ca/global-bundle.pem"), "{text}");
    world.assert_nothing_changed("native without a bundle");
}

#[tokio::test]
async fn a_failback_window_is_planned_with_what_it_costs() {
    let world = World::new();
    let output = world
        .run(with(spec(), "/failback", json!({"windowHours": 24})))
        .await
        .unwrap();
    let warnings = plan(&output).warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("failback.windowHours 24") && w.contains("not encrypted")),
        "{warnings:?}"
    );
    let planned: Vec<_> = plan(&output)
        .resources
        .iter()
        .filter(|r| r.step == "StartReverseReplication")
        .map(|r| r.name.clone())
        .collect();
    assert!(
        planned
            .iter()
            .all(|n| n.starts_with("aurora-encrypt-orders"))
            && !planned.iter().any(|n| n.contains("encrypted")),
        "the replication back is named after the source: {planned:?}"
    );
    assert!(!planned.is_empty());
    let output = world.run(spec()).await.unwrap();
    assert!(!plan(&output)
        .warnings
        .iter()
        .any(|w| w.contains("failback")));
    assert!(!plan(&output)
        .resources
        .iter()
        .any(|r| r.step == "StartReverseReplication"));
}

#[tokio::test]
async fn the_plan_says_what_runs_on_the_target_before_the_gate() {
    let world = World::new();
    let lines = plan(&world.run(spec()).await.unwrap()).before_switchover;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("no difference allowed"));

    let mut everything = with(
        spec(),
        "/smoke",
        json!({"queries": ["SELECT 1", "SELECT 2"], "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke"}),
    );
    everything = with(
        everything,
        "/parity",
        json!({"ignore": ["variable:innodb_*"]}),
    );
    everything = with(
        everything,
        "/prewarm",
        json!({"topStatements": 20, "tables": ["shop.orders"], "timeBudgetSeconds": 90}),
    );
    let lines = plan(&world.run(everything).await.unwrap()).before_switchover;
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].contains("1 parity.ignore pattern"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("CheckParity: 2 smoke queries"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("function:orders-smoke"), "{}", lines[2]);
    assert!(
        lines[3].contains("top 20")
            && lines[3].contains("shop.orders")
            && lines[3].contains("90 s"),
        "{}",
        lines[3]
    );
}

#[tokio::test]
async fn a_smoke_function_the_deployment_may_not_invoke_is_refused_before_anything_is_created() {
    const SMOKE: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke";
    let mut world = World::new();
    world.smoke_functions = Some(vec![format!("{SMOKE}:live")]);
    let named = with(spec(), "/smoke", json!({"functionArn": SMOKE}));
    let err = world.run(named.clone()).await.unwrap_err();
    assert_eq!(err.error_name(), "InvalidInput");
    let text = err.to_string();
    assert!(
        text.contains("smoke.functionArn") && text.contains("SmokeFunctionArns"),
        "{text}"
    );
    world.assert_nothing_changed("a smoke function not allowed");
    assert!(world.lock.writes().is_empty(), "no lock taken");

    world.smoke_functions = Some(vec![SMOKE.into()]);
    world.run(named.clone()).await.unwrap();
    // Where nothing says which (the local engine), any is named.
    let world = World::new();
    world.run(named).await.unwrap();
}

#[tokio::test]
async fn verification_without_a_ca_bundle_names_the_mode() {
    let mut world = World::new();
    world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
    let err = world
        .run(with(spec(), "/verify", json!({"mode": "counts"})))
        .await
        .unwrap_err();
    assert_eq!(err.error_name(), "RdsCaBundleMissing");
    assert!(err.to_string().contains("verify.mode `counts`"), "{err}");
}

#[tokio::test]
async fn dms_without_verification_needs_no_ca_bundle() {
    let mut world = World::new();
    world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
    world
        .run(with(spec(), "/verify", json!({"mode": "off"})))
        .await
        .unwrap();
}

#[test]
fn major_version_comes_from_the_aurora_version() {
    assert_eq!(engine_major_version("5.7.mysql_aurora.2.11.2"), Some(2));
    assert_eq!(engine_major_version("8.0.mysql_aurora.3.05.2"), Some(3));
    assert_eq!(engine_major_version("5.6.10a"), None);
    assert_eq!(engine_major_version("8.0.mysql_aurora.4.0.0"), None);
}

type Setup = Box<dyn Fn(&mut World)>;

fn env(f: impl Fn(&mut World) + 'static) -> Setup {
    Box::new(f)
}

/// Bad specs and bad environments: each fails with its own name and nothing is created or
/// modified.
#[tokio::test]
async fn bad_input_fails_with_its_name_and_changes_nothing() {
    let none = || env(|_| {});
    let cases: Vec<(&str, Value, Setup, &str)> = vec![
        (
            "malformed JSON",
            json!("{\"sourceClusterId\": "),
            none(),
            "InvalidInput",
        ),
        ("spec not an object", json!([1, 2]), none(), "InvalidInput"),
        (
            "unknown field",
            with(spec(), "/sourceClusterID", json!("x")),
            none(),
            "InvalidInput",
        ),
        (
            "unknown replication engine",
            with(spec(), "/replication/engine", json!("binlogger")),
            none(),
            "InvalidInput",
        ),
        (
            "missing secret ARN",
            with(spec(), "/replication/targetSecretArn", Value::Null),
            none(),
            "InvalidInput",
        ),
        (
            "malformed secret ARN",
            with(
                spec(),
                "/replication/sourceSecretArn",
                json!("arn:aws:s3:::b"),
            ),
            none(),
            "InvalidInput",
        ),
        (
            "window in the past",
            with(
                spec(),
                "/switchover",
                json!({"mode": "window", "windowStart": "2026-01-01T00:00:00Z"}),
            ),
            none(),
            "InvalidInput",
        ),
        (
            "negative TTL",
            with(spec(), "/dns/ttlSeconds", json!(-5)),
            none(),
            "InvalidInput",
        ),
        (
            "security-group fence without a group",
            with(spec(), "/switchover/fence", json!(["security-group"])),
            none(),
            "InvalidInput",
        ),
        (
            "checksums without an RDS CA bundle",
            spec(),
            env(|w| w.sql_tls = SqlTls::Missing(NO_BUNDLE.into())),
            "RdsCaBundleMissing",
        ),
        (
            "unknown cluster",
            with(spec(), "/sourceClusterId", json!("inventory")),
            none(),
            "SourceNotFound",
        ),
        (
            "wrong engine",
            spec(),
            env(|w| {
                w.clusters
                    .update_cluster("orders", |c| c.engine = "aurora-postgresql".into())
            }),
            "InvalidInput",
        ),
        (
            "Aurora MySQL 1",
            spec(),
            env(|w| {
                w.clusters
                    .update_cluster("orders", |c| c.engine_version = "5.6.10a".into())
            }),
            "InvalidInput",
        ),
        (
            "source not available",
            spec(),
            env(|w| w.clusters.set_cluster_status("orders", "modifying")),
            "SourceNotAvailable",
        ),
        (
            "already encrypted, no key named",
            with(spec(), "/kmsKeyId", Value::Null),
            env(|w| w.clusters.set_cluster_encrypted("orders", true)),
            "SourceAlreadyEncrypted",
        ),
        (
            "already encrypted with the named key",
            spec(),
            env(|w| {
                w.clusters.update_cluster("orders", |c| {
                    c.storage_encrypted = true;
                    c.kms_key_id = Some(fakes::key_arn("alias/aurora-orders"));
                })
            }),
            "SourceAlreadyEncrypted",
        ),
        (
            "disabled KMS key",
            spec(),
            env(|w| {
                w.kms
                    .update("alias/aurora-orders", |k| k.state = "Disabled".into())
            }),
            "KmsKeyUnusable",
        ),
        (
            "asymmetric KMS key",
            spec(),
            env(|w| {
                w.kms
                    .update("alias/aurora-orders", |k| k.spec = "RSA_2048".into())
            }),
            "KmsKeyUnusable",
        ),
        (
            "unknown KMS alias",
            with(spec(), "/kmsKeyId", json!("alias/nope")),
            none(),
            "KmsKeyUnusable",
        ),
        (
            "KMS key in another region",
            spec(),
            env(|w| {
                w.kms.update("alias/aurora-orders", |k| {
                    k.arn = k.arn.replace("eu-west-1", "us-east-1")
                })
            }),
            "KmsKeyUnusable",
        ),
        (
            "backtrack on",
            spec(),
            env(|w| {
                w.clusters
                    .update_cluster("orders", |c| c.backtrack_window = 3600)
            }),
            "BacktrackEnabled",
        ),
        (
            "binlog MIXED",
            spec(),
            env(|w| {
                w.parameters
                    .set("orders-params", "binlog_format", Some("MIXED"))
            }),
            "BinlogFormatNotRow",
        ),
        (
            "binlog off in the default group",
            spec(),
            env(|w| {
                w.clusters.update_cluster("orders", |c| {
                    c.cluster_parameter_group = Some("default.aurora-mysql8.0".into())
                })
            }),
            "BinlogFormatNotRow",
        ),
        (
            "associated IAM role",
            spec(),
            env(|w| {
                w.clusters.update_cluster("orders", |c| {
                    c.extras.associated_roles =
                        vec!["arn:aws:iam::123456789012:role/s3 (s3Import)".into()]
                })
            }),
            "SourceFeatureNotCarried",
        ),
        (
            "Kerberos domain",
            spec(),
            env(|w| {
                w.clusters
                    .update_cluster("orders", |c| c.extras.domains = vec!["d-1234567890".into()])
            }),
            "SourceFeatureNotCarried",
        ),
        (
            "enhanced monitoring on a reader",
            spec(),
            env(|w| {
                w.clusters
                    .update_instance("orders-reader-2", |i| i.extras.monitoring_interval = 60)
            }),
            "SourceFeatureNotCarried",
        ),
        (
            "enhanced binlog on",
            spec(),
            env(|w| {
                w.parameters
                    .set("orders-params", "aurora_enhanced_binlog", Some("1"))
            }),
            "EnhancedBinlogEnabled",
        ),
        (
            "ROW not applied yet",
            spec(),
            env(|w| {
                w.parameters
                    .set_pending_reboot("orders", &["orders-writer"])
            }),
            "BinlogFormatNotRow",
        ),
        (
            "default group with a read-only fence",
            spec(),
            env(|w| {
                w.parameters
                    .set("default.aurora-mysql8.0", "binlog_format", Some("ROW"));
                w.clusters.update_cluster("orders", |c| {
                    c.cluster_parameter_group = Some("default.aurora-mysql8.0".into())
                })
            }),
            "SharedParameterGroup",
        ),
        (
            "shared group with a read-only fence",
            spec(),
            env(|w| w.parameters.use_group("payments", "orders-params")),
            "SharedParameterGroup",
        ),
        (
            "retention too short",
            spec(),
            env(|w| *w.retention.hours.lock().unwrap() = Some(6)),
            "BinlogRetentionTooShort",
        ),
        (
            "retention not set",
            spec(),
            env(|w| *w.retention.hours.lock().unwrap() = None),
            "BinlogRetentionTooShort",
        ),
        (
            "target id taken by a foreign cluster",
            spec(),
            env(|w| w.clusters.add_foreign_cluster("orders-encrypted")),
            "TargetClusterTaken",
        ),
        (
            "target instance id taken",
            spec(),
            env(|w| {
                w.clusters
                    .add_instance("orders-encrypted-reader-1", Some("other"))
            }),
            "TargetClusterTaken",
        ),
        (
            "record pointing elsewhere",
            spec(),
            env(|w| w.dns = FakeDns::with_record("db.example.com", "CNAME", Some("x.example.org"))),
            "DnsRecordNotOnSource",
        ),
        (
            "record missing",
            spec(),
            env(|w| w.dns = FakeDns::default()),
            "DnsRecordNotOnSource",
        ),
        (
            "alias record",
            spec(),
            env(|w| w.dns = FakeDns::with_record("db.example.com", "A", None)),
            "DnsRecordNotOnSource",
        ),
        (
            "throttled describe",
            spec(),
            env(|w| {
                w.clusters.fail_next(
                    "describe_cluster",
                    PortError::Transient("Throttling".into()),
                )
            }),
            "Transient",
        ),
    ];
    assert!(cases.len() >= 20);
    for (case, spec, setup, name) in cases {
        let mut world = World::new();
        setup(&mut world);
        let error = world.run(spec).await.expect_err(case);
        assert_eq!(error.error_name(), name, "{case}: {error}");
        #[cfg(feature = "lambda")]
        {
            let diagnostic: lambda_runtime::Diagnostic = error.into();
            assert_eq!(diagnostic.error_type, name, "{case}");
        }
        world.assert_nothing_changed(case);
    }
}

fn raising_retention() -> Value {
    with(spec(), "/binlogRetention", json!({"set": true}))
}

#[tokio::test]
async fn binlog_retention_set_raises_a_short_retention_after_taking_the_lock() {
    let world = World::new();
    *world.retention.hours.lock().unwrap() = Some(6);
    let doc = world.run(raising_retention()).await.unwrap();
    let found = plan(&doc);
    let change = RetentionChange {
        original_hours: Some(6),
        set_hours: 24,
    };
    assert_eq!(found.binlog_retention_change, Some(change.clone()));
    assert_eq!(found.binlog_retention_hours, Some(6));
    let row = &found.resources[0];
    assert_eq!(
        (row.kind.as_str(), row.step.as_str(), row.action.clone()),
        ("binlog-retention", "Preflight", PlannedAction::Modify)
    );
    assert!(row.detail.as_deref().unwrap().contains("6 h -> 24 h"));
    assert_eq!(*world.retention.changes.lock().unwrap(), vec!["set 24"]);
    assert_eq!(*world.retention.hours.lock().unwrap(), Some(24));
    assert!(doc["lock"].is_object());

    // A retried Preflight finds 24 hours but keeps the recorded original.
    let again = world.run(raising_retention()).await.unwrap();
    assert_eq!(plan(&again).binlog_retention_change, Some(change));
}

#[tokio::test]
async fn binlog_retention_set_leaves_an_unset_retention_alone_in_a_dry_run() {
    let world = World::new();
    *world.retention.hours.lock().unwrap() = None;
    let doc = world
        .run(with(raising_retention(), "/dryRun", json!(true)))
        .await
        .unwrap();
    assert_eq!(
        plan(&doc).binlog_retention_change,
        Some(RetentionChange {
            original_hours: None,
            set_hours: 24
        })
    );
    assert!(world.retention.changes.lock().unwrap().is_empty());
    assert_eq!(*world.retention.hours.lock().unwrap(), None);
}

#[tokio::test]
async fn binlog_retention_set_changes_nothing_when_it_is_long_enough() {
    let world = World::new();
    let doc = world.run(raising_retention()).await.unwrap();
    assert_eq!(plan(&doc).binlog_retention_change, None);
    assert!(world.retention.changes.lock().unwrap().is_empty());
    assert!(plan(&doc)
        .resources
        .iter()
        .all(|r| r.kind != "binlog-retention"));
}

#[tokio::test]
async fn a_retention_that_cannot_be_set_fails_preflight_and_lets_go_of_the_lock() {
    let world = World::new();
    *world.retention.hours.lock().unwrap() = Some(6);
    world
        .retention
        .fail_next_change(PortError::AccessDenied("EXECUTE command denied".into()));
    let error = world.run(raising_retention()).await.unwrap_err();
    assert_eq!(error.error_name(), "BinlogRetentionTooShort");
    assert!(error.to_string().contains("EXECUTE command denied"));
    let last = world.lock.writes().pop().unwrap();
    assert!(last.released, "{last:?}");
    assert_eq!(*world.retention.hours.lock().unwrap(), Some(6));
}

#[tokio::test]
async fn binlog_retention_set_without_sql_access_is_refused_before_anything_changes() {
    let mut world = World::new();
    world.with_retention = false;
    let error = world.run(raising_retention()).await.unwrap_err();
    assert_eq!(error.error_name(), "BinlogRetentionTooShort");
    assert!(world.lock.writes().is_empty());
    world.assert_nothing_changed("retention not settable");
}

#[tokio::test]
async fn disable_source_binlog_is_planned_and_needs_a_group_of_the_sources_own() {
    let world = World::new();
    let asked = with(
        with(spec(), "/switchover/fence", json!(["security-group"])),
        "/switchover/fenceSecurityGroupId",
        json!("sg-0123456789abcdef1"),
    );
    let asked = with(asked, "/cleanup", json!({"disableSourceBinlog": true}));
    let doc = world.run(asked.clone()).await.unwrap();
    let row = plan(&doc)
        .resources
        .into_iter()
        .find(|r| r.kind == "db-cluster-parameter-group" && r.step == "Cleanup")
        .expect("the group's change is planned");
    assert_eq!(
        (row.name.as_str(), row.step.as_str()),
        ("orders-params", "Cleanup")
    );
    assert!(row.detail.unwrap().contains("binlog_format=OFF"));

    let shared = World::new();
    shared.parameters.use_group("payments", "orders-params");
    let error = shared.run(asked).await.unwrap_err();
    assert_eq!(error.error_name(), "SharedParameterGroup");
    assert!(
        error.to_string().contains("cleanup.disableSourceBinlog"),
        "{error}"
    );
}
