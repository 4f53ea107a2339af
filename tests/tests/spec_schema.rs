//! The committed JSON Schema of the migration spec (`infra/schema/migration-spec.schema.json`, offered
//! so editors can validate specs) agrees with `aurora-encrypt validate`, case by case.
//!
//! One table of specs, each a known-good base with one change, goes through the schema (a JSON
//! Schema 2020-12 validator, formats checked) and through the checks `validate` runs
//! ([`MigrationSpec::from_json`], then [`MigrationSpec::validate`]). A rule JSON Schema cannot
//! state is a [`Expect::Gap`] case with its reason: the schema accepts it and `validate` refuses
//! it, so the gap is documented exactly rather than hidden. One more gap cannot be a table case,
//! since the table is made of parsed values: a key given twice
//! (`a_key_given_twice_is_refused_by_validate_only`).

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aurora_core::MigrationSpec;
use aurora_tests::read;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

/// The time `validate` checks windows against; the bases' windows open after it.
const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

#[derive(Debug)]
enum Expect {
    /// Both accept.
    Valid,
    /// Both refuse; `validate` names this field.
    Refused(&'static str),
    /// `validate` refuses it, naming the field; the schema accepts it because JSON Schema cannot
    /// state the rule, for the reason given.
    Gap(&'static str, &'static str),
}

use Expect::{Gap, Refused, Valid};

struct Case {
    name: &'static str,
    spec: Value,
    expect: Expect,
}

fn case(name: &'static str, spec: Value, expect: Expect) -> Case {
    Case { name, spec, expect }
}

/// A complete DMS spec: window mode, a DNS swap, every optional section.
fn dms() -> Value {
    json!({
        "sourceClusterId": "orders",
        "kmsKeyId": "alias/aurora-orders",
        "instanceClass": "db.r6g.large",
        "replication": {
            "engine": "dms",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-data-migration",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf",
            "instanceProfile": {
                "subnetGroupIdentifier": "dms-private",
                "vpcSecurityGroupIds": ["sg-0123456789abcdef0"],
                "publiclyAccessible": false
            }
        },
        "switchover": {
            "mode": "window",
            "windowStart": "2026-12-01T02:00:00Z",
            "windowEnd": "2026-12-01T04:00:00Z",
            "onWindowMissed": "rollback",
            "maxLagSeconds": 5,
            "drainTimeoutSeconds": 300,
            "fence": ["read-only"]
        },
        "dns": {
            "hostedZoneId": "Z0123456789ABCDEFGHIJ",
            "recordName": "orders-db.internal.example.com",
            "ttlSeconds": 30
        },
        "verify": { "mode": "checksums", "databases": ["shop"], "timeoutSeconds": 600 },
        "cleanup": { "deleteMigrationResources": true, "retireSource": false, "deleteTargetOnRollback": false },
        "dryRun": false
    })
}

/// The smallest native spec.
fn native() -> Value {
    json!({
        "sourceClusterId": "orders",
        "replication": {
            "engine": "native",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:repl",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin"
        }
    })
}

/// `base` with the value at `pointer` set (parents must exist).
fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match base.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.insert(key.to_string(), value);
        }
        _ => panic!("{pointer}: no object at {parent}"),
    }
    base
}

/// `base` without the field at `pointer`.
fn without(mut base: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let removed = base
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|object| object.remove(key));
    assert!(removed.is_some(), "{pointer}: nothing to remove");
    base
}

const ROLE: &str = "arn:aws:iam::123456789012:role/";
const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:";

fn cases() -> Vec<Case> {
    let sg_fence = |base: Value| {
        with(
            base,
            "/switchover/fence",
            json!(["security-group", "read-only"]),
        )
    };
    vec![
        // Good specs.
        case("dms base", dms(), Valid),
        case("native base", native(), Valid),
        case(
            "source by resource id only",
            with(
                without(dms(), "/sourceClusterId"),
                "/sourceClusterResourceId",
                json!("cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            ),
            Valid,
        ),
        case(
            "empty source id beside a resource id",
            with(
                with(dms(), "/sourceClusterId", json!("")),
                "/sourceClusterResourceId",
                json!("cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            ),
            Valid,
        ),
        case(
            "resource id null beside a source id",
            with(dms(), "/sourceClusterResourceId", Value::Null),
            Valid,
        ),
        case(
            "explicit target id",
            with(dms(), "/targetClusterId", json!("orders-enc-2026")),
            Valid,
        ),
        case(
            "target id null takes the default",
            with(dms(), "/targetClusterId", Value::Null),
            Valid,
        ),
        case(
            "53-character source with the default target",
            with(
                dms(),
                "/sourceClusterId",
                json!(format!("a{}", "b".repeat(52))),
            ),
            Valid,
        ),
        case(
            "54-character source with an explicit target",
            with(
                with(
                    dms(),
                    "/sourceClusterId",
                    json!(format!("a{}", "b".repeat(53))),
                ),
                "/targetClusterId",
                json!("orders-encrypted"),
            ),
            Valid,
        ),
        case(
            "kms key id",
            with(
                dms(),
                "/kmsKeyId",
                json!("1234abcd-12ab-34cd-56ef-1234567890ab"),
            ),
            Valid,
        ),
        case(
            "kms multi-region key id",
            with(
                dms(),
                "/kmsKeyId",
                json!("mrk-1234abcd12ab34cd56ef1234567890ab"),
            ),
            Valid,
        ),
        case(
            "kms key arn",
            with(
                dms(),
                "/kmsKeyId",
                json!(
                    "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                ),
            ),
            Valid,
        ),
        case(
            "kms alias arn in another partition",
            with(
                dms(),
                "/kmsKeyId",
                json!("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/ExampleAlias"),
            ),
            Valid,
        ),
        case(
            "role under a path",
            with(
                dms(),
                "/replication/serviceRoleArn",
                json!(format!("{ROLE}service-role/dms-vpc-role")),
            ),
            Valid,
        ),
        case(
            "secrets access role",
            with(
                dms(),
                "/replication/secretsAccessRoleArn",
                json!(format!("{ROLE}dms-secrets")),
            ),
            Valid,
        ),
        case(
            "subnet group with a space and a period",
            with(
                dms(),
                "/replication/instanceProfile/subnetGroupIdentifier",
                json!("dms private.1"),
            ),
            Valid,
        ),
        case(
            "both fences with a fence group",
            with(
                sg_fence(dms()),
                "/switchover/fenceSecurityGroupId",
                json!("sg-0fedcba9876543210"),
            ),
            Valid,
        ),
        case(
            "a fence method named twice",
            with(
                dms(),
                "/switchover/fence",
                json!(["read-only", "read-only"]),
            ),
            Valid,
        ),
        case(
            "auto mode without a window",
            json!({
                "sourceClusterId": "orders",
                "replication": native()["replication"],
                "switchover": {"mode": "auto"}
            }),
            Valid,
        ),
        case(
            "window start with an offset and fraction",
            with(
                without(dms(), "/switchover/windowEnd"),
                "/switchover/windowStart",
                json!("2026-12-01T02:00:00.5+02:00"),
            ),
            Valid,
        ),
        case("dns null", with(dms(), "/dns", Value::Null), Valid),
        case(
            "wildcard record with the final dot",
            with(dms(), "/dns/recordName", json!("*.orders.example.com.")),
            Valid,
        ),
        case(
            "hosted zone as /hostedzone/ID",
            with(
                dms(),
                "/dns/hostedZoneId",
                json!("/hostedzone/Z0123456789ABCDEFGHIJ"),
            ),
            Valid,
        ),
        case("ttl 0", with(dms(), "/dns/ttlSeconds", json!(0)), Valid),
        case(
            "ttl 3600",
            with(dms(), "/dns/ttlSeconds", json!(3600)),
            Valid,
        ),
        case(
            "drain timeout bounds",
            with(
                with(dms(), "/switchover/drainTimeoutSeconds", json!(10)),
                "/switchover/maxLagSeconds",
                json!(3600),
            ),
            Valid,
        ),
        case(
            "verify counts, dry run",
            with(
                with(dms(), "/verify/mode", json!("counts")),
                "/dryRun",
                json!(true),
            ),
            Valid,
        ),
        // The issue's cases.
        case(
            "ttl 3601",
            with(dms(), "/dns/ttlSeconds", json!(3601)),
            Refused("dns.ttlSeconds"),
        ),
        case(
            "empty fence",
            with(dms(), "/switchover/fence", json!([])),
            Refused("switchover.fence"),
        ),
        case(
            "security-group fence without fenceSecurityGroupId",
            sg_fence(dms()),
            Refused("switchover.fenceSecurityGroupId"),
        ),
        case(
            "security-group fence with fenceSecurityGroupId null",
            with(
                sg_fence(dms()),
                "/switchover/fenceSecurityGroupId",
                Value::Null,
            ),
            Refused("switchover.fenceSecurityGroupId"),
        ),
        case(
            "empty source id",
            with(dms(), "/sourceClusterId", json!("")),
            Refused("sourceClusterId"),
        ),
        case(
            "source id Orders_1",
            with(dms(), "/sourceClusterId", json!("Orders_1")),
            Refused("sourceClusterId"),
        ),
        case(
            "target id Orders_1",
            with(dms(), "/targetClusterId", json!("Orders_1")),
            Refused("targetClusterId"),
        ),
        case(
            "target equal to the source",
            with(dms(), "/targetClusterId", json!("ORDERS")),
            Gap(
                "targetClusterId",
                "JSON Schema cannot compare two fields (here case-insensitively)",
            ),
        ),
        case(
            "plain-text secret instead of an ARN",
            with(dms(), "/replication/sourceSecretArn", json!("hunter2")),
            Refused("replication.sourceSecretArn"),
        ),
        case(
            "window mode without windowStart",
            without(dms(), "/switchover/windowStart"),
            Refused("switchover.windowStart"),
        ),
        case(
            "window mode with windowStart null",
            with(dms(), "/switchover/windowStart", Value::Null),
            Refused("switchover.windowStart"),
        ),
        case(
            "serviceRoleArn under engine native",
            with(
                native(),
                "/replication/serviceRoleArn",
                json!(format!("{ROLE}dms")),
            ),
            Refused("replication.serviceRoleArn"),
        ),
        case(
            "instanceProfile under engine native",
            with(
                native(),
                "/replication/instanceProfile",
                json!({"subnetGroupIdentifier": "dms-private"}),
            ),
            Refused("replication.instanceProfile"),
        ),
        case(
            "secretsAccessRoleArn null under engine native",
            with(native(), "/replication/secretsAccessRoleArn", Value::Null),
            Refused("replication.secretsAccessRoleArn"),
        ),
        // Identifiers.
        case(
            "no source at all",
            without(dms(), "/sourceClusterId"),
            Refused("sourceClusterId"),
        ),
        case(
            "resource id null and no source",
            with(
                without(dms(), "/sourceClusterId"),
                "/sourceClusterResourceId",
                Value::Null,
            ),
            Refused("sourceClusterId"),
        ),
        case(
            "bad resource id",
            with(dms(), "/sourceClusterResourceId", json!("cluster-abc")),
            Refused("sourceClusterResourceId"),
        ),
        case(
            "source id starting with a digit",
            with(dms(), "/sourceClusterId", json!("1orders")),
            Refused("sourceClusterId"),
        ),
        case(
            "source id with two hyphens",
            with(dms(), "/sourceClusterId", json!("or--ders")),
            Refused("sourceClusterId"),
        ),
        case(
            "source id ending with a hyphen",
            with(dms(), "/sourceClusterId", json!("orders-")),
            Refused("sourceClusterId"),
        ),
        case(
            "64-character target id",
            with(dms(), "/targetClusterId", json!("t".repeat(64))),
            Refused("targetClusterId"),
        ),
        case(
            "54-character source: the default target is too long",
            with(
                dms(),
                "/sourceClusterId",
                json!(format!("a{}", "b".repeat(53))),
            ),
            Refused("targetClusterId"),
        ),
        case(
            "kms key with a space",
            with(dms(), "/kmsKeyId", json!("my key")),
            Refused("kmsKeyId"),
        ),
        case(
            "kms alias over 256 characters",
            with(
                dms(),
                "/kmsKeyId",
                json!(format!("alias/{}", "k".repeat(251))),
            ),
            Refused("kmsKeyId"),
        ),
        case(
            "kms arn with a short account",
            with(
                dms(),
                "/kmsKeyId",
                json!("arn:aws:kms:us-east-2:1111:alias/ExampleAlias"),
            ),
            Refused("kmsKeyId"),
        ),
        case(
            "instance class without db.",
            with(dms(), "/instanceClass", json!("r6g.large")),
            Refused("instanceClass"),
        ),
        case(
            "instance class db. alone",
            with(dms(), "/instanceClass", json!("db.")),
            Refused("instanceClass"),
        ),
        // Replication.
        case(
            "unknown engine",
            with(dms(), "/replication/engine", json!("binlogger")),
            Refused("replication.engine"),
        ),
        case(
            "dms without instanceProfile",
            without(dms(), "/replication/instanceProfile"),
            Refused("replication"),
        ),
        case(
            "dms without serviceRoleArn",
            without(dms(), "/replication/serviceRoleArn"),
            Refused("replication"),
        ),
        case(
            "native without targetSecretArn",
            without(native(), "/replication/targetSecretArn"),
            Refused("replication"),
        ),
        case(
            "role arn of another service",
            with(
                dms(),
                "/replication/serviceRoleArn",
                json!("arn:aws:sts::123456789012:role/x"),
            ),
            Refused("replication.serviceRoleArn"),
        ),
        case(
            "role name over 64 characters",
            with(
                dms(),
                "/replication/serviceRoleArn",
                json!(format!("{ROLE}{}", "r".repeat(65))),
            ),
            Refused("replication.serviceRoleArn"),
        ),
        case(
            "role path with a space",
            with(
                dms(),
                "/replication/secretsAccessRoleArn",
                json!(format!("{ROLE}my path/dms")),
            ),
            Refused("replication.secretsAccessRoleArn"),
        ),
        case(
            "secret arn of another service",
            with(
                native(),
                "/replication/targetSecretArn",
                json!("arn:aws:s3:::bucket"),
            ),
            Refused("replication.targetSecretArn"),
        ),
        case(
            "secret name with a space",
            with(
                native(),
                "/replication/sourceSecretArn",
                json!(format!("{SECRET}orders repl")),
            ),
            Refused("replication.sourceSecretArn"),
        ),
        case(
            "secret arn without a region",
            with(
                native(),
                "/replication/sourceSecretArn",
                json!("arn:aws:secretsmanager::123456789012:secret:repl"),
            ),
            Refused("replication.sourceSecretArn"),
        ),
        case(
            "subnet group default",
            with(
                dms(),
                "/replication/instanceProfile/subnetGroupIdentifier",
                json!("Default"),
            ),
            Refused("replication.instanceProfile.subnetGroupIdentifier"),
        ),
        case(
            "subnet group of spaces",
            with(
                dms(),
                "/replication/instanceProfile/subnetGroupIdentifier",
                json!("   "),
            ),
            Refused("replication.instanceProfile.subnetGroupIdentifier"),
        ),
        case(
            "bad vpc security group",
            with(
                dms(),
                "/replication/instanceProfile/vpcSecurityGroupIds",
                json!(["sg-XYZ"]),
            ),
            Refused("replication.instanceProfile.vpcSecurityGroupIds[0]"),
        ),
        case(
            "unknown replication field",
            with(dms(), "/replication/cdcOnly", json!(true)),
            Refused("replication.cdcOnly"),
        ),
        case(
            "unknown instance profile field",
            with(dms(), "/replication/instanceProfile/subnetIds", json!([])),
            Refused("replication.instanceProfile.subnetIds"),
        ),
        // Switchover.
        case(
            "unknown mode",
            with(dms(), "/switchover/mode", json!("yolo")),
            Refused("switchover.mode"),
        ),
        case(
            "window start not a timestamp",
            with(dms(), "/switchover/windowStart", json!("tomorrow")),
            Refused("switchover.windowStart"),
        ),
        case(
            "window end without a zone",
            with(dms(), "/switchover/windowEnd", json!("2026-12-01T04:00:00")),
            Refused("switchover.windowEnd"),
        ),
        case(
            "window start on 30 February",
            with(
                dms(),
                "/switchover/windowStart",
                json!("2027-02-30T02:00:00Z"),
            ),
            Refused("switchover.windowStart"),
        ),
        case(
            "window start in lower case",
            with(
                dms(),
                "/switchover/windowStart",
                json!("2026-12-01t02:00:00z"),
            ),
            Valid,
        ),
        case(
            "window start in the past",
            with(
                dms(),
                "/switchover/windowStart",
                json!("2026-11-01T02:00:00Z"),
            ),
            Gap(
                "switchover.windowStart",
                "a schema is fixed; whether a time has passed depends on when it is validated",
            ),
        ),
        case(
            "window end before its start",
            with(
                dms(),
                "/switchover/windowEnd",
                json!("2026-12-01T01:00:00Z"),
            ),
            Gap(
                "switchover.windowEnd",
                "JSON Schema cannot compare two fields",
            ),
        ),
        case(
            "parity and smoke queries",
            with(
                with(
                    dms(),
                    "/parity",
                    json!({"enabled": true, "ignore": ["variable:innodb_*", "account:'x'@'%'"]}),
                ),
                "/smoke",
                json!({"queries": ["SELECT 1", "WITH t AS (SELECT 1) SELECT * FROM t"], "timeoutSeconds": 10}),
            ),
            Valid,
        ),
        case(
            "the RDS Proxy method",
            with(
                without(dms(), "/dns"),
                "/proxy",
                json!({"name": "orders-proxy", "secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf"}),
            ),
            Valid,
        ),
        case(
            "a proxy and a DNS record",
            with(
                dms(),
                "/proxy",
                json!({"name": "orders-proxy", "secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf"}),
            ),
            Refused("proxy"),
        ),
        case(
            "the proxy method without a proxy",
            with(dms(), "/switchover/method", json!("proxy")),
            Refused("proxy"),
        ),
        case(
            "the rename method",
            with(without(dms(), "/dns"), "/switchover/method", json!("rename")),
            Valid,
        ),
        case(
            "the rename method with a DNS record",
            with(dms(), "/switchover/method", json!("rename")),
            Refused("dns"),
        ),
        case(
            "parity ignore without a kind",
            with(dms(), "/parity", json!({"ignore": ["innodb_*"]})),
            Refused("parity.ignore[0]"),
        ),
        case(
            "unknown parity field",
            with(dms(), "/parity", json!({"ignored": []})),
            Refused("parity.ignored"),
        ),
        case(
            "smoke query that writes",
            with(dms(), "/smoke", json!({"queries": ["DELETE FROM shop.orders"]})),
            Refused("smoke.queries[0]"),
        ),
        case(
            "smoke timeout of zero",
            with(
                dms(),
                "/smoke",
                json!({"queries": ["SELECT 1"], "timeoutSeconds": 0}),
            ),
            Refused("smoke.timeoutSeconds"),
        ),
        case(
            "smoke query of two statements",
            with(
                dms(),
                "/smoke",
                json!({"queries": ["SELECT 1; DROP TABLE shop.orders"]}),
            ),
            Gap(
                "smoke.queries[0]",
                "a pattern cannot tell a `;` in a quote or comment from one that ends the statement",
            ),
        ),
        case(
            "smoke query selecting into a file",
            with(
                dms(),
                "/smoke",
                json!({"queries": ["SELECT * INTO OUTFILE '/tmp/o' FROM shop.orders"]}),
            ),
            Gap(
                "smoke.queries[0]",
                "a pattern cannot tell the keyword INTO from the same letters in a quote or comment",
            ),
        ),
        case(
            "unknown onWindowMissed",
            with(dms(), "/switchover/onWindowMissed", json!("later")),
            Refused("switchover.onWindowMissed"),
        ),
        case(
            "unknown fence method",
            with(dms(), "/switchover/fence", json!(["firewall"])),
            Refused("switchover.fence[0]"),
        ),
        case(
            "bad fence security group",
            with(
                sg_fence(dms()),
                "/switchover/fenceSecurityGroupId",
                json!("sg-XYZ"),
            ),
            Refused("switchover.fenceSecurityGroupId"),
        ),
        case(
            "negative lag",
            with(dms(), "/switchover/maxLagSeconds", json!(-3)),
            Refused("switchover.maxLagSeconds"),
        ),
        case(
            "lag 3601",
            with(dms(), "/switchover/maxLagSeconds", json!(3601)),
            Refused("switchover.maxLagSeconds"),
        ),
        case(
            "drain timeout 9",
            with(dms(), "/switchover/drainTimeoutSeconds", json!(9)),
            Refused("switchover.drainTimeoutSeconds"),
        ),
        case(
            "drain timeout 3601",
            with(dms(), "/switchover/drainTimeoutSeconds", json!(3601)),
            Refused("switchover.drainTimeoutSeconds"),
        ),
        case(
            "switchover null",
            with(dms(), "/switchover", Value::Null),
            Refused("switchover"),
        ),
        // DNS.
        case(
            "negative ttl",
            with(dms(), "/dns/ttlSeconds", json!(-1)),
            Refused("dns.ttlSeconds"),
        ),
        case(
            "ttl written as a decimal",
            with(dms(), "/dns/ttlSeconds", json!(30.0)),
            Gap(
                "dns.ttlSeconds",
                "JSON Schema's integer is a number with no fractional part, whatever its spelling",
            ),
        ),
        case(
            "bad hosted zone",
            with(dms(), "/dns/hostedZoneId", json!("zone one")),
            Refused("dns.hostedZoneId"),
        ),
        case(
            "record label over 63 characters",
            with(
                dms(),
                "/dns/recordName",
                json!(format!("{}.example.com", "d".repeat(64))),
            ),
            Refused("dns.recordName"),
        ),
        case(
            "record name over 253 characters",
            with(
                dms(),
                "/dns/recordName",
                json!(format!("{}.example.com", vec!["d".repeat(60); 4].join("."))),
            ),
            Refused("dns.recordName"),
        ),
        case(
            "record name missing",
            without(dms(), "/dns/recordName"),
            Refused("dns"),
        ),
        // Other sections, and fields that are not there.
        case(
            "unknown verify mode",
            with(dms(), "/verify/mode", json!("full")),
            Refused("verify.mode"),
        ),
        case(
            "verify timeout beyond u32",
            with(dms(), "/verify/timeoutSeconds", json!(4_294_967_296_u64)),
            Refused("verify.timeoutSeconds"),
        ),
        case(
            "dry run as a string",
            with(dms(), "/dryRun", json!("yes")),
            Refused("dryRun"),
        ),
        case(
            "unknown field",
            with(dms(), "/sourceClusterID", json!("orders")),
            Refused("sourceClusterID"),
        ),
        case(
            "unknown nested field",
            with(dms(), "/dns/ttl", json!(5)),
            Refused("dns.ttl"),
        ),
        case(
            "unknown cleanup field",
            with(dms(), "/cleanup/deleteSnapshots", json!(true)),
            Refused("cleanup.deleteSnapshots"),
        ),
    ]
}

fn schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&read("infra/schema/migration-spec.schema.json"))
        .expect("the committed schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed schema compiles")
}

/// What `aurora-encrypt validate` checks after the text has parsed as JSON.
fn validate(spec: &Value) -> Result<(), aurora_core::InvalidInput> {
    MigrationSpec::from_json(&spec.to_string())?.validate(NOW)
}

#[test]
fn schema_and_validate_agree_on_every_case() {
    let schema = schema_validator();
    let cases = cases();
    let mut disagreements = Vec::new();
    for Case { name, spec, expect } in &cases {
        let schema_errors: Vec<String> = schema
            .iter_errors(spec)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        let schema_accepts = schema_errors.is_empty();
        let checked = validate(spec);
        let problem = match (expect, schema_accepts, &checked) {
            (Valid, true, Ok(())) => None,
            (Refused(field), false, Err(e)) | (Gap(field, _), true, Err(e))
                if e.field == *field =>
            {
                None
            }
            (Refused(field), false, Err(e)) | (Gap(field, _), true, Err(e)) => Some(format!(
                "validate refused it at `{}`, not `{field}`: {e}",
                e.field
            )),
            (Gap(_, reason), false, Err(_)) => Some(format!(
                "marked as a rule the schema cannot express ({reason}), but the schema refuses it: \
                 {}",
                schema_errors.join("; ")
            )),
            _ => Some(format!(
                "expected {expect:?}; schema {}; validate {}",
                if schema_accepts {
                    "accepts".to_string()
                } else {
                    format!("refuses ({})", schema_errors.join("; "))
                },
                match &checked {
                    Ok(()) => "accepts".to_string(),
                    Err(e) => format!("refuses ({e})"),
                }
            )),
        };
        if let Some(problem) = problem {
            disagreements.push(format!("case `{name}`: {problem}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}

#[test]
fn the_table_covers_good_bad_and_inexpressible_specs() {
    let cases = cases();
    let count = |f: fn(&Expect) -> bool| cases.iter().filter(|c| f(&c.expect)).count();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    assert!(count(|e| matches!(e, Valid)) >= 10);
    assert!(count(|e| matches!(e, Refused(_))) >= 30);
    // Exactly the rules JSON Schema cannot state; a new one must be added here on purpose.
    let mut gaps: Vec<&str> = cases
        .iter()
        .filter_map(|c| matches!(c.expect, Gap(..)).then_some(c.name))
        .collect();
    gaps.sort_unstable();
    assert_eq!(
        gaps,
        [
            "smoke query of two statements",
            "smoke query selecting into a file",
            "target equal to the source",
            "ttl written as a decimal",
            "window end before its start",
            "window start in the past",
        ]
    );
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn the_example_input_is_valid_against_the_schema() {
    let schema = schema_validator();
    let example: Value = serde_json::from_str(&read("infra/events/example-input.json")).unwrap();
    let errors: Vec<String> = schema
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A key given twice is refused by `validate`, but a JSON Schema validator sees the document
/// once parsed, where one of the two is gone: a gap the table, made of parsed values, cannot
/// hold.
#[test]
fn a_key_given_twice_is_refused_by_validate_only() {
    let text = dms().to_string().replacen('{', r#"{"dryRun":true,"#, 1);
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert!(schema_validator().is_valid(&parsed));
    let error = MigrationSpec::from_json(&text).unwrap_err();
    assert!(error.reason.contains("duplicate field `dryRun`"), "{error}");
}
