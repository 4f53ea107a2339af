//! Each Lambda links only what its step calls: the SDK client of every AWS service its IAM policy
//! grants calls to, no other, and the MySQL driver only if it speaks SQL (the functions that do
//! carry the RDS CA bundle layer). Read from `cargo tree -p <function> -e normal`, which resolves
//! that package's features alone, as `sam build` does from the function's own folder
//! (`artefacts::functions_build_from_their_own_folders_for_arm64`).

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use aurora_tests::{repo_root, resources_of_type, template};
use serde_json::Value;

/// The SDK crate that calls each IAM service prefix.
const SDK_OF_SERVICE: &[(&str, &str)] = &[
    ("rds", "aws-sdk-rds"),
    ("dms", "aws-sdk-databasemigration"),
    ("cloudwatch", "aws-sdk-cloudwatch"),
    ("route53", "aws-sdk-route53"),
    ("kms", "aws-sdk-kms"),
    ("secretsmanager", "aws-sdk-secretsmanager"),
    ("dynamodb", "aws-sdk-dynamodb"),
    ("states", "aws-sdk-sfn"),
];

/// Services a function is granted without calling them through a client of its own: `iam`
/// (PassRole travels with a DMS or RDS call), and the runtime's logs, X-Ray and VPC interfaces.
const NO_CLIENT: &[&str] = &["iam", "logs", "xray", "ec2"];

/// Crates no Lambda needs: aws-config's SSO providers (a Lambda's role credentials come from its
/// environment). `aws-sdk-sts` stays: aws-config resolves web-identity and assume-role with it.
const NEVER: &[&str] = &["aws-sdk-sso", "aws-sdk-ssooidc"];

const SQL_DRIVER: &str = "mysql_async";

/// The SDK crates `function`'s policy needs. A statement conditioned on `kms:ViaService` is a
/// grant for another service to use on the function's behalf (Secrets Manager decrypting a
/// secret), not a call of the function's.
fn sdk_crates_granted(id: &str, function: &Value) -> BTreeSet<&'static str> {
    let mut crates = BTreeSet::new();
    let policies = function["Properties"]["Policies"].as_array();
    for statement in policies
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_array().into_iter().flatten())
    {
        let on_behalf = statement["Condition"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, keys)| keys.get("kms:ViaService").is_some());
        if on_behalf {
            continue;
        }
        let actions: Vec<&str> = match &statement["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => panic!("{id}: Action {other}"),
        };
        for action in actions {
            let service = action.split(':').next().unwrap_or_default();
            match SDK_OF_SERVICE.iter().find(|(s, _)| *s == service) {
                Some((_, sdk)) => {
                    crates.insert(*sdk);
                }
                None => assert!(
                    NO_CLIENT.contains(&service),
                    "{id}: {action}: which SDK crate calls `{service}`? add it to SDK_OF_SERVICE"
                ),
            }
        }
    }
    crates
}

fn speaks_sql(function: &Value) -> bool {
    function["Properties"]["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|layer| layer["Ref"] == "RdsCaBundleLayer")
}

/// The crate names in `package`'s normal (non-dev, non-build) dependency tree.
fn dependency_tree(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn each_function_links_the_sdk_clients_its_policy_grants_and_no_other() {
    let template = template();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 12);
    let mut failures = Vec::new();
    for (id, function) in functions {
        let package = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Binary"));
        let tree = dependency_tree(package);
        let linked: BTreeSet<&str> = tree
            .iter()
            .map(String::as_str)
            .filter(|c| SDK_OF_SERVICE.iter().any(|(_, sdk)| sdk == c))
            .collect();
        let granted = sdk_crates_granted(id, function);
        if linked != granted {
            failures.push(format!(
                "{package}: links {linked:?}, its policy grants calls to {granted:?}"
            ));
        }
        if tree.contains(SQL_DRIVER) != speaks_sql(function) {
            failures.push(format!(
                "{package}: {SQL_DRIVER} linked: {}, RdsCaBundleLayer: {}",
                tree.contains(SQL_DRIVER),
                speaks_sql(function)
            ));
        }
        for never in NEVER {
            if tree.contains(*never) {
                failures.push(format!("{package}: links {never}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The core (steps, ports, contracts) is linked by the sandbox, the local engine and the CLI as
/// well: the Lambda runtime, and hyper and tower with it, stay with the bins.
#[test]
fn the_core_links_no_lambda_runtime_and_no_sdk() {
    let tree = dependency_tree("aurora-core");
    let unwanted: Vec<&String> = tree
        .iter()
        .filter(|c| {
            c.starts_with("lambda_runtime")
                || c.starts_with("aws-")
                || *c == "hyper"
                || *c == SQL_DRIVER
        })
        .collect();
    assert!(unwanted.is_empty(), "aurora-core links {unwanted:?}");
}
