//! `MigrationSpec`: the execution input (camelCase JSON), its defaults, and its validation.
//!
//! Parsing with [`MigrationSpec::from_json`] is strict: unknown fields and bad values fail with
//! `InvalidInput` naming the field, before anything is created. Steps read the spec leniently from
//! the state document (which also holds step results), after preflight validated it once.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::errors::InvalidInput;
use crate::naming;

/// Route 53 rejects larger TTLs; and clients would keep the old answer this long after a swap.
pub const MAX_DNS_TTL_SECONDS: i64 = 3600;
/// Low enough that clients follow the swap within seconds, high enough that resolvers still
/// cache between an application's reconnects.
const DEFAULT_DNS_TTL_SECONDS: i64 = 5;
/// The default target is the source's id with this suffix.
const DEFAULT_TARGET_SUFFIX: &str = "-encrypted";
/// The longest source id whose default target is still an identifier.
const MAX_SOURCE_ID_WITH_DEFAULT_TARGET: usize =
    naming::MAX_RDS_IDENTIFIER - DEFAULT_TARGET_SUFFIX.len();

/// The rules of [`MigrationSpec::validate`] as JSON Schema patterns, for the committed schema.
/// Written for both ECMA-262 (editors) and Rust's `regex`: ASCII classes only (`[0-9]`, never
/// `\d`), no look-around, anchored at both ends. `tests/tests/spec_schema.rs` runs one table of
/// specs through the schema and through `validate` and proves they agree case by case.
pub mod patterns {
    /// RDS cluster identifier (with `maxLength` [`MAX_RDS_IDENTIFIER`](crate::naming::MAX_RDS_IDENTIFIER)): a letter, then letters and digits, single
    /// hyphens between them.
    pub const RDS_IDENTIFIER: &str = "^[A-Za-z](-?[A-Za-z0-9])*$";
    /// The same, or empty (a source named by `sourceClusterResourceId` only).
    pub const RDS_IDENTIFIER_OR_EMPTY: &str = "^([A-Za-z](-?[A-Za-z0-9])*)?$";
    /// `DbClusterResourceId`, as AWS Config reports it.
    pub const CLUSTER_RESOURCE_ID: &str = "^cluster-[A-Z0-9]{1,64}$";
    /// With `minLength` 4: `db.` and a class.
    pub const INSTANCE_CLASS: &str = "^db\\.";
    /// An IAM role ARN (with `maxLength` 2048): a path of printable ASCII of at most 512
    /// characters counting `role`, a name of 1-64 `[\w+=,.@-]`.
    pub const IAM_ROLE_ARN: &str =
        "^arn:aws[a-z-]*:iam:[a-z0-9-]*:[0-9]{12}:role/([!-~]{0,507}/)?[A-Za-z0-9_+=,.@-]{1,64}$";
    /// A Lambda function ARN, with an optional version or alias.
    pub const LAMBDA_FUNCTION_ARN: &str =
        "^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:([$]LATEST|[A-Za-z0-9_-]{1,128}))?$";
    /// A Secrets Manager secret ARN (with `maxLength` 2048): a name of 1-512 letters, digits and
    /// `/_+=.@-`.
    pub const SECRET_ARN: &str =
        "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$";
    /// `ReplicationSubnetGroupIdentifier`: letters, digits, periods, spaces, underscores and
    /// hyphens, not all spaces (with `maxLength` 255, and `not` [`DEFAULT_NAME`]).
    pub const SUBNET_GROUP: &str = "^[A-Za-z0-9. _-]*[A-Za-z0-9._-][A-Za-z0-9. _-]*$";
    /// `default`, in any case: the name DMS reserves.
    pub const DEFAULT_NAME: &str = "^[Dd][Ee][Ff][Aa][Uu][Ll][Tt]$";
    pub const SECURITY_GROUP_ID: &str = "^sg-[0-9a-f]{8,17}$";
    /// A Route 53 hosted zone id, bare or as `/hostedzone/ID`.
    pub const HOSTED_ZONE_ID: &str = "^(/hostedzone/)*[A-Za-z0-9]{1,32}$";
    /// Route 53 record name labels (the 253-character limit is a `maxLength` beside it).
    pub const DNS_NAME: &str = "^(\\*\\.)?[A-Za-z0-9_-]{1,63}(\\.[A-Za-z0-9_-]{1,63})*\\.?$";
    /// An RFC 3339 timestamp's shape, for validators that do not check `format`.
    pub const TIMESTAMP: &str =
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

    /// A `parity.ignore` pattern: a kind (or `*`), a colon, a name with `*` and `?` wildcards.
    pub const PARITY_PATTERN: &str =
        "^(\\*.*|(variable|event|trigger|routine|view|timezone|account)([:*].*)?)$";
    /// `prewarm.tables`: `database.table`.
    pub const QUALIFIED_TABLE: &str = r"^[^.]+\.[^.]+$";
    /// The shape of a smoke query: it starts with `SELECT` or `WITH` (after blanks); the rest
    /// (one statement, no `INTO`) is checked by `validate` only.
    pub const SMOKE_QUERY: &str =
        "^[ \\t\\r\\n(]*([Ss][Ee][Ll][Ee][Cc][Tt]|[Ww][Ii][Tt][Hh])([^A-Za-z0-9_$]|$)";

    const UUID: &str =
        "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";
    const MRK: &str = "mrk-[0-9A-Fa-f]{32}";
    /// `AliasName`: at most 256 characters counting `alias/`.
    const ALIAS: &str = "alias/[A-Za-z0-9/_-]{1,250}";

    /// A KMS key id, multi-Region key id, alias, or key or alias ARN.
    pub fn kms_key() -> String {
        format!(
            "^({UUID}|{MRK}|{ALIAS}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{{12}}:(key/({UUID}|{MRK})|{ALIAS}))$"
        )
    }
}

/// The rules JSON Schema states with `if`/`then` rather than on one property: which source id
/// is required, and how long it may be when the target's id is its default.
fn spec_conditions() -> serde_json::Value {
    serde_json::json!([
        {
            "if": {
                "required": ["sourceClusterResourceId"],
                "properties": {"sourceClusterResourceId": {"type": "string"}}
            },
            "else": {
                "required": ["sourceClusterId"],
                "properties": {"sourceClusterId": {"minLength": 1}}
            }
        },
        {
            "if": {
                "required": ["targetClusterId"],
                "properties": {"targetClusterId": {"type": "string"}}
            },
            "else": {
                "properties": {"sourceClusterId": {"maxLength": MAX_SOURCE_ID_WITH_DEFAULT_TARGET}}
            }
        },
        // One way to move the application: `dns` and `proxy` exclude each other, a method
        // needs its section, and `rename` takes neither.
        {"not": {"required": ["dns", "proxy"]}},
        method_needs("dns", serde_json::json!({"required": ["dns"]})),
        method_needs("proxy", serde_json::json!({"required": ["proxy"]})),
        method_needs(
            "rename",
            serde_json::json!({"not": {"anyOf": [{"required": ["dns"]}, {"required": ["proxy"]}]}}),
        ),
    ])
}

/// `then` when `switchover.method` is `method`.
fn method_needs(method: &str, then: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "if": {
            "required": ["switchover"],
            "properties": {
                "switchover": {"required": ["method"], "properties": {"method": {"const": method}}}
            }
        },
        "then": then
    })
}

/// `window` mode needs `windowStart`; a `security-group` fence needs `fenceSecurityGroupId`.
fn switchover_conditions() -> serde_json::Value {
    serde_json::json!([
        {
            "if": {"required": ["mode"], "properties": {"mode": {"const": "window"}}},
            "then": {
                "required": ["windowStart"],
                "properties": {"windowStart": {"type": "string"}}
            }
        },
        {
            "if": {
                "required": ["fence"],
                "properties": {"fence": {"contains": {"const": "security-group"}}}
            },
            "then": {
                "required": ["fenceSecurityGroupId"],
                "properties": {"fenceSecurityGroupId": {"type": "string"}}
            }
        }
    ])
}

/// What to encrypt, how to replicate, and how to switch over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    title = "aurora-encrypt migration spec",
    deny_unknown_fields,
    extend("allOf" = spec_conditions())
)]
pub struct MigrationSpec {
    /// The unencrypted (or to be re-keyed) Aurora MySQL cluster. May be left out when
    /// `sourceClusterResourceId` names it instead; preflight then fills it in.
    #[serde(default)]
    #[schemars(
        length(max = naming::MAX_RDS_IDENTIFIER),
        pattern(patterns::RDS_IDENTIFIER_OR_EMPTY)
    )]
    pub source_cluster_id: String,
    /// The encrypted copy to create; default `<sourceClusterId>-encrypted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = naming::MAX_RDS_IDENTIFIER),
        pattern(patterns::RDS_IDENTIFIER)
    )]
    pub target_cluster_id: Option<String>,
    /// KMS key id, alias or ARN; default the account's `aws/rds` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::kms_key()))]
    pub kms_key_id: Option<String>,
    /// Instance class for every target instance; default each source instance's class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 4), pattern(patterns::INSTANCE_CLASS))]
    pub instance_class: Option<String>,
    pub replication: ReplicationSpec,
    #[serde(default)]
    pub binlog_retention: BinlogRetentionSpec,
    #[serde(default)]
    pub switchover: SwitchoverSpec,
    /// The application's CNAME; no DNS swap when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,
    /// The RDS Proxy the application connects through, re-targeted at the switchover
    /// (`switchover.method: proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySpec>,
    #[serde(default)]
    pub verify: VerifySpec,
    /// Warm the target's caches before the switchover gate; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prewarm: Option<PrewarmSpec>,
    /// The configuration comparison before the switchover gate (and again under the fence).
    #[serde(default)]
    pub parity: ParitySpec,
    /// Read-only queries run on the target's writer before the switchover gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeSpec>,
    #[serde(default)]
    pub cleanup: CleanupSpec,
    /// A way back after the switchover: the old cluster follows the new one for a window.
    #[serde(default)]
    pub failback: FailbackSpec,
    /// Run preflight only and report the plan.
    #[serde(default)]
    pub dry_run: bool,
    /// The source by its resource id (`cluster-…`), as AWS Config reports it; preflight resolves
    /// it to `sourceClusterId` (DescribeDBClusters, filter `db-cluster-resource-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::CLUSTER_RESOURCE_ID))]
    pub source_cluster_resource_id: Option<String>,
}

/// How change data capture reaches the target.
// Deserialized through `ReplicationFields`, not as a buffered internally tagged enum, so that
// strict parsing sees every field: a field of the other engine is refused by name rather than
// dropped.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum ReplicationSpec {
    /// AWS DMS homogeneous data migration (type `cdc`).
    Dms(DmsReplication),
    /// MySQL binlog replication configured on the target with `mysql.rds_*` procedures.
    Native(NativeReplication),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DmsReplication {
    /// IAM role DMS assumes to run the data migration.
    #[schemars(length(max = 2048), pattern(patterns::IAM_ROLE_ARN))]
    pub service_role_arn: String,
    /// IAM role DMS assumes to read the secrets; default `serviceRoleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(patterns::IAM_ROLE_ARN))]
    pub secrets_access_role_arn: Option<String>,
    /// Secrets Manager secret with the source's replication user.
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub source_secret_arn: String,
    /// Secrets Manager secret with the target's admin user.
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub target_secret_arn: String,
    pub instance_profile: InstanceProfileSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Engine {
    Dms,
    Native,
}

/// The fields of every engine in one flat object; [`ReplicationSpec`] keeps the chosen engine's
/// and refuses the others'. `Some(None)` is a field given as `null`: present all the same.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicationFields {
    engine: Engine,
    #[serde(default, deserialize_with = "present")]
    service_role_arn: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    secrets_access_role_arn: Option<Option<String>>,
    source_secret_arn: String,
    target_secret_arn: String,
    #[serde(default, deserialize_with = "present")]
    instance_profile: Option<Option<InstanceProfileSpec>>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ReplicationSpec {
    /// The secret of the source's database user, whichever engine replicates.
    pub fn source_secret_arn(&self) -> &str {
        match self {
            ReplicationSpec::Dms(dms) => &dms.source_secret_arn,
            ReplicationSpec::Native(native) => &native.source_secret_arn,
        }
    }

    /// The secret of the target's database user, whichever engine replicates.
    pub fn target_secret_arn(&self) -> &str {
        match self {
            ReplicationSpec::Dms(dms) => &dms.target_secret_arn,
            ReplicationSpec::Native(native) => &native.target_secret_arn,
        }
    }
}

impl ReplicationFields {
    /// The first DMS-only field given to another engine, as the spec spells it.
    fn misplaced(&self) -> Option<&'static str> {
        if self.engine == Engine::Dms {
            return None;
        }
        [
            ("serviceRoleArn", self.service_role_arn.is_some()),
            (
                "secretsAccessRoleArn",
                self.secrets_access_role_arn.is_some(),
            ),
            ("instanceProfile", self.instance_profile.is_some()),
        ]
        .into_iter()
        .find_map(|(field, given)| given.then_some(field))
    }
}

/// The DMS-only field a spec's `replication` gives another engine, to name it in the error (the
/// deserializer's own error can only name `replication`).
fn misplaced_replication_field(text: &str) -> Option<&'static str> {
    let spec: serde_json::Value = serde_json::from_str(text).ok()?;
    let fields: ReplicationFields =
        serde_json::from_value(spec.get("replication")?.clone()).ok()?;
    fields.misplaced()
}

/// Why `field` is refused under `engine: native`.
fn misplaced_reason(field: &str) -> String {
    format!("`{field}` is a field of engine `dms`; engine `native` takes only `sourceSecretArn` and `targetSecretArn`")
}

impl<'de> Deserialize<'de> for ReplicationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let fields = ReplicationFields::deserialize(deserializer)?;
        if let Some(field) = fields.misplaced() {
            return Err(D::Error::custom(misplaced_reason(field)));
        }
        match fields.engine {
            Engine::Native => Ok(ReplicationSpec::Native(NativeReplication {
                source_secret_arn: fields.source_secret_arn,
                target_secret_arn: fields.target_secret_arn,
            })),
            Engine::Dms => Ok(ReplicationSpec::Dms(DmsReplication {
                service_role_arn: fields
                    .service_role_arn
                    .flatten()
                    .ok_or_else(|| D::Error::missing_field("serviceRoleArn"))?,
                secrets_access_role_arn: fields.secrets_access_role_arn.flatten(),
                source_secret_arn: fields.source_secret_arn,
                target_secret_arn: fields.target_secret_arn,
                instance_profile: fields
                    .instance_profile
                    .flatten()
                    .ok_or_else(|| D::Error::missing_field("instanceProfile"))?,
            })),
        }
    }
}

/// Where DMS runs: a subnet group and security groups that reach both clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceProfileSpec {
    #[schemars(
        length(max = 255),
        pattern(patterns::SUBNET_GROUP),
        extend("not" = {"pattern": patterns::DEFAULT_NAME})
    )]
    pub subnet_group_identifier: String,
    #[serde(default)]
    #[schemars(inner(pattern(patterns::SECURITY_GROUP_ID)))]
    pub vpc_security_group_ids: Vec<String>,
    #[serde(default)]
    pub publicly_accessible: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct NativeReplication {
    /// Secret with the replication user the target connects to the source as.
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub source_secret_arn: String,
    /// Secret with the target's admin user (runs `mysql.rds_set_external_*`).
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub target_secret_arn: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchoverMode {
    /// Wait for a person to approve (task token).
    #[default]
    Approval,
    /// Switch at `windowStart`.
    Window,
    /// Switch as soon as the target is in sync.
    Auto,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FenceMethod {
    /// Move the source onto a security group that admits only the replication path.
    SecurityGroup,
    /// Set `read_only` in the source's own cluster parameter group.
    ReadOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowMissed {
    /// Keep replicating and notify; a person decides.
    #[default]
    Keep,
    /// Roll back.
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, extend("allOf" = switchover_conditions()))]
pub struct SwitchoverSpec {
    #[serde(default)]
    pub mode: SwitchoverMode,
    /// How the application is moved to the target: `dns` (swap `dns`'s CNAME), `proxy`
    /// (re-target `proxy`'s RDS Proxy) or `rename` (the target takes the source's name and
    /// endpoints). Default: the one whose section is given; neither: the application is moved
    /// by other means once the run reports the swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<SwitchoverMethod>,
    /// RFC 3339; required in `window` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"), pattern(patterns::TIMESTAMP))]
    pub window_start: Option<String>,
    /// RFC 3339; if the target is not in sync by then, do not switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"), pattern(patterns::TIMESTAMP))]
    pub window_end: Option<String>,
    #[serde(default)]
    pub on_window_missed: WindowMissed,
    /// CDC lag at or below which the target counts as in sync before fencing.
    #[serde(default = "default_max_lag_seconds")]
    #[schemars(range(max = MAX_LAG_SECONDS))]
    pub max_lag_seconds: u32,
    /// How long the fenced drain may take before the switchover is abandoned.
    #[serde(default = "default_drain_timeout_seconds")]
    #[schemars(range(min = DRAIN_TIMEOUT_SECONDS.0, max = DRAIN_TIMEOUT_SECONDS.1))]
    pub drain_timeout_seconds: u32,
    #[serde(default = "default_fence")]
    #[schemars(length(min = 1))]
    pub fence: Vec<FenceMethod>,
    /// Required when `fence` includes `security-group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::SECURITY_GROUP_ID))]
    pub fence_security_group_id: Option<String>,
}

/// The largest `maxLagSeconds`: an hour behind is not "in sync".
const MAX_LAG_SECONDS: u32 = 3600;
/// `drainTimeoutSeconds` bounds: at least one poll, at most an hour of write downtime.
const DRAIN_TIMEOUT_SECONDS: (u32, u32) = (10, 3600);

fn default_max_lag_seconds() -> u32 {
    5
}
fn default_drain_timeout_seconds() -> u32 {
    300
}
fn default_fence() -> Vec<FenceMethod> {
    vec![FenceMethod::ReadOnly]
}

impl Default for SwitchoverSpec {
    fn default() -> Self {
        Self {
            mode: SwitchoverMode::default(),
            method: None,
            window_start: None,
            window_end: None,
            on_window_missed: WindowMissed::default(),
            max_lag_seconds: default_max_lag_seconds(),
            drain_timeout_seconds: default_drain_timeout_seconds(),
            fence: default_fence(),
            fence_security_group_id: None,
        }
    }
}

/// How the application reaches the target once writes are fenced and drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchoverMethod {
    /// The application resolves a CNAME (`dns`), swapped to the target's writer endpoint.
    Dns,
    /// The application connects through an RDS Proxy (`proxy`), whose default target group
    /// moves from the source cluster to the target.
    Proxy,
    /// The application connects to the cluster's own endpoints: the source and its instances
    /// are renamed out of the way and the target takes their names (as Blue/Green does).
    Rename,
}

/// The RDS Proxy the application connects through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProxySpec {
    /// `DBProxyName`; its default target group must track the source cluster.
    #[schemars(length(min = 1, max = 63), pattern(patterns::RDS_IDENTIFIER))]
    pub name: String,
    /// One of the proxy's own secrets (its `Auth`): a session through the proxy, logged in with
    /// it, must reach the target's writer before the switchover counts as done.
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub secret_arn: String,
    /// How long the re-targeted proxy may take to reach the target's writer (RDS registers a
    /// target in about a minute) before the switchover is rolled back.
    #[serde(default = "default_proxy_timeout_seconds")]
    #[schemars(range(min = MIN_PROXY_TIMEOUT_SECONDS, max = MAX_PROXY_TIMEOUT_SECONDS))]
    pub timeout_seconds: u32,
}

const MIN_PROXY_TIMEOUT_SECONDS: u32 = 30;
const MAX_PROXY_TIMEOUT_SECONDS: u32 = 1800;

fn default_proxy_timeout_seconds() -> u32 {
    300
}

/// The application's DNS name, swapped from the source's writer endpoint to the target's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DnsSpec {
    #[schemars(pattern(patterns::HOSTED_ZONE_ID))]
    pub hosted_zone_id: String,
    /// At most 253 characters without the final dot.
    #[schemars(
        pattern(patterns::DNS_NAME),
        extend("anyOf" = [{"maxLength": 253}, {"maxLength": 254, "pattern": "\\.$"}])
    )]
    pub record_name: String,
    /// The switchover TTL: the record is lowered to it early in the run (its own TTL is recorded
    /// and put back after cleanup or rollback), and the swap uses it. Signed so that a negative
    /// TTL is reported as such rather than as a parse error.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0, max = MAX_DNS_TTL_SECONDS))]
    pub ttl_seconds: i64,
}

fn default_ttl() -> i64 {
    DEFAULT_DNS_TTL_SECONDS
}

/// How source and target are compared before the swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// No comparison.
    Off,
    /// Row counts of every table while writes are fenced (a full scan of each table).
    Counts,
    /// Chunk by chunk while replication runs, before the switchover gate; then, while writes
    /// are fenced, only the rows the source's binlog shows written since the online pass
    /// started. The fenced cost grows with the writes, not with the data.
    #[default]
    Online,
    /// Row counts and `CHECKSUM TABLE` of every table while writes are fenced: the fenced
    /// cost grows with the data. `checksums` is its former name.
    #[serde(rename = "full-fenced", alias = "checksums")]
    FullFenced,
}

/// Written by hand so that the former name `checksums`, which the parser still takes, is valid
/// in editors too.
impl JsonSchema for VerifyMode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VerifyMode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mode = |name: &str, description: &str| serde_json::json!({ "const": name, "description": description, "type": "string" });
        schemars::json_schema!({
            "description": "How source and target are compared before the swap.",
            "oneOf": [
                mode("off", "No comparison."),
                mode("counts", "Row counts of every table while writes are fenced (a full scan of each table)."),
                mode("online", "Chunk by chunk while replication runs, before the switchover gate; then, while writes are fenced, only the rows the source's binlog shows written since the online pass started. The fenced cost grows with the writes, not with the data."),
                mode("full-fenced", "Row counts and CHECKSUM TABLE of every table while writes are fenced: the fenced cost grows with the data."),
                mode("checksums", "The former name of full-fenced."),
            ]
        })
    }
}

/// The consistency check between source and target before the swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct VerifySpec {
    #[serde(default)]
    pub mode: VerifyMode,
    /// Databases to compare; default every user database.
    #[serde(default)]
    pub databases: Vec<String>,
    /// The fenced comparison beyond this is abandoned (the switchover rolls back).
    #[serde(default = "default_verify_timeout_seconds")]
    #[schemars(range(max = u32::MAX))]
    pub timeout_seconds: u32,
    /// `online`: rows per chunk (a range of the primary or a NOT NULL unique key).
    #[serde(default = "default_chunk_rows")]
    #[schemars(range(min = 1, max = MAX_CHUNK_ROWS))]
    pub chunk_rows: u32,
    /// `online`: pause between two chunks, to bound the load on both clusters.
    #[serde(default)]
    #[schemars(range(max = MAX_CHUNK_PAUSE_MS))]
    pub chunk_pause_ms: u32,
    /// `online`: chunks compared by one invocation before the state machine calls again.
    #[serde(default = "default_chunks_per_invocation")]
    #[schemars(range(min = 1, max = MAX_CHUNKS_PER_INVOCATION))]
    pub chunks_per_invocation: u32,
    /// `online`: when the source's binlog shows more distinct rows written since the online
    /// pass started, the fenced re-check compares every table in full instead.
    #[serde(default = "default_max_touched_rows")]
    #[schemars(range(min = 1, max = u32::MAX))]
    pub max_touched_rows: u32,
}

/// Largest `verify.chunkRows`: one chunk is one indexed range read per side.
pub const MAX_CHUNK_ROWS: u32 = 1_000_000;
/// Largest `verify.chunkPauseMs`.
pub const MAX_CHUNK_PAUSE_MS: u32 = 60_000;
/// Largest `verify.chunksPerInvocation`.
pub const MAX_CHUNKS_PER_INVOCATION: u32 = 100_000;

fn default_verify_timeout_seconds() -> u32 {
    600
}

fn default_chunk_rows() -> u32 {
    1_000
}

fn default_chunks_per_invocation() -> u32 {
    1_000
}

fn default_max_touched_rows() -> u32 {
    100_000
}

impl Default for VerifySpec {
    fn default() -> Self {
        Self {
            mode: VerifyMode::default(),
            databases: Vec::new(),
            timeout_seconds: default_verify_timeout_seconds(),
            chunk_rows: default_chunk_rows(),
            chunk_pause_ms: 0,
            chunks_per_invocation: default_chunks_per_invocation(),
            max_touched_rows: default_max_touched_rows(),
        }
    }
}

/// Pre-warming the target's buffer pools before the switchover gate: a restored cluster starts
/// cold, so the first minutes after the swap would be slow. The source's most expensive SELECT
/// statements are replayed, read-only, on the target's writer and each reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PrewarmSpec {
    /// How many of the source's statements, by total time
    /// (`performance_schema.events_statements_summary_by_digest`), are considered; only
    /// SELECTs are replayed.
    #[serde(default = "default_prewarm_statements")]
    #[schemars(range(max = MAX_PREWARM_STATEMENTS))]
    pub top_statements: u32,
    /// Tables (`database.table`) whose primary key is read in full on every instance.
    #[serde(default)]
    #[schemars(inner(pattern(patterns::QUALIFIED_TABLE)))]
    pub tables: Vec<String>,
    /// The whole pre-warm, every instance, stops after this; what did not run is reported.
    #[serde(default = "default_prewarm_seconds")]
    #[schemars(range(min = 1, max = MAX_PREWARM_SECONDS))]
    pub time_budget_seconds: u32,
}

/// Largest `prewarm.topStatements`.
pub const MAX_PREWARM_STATEMENTS: u32 = 1_000;
/// Largest `prewarm.timeBudgetSeconds`: one Lambda invocation's worth, with a margin.
pub const MAX_PREWARM_SECONDS: u32 = 600;

fn default_prewarm_statements() -> u32 {
    20
}

fn default_prewarm_seconds() -> u32 {
    60
}

/// The source's `binlog retention hours`, which must cover the snapshot, the restore and the
/// catch-up (preflight checks it against the required hours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BinlogRetentionSpec {
    /// When it is shorter than the run needs, raise it (`mysql.rds_set_configuration`) before
    /// the snapshot instead of failing preflight; the original is recorded on the source and
    /// put back at cleanup when the source is kept, and on rollback.
    #[serde(default)]
    pub set: bool,
    /// The secret of the user that raises it and puts it back: one allowed to call
    /// `mysql.rds_set_configuration` and to create the run's schema (`aurora_encrypt`), such as
    /// the master user's secret RDS manages. Default `replication.sourceSecretArn`, whose
    /// replication user usually may not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(patterns::SECRET_ARN))]
    pub secret_arn: Option<String>,
}

impl MigrationSpec {
    /// The secret binlog retention is read, raised and put back with.
    pub fn binlog_retention_secret_arn(&self) -> &str {
        self.binlog_retention
            .secret_arn
            .as_deref()
            .unwrap_or_else(|| self.replication.source_secret_arn())
    }
}

/// The parity check: the settings of source and target that binlog replication does not carry
/// (global variables, events, triggers, routines, views, time zone tables, accounts) compared
/// before the switchover gate and again under the fence. A difference fails the run with
/// `ParityMismatch` unless a pattern of `ignore` matches its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ParitySpec {
    /// Compare at all. Off, the accounts are still compared under the fence.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Names of settings whose differences are allowed, with `*` (any run of characters) and
    /// `?` (one character): `variable:innodb_*`, `account:'reporting'@'%'`, `view:shop.*`.
    /// A name starts with its kind: `variable`, `event`, `trigger`, `routine`, `view`,
    /// `timezone`, `account`.
    #[serde(default)]
    #[schemars(length(max = MAX_PARITY_IGNORE), inner(length(min = 1, max = 256), pattern(patterns::PARITY_PATTERN)))]
    pub ignore: Vec<String>,
}

/// Most `parity.ignore` patterns.
pub const MAX_PARITY_IGNORE: usize = 200;

impl Default for ParitySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            ignore: Vec::new(),
        }
    }
}

/// The application's critical operations, tested on the target before the switchover gate:
/// queries run on its writer, each in a read-only transaction, and the user's own function,
/// invoked with the target's endpoints. A query that fails, or a function that raises an error,
/// stops the run (`SmokeQueryFailed`) before writes are fenced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SmokeSpec {
    /// Each a single `SELECT` or `WITH` statement (no `INTO`, at most one trailing `;`).
    #[schemars(length(max = MAX_SMOKE_QUERIES), inner(length(min = 1, max = MAX_SMOKE_QUERY_LENGTH), pattern(patterns::SMOKE_QUERY)))]
    #[serde(default)]
    pub queries: Vec<String>,
    /// A Lambda function the state machine invokes synchronously after the queries, with the
    /// execution and the source's and target's endpoints; it raises an error to stop the run.
    /// The deployment must allow it (the stack's `SmokeFunctionArns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), pattern(patterns::LAMBDA_FUNCTION_ARN))]
    pub function_arn: Option<String>,
    /// Longest run of one query.
    #[serde(default = "default_smoke_timeout_seconds")]
    #[schemars(range(min = 1, max = MAX_SMOKE_TIMEOUT_SECONDS))]
    pub timeout_seconds: u32,
}

/// Most `smoke.queries`: they run one after the other within one invocation of the verify
/// function (15 minutes), each for at most [`MAX_SMOKE_TIMEOUT_SECONDS`] and a few seconds.
pub const MAX_SMOKE_QUERIES: usize = 10;
/// Longest `smoke.queries` entry, in characters.
pub const MAX_SMOKE_QUERY_LENGTH: usize = 10_000;
/// Largest `smoke.timeoutSeconds`: ten such queries fit in one invocation.
pub const MAX_SMOKE_TIMEOUT_SECONDS: u32 = 60;

fn default_smoke_timeout_seconds() -> u32 {
    30
}

/// Why `sql` is not a single read-only `SELECT`/`WITH` statement, if it is not. Comments and
/// quoted text are skipped; what is refused: another first keyword, `INTO` (`INTO OUTFILE`
/// writes a file, `INTO @v` a variable), and a `;` followed by anything but blanks.
pub fn smoke_query_problem(sql: &str) -> Option<String> {
    let Some(words) = sql_words(sql) else {
        return Some(
            "holds more than one statement, or a quote or comment that does not end".into(),
        );
    };
    let first = words.first().map(|w| w.to_ascii_uppercase());
    match first.as_deref() {
        Some("SELECT" | "WITH") => {}
        Some(other) => return Some(format!("starts with {other}: only SELECT or WITH is run")),
        None => return Some("is empty".into()),
    }
    if words.iter().any(|w| w.eq_ignore_ascii_case("INTO")) {
        return Some("uses INTO: a smoke query only reads".into());
    }
    None
}

/// The bare words of `sql` outside comments and quotes, or `None` when it holds more than one
/// statement or an unterminated quote or comment.
fn sql_words(sql: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = sql.chars().collect();
    let (mut words, mut word) = (Vec::new(), String::new());
    let mut i = 0;
    let mut ended = false;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if ended && !c.is_whitespace() && c != ';' {
            return None;
        }
        match c {
            '\'' | '"' | '`' => {
                flush(&mut word, &mut words);
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return None,
                        Some('\\') if c != '`' => i += 2,
                        Some(q) if *q == c => {
                            // A doubled quote stays inside the text.
                            if chars.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            '#' => {
                flush(&mut word, &mut words);
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '-' if next == Some('-') && chars.get(i + 2).is_none_or(|c| c.is_whitespace()) => {
                flush(&mut word, &mut words);
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                flush(&mut word, &mut words);
                i += 2;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return None,
                        (Some('*'), Some('/')) => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            ';' => {
                flush(&mut word, &mut words);
                ended = true;
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => word.push(c),
            _ => flush(&mut word, &mut words),
        }
        i += 1;
    }
    flush(&mut word, &mut words);
    Some(words)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CleanupSpec {
    /// Delete the DMS resources this run created once the swap is done.
    #[serde(default = "yes")]
    pub delete_migration_resources: bool,
    /// Delete the source after a final snapshot. Never done unless asked.
    #[serde(default)]
    pub retire_source: bool,
    /// On rollback, delete the target instead of keeping it for inspection.
    #[serde(default)]
    pub delete_target_on_rollback: bool,
    /// After the switchover, when the source is kept, set `binlog_format=OFF` in its own
    /// cluster parameter group (applied at its next reboot): nothing replicates from it any
    /// more, and binlogging costs write latency and storage. Never on rollback.
    #[serde(default)]
    pub disable_source_binlog: bool,
}

fn yes() -> bool {
    true
}

/// The longest failback window: the reverse replication reads the new cluster's binlog, and
/// the old cluster, unencrypted, holds every write, for this long at most.
pub const MAX_FAILBACK_WINDOW_HOURS: u32 = 720;

/// After the switchover, replication runs back from the new cluster to the old one for
/// `windowHours`, so that `aurora-encrypt failback` can move the application back without
/// losing a write. Off by default: the old cluster is unencrypted and receives every write
/// again while the window is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FailbackSpec {
    /// Hours the way back stays open after the DNS swap; 0 (the default) turns it off. Needs
    /// the `dns` switchover method.
    #[serde(default)]
    #[schemars(range(max = MAX_FAILBACK_WINDOW_HOURS))]
    pub window_hours: u32,
}

impl FailbackSpec {
    pub fn enabled(&self) -> bool {
        self.window_hours > 0
    }
}

impl Default for CleanupSpec {
    fn default() -> Self {
        Self {
            delete_migration_resources: true,
            retire_source: false,
            delete_target_on_rollback: false,
            disable_source_binlog: false,
        }
    }
}

impl MigrationSpec {
    /// Parses an execution input strictly: unknown fields and type errors name the field.
    pub fn from_json(text: &str) -> Result<Self, InvalidInput> {
        let mut unknown = Vec::new();
        let mut track = serde_path_to_error::Track::new();
        let mut json = serde_json::Deserializer::from_str(text);
        let tracked = serde_path_to_error::Deserializer::new(&mut json, &mut track);
        let parsed: Result<Self, _> =
            serde_ignored::deserialize(tracked, |path| unknown.push(path.to_string()));
        // serde_ignored writes `?` for the inside of an Option: `dns.?.ttl` is `dns.ttl`.
        let unknown = unknown.into_iter().map(|p| {
            p.split('.')
                .filter(|s| *s != "?")
                .collect::<Vec<_>>()
                .join(".")
        });
        let spec = match parsed.and_then(|spec| json.end().map(|()| spec)) {
            Ok(spec) => spec,
            Err(error) => {
                let field = track.path().to_string();
                if field == "replication" {
                    if let Some(field) = misplaced_replication_field(text) {
                        return Err(InvalidInput::new(
                            format!("replication.{field}"),
                            misplaced_reason(field),
                        ));
                    }
                }
                let field = if field == "." { "$".to_string() } else { field };
                return Err(InvalidInput::new(field, error.to_string()));
            }
        };
        if let Some(field) = unknown.into_iter().next() {
            return Err(InvalidInput::new(field, "unknown field"));
        }
        Ok(spec)
    }

    /// [`Self::from_json`] for a spec already parsed as JSON (the preflight step's input), with
    /// the same strictness; a JSON string holding the spec's text is parsed as that text.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, InvalidInput> {
        match value {
            serde_json::Value::String(text) => Self::from_json(text),
            serde_json::Value::Object(_) => Self::from_json(&value.to_string()),
            _ => Err(InvalidInput::new("$", "the spec must be a JSON object")),
        }
    }

    pub fn target_cluster_id(&self) -> String {
        self.target_cluster_id
            .clone()
            .unwrap_or_else(|| format!("{}{DEFAULT_TARGET_SUFFIX}", self.source_cluster_id))
    }

    /// Checks everything that can be checked without calling AWS. `now` is used to refuse a
    /// maintenance window that has already passed.
    pub fn validate(&self, now: OffsetDateTime) -> Result<(), InvalidInput> {
        if let Some(resource_id) = &self.source_cluster_resource_id {
            check(
                naming::is_cluster_resource_id(resource_id),
                "sourceClusterResourceId",
                "must be a cluster resource id like cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ (DbClusterResourceId)",
            )?;
        }
        // A source named only by its resource id is checked once preflight has resolved it.
        let resolved =
            !self.source_cluster_id.is_empty() || self.source_cluster_resource_id.is_none();
        if resolved {
            check(
                naming::is_valid_rds_identifier(&self.source_cluster_id),
                "sourceClusterId",
                "must be 1-63 letters, digits or hyphens, start with a letter, and not end with or contain two hyphens",
            )?;
        }
        if resolved || self.target_cluster_id.is_some() {
            let target = self.target_cluster_id();
            check(
                naming::is_valid_rds_identifier(&target),
                "targetClusterId",
                format!("`{target}` is not a valid cluster identifier (set targetClusterId explicitly if the default is too long)"),
            )?;
            check(
                !target.eq_ignore_ascii_case(&self.source_cluster_id),
                "targetClusterId",
                "must differ from sourceClusterId",
            )?;
        }
        if let Some(key) = &self.kms_key_id {
            check(
                is_kms_key_reference(key),
                "kmsKeyId",
                "must be a key id, alias/NAME, or a KMS key or alias ARN",
            )?;
        }
        if let Some(class) = &self.instance_class {
            check(
                class.starts_with("db.") && class.len() > 3,
                "instanceClass",
                "must look like db.r6g.large",
            )?;
        }
        self.validate_replication()?;
        self.validate_switchover(now)?;
        self.validate_failback()?;
        self.validate_verify()?;
        self.validate_parity()?;
        if let Some(dns) = &self.dns {
            let zone = dns.hosted_zone_id.trim_start_matches("/hostedzone/");
            check(
                !zone.is_empty()
                    && zone.len() <= 32
                    && zone.chars().all(|c| c.is_ascii_alphanumeric()),
                "dns.hostedZoneId",
                "must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ",
            )?;
            if let Err(reason) = naming::check_dns_name(&dns.record_name) {
                return Err(InvalidInput::new("dns.recordName", reason));
            }
            check(
                dns.ttl_seconds >= 0,
                "dns.ttlSeconds",
                "must not be negative",
            )?;
            check(
                dns.ttl_seconds <= MAX_DNS_TTL_SECONDS,
                "dns.ttlSeconds",
                format!("must be at most {MAX_DNS_TTL_SECONDS}: clients keep the old answer that long after the swap"),
            )?;
        }
        Ok(())
    }

    fn validate_replication(&self) -> Result<(), InvalidInput> {
        match &self.replication {
            ReplicationSpec::Dms(dms) => {
                check_arn(
                    &dms.service_role_arn,
                    "replication.serviceRoleArn",
                    "iam",
                    "role/",
                )?;
                if let Some(role) = &dms.secrets_access_role_arn {
                    check_arn(role, "replication.secretsAccessRoleArn", "iam", "role/")?;
                }
                check_arn(
                    &dms.source_secret_arn,
                    "replication.sourceSecretArn",
                    "secretsmanager",
                    "secret:",
                )?;
                check_arn(
                    &dms.target_secret_arn,
                    "replication.targetSecretArn",
                    "secretsmanager",
                    "secret:",
                )?;
                let profile = &dms.instance_profile;
                // ReplicationSubnetGroupIdentifier: at most 255 letters, digits, periods,
                // spaces, underscores or hyphens, and not `default`.
                let subnet = &profile.subnet_group_identifier;
                check(
                    !subnet.trim().is_empty()
                        && subnet.len() <= 255
                        && !subnet.eq_ignore_ascii_case("default")
                        && subnet
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-')),
                    "replication.instanceProfile.subnetGroupIdentifier",
                    "must name a DMS subnet group: at most 255 letters, digits, periods, spaces, underscores or hyphens, not `default`",
                )?;
                for (i, group) in profile.vpc_security_group_ids.iter().enumerate() {
                    check(
                        is_security_group_id(group),
                        format!("replication.instanceProfile.vpcSecurityGroupIds[{i}]"),
                        "must be a security group id like sg-0123456789abcdef0",
                    )?;
                }
            }
            ReplicationSpec::Native(native) => {
                check_arn(
                    &native.source_secret_arn,
                    "replication.sourceSecretArn",
                    "secretsmanager",
                    "secret:",
                )?;
                check_arn(
                    &native.target_secret_arn,
                    "replication.targetSecretArn",
                    "secretsmanager",
                    "secret:",
                )?;
            }
        }
        if let Some(prewarm) = &self.prewarm {
            check(
                prewarm.top_statements <= MAX_PREWARM_STATEMENTS,
                "prewarm.topStatements",
                format!("must be at most {MAX_PREWARM_STATEMENTS}"),
            )?;
            check(
                (1..=MAX_PREWARM_SECONDS).contains(&prewarm.time_budget_seconds),
                "prewarm.timeBudgetSeconds",
                format!("must be 1 to {MAX_PREWARM_SECONDS}"),
            )?;
            for (i, table) in prewarm.tables.iter().enumerate() {
                check(
                    table
                        .split_once('.')
                        .is_some_and(|(db, t)| !db.is_empty() && !t.is_empty() && !t.contains('.')),
                    format!("prewarm.tables[{i}]"),
                    "must be `database.table`",
                )?;
            }
        }
        if let Some(secret) = &self.binlog_retention.secret_arn {
            check_arn(
                secret,
                "binlogRetention.secretArn",
                "secretsmanager",
                "secret:",
            )?;
        }
        Ok(())
    }

    fn validate_verify(&self) -> Result<(), InvalidInput> {
        let v = &self.verify;
        check(
            (1..=MAX_CHUNK_ROWS).contains(&v.chunk_rows),
            "verify.chunkRows",
            format!("must be between 1 and {MAX_CHUNK_ROWS}"),
        )?;
        check(
            v.chunk_pause_ms <= MAX_CHUNK_PAUSE_MS,
            "verify.chunkPauseMs",
            format!("must be at most {MAX_CHUNK_PAUSE_MS}"),
        )?;
        check(
            (1..=MAX_CHUNKS_PER_INVOCATION).contains(&v.chunks_per_invocation),
            "verify.chunksPerInvocation",
            format!("must be between 1 and {MAX_CHUNKS_PER_INVOCATION}"),
        )?;
        check(
            v.max_touched_rows >= 1,
            "verify.maxTouchedRows",
            "must be at least 1",
        )
    }

    fn validate_parity(&self) -> Result<(), InvalidInput> {
        check(
            self.parity.ignore.len() <= MAX_PARITY_IGNORE,
            "parity.ignore",
            format!("holds at most {MAX_PARITY_IGNORE} patterns"),
        )?;
        for (i, pattern) in self.parity.ignore.iter().enumerate() {
            check(
                crate::parity::is_pattern(pattern),
                format!("parity.ignore[{i}]"),
                "must name a kind (variable, event, trigger, routine, view, timezone, account) or `*`, then `:` and a name with `*` or `?` wildcards, at most 256 characters",
            )?;
        }
        let Some(smoke) = &self.smoke else {
            return Ok(());
        };
        check(
            (1..=MAX_SMOKE_TIMEOUT_SECONDS).contains(&smoke.timeout_seconds),
            "smoke.timeoutSeconds",
            format!("must be between 1 and {MAX_SMOKE_TIMEOUT_SECONDS}"),
        )?;
        check(
            smoke.queries.len() <= MAX_SMOKE_QUERIES,
            "smoke.queries",
            format!("holds at most {MAX_SMOKE_QUERIES} queries"),
        )?;
        if let Some(function) = &smoke.function_arn {
            check_arn(function, "smoke.functionArn", "lambda", "function:")?;
        }
        for (i, query) in smoke.queries.iter().enumerate() {
            let field = format!("smoke.queries[{i}]");
            check(
                query.chars().count() <= MAX_SMOKE_QUERY_LENGTH,
                &field,
                format!("is longer than {MAX_SMOKE_QUERY_LENGTH} characters"),
            )?;
            if let Some(problem) = smoke_query_problem(query) {
                return Err(InvalidInput::new(
                    field,
                    format!("must be a single SELECT or WITH statement: it {problem}"),
                ));
            }
        }
        Ok(())
    }

    /// The method `switchover.method` names, or the one whose section is given.
    pub fn switchover_method(&self) -> Option<SwitchoverMethod> {
        self.switchover.method.or(match (&self.dns, &self.proxy) {
            (Some(_), _) => Some(SwitchoverMethod::Dns),
            (None, Some(_)) => Some(SwitchoverMethod::Proxy),
            (None, None) => None,
        })
    }

    fn validate_failback(&self) -> Result<(), InvalidInput> {
        let hours = self.failback.window_hours;
        check(
            hours <= MAX_FAILBACK_WINDOW_HOURS,
            "failback.windowHours",
            format!("must be at most {MAX_FAILBACK_WINDOW_HOURS} (30 days)"),
        )?;
        if hours == 0 {
            return Ok(());
        }
        check(
            self.dns.is_some()
                && matches!(self.switchover.method, None | Some(SwitchoverMethod::Dns)),
            "failback.windowHours",
            "needs the `dns` switchover method: a failback swaps the application's record back, and a proxy or a rename switchover cannot be reversed this way",
        )
    }

    fn validate_method(&self) -> Result<(), InvalidInput> {
        check(
            !(self.dns.is_some() && self.proxy.is_some()),
            "proxy",
            "and `dns` are two ways to move the application: give the one it uses",
        )?;
        match self.switchover.method {
            Some(SwitchoverMethod::Dns) => check(
                self.dns.is_some(),
                "dns",
                "is required when switchover.method is `dns`",
            )?,
            Some(SwitchoverMethod::Proxy) => check(
                self.proxy.is_some(),
                "proxy",
                "is required when switchover.method is `proxy`",
            )?,
            Some(SwitchoverMethod::Rename) => check(
                self.dns.is_none() && self.proxy.is_none(),
                if self.dns.is_some() { "dns" } else { "proxy" },
                "is another way to move the application: switchover.method `rename` keeps the cluster's own endpoints",
            )?,
            None => {}
        }
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        check(
            naming::is_valid_rds_identifier(&proxy.name),
            "proxy.name",
            "must be 1-63 letters, digits or hyphens, start with a letter, and not end with or contain two hyphens",
        )?;
        check_arn(
            &proxy.secret_arn,
            "proxy.secretArn",
            "secretsmanager",
            "secret:",
        )?;
        check(
            (MIN_PROXY_TIMEOUT_SECONDS..=MAX_PROXY_TIMEOUT_SECONDS)
                .contains(&proxy.timeout_seconds),
            "proxy.timeoutSeconds",
            format!("must be between {MIN_PROXY_TIMEOUT_SECONDS} and {MAX_PROXY_TIMEOUT_SECONDS}"),
        )
    }

    fn validate_switchover(&self, now: OffsetDateTime) -> Result<(), InvalidInput> {
        self.validate_method()?;
        let s = &self.switchover;
        let start = parse_time(s.window_start.as_deref(), "switchover.windowStart")?;
        let end = parse_time(s.window_end.as_deref(), "switchover.windowEnd")?;
        if s.mode == SwitchoverMode::Window {
            let start = start.ok_or_else(|| {
                InvalidInput::new(
                    "switchover.windowStart",
                    "is required when mode is `window`",
                )
            })?;
            check(start > now, "switchover.windowStart", "is in the past")?;
        }
        if let (Some(start), Some(end)) = (start, end) {
            check(
                end > start,
                "switchover.windowEnd",
                "must be after windowStart",
            )?;
        }
        check(
            s.max_lag_seconds <= MAX_LAG_SECONDS,
            "switchover.maxLagSeconds",
            format!("must be at most {MAX_LAG_SECONDS}"),
        )?;
        let (min_drain, max_drain) = DRAIN_TIMEOUT_SECONDS;
        check(
            (min_drain..=max_drain).contains(&s.drain_timeout_seconds),
            "switchover.drainTimeoutSeconds",
            format!("must be between {min_drain} and {max_drain}"),
        )?;
        check(
            !s.fence.is_empty(),
            "switchover.fence",
            "needs at least one method: without a fence, writes made during the switchover are lost",
        )?;
        match &s.fence_security_group_id {
            Some(group) => check(
                is_security_group_id(group),
                "switchover.fenceSecurityGroupId",
                "must be a security group id like sg-0123456789abcdef0",
            )?,
            None => check(
                !s.fence.contains(&FenceMethod::SecurityGroup),
                "switchover.fenceSecurityGroupId",
                "is required when fence includes `security-group`",
            )?,
        }
        Ok(())
    }
}

fn check(
    ok: bool,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> Result<(), InvalidInput> {
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(field, reason))
    }
}

fn parse_time(text: Option<&str>, field: &str) -> Result<Option<OffsetDateTime>, InvalidInput> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            InvalidInput::new(
                field,
                "must be an RFC 3339 timestamp like 2026-12-01T02:00:00Z",
            )
        })
    })
    .transpose()
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with the expected service and resource prefix.
pub fn check_arn(
    arn: &str,
    field: &str,
    service: &str,
    resource_prefix: &str,
) -> Result<(), InvalidInput> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    // IAM: a role name is 1-64 of `[\w+=,.@-]` under a path of at most 512 printable ASCII
    // characters. Secrets Manager: a secret name is 1-512 of letters, digits and `/_+=.@-`. Both
    // ARNs: at most 2048.
    let name_ok = |resource: &str| match service {
        "iam" => resource.rsplit_once('/').is_some_and(|(path, name)| {
            path.len() <= 512
                && path.chars().all(|c| c.is_ascii_graphic())
                && (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        }),
        "secretsmanager" => resource.strip_prefix(resource_prefix).is_some_and(|name| {
            (1..=512).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
        }),
        // `function:NAME[:QUALIFIER]`: a name of 1-64 letters, digits, `-` and `_`; a version,
        // an alias or `$LATEST`.
        "lambda" => resource.strip_prefix(resource_prefix).is_some_and(|rest| {
            let (name, qualifier) = rest.split_once(':').unwrap_or((rest, "$LATEST"));
            let word = |t: &str, most: usize| {
                (1..=most).contains(&t.len())
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            };
            word(name, 64) && (qualifier == "$LATEST" || word(qualifier, 128))
        }),
        _ => true,
    };
    let ok = parts.len() == 6
        && arn.len() <= 2048
        && name_ok(parts[5])
        && parts[0] == "arn"
        && is_partition(parts[1])
        && parts[2] == service
        && (service == "iam" || !parts[3].is_empty())
        && is_region_text(parts[3])
        && is_account_id(parts[4])
        && parts[5].len() > resource_prefix.len()
        && parts[5].starts_with(resource_prefix);
    check(
        ok,
        field,
        format!("must be an ARN like arn:aws:{service}:...:{resource_prefix}NAME"),
    )
}

/// `aws`, `aws-cn`, `aws-us-gov` …
fn is_partition(text: &str) -> bool {
    text.strip_prefix("aws")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
}

/// A region as ARNs spell it (`eu-west-1`), possibly empty (IAM).
fn is_region_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
}

fn is_security_group_id(id: &str) -> bool {
    id.strip_prefix("sg-").is_some_and(|hex| {
        (8..=17).contains(&hex.len())
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

fn is_kms_key_reference(key: &str) -> bool {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let is_mrk = |s: &str| {
        s.strip_prefix("mrk-")
            .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    // AliasName: 1-256 characters including `alias/`, `^[a-zA-Z0-9:/_-]+$`.
    let is_alias = |s: &str| {
        s.len() <= 256
            && s.strip_prefix("alias/").is_some_and(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
            })
    };
    if let Some(rest) = key.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return parts.len() == 5
            && is_partition(parts[0])
            && parts[1] == "kms"
            && !parts[2].is_empty()
            && is_region_text(parts[2])
            && is_account_id(parts[3])
            && (parts[4]
                .strip_prefix("key/")
                .is_some_and(|k| is_uuid(k) || is_mrk(k))
                || is_alias(parts[4]));
    }
    is_uuid(key) || is_mrk(key) || is_alias(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn valid() -> Value {
        json!({
            "sourceClusterId": "orders",
            "kmsKeyId": "alias/aurora-orders",
            "replication": {
                "engine": "dms",
                "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-data-migration",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf",
                "instanceProfile": { "subnetGroupIdentifier": "dms-private", "vpcSecurityGroupIds": ["sg-0123456789abcdef0"] }
            },
            "switchover": { "mode": "window", "windowStart": "2026-12-01T02:00:00Z", "windowEnd": "2026-12-01T04:00:00Z" },
            "dns": { "hostedZoneId": "Z0123456789ABCDEFGHIJ", "recordName": "orders-db.internal.example.com", "ttlSeconds": 30 }
        })
    }

    fn parse_and_validate(value: &Value) -> Result<MigrationSpec, InvalidInput> {
        let spec = MigrationSpec::from_json(&value.to_string())?;
        spec.validate(NOW)?;
        Ok(spec)
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

    #[test]
    fn a_failback_window_needs_the_dns_method_and_at_most_thirty_days() {
        let window = |hours: u32| with(valid(), "/failback", json!({ "windowHours": hours }));
        let spec = parse_and_validate(&window(24)).unwrap();
        assert!(spec.failback.enabled());
        assert!(!parse_and_validate(&valid()).unwrap().failback.enabled());
        let proxy = with(
            with(window(24), "/dns", Value::Null),
            "/proxy",
            json!({"name": "orders-proxy", "secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf"}),
        );
        let rename = with(
            with(window(24), "/dns", Value::Null),
            "/switchover/method",
            json!("rename"),
        );
        for (case, spec) in [
            ("too long", window(MAX_FAILBACK_WINDOW_HOURS + 1)),
            ("no dns", with(window(1), "/dns", Value::Null)),
            ("proxy", proxy),
            ("rename", rename),
        ] {
            let error = parse_and_validate(&spec).unwrap_err();
            assert_eq!(error.field, "failback.windowHours", "{case}: {error}");
        }
    }

    #[test]
    fn valid_spec_parses_with_defaults() {
        let spec = parse_and_validate(&valid()).unwrap();
        assert_eq!(spec.target_cluster_id(), "orders-encrypted");
        assert_eq!(spec.switchover.max_lag_seconds, 5);
        assert_eq!(spec.switchover.fence, vec![FenceMethod::ReadOnly]);
        assert!(spec.cleanup.delete_migration_resources);
        assert!(!spec.cleanup.retire_source);
        assert!(!spec.dry_run);
    }

    #[test]
    fn a_source_may_be_named_by_its_resource_id_alone() {
        let mut value = with(valid(), "/sourceClusterId", Value::Null);
        value["sourceClusterResourceId"] = json!("cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        let spec = parse_and_validate(&value).unwrap();
        assert_eq!(spec.source_cluster_id, "");
        value["sourceClusterResourceId"] = json!("orders");
        let error = parse_and_validate(&value).unwrap_err();
        assert_eq!(error.field, "sourceClusterResourceId");
        let error =
            parse_and_validate(&with(valid(), "/sourceClusterId", Value::Null)).unwrap_err();
        assert_eq!(error.field, "sourceClusterId");
    }

    #[test]
    fn minimal_native_spec_is_valid() {
        let spec = parse_and_validate(&json!({
            "sourceClusterId": "orders",
            "replication": {
                "engine": "native",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin"
            }
        }))
        .unwrap();
        assert_eq!(spec.switchover.mode, SwitchoverMode::Approval);
        assert_eq!(spec.dns, None);
    }

    #[test]
    fn each_bad_spec_names_its_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "missing source",
                with(valid(), "/sourceClusterId", Value::Null),
                "sourceClusterId",
            ),
            (
                "bad source id",
                with(valid(), "/sourceClusterId", json!("1orders")),
                "sourceClusterId",
            ),
            (
                "double hyphen",
                with(valid(), "/sourceClusterId", json!("or--ders")),
                "sourceClusterId",
            ),
            (
                "target equals source",
                with(valid(), "/targetClusterId", json!("ORDERS")),
                "targetClusterId",
            ),
            (
                "default target too long",
                with(
                    valid(),
                    "/sourceClusterId",
                    json!(format!("a{}", "b".repeat(60))),
                ),
                "targetClusterId",
            ),
            (
                "bad kms key",
                with(valid(), "/kmsKeyId", json!("my key")),
                "kmsKeyId",
            ),
            (
                "kms alias over 256 characters",
                with(
                    valid(),
                    "/kmsKeyId",
                    json!(format!("alias/{}", "k".repeat(251))),
                ),
                "kmsKeyId",
            ),
            (
                "role name over 64 characters",
                with(
                    valid(),
                    "/replication/serviceRoleArn",
                    json!(format!("arn:aws:iam::123456789012:role/{}", "r".repeat(65))),
                ),
                "replication.serviceRoleArn",
            ),
            (
                "secret name with a space",
                with(
                    valid(),
                    "/replication/sourceSecretArn",
                    json!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders repl"),
                ),
                "replication.sourceSecretArn",
            ),
            (
                "binlog retention secret of another service",
                with(
                    valid(),
                    "/binlogRetention",
                    json!({"set": true, "secretArn": "arn:aws:ssm:eu-west-1:123456789012:parameter/master"}),
                ),
                "binlogRetention.secretArn",
            ),
            (
                "binlog retention with an unknown field",
                with(
                    valid(),
                    "/binlogRetention",
                    json!({"set": true, "hours": 48}),
                ),
                "binlogRetention.hours",
            ),
            (
                "subnet group `default`",
                with(
                    valid(),
                    "/replication/instanceProfile/subnetGroupIdentifier",
                    json!("default"),
                ),
                "replication.instanceProfile.subnetGroupIdentifier",
            ),
            (
                "record name label over 63 characters",
                with(
                    valid(),
                    "/dns/recordName",
                    json!(format!("{}.example.com", "d".repeat(64))),
                ),
                "dns.recordName",
            ),
            (
                "bad instance class",
                with(valid(), "/instanceClass", json!("r6g.large")),
                "instanceClass",
            ),
            (
                "unknown engine",
                with(valid(), "/replication/engine", json!("binlogger")),
                "replication.engine",
            ),
            (
                "missing secret",
                with(valid(), "/replication/sourceSecretArn", Value::Null),
                "replication",
            ),
            (
                "malformed secret arn",
                with(
                    valid(),
                    "/replication/targetSecretArn",
                    json!("arn:aws:s3:::bucket"),
                ),
                "replication.targetSecretArn",
            ),
            (
                "role arn of wrong service",
                with(
                    valid(),
                    "/replication/serviceRoleArn",
                    json!("arn:aws:sts::123456789012:role/x"),
                ),
                "replication.serviceRoleArn",
            ),
            (
                "bad security group",
                with(
                    valid(),
                    "/replication/instanceProfile/vpcSecurityGroupIds",
                    json!(["sg-XYZ"]),
                ),
                "replication.instanceProfile.vpcSecurityGroupIds[0]",
            ),
            (
                "unknown mode",
                with(valid(), "/switchover/mode", json!("yolo")),
                "switchover.mode",
            ),
            (
                "window without start",
                with(valid(), "/switchover/windowStart", Value::Null),
                "switchover.windowStart",
            ),
            (
                "window in the past",
                with(
                    valid(),
                    "/switchover/windowStart",
                    json!("2026-11-01T02:00:00Z"),
                ),
                "switchover.windowStart",
            ),
            (
                "window ends before start",
                with(
                    valid(),
                    "/switchover/windowEnd",
                    json!("2026-12-01T01:00:00Z"),
                ),
                "switchover.windowEnd",
            ),
            (
                "not a timestamp",
                with(valid(), "/switchover/windowStart", json!("tomorrow")),
                "switchover.windowStart",
            ),
            (
                "empty fence",
                with(valid(), "/switchover/fence", json!([])),
                "switchover.fence",
            ),
            (
                "sg fence without group",
                with(valid(), "/switchover/fence", json!(["security-group"])),
                "switchover.fenceSecurityGroupId",
            ),
            (
                "unknown fence",
                with(valid(), "/switchover/fence", json!(["firewall"])),
                "switchover.fence[0]",
            ),
            (
                "negative ttl",
                with(valid(), "/dns/ttlSeconds", json!(-1)),
                "dns.ttlSeconds",
            ),
            (
                "huge ttl",
                with(valid(), "/dns/ttlSeconds", json!(86400)),
                "dns.ttlSeconds",
            ),
            (
                "bad zone",
                with(valid(), "/dns/hostedZoneId", json!("zone one")),
                "dns.hostedZoneId",
            ),
            (
                "negative lag",
                with(valid(), "/switchover/maxLagSeconds", json!(-3)),
                "switchover.maxLagSeconds",
            ),
            (
                "unknown field",
                with(valid(), "/sourceClusterID", json!("x")),
                "sourceClusterID",
            ),
            (
                "unknown nested field",
                with(valid(), "/dns/ttl", json!(5)),
                "dns.ttl",
            ),
            (
                "wrong type",
                with(valid(), "/dryRun", json!("yes")),
                "dryRun",
            ),
        ];
        for (name, value, field) in cases {
            let error = parse_and_validate(&value).expect_err(name);
            assert_eq!(error.field, field, "{name}: {error}");
        }
    }

    #[test]
    fn dms_fields_under_engine_native_are_refused_by_name() {
        let native = json!({
            "sourceClusterId": "orders",
            "replication": {
                "engine": "native",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin"
            }
        });
        for (field, value) in [
            (
                "serviceRoleArn",
                json!("arn:aws:iam::123456789012:role/dms-data-migration"),
            ),
            ("secretsAccessRoleArn", Value::Null),
            (
                "instanceProfile",
                json!({"subnetGroupIdentifier": "dms-private"}),
            ),
        ] {
            let mut spec = native.clone();
            spec["replication"][field] = value;
            let error = parse_and_validate(&spec).unwrap_err();
            assert_eq!(error.field, format!("replication.{field}"), "{error}");
            assert!(error.reason.contains("engine `dms`"), "{error}");
        }
    }

    #[test]
    fn unknown_fields_inside_replication_are_refused() {
        let error =
            parse_and_validate(&with(valid(), "/replication/cdcOnly", json!(true))).unwrap_err();
        assert_eq!(error.field, "replication.cdcOnly");
        let error = parse_and_validate(&with(
            valid(),
            "/replication/instanceProfile/subnetIds",
            json!([]),
        ))
        .unwrap_err();
        assert_eq!(error.field, "replication.instanceProfile.subnetIds");
    }

    #[test]
    fn replication_round_trips_through_json() {
        let spec = parse_and_validate(&valid()).unwrap();
        let text = serde_json::to_string(&spec.replication).unwrap();
        let back: ReplicationSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec.replication);
        let error = parse_and_validate(&with(valid(), "/replication/instanceProfile", Value::Null))
            .unwrap_err();
        assert_eq!(error.field, "replication");
        assert!(error.reason.contains("instanceProfile"), "{error}");
    }

    #[test]
    fn malformed_json_is_invalid_input() {
        let error = MigrationSpec::from_json("{\"sourceClusterId\": ").unwrap_err();
        assert_eq!(error.field, "sourceClusterId");
        assert!(MigrationSpec::from_json("[]").is_err());
        assert!(MigrationSpec::from_json(&format!("{} trailing", valid())).is_err());
    }

    #[test]
    fn smoke_queries_must_be_one_select_or_with_statement() {
        for ok in [
            "SELECT 1",
            "  select count(*) from shop.orders;  ",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "/* health */ SELECT 'a;b', \"c;d\", `e;f` -- trailing; comment",
            "SELECT 'it''s' # comment; here",
        ] {
            assert_eq!(smoke_query_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("DELETE FROM shop.orders", "starts with DELETE"),
            (
                "SELECT 1; DROP TABLE shop.orders",
                "more than one statement",
            ),
            ("SELECT * INTO OUTFILE '/tmp/x' FROM shop.orders", "INTO"),
            ("SELECT 1 INTO @x", "INTO"),
            ("SELECT 'unterminated", "does not end"),
            ("/* only a comment */", "is empty"),
            ("CALL shop.purge(1)", "starts with CALL"),
        ] {
            let problem = smoke_query_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn the_switchover_method_follows_the_section_given_and_each_needs_its_own() {
        const SECRET: &str =
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf";
        let spec = parse_and_validate(&valid()).unwrap();
        assert_eq!(spec.switchover_method(), Some(SwitchoverMethod::Dns));

        let mut proxied = valid();
        proxied.as_object_mut().unwrap().remove("dns");
        proxied["proxy"] = json!({"name": "orders-proxy", "secretArn": SECRET});
        let spec = parse_and_validate(&proxied).unwrap();
        assert_eq!(spec.switchover_method(), Some(SwitchoverMethod::Proxy));
        assert_eq!(spec.proxy.as_ref().unwrap().timeout_seconds, 300);

        let refused = |value: &Value| parse_and_validate(value).unwrap_err().field;
        let mut both = valid();
        both["proxy"] = proxied["proxy"].clone();
        assert_eq!(refused(&both), "proxy");
        let mut method = proxied.clone();
        method["switchover"]["method"] = json!("dns");
        assert_eq!(refused(&method), "dns");
        let mut method = valid();
        method["switchover"]["method"] = json!("proxy");
        assert_eq!(refused(&method), "proxy");
        let mut bad = proxied.clone();
        bad["proxy"]["name"] = json!("orders--proxy");
        assert_eq!(refused(&bad), "proxy.name");
        let mut bad = proxied.clone();
        bad["proxy"]["secretArn"] = json!("arn:aws:iam::123456789012:role/app");
        assert_eq!(refused(&bad), "proxy.secretArn");
        let mut bad = proxied;
        bad["proxy"]["timeoutSeconds"] = json!(5);
        assert_eq!(refused(&bad), "proxy.timeoutSeconds");
        let mut unknown = valid();
        unknown["switchover"]["method"] = json!("blue-green");
        assert!(MigrationSpec::from_json(&unknown.to_string()).is_err());
        // `rename` keeps the cluster's own endpoints: no other way to move the application.
        let mut rename = valid();
        rename["switchover"]["method"] = json!("rename");
        assert_eq!(refused(&rename), "dns");
        rename.as_object_mut().unwrap().remove("dns");
        let spec = parse_and_validate(&rename).unwrap();
        assert_eq!(spec.switchover_method(), Some(SwitchoverMethod::Rename));
    }

    #[test]
    fn a_bad_smoke_query_or_ignore_pattern_is_refused_by_name() {
        let mut spec = valid();
        spec["smoke"] = json!({"queries": ["SELECT 1", "UPDATE shop.orders SET x = 1"]});
        let error = parse_and_validate(&spec).unwrap_err();
        assert_eq!(error.field, "smoke.queries[1]");
        assert!(
            error.reason.contains("starts with UPDATE"),
            "{}",
            error.reason
        );
        spec["smoke"] = json!({"queries": ["SELECT 1"], "timeoutSeconds": 0});
        assert_eq!(
            parse_and_validate(&spec).unwrap_err().field,
            "smoke.timeoutSeconds"
        );
        for bad in [
            "arn:x",
            "arn:aws:lambda:eu-west-1:123456789012:layer:smoke",
            "arn:aws:lambda:eu-west-1:123456789012:function:smoke test",
            "arn:aws:lambda:eu-west-1:123456789012:function:smoke:",
            "arn:aws:states:eu-west-1:123456789012:function:smoke",
        ] {
            spec["smoke"] = json!({"functionArn": bad});
            assert_eq!(
                parse_and_validate(&spec).unwrap_err().field,
                "smoke.functionArn",
                "{bad}"
            );
        }
        for good in [
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke",
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke:live",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:orders_smoke:$LATEST",
        ] {
            spec["smoke"] = json!({"functionArn": good});
            assert!(parse_and_validate(&spec).is_ok(), "{good}");
        }
        spec.as_object_mut().unwrap().remove("smoke");
        spec["parity"] = json!({"ignore": ["variable:innodb_*", "innodb_*"]});
        assert_eq!(
            parse_and_validate(&spec).unwrap_err().field,
            "parity.ignore[1]"
        );
        spec["parity"] = json!({"enabled": false, "ignore": ["*"]});
        let parsed = parse_and_validate(&spec).unwrap();
        assert!(!parsed.parity.enabled);
        spec["parity"] = json!({"ignored": []});
        assert_eq!(
            parse_and_validate(&spec).unwrap_err().field,
            "parity.ignored"
        );
    }

    /// The committed schema is what editors validate against; regenerate with
    /// `UPDATE_SCHEMA=1 cargo test -p aurora-core`. Compared as JSON values, not text: key order
    /// depends on whether a workspace build enables serde_json's `preserve_order`.
    #[test]
    fn committed_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../infra/schema/migration-spec.schema.json");
        let generated = serde_json::to_value(schemars::schema_for!(MigrationSpec)).unwrap();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&generated).unwrap() + "\n",
            )
            .unwrap();
        }
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                .unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: run UPDATE_SCHEMA=1 cargo test -p aurora-core",
            path.display()
        );
    }

    #[test]
    fn schema_rejects_unknown_fields_like_the_parser() {
        let schema = serde_json::to_value(schemars::schema_for!(MigrationSpec)).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        // The source is named by its identifier or, from AWS Config, by its resource id.
        assert_eq!(
            schema["allOf"][0]["else"]["required"],
            json!(["sourceClusterId"])
        );
        assert!(schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("replication")));
    }

    #[test]
    fn kms_references_accept_ids_aliases_and_arns() {
        for key in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/aws/rds",
            "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/ExampleAlias",
        ] {
            assert!(is_kms_key_reference(key), "{key}");
        }
        for key in [
            "",
            "alias/",
            "1234",
            "arn:aws:kms:us-east-2:111122223333:secret/x",
        ] {
            assert!(!is_kms_key_reference(key), "{key}");
        }
    }
}
