//! `aurora-encrypt start`: validates a spec locally, then starts an execution of the deployed
//! state machine with the spec as its input and prints the execution ARN.
//!
//! A spec that `validate` rejects starts nothing: the same `InvalidInput` is reported here,
//! before any AWS call.

use std::process::ExitCode;

use time::OffsetDateTime;

use super::{aws_config, aws_failure, resolve_machine, MachineArgs};
use crate::failure::{Failure, BAD_INPUT};
use crate::validate::{check, read_spec_text, CheckedSpec};

/// `start --help`.
pub(crate) const LONG_ABOUT: &str = "\
Start a migration on the deployed state machine.

Validates the spec first, exactly as `validate` does: an invalid spec is reported as
InvalidInput (exit 2) and nothing is started. Then calls StartExecution with the spec as the
execution input, prints the execution ARN on stdout and exits 0. The state machine is given by
ARN, or by the stack that deployed it (its EncryptClusterStateMachineArn output). AWS
credentials and region come from the usual places (AWS_PROFILE, AWS_REGION, SSO, instance roles).

Examples:
  aurora-encrypt start --spec orders.json --stack aurora-encrypt
  aurora-encrypt start --spec orders.json --name orders-try-2 \\
      --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-encrypt
  arn=$(aurora-encrypt start --spec orders.json --stack aurora-encrypt) && aurora-encrypt watch \"$arn\"";

/// Step Functions limits execution names to 80 characters.
const MAX_EXECUTION_NAME: usize = 80;

/// Arguments of `aurora-encrypt start`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The migration spec (execution input): a JSON file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub spec: String,

    #[command(flatten)]
    pub machine: MachineArgs,

    /// The execution name: letters, digits and hyphens, at most 80. Names of the snapshot and
    /// other resources the run creates derive from it. Default `<sourceClusterId>-<UTC time>`,
    /// e.g. `orders-20260301-020000`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// A started execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Started {
    pub execution_arn: String,
    pub name: String,
}

/// The default execution name: the source cluster and the UTC start time.
pub(crate) fn default_name(spec: &CheckedSpec, now: OffsetDateTime) -> String {
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut source = spec.spec.source_cluster_id.clone();
    source.truncate(MAX_EXECUTION_NAME - stamp.len() - 1);
    format!("{}-{stamp}", source.trim_end_matches('-'))
}

/// Checks a user-given name: resource names are built from it, so the rules of RDS identifiers
/// apply (letters, digits, single hyphens, no hyphen at either end).
fn check_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EXECUTION_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        let cause = format!(
            "invalid input at `--name`: `{name}` must be 1-{MAX_EXECUTION_NAME} letters, digits or single hyphens, not starting or ending with a hyphen"
        );
        Err(Failure::new("InvalidInput", cause, BAD_INPUT))
    }
}

/// Validates the spec text, then starts an execution of `machine_arn` with it as input.
pub(crate) async fn start(
    client: &aws_sdk_sfn::Client,
    machine_arn: &str,
    spec_text: &str,
    name: Option<&str>,
    now: OffsetDateTime,
) -> Result<Started, Failure> {
    let checked = check(spec_text, now)?;
    let name = match name {
        Some(name) => {
            check_name(name)?;
            name.to_string()
        }
        None => default_name(&checked, now),
    };
    let started = client
        .start_execution()
        .state_machine_arn(machine_arn)
        .name(&name)
        .input(checked.input.to_string())
        .send()
        .await
        .map_err(|e| aws_failure("StartExecution", e))?;
    Ok(Started {
        execution_arn: started.execution_arn().to_string(),
        name,
    })
}

/// Runs `start`: the spec is checked before the state machine is looked up.
pub(crate) async fn run(args: Args) -> ExitCode {
    let now = OffsetDateTime::now_utc();
    let text = match read_spec_text(&args.spec).and_then(|text| check(&text, now).map(|_| text)) {
        Ok(text) => text,
        Err(failure) => return failure.report(),
    };
    let config = aws_config().await;
    let machine_arn = match resolve_machine(&args.machine, &config).await {
        Ok(arn) => arn,
        Err(failure) => return failure.report(),
    };
    let client = aws_sdk_sfn::Client::new(&config);
    match start(&client, &machine_arn, &text, args.name.as_deref(), now).await {
        Ok(started) => {
            println!("{}", started.execution_arn);
            eprintln!(
                "started {}; follow it with: aurora-encrypt watch {}",
                started.name, started.execution_arn
            );
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::test_support::*;
    use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::mock;
    use serde_json::{json, Value};
    use time::macros::datetime;

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:aurora-encrypt";
    const NOW: OffsetDateTime = datetime!(2026-03-01 02:00:00 UTC);

    fn spec() -> Value {
        json!({
            "sourceClusterId": "orders",
            "replication": {
                "engine": "native",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:src-AbCdEf",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tgt-AbCdEf"
            },
            "switchover": {"mode": "approval", "maxLagSeconds": 2}
        })
    }

    fn started() -> StartExecutionOutput {
        StartExecutionOutput::builder()
            .execution_arn(EXECUTION_ARN)
            .start_date(DateTime::from_secs(1_772_330_400))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn start_sends_the_spec_as_the_execution_input() {
        let rule = mock!(Client::start_execution)
            .match_requests(|r| {
                r.state_machine_arn() == Some(MACHINE)
                    && r.name() == Some("orders-20260301-020000")
                    && r.input()
                        .and_then(|i| serde_json::from_str::<Value>(i).ok())
                        .is_some_and(|input| input == spec())
            })
            .then_output(started);
        let client = client!(aws_sdk_sfn, &rule);

        let started = start(&client, MACHINE, &spec().to_string(), None, NOW)
            .await
            .expect("started");

        assert_eq!(started.execution_arn, EXECUTION_ARN);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_given_name_is_used() {
        let rule = mock!(Client::start_execution)
            .match_requests(|r| r.name() == Some("orders-try-2"))
            .then_output(started);
        let client = client!(aws_sdk_sfn, &rule);

        start(
            &client,
            MACHINE,
            &spec().to_string(),
            Some("orders-try-2"),
            NOW,
        )
        .await
        .expect("started");

        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_bad_spec_starts_nothing() {
        let rule = mock!(Client::start_execution).then_output(started);
        let client = client!(aws_sdk_sfn, &rule);
        let mut bad = spec();
        bad["dns"] =
            json!({"hostedZoneId": "Z1", "recordName": "db.example.com", "ttlSeconds": -1});

        let failure = start(&client, MACHINE, &bad.to_string(), None, NOW)
            .await
            .unwrap_err();

        assert_eq!(failure.error, "InvalidInput");
        assert!(
            failure.cause.contains("dns.ttlSeconds"),
            "{}",
            failure.cause
        );
        assert_eq!(failure.exit_code, BAD_INPUT);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_bad_name_starts_nothing() {
        let rule = mock!(Client::start_execution).then_output(started);
        let client = client!(aws_sdk_sfn, &rule);

        let failure = start(&client, MACHINE, &spec().to_string(), Some("a b"), NOW)
            .await
            .unwrap_err();

        assert!(failure.cause.contains("`--name`"), "{}", failure.cause);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_existing_execution_name_is_reported_by_its_code() {
        let rule = mock!(Client::start_execution)
            .then_http_response(|| json_error(400, "ExecutionAlreadyExists", "exists"));
        let client = client!(aws_sdk_sfn, &rule);

        let failure = start(&client, MACHINE, &spec().to_string(), None, NOW)
            .await
            .unwrap_err();

        assert_eq!(failure.error, "ExecutionAlreadyExists");
    }

    #[test]
    fn default_names_fit_the_limit_and_stay_valid() {
        let mut long = spec();
        long["sourceClusterId"] = json!(format!("a{}", "b".repeat(62)));
        long["targetClusterId"] = json!("orders-encrypted");
        let checked = check(&long.to_string(), NOW).unwrap();
        let name = default_name(&checked, NOW);
        assert!(name.len() <= MAX_EXECUTION_NAME);
        assert!(check_name(&name).is_ok(), "{name}");
        assert!(name.ends_with("-20260301-020000"));
    }

    #[tokio::test]
    async fn the_state_machine_arn_is_read_from_the_stack_outputs() {
        use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
        use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};
        let rule = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some("aurora-encrypt"))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_name("aurora-encrypt")
                            .creation_time(DateTime::from_secs(0))
                            .stack_status(StackStatus::UpdateComplete)
                            .outputs(
                                Output::builder()
                                    .output_key("NotificationTopicArn")
                                    .output_value("arn:aws:sns:eu-west-1:123456789012:t")
                                    .build(),
                            )
                            .outputs(
                                Output::builder()
                                    .output_key("EncryptClusterStateMachineArn")
                                    .output_value(MACHINE)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let cloudformation = aws_smithy_mocks::mock_client!(
            aws_sdk_cloudformation,
            aws_smithy_mocks::RuleMode::MatchAny,
            [&rule]
        );

        let arn = crate::sfn::machine_arn_from_stack(&cloudformation, "aurora-encrypt")
            .await
            .expect("found");

        assert_eq!(arn, MACHINE);
        assert_eq!(rule.num_calls(), 1);
    }
}
