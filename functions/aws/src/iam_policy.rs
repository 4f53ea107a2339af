//! Each function's IAM, derived from the requests its adapters send, against the template.
//!
//! Every function of `infra/template.yaml` runs the calls its handler makes, through the
//! adapters its `main.rs` builds, over mocked clients; a recording interceptor keeps each HTTP
//! request as the SDK serialised it, and each is mapped to the (action, resource ARN) pairs the
//! Service Authorization Reference says it is authorised on, including what a call needs beyond
//! its own action (tags passed to a create call, roles passed to DMS, the KMS key RDS uses for
//! us, the customer managed key Secrets Manager decrypts with), with the request context the
//! template's conditions read (`kms:ViaService`, the secret's ARN in the encryption context,
//! `iam:PassedToService`, request tags). The policy of the function, resolved for an open
//! deployment (no `ClusterIdentifierPrefix`, hosted zone, secret prefix or secrets access role)
//! and a narrow one (all four set), must allow each of them, conditions included; and every
//! granted (action, resource) must be used by one of them. The template's functions must be
//! exactly the ones derived here.
//!
//! The run follows the awkward cases: a source instance whose id does not start with the
//! cluster's (so the target instance gets the `-enc` fallback name), DescribeDBClusters without
//! an identifier, a KMS key of another account, secrets encrypted with a customer managed key,
//! DMS resources deleted by name (IAM authorises the ARN DMS gave them), both replication
//! engines (DMS, and native, which reads both secrets), a fence applied and lifted, a lock taken
//! over from an execution that has ended.
//!
//! Where an operation's IAM action differs from its name, the API reference says so: DMS
//! DescribeDataProviders, DescribeInstanceProfiles and DescribeMigrationProjects are authorised
//! by `dms:ListDataProviders`, `dms:ListInstanceProfiles` and `dms:ListMigrationProjects`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aurora_core::naming;
use aurora_core::ports::{
    CdcRequest, ClusterParameters, ClusterRetirement, Clusters, CopyParameterGroupRequest,
    CreateInstanceRequest, CreateSnapshotRequest, DatabaseEndpoint, Dns, FenceRecord, KmsKeys,
    LagMetrics, ProxyTargets, Replication, ReplicationHandle, RestoreClusterRequest, Tag,
    WriteFence,
};
use aurora_core::spec::{
    DmsReplication as DmsSettings, FenceMethod, InstanceProfileSpec, ReplicationSpec,
};
use aurora_core::steps::source_lock::{self, HeldLock};
use aurora_core::BinlogPosition;
use aurora_sql::WriterConnections;
use aws_sdk_databasemigration::types as dms;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_rds::operation::create_db_cluster_snapshot::CreateDbClusterSnapshotOutput;
use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types as rds;
use aws_sdk_route53::types as route53;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::fence::encode_record;
use crate::rds_ca::ca_bundle_tls;
use crate::replication_engine::StateReplication;
use crate::{
    AwsKmsKeys, CloudWatchLag, DmsReplication, DynamoSourceLock, RdsClusterParameters,
    RdsClusterRetirement, RdsClusters, RdsWriteFence, ReplicationEngines, Route53Dns,
    SecretsManagerSecrets, StateWriters,
};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
const STACK: &str = "aurora-encrypt";
const SOURCE: &str = "orders";
const TARGET: &str = "orders-encrypted";
/// Named by whoever created the cluster: it does not start with the cluster's id.
const SOURCE_INSTANCE: &str = "db-writer-1";
const EXECUTION: &str = "exec-1";
/// A custom endpoint of the source's, which a rename switchover moves to the target.
const CUSTOM_ENDPOINT: &str = "orders-analytics";
/// The application's RDS Proxy (`proxy.name`), and the ids RDS gave it and its target group.
const PROXY: &str = "orders-proxy";
const PROXY_ID: &str = "prx-0123456789abcdef0";
const PROXY_TARGET_GROUP_ID: &str = "prx-tg-0123456789abcdef0";
const SOURCE_GROUP: &str = "orders-params";
/// The spec's key, in another account.
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// The replication user's secret (`replication.sourceSecretArn`).
const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf";
/// The target's admin secret (`replication.targetSecretArn`).
const TARGET_SECRET_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-GhIjKl";
/// The customer managed key that encrypts both secrets.
const SECRET_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321";
/// The role DMS runs the data migration with (`replication.serviceRoleArn`).
const SERVICE_ROLE: &str = "arn:aws:iam::123456789012:role/aurora-encrypt-dms";
/// The role DMS reads the secrets with when the spec names one.
const SECRETS_ROLE: &str = "arn:aws:iam::123456789012:role/aurora-encrypt-dms-secrets";
/// The physical name CloudFormation gave `SourceLockTable`.
const LOCK_TABLE: &str = "aurora-encrypt-SourceLockTable-1A2B3C4D5E6F";
const HOSTED_ZONE: &str = "Z0123456789ABCDEFGHIJ";
const RECORD: &str = "db.example.com";
const APPLICATION_SG: &str = "sg-0aaaaaaaaaaaaaaaa";
const FENCE_SG: &str = "sg-0fe0ce0000000000f";
const MIGRATION: &str = "aurora-encrypt-orders-exec-1";
/// `RDS_CA_BUNDLE` of the SQL functions (never read: no connection is made).
const CA_BUNDLE: &str = "/opt/rds-ca/global-bundle.pem";

/// The stack parameters a deployment sets (the rest keep their defaults).
#[derive(Debug, Clone, Copy)]
struct Deployment {
    name: &'static str,
    cluster_prefix: &'static str,
    hosted_zone: &'static str,
    secret_prefix: &'static str,
    /// `DmsSecretsAccessRoleArn`, and the spec's `replication.secretsAccessRoleArn`.
    secrets_role: Option<&'static str>,
}

/// Every optional narrowing left empty.
const OPEN: Deployment = Deployment {
    name: "open",
    cluster_prefix: "",
    hosted_zone: "",
    secret_prefix: "",
    secrets_role: None,
};

/// Every optional narrowing set.
const NARROW: Deployment = Deployment {
    name: "narrow",
    cluster_prefix: SOURCE,
    hosted_zone: HOSTED_ZONE,
    secret_prefix: "orders-",
    secrets_role: Some(SECRETS_ROLE),
};

/// One request as the SDK put it on the wire.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    uri: String,
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
            method: request.method().to_string(),
            uri: request.uri().to_string(),
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

/// A client answering with `rules` (any order), without retries, that records every request.
macro_rules! recording_client {
    ($recorder:expr, $sdk:ident, $rules:expr) => {{
        let recorder = $recorder.clone();
        mock_client!($sdk, RuleMode::MatchAny, $rules, |config| config
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .interceptor(recorder.clone()))
    }};
}

fn arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}")
}

fn cluster_arn(id: &str) -> String {
    arn("rds", &format!("cluster:{id}"))
}

fn execution_arn(name: &str) -> String {
    arn(
        "states",
        &format!("execution:{STACK}-encrypt-cluster:{name}"),
    )
}

/// The ARN DMS gives a resource of `kind` named `name`. DMS ARNs end in an id DMS makes up, not
/// the name; the mocks answer with these and the mapping resolves names to them, as DMS does.
fn dms_arn(kind: &str, name: &str) -> String {
    let id: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    arn("dms", &format!("{kind}:{id}"))
}

/// A DMS `*Identifier` (a name or an ARN) as the ARN IAM authorises.
fn dms_resource(kind: &str, identifier: &str) -> String {
    if identifier.starts_with("arn:") {
        identifier.to_string()
    } else {
        dms_arn(kind, identifier)
    }
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

/// One action authorised on one resource, with the request context its conditions read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Authorisation {
    action: String,
    resource: String,
    context: BTreeMap<String, String>,
}

/// What one request is authorised on.
#[derive(Default)]
struct Authorisations(Vec<Authorisation>);

impl Authorisations {
    fn add(&mut self, action: &str, resource: String) {
        self.add_in(action, resource, &[]);
    }

    fn add_in(&mut self, action: &str, resource: String, context: &[(String, String)]) {
        self.0.push(Authorisation {
            action: action.to_string(),
            resource,
            context: context.iter().cloned().collect(),
        });
    }
}

/// The condition keys a service calling KMS for us sets.
fn via(service: &str) -> (String, String) {
    (
        "kms:ViaService".into(),
        format!("{service}.{REGION}.amazonaws.com"),
    )
}

/// A role passed to DMS.
fn passed_to_dms() -> [(String, String); 1] {
    [("iam:PassedToService".into(), "dms.amazonaws.com".into())]
}

/// What one request is authorised on.
fn authorisations(sent: &Sent) -> Vec<Authorisation> {
    let mut out = Authorisations::default();
    if let Some(target) = &sent.target {
        let body: Value = serde_json::from_str(&sent.body).unwrap();
        let text = |key: &str| {
            body[key]
                .as_str()
                .unwrap_or_else(|| panic!("{target}: no {key}"))
                .to_string()
        };
        let (service, operation) = target.split_once('.').unwrap();
        match (service, operation) {
            ("TrentService", "DescribeKey") => out.add("kms:DescribeKey", text("KeyId")),
            ("secretsmanager", "GetSecretValue") => {
                let secret = text("SecretId");
                // Secrets Manager decrypts with the caller's kms:Decrypt on the secret's key.
                assert!([SECRET_ARN, TARGET_SECRET_ARN].contains(&secret.as_str()));
                out.add("secretsmanager:GetSecretValue", secret.clone());
                let context = [
                    via("secretsmanager"),
                    ("kms:EncryptionContext:SecretARN".into(), secret),
                ];
                out.add_in("kms:Decrypt", SECRET_KEY_ARN.into(), &context);
            }
            ("AmazonDMSv20160101", _) => dms_authorisations(operation, &body, &mut out),
            ("DynamoDB_20120810", "GetItem" | "PutItem") => out.add(
                &format!("dynamodb:{operation}"),
                arn("dynamodb", &format!("table/{}", text("TableName"))),
            ),
            ("AWSStepFunctions", "DescribeExecution") => {
                out.add("states:DescribeExecution", text("executionArn"))
            }
            _ => panic!("no IAM mapping for {target}"),
        }
        return out.0;
    }
    // CloudWatch speaks RPC v2 CBOR: the operation is the path's last segment.
    if sent
        .uri
        .contains("/service/GraniteServiceVersion20100801/operation/")
    {
        match sent.uri.rsplit('/').next().unwrap() {
            // No resource type applies to a metric query: `*`.
            "GetMetricData" => out.add("cloudwatch:GetMetricData", "*".into()),
            other => panic!("no IAM mapping for cloudwatch:{other}"),
        }
        return out.0;
    }
    // Route 53 speaks REST XML: the resource is in the path.
    if let Some(at) = sent.uri.find("/2013-04-01/") {
        let path = sent.uri[at + "/2013-04-01/".len()..]
            .split('?')
            .next()
            .unwrap();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let resource = |kind: &str, id: &str| format!("arn:aws:route53:::{kind}/{id}");
        match (sent.method.as_str(), segments.as_slice()) {
            ("GET", ["hostedzone", zone, "rrset"]) => out.add(
                "route53:ListResourceRecordSets",
                resource("hostedzone", zone),
            ),
            ("POST", ["hostedzone", zone, "rrset"]) => out.add(
                "route53:ChangeResourceRecordSets",
                resource("hostedzone", zone),
            ),
            ("GET", ["change", id]) => out.add("route53:GetChange", resource("change", id)),
            other => panic!("no IAM mapping for Route 53 {other:?}"),
        }
        return out.0;
    }
    let p = form(&sent.body);
    let get = |k: &str| p.get(k).cloned();
    let cluster = |id: String| arn("rds", &format!("cluster:{id}"));
    let tags = p.keys().any(|k| k.starts_with("Tags."));
    let action = p["Action"].as_str();
    let rds_action = format!("rds:{action}");
    match action {
        "DescribeDBClusters" => out.add(
            &rds_action,
            cluster(get("DBClusterIdentifier").unwrap_or("*".into())),
        ),
        "DescribeDBInstances" => out.add(
            &rds_action,
            arn(
                "rds",
                &format!("db:{}", get("DBInstanceIdentifier").unwrap_or("*".into())),
            ),
        ),
        "DescribeDBClusterParameters" => out.add(
            &rds_action,
            arn(
                "rds",
                &format!("cluster-pg:{}", p["DBClusterParameterGroupName"]),
            ),
        ),
        "DescribeDBClusterSnapshots" => out.add(
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
            out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone()));
            out.add(&rds_action, snapshot.clone());
            if tags {
                out.add("rds:AddTagsToResource", snapshot);
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
            out.add(
                &rds_action,
                arn(
                    "rds",
                    &format!(
                        "cluster-pg:{}",
                        p["SourceDBClusterParameterGroupIdentifier"]
                    ),
                ),
            );
            out.add(&rds_action, target.clone());
            if tags {
                out.add("rds:AddTagsToResource", target);
            }
        }
        "RestoreDBClusterFromSnapshot" => {
            let target = cluster(p["DBClusterIdentifier"].clone());
            out.add(&rds_action, target.clone());
            out.add(
                &rds_action,
                arn(
                    "rds",
                    &format!("cluster-snapshot:{}", p["SnapshotIdentifier"]),
                ),
            );
            if let Some(group) = get("DBClusterParameterGroupName") {
                out.add(&rds_action, arn("rds", &format!("cluster-pg:{group}")));
            }
            if let Some(group) = get("DBSubnetGroupName") {
                out.add(&rds_action, arn("rds", &format!("subgrp:{group}")));
            }
            if tags {
                out.add("rds:AddTagsToResource", target);
            }
            // RDS encrypts the new cluster with the caller's grant on the key.
            if let Some(key) = get("KmsKeyId") {
                out.add_in("kms:CreateGrant", key.clone(), &[via("rds")]);
                out.add_in("kms:DescribeKey", key, &[via("rds")]);
            }
        }
        "CreateDBInstance" => {
            let db = arn("rds", &format!("db:{}", p["DBInstanceIdentifier"]));
            out.add(&rds_action, db.clone());
            out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone()));
            if let Some(group) = get("DBParameterGroupName") {
                out.add(&rds_action, arn("rds", &format!("pg:{group}")));
            }
            if tags {
                out.add("rds:AddTagsToResource", db);
            }
        }
        "DescribeEvents" => out.add(&rds_action, "*".into()),
        "ModifyDBClusterParameterGroup" | "ResetDBClusterParameterGroup" => out.add(
            &rds_action,
            arn(
                "rds",
                &format!("cluster-pg:{}", p["DBClusterParameterGroupName"]),
            ),
        ),
        "AddTagsToResource" | "RemoveTagsFromResource" => {
            out.add(&rds_action, p["ResourceName"].clone())
        }
        "ModifyDBCluster" => out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone())),
        "DescribeDBClusterEndpoints" => {
            out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone()))
        }
        // Custom endpoints: the endpoint, and for a new one the cluster it joins.
        "CreateDBClusterEndpoint" => {
            out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone()));
            out.add(
                &rds_action,
                arn(
                    "rds",
                    &format!("cluster-endpoint:{}", p["DBClusterEndpointIdentifier"]),
                ),
            );
        }
        "DeleteDBClusterEndpoint" => out.add(
            &rds_action,
            arn(
                "rds",
                &format!("cluster-endpoint:{}", p["DBClusterEndpointIdentifier"]),
            ),
        ),
        "ModifyDBInstance" => out.add(
            &rds_action,
            arn("rds", &format!("db:{}", p["DBInstanceIdentifier"])),
        ),
        "DeleteDBInstance" => out.add(
            &rds_action,
            arn("rds", &format!("db:{}", p["DBInstanceIdentifier"])),
        ),
        "DeleteDBCluster" => out.add(&rds_action, cluster(p["DBClusterIdentifier"].clone())),
        // RDS Proxy: requests name the proxy; IAM authorises the ids RDS gave the proxy and its
        // default target group (`db-proxy:prx-…`, `target-group:prx-tg-…`), and the clusters
        // registered or deregistered.
        "DescribeDBProxies" => out.add(&rds_action, arn("rds", &format!("db-proxy:{PROXY_ID}"))),
        "DescribeDBProxyTargets" => {
            out.add(&rds_action, arn("rds", &format!("db-proxy:{PROXY_ID}")));
            out.add(
                &rds_action,
                arn("rds", &format!("target-group:{PROXY_TARGET_GROUP_ID}")),
            );
        }
        "RegisterDBProxyTargets" | "DeregisterDBProxyTargets" => {
            out.add(&rds_action, arn("rds", &format!("db-proxy:{PROXY_ID}")));
            out.add(
                &rds_action,
                arn("rds", &format!("target-group:{PROXY_TARGET_GROUP_ID}")),
            );
            out.add(
                &rds_action,
                cluster(p["DBClusterIdentifiers.member.1"].clone()),
            );
        }
        other => panic!("no IAM mapping for rds:{other}"),
    }
    out.0
}

/// DMS (awsJson): the resources of each operation per the Service Authorization Reference.
fn dms_authorisations(operation: &str, body: &Value, out: &mut Authorisations) {
    let text = |key: &str| {
        body[key]
            .as_str()
            .unwrap_or_else(|| panic!("dms {operation}: no {key}"))
            .to_string()
    };
    // Tags given to a create call are its request tags (`aws:RequestTag/<key>`).
    let tags: Vec<(String, String)> = body["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                format!("aws:RequestTag/{}", t["Key"].as_str().unwrap()),
                t["Value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let tagged = !tags.is_empty();
    let action = format!("dms:{operation}");
    match operation {
        // The Describe* calls of the homogeneous-migration resources are authorised by List*
        // actions (API reference: "Required permissions: dms:ListDataProviders", …), none of
        // which is scoped to a resource in these requests.
        "DescribeDataProviders" => out.add("dms:ListDataProviders", "*".into()),
        "DescribeInstanceProfiles" => out.add("dms:ListInstanceProfiles", "*".into()),
        "DescribeMigrationProjects" => out.add("dms:ListMigrationProjects", "*".into()),
        "DescribeDataMigrations" => out.add(&action, "*".into()),
        // No resource type: `*`. Tags given with a create are authorised as AddTagsToResource
        // on what is created.
        "CreateDataProvider" | "CreateInstanceProfile" => {
            out.add_in(&action, "*".into(), &tags);
            if tagged {
                let (kind, name) = match operation {
                    "CreateDataProvider" => ("data-provider", text("DataProviderName")),
                    _ => ("instance-profile", text("InstanceProfileName")),
                };
                out.add_in("dms:AddTagsToResource", dms_arn(kind, &name), &tags);
            }
        }
        // On both data providers and the instance profile; each descriptor passes its secrets
        // access role to DMS.
        "CreateMigrationProject" => {
            for side in [
                "SourceDataProviderDescriptors",
                "TargetDataProviderDescriptors",
            ] {
                for descriptor in body[side].as_array().unwrap() {
                    let provider = descriptor["DataProviderIdentifier"].as_str().unwrap();
                    out.add_in(&action, dms_resource("data-provider", provider), &tags);
                    if let Some(role) = descriptor["SecretsManagerAccessRoleArn"].as_str() {
                        out.add_in("iam:PassRole", role.into(), &passed_to_dms());
                    }
                }
            }
            out.add_in(
                &action,
                dms_resource("instance-profile", &text("InstanceProfileIdentifier")),
                &tags,
            );
            if tagged {
                out.add_in(
                    "dms:AddTagsToResource",
                    dms_arn("migration-project", &text("MigrationProjectName")),
                    &tags,
                );
            }
        }
        // On the migration project; the service access role is passed to DMS.
        "CreateDataMigration" => {
            out.add_in(
                &action,
                dms_resource("migration-project", &text("MigrationProjectIdentifier")),
                &tags,
            );
            out.add_in(
                "iam:PassRole",
                text("ServiceAccessRoleArn"),
                &passed_to_dms(),
            );
            if tagged {
                out.add_in(
                    "dms:AddTagsToResource",
                    dms_arn("data-migration", &text("DataMigrationName")),
                    &tags,
                );
            }
        }
        "StartDataMigration" | "StopDataMigration" | "DeleteDataMigration" => out.add(
            &action,
            dms_resource("data-migration", &text("DataMigrationIdentifier")),
        ),
        "DeleteMigrationProject" => out.add(
            &action,
            dms_resource("migration-project", &text("MigrationProjectIdentifier")),
        ),
        "DeleteInstanceProfile" => out.add(
            &action,
            dms_resource("instance-profile", &text("InstanceProfileIdentifier")),
        ),
        "DeleteDataProvider" => out.add(
            &action,
            dms_resource("data-provider", &text("DataProviderIdentifier")),
        ),
        other => panic!("no IAM mapping for dms:{other}"),
    }
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

/// One action on one resource pattern, under every condition of its statement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    action: String,
    resource: String,
    /// (operator, key, values).
    conditions: Vec<(String, String, Vec<String>)>,
}

impl Grant {
    fn allows(&self, wanted: &Authorisation) -> bool {
        self.action == wanted.action
            && glob(&self.resource, &wanted.resource)
            && self.conditions.iter().all(|(operator, key, values)| {
                let value = wanted.context.get(key);
                match (operator.as_str(), values.as_slice()) {
                    ("StringEquals", _) => value.is_some_and(|v| values.contains(v)),
                    ("StringLike", _) => value.is_some_and(|v| values.iter().any(|p| glob(p, v))),
                    ("Null", [present]) if present == "false" => value.is_some(),
                    ("Null", [absent]) if absent == "true" => value.is_none(),
                    _ => panic!("condition {operator} {key} {values:?} is not modelled"),
                }
            })
    }
}

struct Template {
    document: Value,
    parameters: BTreeMap<String, String>,
}

impl Template {
    fn load(deployment: Deployment) -> Self {
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
        parameters.insert("AWS::StackName".into(), STACK.into());
        parameters.insert(
            "ClusterIdentifierPrefix".into(),
            deployment.cluster_prefix.into(),
        );
        parameters.insert("HostedZoneId".into(), deployment.hosted_zone.into());
        parameters.insert("SecretNamePrefix".into(), deployment.secret_prefix.into());
        parameters.insert("DmsServiceRoleArn".into(), SERVICE_ROLE.into());
        parameters.insert(
            "DmsSecretsAccessRoleArn".into(),
            deployment.secrets_role.unwrap_or_default().into(),
        );
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
            // The lock table, under the name CloudFormation gave it.
            Value::Object(o) if o.contains_key("Fn::GetAtt") => {
                match o["Fn::GetAtt"].as_array().unwrap().as_slice() {
                    [Value::String(id), Value::String(attribute)]
                        if id == "SourceLockTable" && attribute == "Arn" =>
                    {
                        vec![arn("dynamodb", &format!("table/{LOCK_TABLE}"))]
                    }
                    other => panic!("cannot resolve Fn::GetAtt {other:?}"),
                }
            }
            other => panic!("cannot resolve {other}"),
        }
    }

    /// The logical ids of the template's functions.
    fn functions(&self) -> BTreeSet<String> {
        self.document["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every (action, resource pattern, conditions) of the function's inline statements.
    fn grants(&self, function: &str) -> BTreeSet<Grant> {
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
            assert_eq!(statement["Effect"], "Allow", "{function}: {statement}");
            let mut conditions = Vec::new();
            for (operator, keys) in statement["Condition"].as_object().into_iter().flatten() {
                for (key, values) in keys.as_object().unwrap() {
                    conditions.push((operator.clone(), key.clone(), self.resolve(values)));
                }
            }
            for action in actions {
                for resource in self.resolve(&statement["Resource"]) {
                    out.insert(Grant {
                        action: action.clone(),
                        resource,
                        conditions: conditions.clone(),
                    });
                }
            }
        }
        out
    }
}

/// The clients one function's adapters are built from, all recording into one [`Recorder`].
struct Clients {
    recorder: Recorder,
}

impl Clients {
    fn rds(&self, rules: &[Rule]) -> aws_sdk_rds::Client {
        recording_client!(self.recorder, aws_sdk_rds, rules)
    }

    fn secrets(&self) -> SecretsManagerSecrets {
        let rules = [
            mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
                aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                    .secret_string(r#"{"username":"admin","password":"pw"}"#)
                    .build()
            }),
        ];
        SecretsManagerSecrets::from_client(recording_client!(
            self.recorder,
            aws_sdk_secretsmanager,
            &rules
        ))
    }

    fn kms(&self) -> AwsKmsKeys {
        let rules = [mock!(aws_sdk_kms::Client::describe_key).then_output(|| {
            aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
                .key_metadata(
                    aws_sdk_kms::types::KeyMetadata::builder()
                        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                        .arn(KEY_ARN)
                        .build()
                        .unwrap(),
                )
                .build()
        })];
        AwsKmsKeys::from_client(recording_client!(self.recorder, aws_sdk_kms, &rules))
    }

    /// The lock table holding `holder`'s lock of the source (version 3, lease running), and
    /// Step Functions reporting every execution as ended.
    fn lock(&self, holder: &str) -> DynamoSourceLock {
        let holder = holder.to_string();
        let lease = (OffsetDateTime::now_utc() + time::Duration::hours(1)).unix_timestamp();
        let dynamodb = [
            mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
                let item = HashMap::from([
                    (
                        crate::source_lock::KEY.to_string(),
                        AttributeValue::S(cluster_arn(SOURCE)),
                    ),
                    ("executionArn".into(), AttributeValue::S(holder.clone())),
                    (
                        "leaseExpiresAt".into(),
                        AttributeValue::N(lease.to_string()),
                    ),
                    ("released".into(), AttributeValue::Bool(false)),
                    ("version".into(), AttributeValue::N("3".into())),
                ]);
                aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder()
                    .set_item(Some(item))
                    .build()
            }),
            mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| {
                aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build()
            }),
        ];
        let sfn = [
            mock!(aws_sdk_sfn::Client::describe_execution).then_compute_output(|request| {
                aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput::builder()
                    .execution_arn(request.execution_arn().unwrap_or_default())
                    .state_machine_arn(arn(
                        "states",
                        &format!("stateMachine:{STACK}-encrypt-cluster"),
                    ))
                    .status(aws_sdk_sfn::types::ExecutionStatus::Succeeded)
                    .start_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap()
            }),
        ];
        DynamoSourceLock::from_clients(
            recording_client!(self.recorder, aws_sdk_dynamodb, &dynamodb),
            recording_client!(self.recorder, aws_sdk_sfn, &sfn),
            LOCK_TABLE,
            Some(REGION.into()),
        )
    }

    /// DMS where nothing of this migration exists yet (`exists: false`), or all of it does.
    fn dms(&self, exists: bool) -> DmsReplication {
        use aws_sdk_databasemigration::operation as op;
        use aws_sdk_databasemigration::Client;
        let rules = vec![
            mock!(Client::describe_data_providers).then_output(|| {
                op::describe_data_providers::DescribeDataProvidersOutput::builder().build()
            }),
            mock!(Client::describe_instance_profiles).then_output(|| {
                op::describe_instance_profiles::DescribeInstanceProfilesOutput::builder().build()
            }),
            mock!(Client::describe_migration_projects).then_output(|| {
                op::describe_migration_projects::DescribeMigrationProjectsOutput::builder().build()
            }),
            mock!(Client::describe_data_migrations).then_output(move || {
                let found = op::describe_data_migrations::DescribeDataMigrationsOutput::builder();
                if !exists {
                    return found.build();
                }
                found
                    .data_migrations(
                        dms::DataMigration::builder()
                            .data_migration_name(MIGRATION)
                            .data_migration_arn(dms_arn("data-migration", MIGRATION))
                            .data_migration_status("Ready")
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::create_data_provider).then_compute_output(|r| {
                let name = r.data_provider_name().unwrap_or_default();
                op::create_data_provider::CreateDataProviderOutput::builder()
                    .data_provider(
                        dms::DataProvider::builder()
                            .data_provider_name(name)
                            .data_provider_arn(dms_arn("data-provider", name))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::create_instance_profile).then_compute_output(|r| {
                let name = r.instance_profile_name().unwrap_or_default();
                op::create_instance_profile::CreateInstanceProfileOutput::builder()
                    .instance_profile(
                        dms::InstanceProfile::builder()
                            .instance_profile_arn(dms_arn("instance-profile", name))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::create_migration_project).then_compute_output(|r| {
                let name = r.migration_project_name().unwrap_or_default();
                op::create_migration_project::CreateMigrationProjectOutput::builder()
                    .migration_project(
                        dms::MigrationProject::builder()
                            .migration_project_arn(dms_arn("migration-project", name))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::create_data_migration).then_compute_output(|r| {
                let name = r.data_migration_name().unwrap_or_default();
                op::create_data_migration::CreateDataMigrationOutput::builder()
                    .data_migration(
                        dms::DataMigration::builder()
                            .data_migration_arn(dms_arn("data-migration", name))
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::start_data_migration).then_output(|| {
                op::start_data_migration::StartDataMigrationOutput::builder().build()
            }),
            mock!(Client::stop_data_migration).then_output(|| {
                op::stop_data_migration::StopDataMigrationOutput::builder().build()
            }),
            mock!(Client::delete_data_migration).then_output(|| {
                op::delete_data_migration::DeleteDataMigrationOutput::builder().build()
            }),
            mock!(Client::delete_migration_project).then_output(|| {
                op::delete_migration_project::DeleteMigrationProjectOutput::builder().build()
            }),
            mock!(Client::delete_instance_profile).then_output(|| {
                op::delete_instance_profile::DeleteInstanceProfileOutput::builder().build()
            }),
            mock!(Client::delete_data_provider).then_output(|| {
                op::delete_data_provider::DeleteDataProviderOutput::builder().build()
            }),
        ];
        DmsReplication::from_client(recording_client!(
            self.recorder,
            aws_sdk_databasemigration,
            &rules
        ))
    }

    /// The engines a replication step picks from: DMS as [`dms`](Self::dms), native over the
    /// two secrets.
    fn engines(&self, dms_exists: bool) -> ReplicationEngines {
        ReplicationEngines::new(
            self.dms(dms_exists),
            self.secrets(),
            ca_bundle_tls(Some(CA_BUNDLE.into())),
        )
    }

    fn route53(&self) -> Route53Dns {
        use aws_sdk_route53::operation as op;
        use aws_sdk_route53::Client;
        let change = |status: route53::ChangeStatus| {
            route53::ChangeInfo::builder()
                .id("/change/C0123456789ABCDEF")
                .status(status)
                .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        };
        let rules = [
            mock!(Client::list_resource_record_sets).then_output(|| {
                op::list_resource_record_sets::ListResourceRecordSetsOutput::builder()
                    .resource_record_sets(
                        route53::ResourceRecordSet::builder()
                            .name(format!("{RECORD}."))
                            .r#type(route53::RrType::Cname)
                            .ttl(300)
                            .resource_records(
                                route53::ResourceRecord::builder()
                                    .value("orders.cluster-abc.eu-west-1.rds.amazonaws.com")
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .is_truncated(false)
                    .max_items(100)
                    .build()
                    .unwrap()
            }),
            mock!(Client::change_resource_record_sets).then_output(move || {
                op::change_resource_record_sets::ChangeResourceRecordSetsOutput::builder()
                    .change_info(change(route53::ChangeStatus::Pending))
                    .build()
            }),
            mock!(Client::get_change).then_output(move || {
                op::get_change::GetChangeOutput::builder()
                    .change_info(change(route53::ChangeStatus::Insync))
                    .build()
            }),
        ];
        Route53Dns::from_client(recording_client!(self.recorder, aws_sdk_route53, &rules))
    }

    fn cloudwatch(&self) -> CloudWatchLag {
        let rules = [
            mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(|| {
                aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput::builder()
                    .build()
            }),
        ];
        CloudWatchLag::from_client(recording_client!(self.recorder, aws_sdk_cloudwatch, &rules))
    }

    /// What one function's calls were authorised on; the recorder starts afresh.
    fn authorised(&self) -> BTreeSet<Authorisation> {
        self.recorder
            .take()
            .iter()
            .flat_map(authorisations)
            .collect()
    }
}

fn endpoint(cluster: &str) -> DatabaseEndpoint {
    DatabaseEndpoint {
        cluster_id: cluster.into(),
        host: format!("{cluster}.cluster-abc.{REGION}.rds.amazonaws.com"),
        port: 3306,
    }
}

fn dms_spec(deployment: Deployment) -> ReplicationSpec {
    ReplicationSpec::Dms(DmsSettings {
        service_role_arn: SERVICE_ROLE.into(),
        secrets_access_role_arn: deployment.secrets_role.map(str::to_string),
        source_secret_arn: SECRET_ARN.into(),
        target_secret_arn: TARGET_SECRET_ARN.into(),
        instance_profile: InstanceProfileSpec {
            subnet_group_identifier: "dms-private".into(),
            vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
            publicly_accessible: false,
        },
    })
}

/// The state document a replication or SQL step reads its engine and endpoints from.
fn state(replication: &ReplicationSpec) -> Value {
    json!({
        "sourceClusterId": SOURCE,
        "replication": replication,
        "preflight": {"engineMajorVersion": 3},
        "restore": {
            "targetClusterId": TARGET,
            "targetClusterArn": cluster_arn(TARGET),
            "status": "available",
            "encrypted": true,
            "kmsKeyId": KEY_ARN,
            "restoreStartedAt": "2026-11-30T12:00:00Z",
            "writerInstanceId": format!("{SOURCE_INSTANCE}-enc"),
            "instances": [],
            "sourceEndpoint": endpoint(SOURCE),
            "targetEndpoint": endpoint(TARGET),
            "ready": true,
            "nextPollSeconds": 0
        }
    })
}

fn native_spec() -> ReplicationSpec {
    serde_json::from_value(json!({
        "engine": "native",
        "sourceSecretArn": SECRET_ARN,
        "targetSecretArn": TARGET_SECRET_ARN
    }))
    .unwrap()
}

fn migration_handle() -> ReplicationHandle {
    ReplicationHandle {
        engine: crate::dms::ENGINE.into(),
        id: dms_arn("data-migration", MIGRATION),
        name: MIGRATION.into(),
        resources: vec![],
    }
}

/// The native engine of `engines`, built: it reads both secrets.
async fn build_native(engines: &ReplicationEngines) {
    let state = state(&native_spec());
    match engines.for_state(&state).unwrap() {
        StateReplication::Native(native) => {
            native.engine().await.unwrap();
        }
        StateReplication::Dms(_) => panic!("expected the native engine"),
    }
}

fn held_lock() -> HeldLock {
    HeldLock {
        resource: cluster_arn(SOURCE),
        holder: execution_arn(EXECUTION),
        lease_expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
        taken_over: None,
    }
}

fn describe_clusters(cluster: rds::DbCluster) -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(move || {
        DescribeDbClustersOutput::builder()
            .db_clusters(cluster.clone())
            .build()
    })
}

fn read_only_is(value: &'static str) -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_cluster_parameters).then_output(move || {
        DescribeDbClusterParametersOutput::builder()
            .parameters(
                rds::Parameter::builder()
                    .parameter_name("read_only")
                    .parameter_value(value)
                    .build(),
            )
            .build()
    })
}

/// The source as the fence finds it: in `group`, tagged with `tags`.
fn fenced_source(group: &str, tags: &[Tag]) -> rds::DbCluster {
    let mut cluster = rds::DbCluster::builder()
        .db_cluster_identifier(SOURCE)
        .db_cluster_arn(cluster_arn(SOURCE))
        .engine("aurora-mysql")
        .db_cluster_parameter_group(SOURCE_GROUP)
        .vpc_security_groups(
            rds::VpcSecurityGroupMembership::builder()
                .vpc_security_group_id(group)
                .build(),
        );
    for tag in tags {
        cluster = cluster.tag_list(rds::Tag::builder().key(&tag.key).value(&tag.value).build());
    }
    cluster.build()
}

/// The RDS rules of the steps that read, create or retire clusters.
fn rds_rules() -> Vec<Rule> {
    let member = rds::DbClusterMember::builder()
        .db_instance_identifier(SOURCE_INSTANCE)
        .is_cluster_writer(true)
        .db_cluster_parameter_group_status("in-sync")
        .build();
    use aws_sdk_rds::operation as op;
    vec![
        describe_clusters(
            rds::DbCluster::builder()
                .db_cluster_identifier(SOURCE)
                .db_cluster_arn(cluster_arn(SOURCE))
                .engine("aurora-mysql")
                .status("available")
                .endpoint("orders.cluster-abc.eu-west-1.rds.amazonaws.com")
                .port(3306)
                .db_cluster_parameter_group(SOURCE_GROUP)
                .db_cluster_members(member)
                .build(),
        ),
        mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    rds::DbInstance::builder()
                        .db_instance_identifier(SOURCE_INSTANCE)
                        .db_cluster_identifier(SOURCE)
                        .db_instance_class("db.r6g.large")
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_rds::Client::describe_db_cluster_parameters)
            .then_output(|| DescribeDbClusterParametersOutput::builder().build()),
        mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots)
            .then_output(|| DescribeDbClusterSnapshotsOutput::builder().build()),
        mock!(aws_sdk_rds::Client::create_db_cluster_snapshot).then_output(|| {
            CreateDbClusterSnapshotOutput::builder()
                .db_cluster_snapshot(rds::DbClusterSnapshot::builder().status("creating").build())
                .build()
        }),
        mock!(aws_sdk_rds::Client::copy_db_cluster_parameter_group).then_output(|| {
            op::copy_db_cluster_parameter_group::CopyDbClusterParameterGroupOutput::builder()
                .build()
        }),
        mock!(aws_sdk_rds::Client::restore_db_cluster_from_snapshot).then_output(|| {
            op::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput::builder()
                .build()
        }),
        mock!(aws_sdk_rds::Client::create_db_instance)
            .then_output(|| op::create_db_instance::CreateDbInstanceOutput::builder().build()),
        mock!(aws_sdk_rds::Client::describe_events)
            .then_output(|| op::describe_events::DescribeEventsOutput::builder().build()),
        mock!(aws_sdk_rds::Client::modify_db_cluster)
            .then_output(|| op::modify_db_cluster::ModifyDbClusterOutput::builder().build()),
        mock!(aws_sdk_rds::Client::delete_db_instance)
            .then_output(|| op::delete_db_instance::DeleteDbInstanceOutput::builder().build()),
        mock!(aws_sdk_rds::Client::delete_db_cluster)
            .then_output(|| op::delete_db_cluster::DeleteDbClusterOutput::builder().build()),
        mock!(aws_sdk_rds::Client::modify_db_instance)
            .then_output(|| op::modify_db_instance::ModifyDbInstanceOutput::builder().build()),
        mock!(aws_sdk_rds::Client::describe_db_cluster_endpoints).then_output(|| {
            op::describe_db_cluster_endpoints::DescribeDbClusterEndpointsOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::create_db_cluster_endpoint).then_output(|| {
            op::create_db_cluster_endpoint::CreateDbClusterEndpointOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::delete_db_cluster_endpoint).then_output(|| {
            op::delete_db_cluster_endpoint::DeleteDbClusterEndpointOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::describe_db_proxies).then_output(|| {
            op::describe_db_proxies::DescribeDbProxiesOutput::builder()
                .db_proxies(
                    rds::DbProxy::builder()
                        .db_proxy_name(PROXY)
                        .db_proxy_arn(format!(
                            "arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:{PROXY_ID}"
                        ))
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_rds::Client::describe_db_proxy_targets).then_output(|| {
            op::describe_db_proxy_targets::DescribeDbProxyTargetsOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::register_db_proxy_targets).then_output(|| {
            op::register_db_proxy_targets::RegisterDbProxyTargetsOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::deregister_db_proxy_targets).then_output(|| {
            op::deregister_db_proxy_targets::DeregisterDbProxyTargetsOutput::builder().build()
        }),
    ]
}

/// The fence's RDS rules: the source in `group` with `tags`, `read_only` at `read_only`.
fn fence_rules(group: &str, tags: &[Tag], read_only: &'static str) -> Vec<Rule> {
    use aws_sdk_rds::operation as op;
    vec![
        describe_clusters(fenced_source(group, tags)),
        read_only_is(read_only),
        mock!(aws_sdk_rds::Client::add_tags_to_resource)
            .then_output(|| op::add_tags_to_resource::AddTagsToResourceOutput::builder().build()),
        mock!(aws_sdk_rds::Client::remove_tags_from_resource).then_output(|| {
            op::remove_tags_from_resource::RemoveTagsFromResourceOutput::builder().build()
        }),
        mock!(aws_sdk_rds::Client::modify_db_cluster)
            .then_output(|| op::modify_db_cluster::ModifyDbClusterOutput::builder().build()),
        mock!(aws_sdk_rds::Client::modify_db_cluster_parameter_group).then_output(|| {
            op::modify_db_cluster_parameter_group::ModifyDbClusterParameterGroupOutput::builder()
                .build()
        }),
        mock!(aws_sdk_rds::Client::reset_db_cluster_parameter_group).then_output(|| {
            op::reset_db_cluster_parameter_group::ResetDbClusterParameterGroupOutput::builder()
                .build()
        }),
    ]
}

/// What each function's calls were authorised on, through the adapters its handler builds.
async fn derived(deployment: Deployment) -> BTreeMap<&'static str, BTreeSet<Authorisation>> {
    let clients = Clients {
        recorder: Recorder::default(),
    };
    let rds_client = clients.rds(&rds_rules());
    let clusters = RdsClusters::from_client(rds_client.clone());
    let parameters = RdsClusterParameters::from_client(rds_client.clone());
    let retirement = RdsClusterRetirement::from_client(rds_client.clone());
    let proxies = crate::RdsProxies::from_client(rds_client);
    let target_instance = naming::target_instance_id(SOURCE, TARGET, SOURCE_INSTANCE);
    assert_eq!(target_instance, format!("{SOURCE_INSTANCE}-enc"));
    let snapshot = naming::snapshot_id(SOURCE, EXECUTION);
    let tags = vec![Tag::new(naming::OWNER_TAG, SOURCE)];
    let now = OffsetDateTime::now_utc();
    let me = execution_arn(EXECUTION);
    let dms_state = state(&dms_spec(deployment));
    let mut by_function = BTreeMap::new();

    // Preflight: the source, its writer's class, its parameter group and who shares it, the
    // target ids, the key, the application's record, the secret binlog retention and the
    // read_only bypass are read with; last, the source's lock, taken over from an execution
    // that has ended.
    let kms = clients.kms();
    let secrets = clients.secrets();
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
    clients
        .route53()
        .resolve(HOSTED_ZONE, RECORD)
        .await
        .unwrap();
    secrets.secret_string(SECRET_ARN).await.unwrap();
    let lock = clients.lock(&execution_arn("exec-0"));
    let held = source_lock::acquire(&lock, &cluster_arn(SOURCE), &me, now)
        .await
        .unwrap();
    assert!(held.taken_over.is_some(), "the holder was asked about");
    by_function.insert("PreflightFunction", clients.authorised());

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
    by_function.insert("SnapshotFunction", clients.authorised());

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
    clusters
        .set_windows(
            TARGET,
            &aurora_core::ports::ClusterWindows {
                backup: Some("02:00-02:30".into()),
                maintenance: Some("sun:03:00-sun:03:30".into()),
            },
        )
        .await
        .unwrap();
    by_function.insert("RestoreFunction", clients.authorised());

    // BinlogPosition: the target writer's events.
    clusters
        .instance_events(&target_instance, now)
        .await
        .unwrap();
    by_function.insert("BinlogPositionFunction", clients.authorised());

    // CreateMigration over DMS: every resource looked up, none found, each created (with the
    // step's tags), then the migration's status and its start. Over native replication: both
    // secrets.
    let engines = clients.engines(false);
    let replication = engines.for_state(&dms_state).unwrap();
    let handle = replication
        .ensure_cdc(&CdcRequest {
            name: MIGRATION.into(),
            source: endpoint(SOURCE),
            target: endpoint(TARGET),
            start: BinlogPosition::new("mysql-bin-changelog.000005", 940),
            settings: dms_spec(deployment),
            tags: tags.clone(),
        })
        .await
        .unwrap();
    assert_eq!(handle.id, migration_handle().id);
    let engines = clients.engines(true);
    let replication = engines.for_state(&dms_state).unwrap();
    replication.status(&handle).await.unwrap();
    replication.start(&handle).await.unwrap();
    build_native(&engines).await;
    by_function.insert("CreateMigrationFunction", clients.authorised());

    // PollLatency: the status, CloudWatch's second opinion; native: both secrets.
    let handle = migration_handle();
    let replication = engines.for_state(&dms_state).unwrap();
    replication.status(&handle).await.unwrap();
    clients
        .cloudwatch()
        .cdc_latency(&handle, now - time::Duration::minutes(10))
        .await
        .unwrap();
    build_native(&engines).await;
    by_function.insert("PollLatencyFunction", clients.authorised());

    // FenceWrites: the lock checked; the saved record and what is there now read; whether the
    // parameter group is shared; the record saved, the cluster moved onto the fence group and
    // read_only set; the SQL half logs in to the source, and to the target to see the catch-up
    // marker arrive before the fence. UnfenceWrites: the groups put back,
    // read_only reset to its default, the record's tags removed.
    let record = FenceRecord {
        cluster_id: SOURCE.into(),
        methods: vec![FenceMethod::SecurityGroup, FenceMethod::ReadOnly],
        original_security_group_ids: Some(vec![APPLICATION_SG.into()]),
        fence_security_group_id: Some(FENCE_SG.into()),
        parameter_group: Some(SOURCE_GROUP.into()),
        original_read_only: None,
        fenced_at: now,
    };
    let lock = clients.lock(&me);
    source_lock::ensure_held(&lock, Some(&held_lock()), now)
        .await
        .unwrap();
    let unfenced = clients.rds(&fence_rules(APPLICATION_SG, &[], "0"));
    let fence = RdsWriteFence::from_client(unfenced.clone());
    fence.saved_record(SOURCE).await.unwrap();
    fence.current(SOURCE).await.unwrap();
    RdsClusterParameters::from_client(unfenced)
        .clusters_using(SOURCE_GROUP)
        .await
        .unwrap();
    fence.apply(&record).await.unwrap();
    let writers = StateWriters::new(
        secrets.clone(),
        ca_bundle_tls(Some(CA_BUNDLE.into())),
        dms_state.clone(),
    );
    writers.writer(SOURCE).await.unwrap();
    writers.writer(TARGET).await.unwrap();
    let fenced = clients.rds(&fence_rules(
        FENCE_SG,
        &encode_record(&record).unwrap(),
        "1",
    ));
    RdsWriteFence::from_client(fenced)
        .lift(&record)
        .await
        .unwrap();
    by_function.insert("FenceWritesFunction", clients.authorised());

    // Drain: the status, the marker read on the target; native: both secrets.
    let replication = engines.for_state(&dms_state).unwrap();
    replication.status(&handle).await.unwrap();
    writers.writer(TARGET).await.unwrap();
    build_native(&engines).await;
    by_function.insert("DrainFunction", clients.authorised());

    // Verify: both secrets; CheckParity: both clusters and their instances (the target's with
    // the `-enc` fallback name, outside the prefix).
    secrets.secret_string(SECRET_ARN).await.unwrap();
    secrets.secret_string(TARGET_SECRET_ARN).await.unwrap();
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters.describe_cluster(TARGET).await.unwrap();
    clusters.describe_instance(SOURCE_INSTANCE).await.unwrap();
    clusters
        .describe_instance(&format!("{SOURCE_INSTANCE}-enc"))
        .await
        .unwrap();
    by_function.insert("VerifyFunction", clients.authorised());

    // SwapDns (and the TTL actions, which make the same calls): the lock checked, the record
    // read, upserted, and its change polled.
    let lock = clients.lock(&me);
    source_lock::ensure_held(&lock, Some(&held_lock()), now)
        .await
        .unwrap();
    let dns = clients.route53();
    dns.resolve(HOSTED_ZONE, RECORD).await.unwrap();
    let change = dns
        .upsert_cname(HOSTED_ZONE, RECORD, "orders-encrypted.cluster-abc", 5)
        .await
        .unwrap();
    dns.change_status(&change.id).await.unwrap();
    // CheckProxy, SwapProxy and RevertProxy: the proxy read, the source deregistered and the
    // target registered (and back).
    proxies.describe_proxy(PROXY).await.unwrap();
    proxies.targets(PROXY).await.unwrap();
    proxies.deregister_cluster(PROXY, SOURCE).await.unwrap();
    proxies.register_cluster(PROXY, TARGET).await.unwrap();
    // RenameClusters (and its undoing): both clusters and their instances described and
    // renamed, the source's out of the way and the target's (outside the prefix) to its names.
    let away = naming::renamed_away(SOURCE, EXECUTION);
    clusters.custom_endpoints(SOURCE).await.unwrap();
    clusters.describe_cluster(SOURCE).await.unwrap();
    clusters.describe_cluster(&away).await.unwrap();
    clusters.describe_instance(SOURCE_INSTANCE).await.unwrap();
    clusters.describe_instance(&target_instance).await.unwrap();
    clusters.rename_cluster(SOURCE, &away).await.unwrap();
    clusters.rename_cluster(TARGET, SOURCE).await.unwrap();
    clusters
        .rename_instance(
            SOURCE_INSTANCE,
            &naming::renamed_away(SOURCE_INSTANCE, EXECUTION),
        )
        .await
        .unwrap();
    clusters
        .rename_instance(&target_instance, SOURCE_INSTANCE)
        .await
        .unwrap();
    // Then the source's custom endpoints moved: read on both clusters, deleted, created again.
    clusters.custom_endpoints(&away).await.unwrap();
    clusters
        .delete_custom_endpoint(CUSTOM_ENDPOINT)
        .await
        .unwrap();
    clusters
        .create_custom_endpoint(&aurora_core::ports::CustomEndpoint {
            id: CUSTOM_ENDPOINT.into(),
            cluster_id: SOURCE.into(),
            status: String::new(),
            endpoint_type: "READER".into(),
            static_members: vec![SOURCE_INSTANCE.into()],
            excluded_members: Vec::new(),
        })
        .await
        .unwrap();
    by_function.insert("SwapDnsFunction", clients.authorised());

    // StopMigration: the status and the stop; native: both secrets.
    let replication = engines.for_state(&dms_state).unwrap();
    replication.status(&handle).await.unwrap();
    replication.stop(&handle).await.unwrap();
    build_native(&engines).await;
    by_function.insert("StopMigrationFunction", clients.authorised());

    // Cleanup retiring the source: the lock checked; the migration stopped and removed (its
    // dependents by name); the fence's schema dropped on both sides; the final snapshot, the
    // instances, the cluster; the lock released. Native: both secrets.
    let lock = clients.lock(&me);
    source_lock::ensure_held(&lock, Some(&held_lock()), now)
        .await
        .unwrap();
    let replication = engines.for_state(&dms_state).unwrap();
    replication.status(&handle).await.unwrap();
    replication.stop(&handle).await.unwrap();
    replication.remove(&handle).await.unwrap();
    writers.writer(SOURCE).await.unwrap();
    writers.writer(TARGET).await.unwrap();
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
    source_lock::release(&lock, &held_lock()).await.unwrap();
    build_native(&engines).await;
    // Cleanup keeping the source with cleanup.disableSourceBinlog: binlog_format=OFF in its own
    // group, at its next reboot.
    RdsClusterParameters::from_client(clients.rds(&fence_rules(APPLICATION_SG, &[], "1")))
        .set_at_reboot(SOURCE_GROUP, "binlog_format", "OFF")
        .await
        .unwrap();
    by_function.insert("CleanupFunction", clients.authorised());

    by_function
}

fn check(
    deployment: Deployment,
    derived: &BTreeMap<&'static str, BTreeSet<Authorisation>>,
) -> Vec<String> {
    let template = Template::load(deployment);
    let name = deployment.name;
    let mut failures = Vec::new();
    let derived_functions: BTreeSet<String> = derived.keys().map(|f| f.to_string()).collect();
    if template.functions() != derived_functions {
        failures.push(format!(
            "the template's functions {:?} are not the derived ones {:?}",
            template.functions(),
            derived_functions
        ));
    }
    for (function, needed) in derived {
        let grants = template.grants(function);
        for wanted in needed {
            if !grants.iter().any(|grant| grant.allows(wanted)) {
                failures.push(format!(
                    "{function} ({name} deployment): {} on {} ({:?}) is not allowed",
                    wanted.action, wanted.resource, wanted.context
                ));
            }
        }
        // A grant no call used is one too many.
        for grant in &grants {
            if !needed.iter().any(|wanted| wanted.action == grant.action) {
                failures.push(format!(
                    "{function} ({name} deployment): {} is granted but never called",
                    grant.action
                ));
            } else if !needed.iter().any(|wanted| grant.allows(wanted)) {
                failures.push(format!(
                    "{function} ({name} deployment): {} on {} is granted but no call touches it",
                    grant.action, grant.resource
                ));
            }
        }
    }
    failures
}

#[tokio::test]
async fn every_call_is_allowed_and_every_grant_is_used_with_and_without_a_prefix() {
    let mut failures = Vec::new();
    for deployment in [OPEN, NARROW] {
        failures.extend(check(deployment, &derived(deployment).await));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
