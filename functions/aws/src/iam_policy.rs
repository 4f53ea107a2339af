//! Each function's IAM, derived from the requests its adapters send, against the template.
//!
//! Every function's RDS, KMS and Secrets Manager calls are made through the adapters over mocked
//! clients; a recording interceptor keeps each HTTP request as the SDK serialised it, and each is
//! mapped to the (action, resource ARN) pairs the Service Authorization Reference says it is
//! authorised on, including what a call needs beyond its own action (tags passed to a create
//! call, the KMS key RDS uses for us, the customer managed key Secrets Manager decrypts with).
//! The policy of the function in `infra/template.yaml`, resolved with and without
//! `ClusterIdentifierPrefix`, must allow each pair; and every resource a granted statement names
//! for an action the function was seen to call must be used by one of them.
//!
//! The run follows the awkward cases: a source instance whose id does not start with the
//! cluster's (so the target instance gets the `-enc` fallback name), DescribeDBClusters without
//! an identifier, a KMS key of another account, a secret encrypted with a customer managed key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aurora_core::naming;
use aurora_core::ports::{
    ClusterParameters, ClusterRetirement, Clusters, CopyParameterGroupRequest,
    CreateInstanceRequest, CreateSnapshotRequest, KmsKeys, RestoreClusterRequest, Tag,
};
use aws_sdk_rds::operation::create_db_cluster_snapshot::CreateDbClusterSnapshotOutput;
use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types as rds;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use crate::{
    AwsKmsKeys, RdsClusterParameters, RdsClusterRetirement, RdsClusters, SecretsManagerSecrets,
};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
const SOURCE: &str = "orders";
const TARGET: &str = "orders-encrypted";
/// Named by whoever created the cluster: it does not start with the cluster's id.
const SOURCE_INSTANCE: &str = "db-writer-1";
const EXECUTION: &str = "exec-1";
const SOURCE_GROUP: &str = "orders-params";
/// The spec's key, in another account.
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf";
/// The customer managed key that encrypts SECRET_ARN.
const SECRET_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321";

/// One request as the SDK put it on the wire.
#[derive(Debug, Clone)]
struct Sent {
    target: Option<String>,
    body: String,
}

#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let sent = Sent {
            target: request.headers().get("x-amz-target").map(str::to_string),
            body: String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned(),
        };
        self.0.lock().unwrap().push(sent);
        Ok(())
    }
}

impl Recorder {
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

macro_rules! recording_client {
    ($recorder:expr, $sdk:ident, $($rule:expr),+ $(,)?) => {{
        let recorder = $recorder.clone();
        mock_client!(
            $sdk,
            RuleMode::MatchAny,
            [$($rule),+],
            |config| config
                .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
                .interceptor(recorder.clone())
        )
    }};
}

fn arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}")
}

/// `application/x-www-form-urlencoded` pairs (the awsQuery protocol of RDS).
fn form(body: &str) -> BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The (action, resource ARN) pairs one request is authorised on.
fn authorisations(sent: &Sent) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |action: &str, resource: String| out.push((action.to_string(), resource));
    if let Some(target) = &sent.target {
        let body: Value = serde_json::from_str(&sent.body).unwrap();
        match target.as_str() {
            "TrentService.DescribeKey" => {
                add("kms:DescribeKey", body["KeyId"].as_str().unwrap().into())
            }
            "secretsmanager.GetSecretValue" => {
                let secret = body["SecretId"].as_str().unwrap();
                add("secretsmanager:GetSecretValue", secret.into());
                // Secrets Manager decrypts with the caller's kms:Decrypt on the secret's key.
                assert_eq!(secret, SECRET_ARN);
                add("kms:Decrypt", SECRET_KEY_ARN.into());
            }
            other => panic!("no IAM mapping for {other}"),
        }
        return out;
    }
    let p = form(&sent.body);
    let get = |k: &str| p.get(k).cloned();
    let cluster = |id: String| arn("rds", &format!("cluster:{id}"));
    let tags = p.keys().any(|k| k.starts_with("Tags."));
    let action = p["Action"].as_str();
    let rds_action = format!("rds:{action}");
    match action {
        "DescribeDBClusters" => add(
            &rds_action,
            cluster(get("DBClusterIdentifier").unwrap_or("*".into())),
        ),
        "DescribeDBInstances" => add(
            &rds_action,
            arn(
                "rds",
                &format!("db:{}", get("DBInstanceIdentifier").unwrap_or("*".into())),
            ),
        ),
        "DescribeDBClusterParameters" => add(
            &rds_action,
            arn(
                "rds",
                &format!("cluster-pg:{}", p["DBClusterParameterGroupName"]),
            ),
        ),
        "DescribeDBClusterSnapshots" => add(
            &rds_action,
            arn(
                "rds",
                &format!(
                    "cluster-snapshot:{}",
                    get("DBClusterSnapshotIdentifier").unwrap_or("*".into())
                ),
            ),
        ),
        "CreateDBClusterSnapshot" => {
            let snapshot = arn(
                "rds",
                &format!("cluster-snapshot:{}", p["DBClusterSnapshotIdentifier"]),
            );
            add(&rds_action, cluster(p["DBClusterIdentifier"].clone()));
            add(&rds_action, snapshot.clone());
            if tags {
                add("rds:AddTagsToResource", snapshot);
            }
        }
        "CopyDBClusterParameterGroup" => {
            let target = arn(
                "rds",
                &format!(
                    "cluster-pg:{}",
                    p["TargetDBClusterParameterGroupIdentifier"]
                ),
            );
            add(
                &rds_action,
                arn(
                    "rds",
                    &format!(
                        "cluster-pg:{}",
                        p["SourceDBClusterParameterGroupIdentifier"]
                    ),
                ),
            );
            add(&rds_action, target.clone());
            if tags {
                add("rds:AddTagsToResource", target);
            }
        }
        "RestoreDBClusterFromSnapshot" => {
            let target = cluster(p["DBClusterIdentifier"].clone());
            add(&rds_action, target.clone());
            add(
                &rds_action,
                arn(
                    "rds",
                    &format!("cluster-snapshot:{}", p["SnapshotIdentifier"]),
                ),
            );
            if let Some(group) = get("DBClusterParameterGroupName") {
                add(&rds_action, arn("rds", &format!("cluster-pg:{group}")));
            }
            if let Some(group) = get("DBSubnetGroupName") {
                add(&rds_action, arn("rds", &format!("subgrp:{group}")));
            }
            if tags {
                add("rds:AddTagsToResource", target);
            }
            // RDS encrypts the new cluster with the caller's grant on the key.
            if let Some(key) = get("KmsKeyId") {
                add("kms:CreateGrant", key.clone());
                add("kms:DescribeKey", key);
            }
        }
        "CreateDBInstance" => {
            let db = arn("rds", &format!("db:{}", p["DBInstanceIdentifier"]));
            add(&rds_action, db.clone());
            add(&rds_action, cluster(p["DBClusterIdentifier"].clone()));
            if let Some(group) = get("DBParameterGroupName") {
                add(&rds_action, arn("rds", &format!("pg:{group}")));
            }
            if tags {
                add("rds:AddTagsToResource", db);
            }
        }
        "DescribeEvents" => add(&rds_action, "*".into()),
        "ModifyDBCluster" => add(&rds_action, cluster(p["DBClusterIdentifier"].clone())),
        "DeleteDBInstance" => add(
            &rds_action,
            arn("rds", &format!("db:{}", p["DBInstanceIdentifier"])),
        ),
        "DeleteDBCluster" => add(&rds_action, cluster(p["DBClusterIdentifier"].clone())),
        other => panic!("no IAM mapping for rds:{other}"),
    }
    out
}

/// IAM's `*` and `?` wildcards.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let mut dp = vec![vec![false; t.len() + 1]; p.len() + 1];
    dp[0][0] = true;
    for i in 1..=p.len() {
        dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
        for j in 1..=t.len() {
            dp[i][j] = match p[i - 1] {
                '*' => dp[i - 1][j] || dp[i][j - 1],
                '?' => dp[i - 1][j - 1],
                c => dp[i - 1][j - 1] && c == t[j - 1],
            };
        }
    }
    dp[p.len()][t.len()]
}

struct Template {
    document: Value,
    parameters: BTreeMap<String, String>,
}

impl Template {
    fn load(prefix: &str) -> Self {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let yaml: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let document = serde_json::to_value(yaml).unwrap();
        let mut parameters: BTreeMap<String, String> = document["Parameters"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| match &v["Default"] {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Number(n) => Some((k.clone(), n.to_string())),
                _ => None,
            })
            .collect();
        parameters.insert("AWS::Partition".into(), "aws".into());
        parameters.insert("AWS::Region".into(), REGION.into());
        parameters.insert("AWS::AccountId".into(), ACCOUNT.into());
        parameters.insert("AWS::StackName".into(), "aurora-encrypt".into());
        parameters.insert("ClusterIdentifierPrefix".into(), prefix.into());
        Self {
            document,
            parameters,
        }
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.document["Conditions"][name];
        let not = condition["Fn::Not"][0]["Fn::Equals"]
            .as_array()
            .unwrap_or_else(|| panic!("condition {name} is not Not(Equals(Ref, ''))"));
        let param = not[0]["Ref"].as_str().unwrap();
        self.parameters[param] != not[1].as_str().unwrap()
    }

    /// A resource element resolved to its ARN patterns.
    fn resolve(&self, value: &Value) -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().flat_map(|v| self.resolve(v)).collect(),
            Value::Object(o) if o.contains_key("Fn::Sub") => {
                let mut text = o["Fn::Sub"].as_str().unwrap().to_string();
                while let Some(start) = text.find("${") {
                    let end = start + text[start..].find('}').unwrap();
                    let name = &text[start + 2..end];
                    let value = self
                        .parameters
                        .get(name)
                        .unwrap_or_else(|| panic!("no value for ${{{name}}}"));
                    text.replace_range(start..=end, value);
                }
                vec![text]
            }
            Value::Object(o) if o.contains_key("Ref") => match o["Ref"].as_str().unwrap() {
                "AWS::NoValue" => vec![],
                name => vec![self.parameters[name].clone()],
            },
            Value::Object(o) if o.contains_key("Fn::If") => {
                let branches = o["Fn::If"].as_array().unwrap();
                let chosen = if self.condition(branches[0].as_str().unwrap()) {
                    &branches[1]
                } else {
                    &branches[2]
                };
                self.resolve(chosen)
            }
            // A resource of the stack (the lock table): named by its logical id and attribute.
            Value::Object(o) if o.contains_key("Fn::GetAtt") => {
                let parts = o["Fn::GetAtt"].as_array().unwrap();
                vec![format!(
                    "{}.{}",
                    parts[0].as_str().unwrap(),
                    parts[1].as_str().unwrap()
                )]
            }
            other => panic!("cannot resolve {other}"),
        }
    }

    /// (action, resource pattern) for every grant of the function's inline statements.
    fn grants(&self, function: &str) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        let policies = &self.document["Resources"][function]["Properties"]["Policies"];
        for statement in policies
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["Statement"].as_array())
            .flatten()
        {
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
                other => panic!("{other}"),
            };
            for action in actions {
                for resource in self.resolve(&statement["Resource"]) {
                    out.insert((action.clone(), resource));
                }
            }
        }
        out
    }
}

/// What each function's calls were authorised on, through the adapters.
async fn derived() -> BTreeMap<&'static str, BTreeSet<(String, String)>> {
    let recorder = Recorder::default();
    let member = rds::DbClusterMember::builder()
        .db_instance_identifier(SOURCE_INSTANCE)
        .is_cluster_writer(true)
        .db_cluster_parameter_group_status("in-sync")
        .build();
    let describe_clusters =
        mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(move || {
            DescribeDbClustersOutput::builder()
                .db_clusters(
                    rds::DbCluster::builder()
                        .db_cluster_identifier(SOURCE)
                        .db_cluster_arn(arn("rds", &format!("cluster:{SOURCE}")))
                        .engine("aurora-mysql")
                        .status("available")
                        .db_cluster_parameter_group(SOURCE_GROUP)
                        .db_cluster_members(member.clone())
                        .build(),
                )
                .build()
        });
    let describe_instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                rds::DbInstance::builder()
                    .db_instance_identifier(SOURCE_INSTANCE)
                    .db_cluster_identifier(SOURCE)
                    .db_instance_class("db.r6g.large")
                    .build(),
            )
            .build()
    });
    let describe_parameters = mock!(aws_sdk_rds::Client::describe_db_cluster_parameters)
        .then_output(|| DescribeDbClusterParametersOutput::builder().build());
    let describe_snapshots = mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots)
        .then_output(|| DescribeDbClusterSnapshotsOutput::builder().build());
    let create_snapshot =
        mock!(aws_sdk_rds::Client::create_db_cluster_snapshot).then_output(|| {
            CreateDbClusterSnapshotOutput::builder()
                .db_cluster_snapshot(rds::DbClusterSnapshot::builder().status("creating").build())
                .build()
        });
    let copy_group = mock!(aws_sdk_rds::Client::copy_db_cluster_parameter_group)
        .then_output(|| aws_sdk_rds::operation::copy_db_cluster_parameter_group::CopyDbClusterParameterGroupOutput::builder().build());
    let restore = mock!(aws_sdk_rds::Client::restore_db_cluster_from_snapshot)
        .then_output(|| aws_sdk_rds::operation::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput::builder().build());
    let create_instance = mock!(aws_sdk_rds::Client::create_db_instance).then_output(|| {
        aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput::builder().build()
    });
    let events = mock!(aws_sdk_rds::Client::describe_events).then_output(|| {
        aws_sdk_rds::operation::describe_events::DescribeEventsOutput::builder().build()
    });
    let modify = mock!(aws_sdk_rds::Client::modify_db_cluster).then_output(|| {
        aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput::builder().build()
    });
    let delete_instance = mock!(aws_sdk_rds::Client::delete_db_instance).then_output(|| {
        aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput::builder().build()
    });
    let delete_cluster = mock!(aws_sdk_rds::Client::delete_db_cluster).then_output(|| {
        aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput::builder().build()
    });
    let rds_client = recording_client!(
        recorder,
        aws_sdk_rds,
        &describe_clusters,
        &describe_instances,
        &describe_parameters,
        &describe_snapshots,
        &create_snapshot,
        &copy_group,
        &restore,
        &create_instance,
        &events,
        &modify,
        &delete_instance,
        &delete_cluster,
    );
    let describe_key = mock!(aws_sdk_kms::Client::describe_key).then_output(|| {
        aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
            .key_metadata(
                aws_sdk_kms::types::KeyMetadata::builder()
                    .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                    .arn(KEY_ARN)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let kms_client = recording_client!(recorder, aws_sdk_kms, &describe_key);
    let get_secret = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
            .secret_string("{}")
            .build()
    });
    let secrets_client = recording_client!(recorder, aws_sdk_secretsmanager, &get_secret);

    let clusters = RdsClusters::from_client(rds_client.clone());
    let parameters = RdsClusterParameters::from_client(rds_client.clone());
    let retirement = RdsClusterRetirement::from_client(rds_client);
    let kms = AwsKmsKeys::from_client(kms_client);
    let secrets = SecretsManagerSecrets::from_client(secrets_client);
    let target_instance = naming::target_instance_id(SOURCE, TARGET, SOURCE_INSTANCE);
    assert_eq!(target_instance, format!("{SOURCE_INSTANCE}-enc"));
    let snapshot = naming::snapshot_id(SOURCE, EXECUTION);
    let tags = vec![Tag::new(naming::OWNER_TAG, SOURCE)];

    let mut by_function = BTreeMap::new();
    let mut finish = |function: &'static str, recorder: &Recorder| {
        let pairs: BTreeSet<_> = recorder.take().iter().flat_map(authorisations).collect();
        by_function.insert(function, pairs);
    };

    // Preflight: the source, its writer's class, its parameter group and who shares it, the
    // target ids, the key, and the secret binlog retention is read with.
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters.describe_cluster(TARGET).await.unwrap();
    clusters.describe_instance(SOURCE_INSTANCE).await.unwrap();
    clusters.describe_instance(&target_instance).await.unwrap();
    parameters
        .parameter(SOURCE_GROUP, "binlog_format")
        .await
        .unwrap();
    parameters.members_pending_reboot(SOURCE).await.unwrap();
    parameters.clusters_using(SOURCE_GROUP).await.unwrap();
    kms.describe_key(KEY_ARN).await.unwrap();
    secrets.secret_string(SECRET_ARN).await.unwrap();
    finish("PreflightFunction", &recorder);

    // Snapshot.
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters.describe_cluster_snapshot(&snapshot).await.unwrap();
    clusters
        .create_cluster_snapshot(&CreateSnapshotRequest {
            cluster_id: SOURCE.into(),
            snapshot_id: snapshot.clone(),
            tags: tags.clone(),
        })
        .await
        .unwrap();
    finish("SnapshotFunction", &recorder);

    // Restore: the parameter group copy, the cluster under the spec's key, each instance.
    let target_group = naming::target_parameter_group(TARGET);
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters.describe_cluster(TARGET).await.unwrap();
    clusters.describe_instance(SOURCE_INSTANCE).await.unwrap();
    clusters.describe_instance(&target_instance).await.unwrap();
    clusters
        .copy_cluster_parameter_group(&CopyParameterGroupRequest {
            source_group: SOURCE_GROUP.into(),
            target_group: target_group.clone(),
            description: "copy".into(),
            tags: tags.clone(),
        })
        .await
        .unwrap();
    clusters
        .restore_cluster(&RestoreClusterRequest {
            cluster_id: TARGET.into(),
            snapshot_id: snapshot.clone(),
            engine: "aurora-mysql".into(),
            kms_key_id: Some(KEY_ARN.into()),
            db_subnet_group: Some("private".into()),
            cluster_parameter_group: Some(target_group),
            tags: tags.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    clusters
        .create_instance(&CreateInstanceRequest {
            instance_id: target_instance.clone(),
            cluster_id: TARGET.into(),
            class: "db.r6g.large".into(),
            engine: "aurora-mysql".into(),
            parameter_group: Some("orders-instances".into()),
            tags: tags.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    finish("RestoreFunction", &recorder);

    // BinlogPosition: the target writer's events.
    clusters
        .instance_events(&target_instance, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    finish("BinlogPositionFunction", &recorder);

    // Verify: both secrets.
    secrets.secret_string(SECRET_ARN).await.unwrap();
    finish("VerifyFunction", &recorder);

    // Cleanup retiring the source: the final snapshot, its instances, the cluster.
    let final_snapshot = naming::final_snapshot_id(SOURCE, EXECUTION);
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters
        .describe_cluster_snapshot(&final_snapshot)
        .await
        .unwrap();
    clusters
        .create_cluster_snapshot(&CreateSnapshotRequest {
            cluster_id: SOURCE.into(),
            snapshot_id: final_snapshot,
            tags,
        })
        .await
        .unwrap();
    retirement
        .disable_deletion_protection(SOURCE)
        .await
        .unwrap();
    retirement.delete_instance(SOURCE_INSTANCE).await.unwrap();
    retirement.delete_cluster(SOURCE).await.unwrap();
    secrets.secret_string(SECRET_ARN).await.unwrap();
    finish("CleanupFunction", &recorder);

    by_function
}

fn check(
    prefix: &str,
    derived: &BTreeMap<&'static str, BTreeSet<(String, String)>>,
) -> Vec<String> {
    let template = Template::load(prefix);
    let mut failures = Vec::new();
    for (function, needed) in derived {
        let grants = template.grants(function);
        for (action, resource) in needed {
            let allowed = grants
                .iter()
                .any(|(a, pattern)| a == action && glob(pattern, resource));
            if !allowed {
                failures.push(format!(
                    "{function} (prefix {prefix:?}): {action} on {resource} is not allowed"
                ));
            }
        }
        // Of the services this run exercises, a grant no call used is one too many.
        let called: BTreeSet<&String> = needed.iter().map(|(a, _)| a).collect();
        for (action, pattern) in &grants {
            let service = action.split(':').next().unwrap();
            if !["rds", "kms", "secretsmanager"].contains(&service) {
                continue;
            }
            if !called.contains(action) {
                failures.push(format!(
                    "{function} (prefix {prefix:?}): {action} is granted but never called"
                ));
                continue;
            }
            let used = needed
                .iter()
                .any(|(a, resource)| a == action && glob(pattern, resource));
            if !used {
                failures.push(format!(
                    "{function} (prefix {prefix:?}): {action} on {pattern} is granted but no call touches it"
                ));
            }
        }
    }
    failures
}

#[tokio::test]
async fn every_call_is_allowed_and_every_grant_is_used_with_and_without_a_prefix() {
    let derived = derived().await;
    let mut failures = check("", &derived);
    failures.extend(check(SOURCE, &derived));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
