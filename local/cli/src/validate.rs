//! `aurora-encrypt validate`: checks a migration spec offline with the same strict parsing and
//! validation as the Preflight step's input checks ([`MigrationSpec::from_json`] then
//! [`MigrationSpec::validate`]), and prints it with its defaults filled in.
//!
//! `start` runs the same checks before it starts anything.

use std::io::Read;
use std::process::ExitCode;

use aurora_core::spec::ReplicationSpec;
use aurora_core::MigrationSpec;
use serde_json::Value;
use time::OffsetDateTime;

use crate::failure::{Failure, BAD_INPUT};

/// Arguments of `aurora-encrypt validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The migration spec (execution input): a JSON file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub spec: String,
}

/// `validate --help`.
pub(crate) const LONG_ABOUT: &str = "\
Check a migration spec offline and print it with its defaults.

Parses the spec strictly (unknown fields are errors) and validates it exactly as the Preflight
step checks its input, without calling AWS. On success prints `valid` and the spec with the
defaults that need no AWS call filled in (targetClusterId, switchover, verify, cleanup …) and
exits 0. Otherwise prints {\"error\":\"InvalidInput\",\"cause\":…} and a sentence naming
the field on stderr and exits 2.

Examples:
  aurora-encrypt validate --spec orders.json
  cat orders.json | aurora-encrypt validate --spec -";

/// A spec that parsed and validated, with the JSON it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckedSpec {
    pub spec: MigrationSpec,
    /// The input as given (the execution input `start` sends).
    pub input: Value,
}

/// Reads the spec text from a file, or stdin for `-`.
pub(crate) fn read_spec_text(source: &str) -> Result<String, Failure> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::new(
                "InvalidInput",
                format!("cannot read the spec from stdin: {e}"),
                BAD_INPUT,
            )
        })?;
        return Ok(text);
    }
    std::fs::read_to_string(source).map_err(|e| {
        Failure::new(
            "InvalidInput",
            format!("cannot read the spec file {source}: {e}"),
            BAD_INPUT,
        )
    })
}

/// Parses strictly and validates as preflight does, at `now`.
pub(crate) fn check(text: &str, now: OffsetDateTime) -> Result<CheckedSpec, Failure> {
    // JSON syntax first, so a typo is reported where it is in the text, not as a field.
    let input = serde_json::from_str(text).map_err(|e| {
        let cause = format!(
            "the spec is not valid JSON: line {}, column {}: {e}",
            e.line(),
            e.column()
        );
        Failure::new("InvalidInput", cause.clone(), BAD_INPUT).with_hint(cause)
    })?;
    let spec = MigrationSpec::from_json(text)?;
    spec.validate(now)?;
    Ok(CheckedSpec { spec, input })
}

/// The spec with the defaults that need no AWS call filled in: `targetClusterId` and the DMS
/// `secretsAccessRoleArn`. (The KMS key and instance classes default to what preflight finds.)
pub(crate) fn normalised(spec: &MigrationSpec) -> MigrationSpec {
    let mut spec = spec.clone();
    spec.target_cluster_id = Some(spec.target_cluster_id());
    if let ReplicationSpec::Dms(dms) = &mut spec.replication {
        if dms.secrets_access_role_arn.is_none() {
            dms.secrets_access_role_arn = Some(dms.service_role_arn.clone());
        }
    }
    spec
}

/// Runs `validate`: prints `valid` and the normalised spec, or the error (exit 2).
pub(crate) fn run(args: Args) -> ExitCode {
    let checked =
        read_spec_text(&args.spec).and_then(|text| check(&text, OffsetDateTime::now_utc()));
    match checked {
        Ok(checked) => match serde_json::to_string_pretty(&normalised(&checked.spec)) {
            Ok(json) => {
                println!("valid");
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => Failure::new("InvalidInput", e.to_string(), BAD_INPUT).report(),
        },
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

    #[test]
    fn malformed_json_is_reported_at_its_position_not_as_a_field() {
        let failure = check("{\n  \"sourceClusterId\": \"orders\",\n  oops\n}", NOW).unwrap_err();
        assert_eq!(failure.error, "InvalidInput");
        assert!(
            failure.cause.contains("line 3, column 3"),
            "{}",
            failure.cause
        );
        assert!(
            !failure.cause.contains("sourceClusterId"),
            "{}",
            failure.cause
        );
    }

    fn dms_spec() -> Value {
        json!({
            "sourceClusterId": "orders",
            "replication": {
                "engine": "dms",
                "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-migration",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:src-AbCdEf",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tgt-AbCdEf",
                "instanceProfile": {"subnetGroupIdentifier": "db-subnets"}
            },
            "dns": {"hostedZoneId": "Z0123456789ABC", "recordName": "orders-db.example.com"}
        })
    }

    #[test]
    fn a_valid_spec_is_normalised_with_its_defaults() {
        let checked = check(&dms_spec().to_string(), NOW).expect("valid");
        let normal = serde_json::to_value(normalised(&checked.spec)).unwrap();
        assert_eq!(normal["targetClusterId"], "orders-encrypted");
        assert_eq!(
            normal["replication"]["secretsAccessRoleArn"],
            "arn:aws:iam::123456789012:role/dms-migration"
        );
        assert_eq!(normal["switchover"]["mode"], "approval");
        assert_eq!(normal["dns"]["ttlSeconds"], 5);
        assert_eq!(normal["cleanup"]["deleteMigrationResources"], true);
        assert_eq!(checked.input, dms_spec());
    }

    #[test]
    fn a_negative_ttl_is_invalid_input_naming_the_field() {
        let mut spec = dms_spec();
        spec["dns"]["ttlSeconds"] = json!(-5);
        let failure = check(&spec.to_string(), NOW).unwrap_err();
        assert_eq!(failure.error, "InvalidInput");
        assert_eq!(failure.exit_code, BAD_INPUT);
        assert!(
            failure.cause.contains("`dns.ttlSeconds`"),
            "{}",
            failure.cause
        );
    }

    #[test]
    fn unknown_fields_are_rejected_like_preflight_does() {
        let mut spec = dms_spec();
        spec["switchover"] = json!({"mode": "auto", "maxLagSecs": 3});
        let failure = check(&spec.to_string(), NOW).unwrap_err();
        assert!(
            failure.cause.contains("switchover.maxLagSecs"),
            "{}",
            failure.cause
        );
        assert!(failure.cause.contains("unknown field"), "{}", failure.cause);
    }

    #[test]
    fn a_dms_field_under_engine_native_is_refused_naming_it() {
        let mut spec = dms_spec();
        spec["replication"] = json!({
            "engine": "native",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-migration",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:src-AbCdEf",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tgt-AbCdEf"
        });
        let failure = check(&spec.to_string(), NOW).unwrap_err();
        assert_eq!(failure.exit_code, BAD_INPUT);
        assert!(
            failure.cause.contains("`replication.serviceRoleArn`"),
            "{}",
            failure.cause
        );
    }

    #[test]
    fn a_window_in_the_past_is_rejected() {
        let mut spec = dms_spec();
        spec["switchover"] = json!({"mode": "window", "windowStart": "2025-01-01T02:00:00Z"});
        let failure = check(&spec.to_string(), NOW).unwrap_err();
        assert!(failure.cause.contains("switchover"), "{}", failure.cause);
    }

    #[test]
    fn text_that_is_not_json_is_invalid_input() {
        let failure = check("{oops", NOW).unwrap_err();
        assert_eq!(failure.error, "InvalidInput");
    }

    #[test]
    fn a_missing_file_is_reported_with_its_name() {
        let failure = read_spec_text("/nonexistent/spec.json").unwrap_err();
        assert_eq!(failure.exit_code, BAD_INPUT);
        assert!(failure.cause.contains("/nonexistent/spec.json"));
    }
}
