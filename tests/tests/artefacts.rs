//! The deployable artefacts agree with each other and with the code: the ASL definitions, the SAM
//! template, the bin crates, the error names and the IAM actions each step declares.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use asl_engine::Definition;
use aurora_core::{error_names, steps, MigrationSpec};
use aurora_tests::{
    all_states, asl, function_actions, handled_errors, placeholders, read, repo_root,
    resources_of_type, template,
};
use serde_json::{json, Value};

const CLUSTER_ASL: &str = "statemachine/encrypt-cluster.asl.json";
const FLEET_ASL: &str = "statemachine/encrypt-fleet.asl.json";

/// The error names every Lambda Task retries.
const TRANSIENT_NAMES: &[&str] = &[
    "Transient",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// Template function logical id → the IAM actions its step declares it calls.
fn declared_iam_actions() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("PreflightFunction", steps::preflight::IAM_ACTIONS),
        ("SnapshotFunction", steps::snapshot::IAM_ACTIONS),
        ("RestoreFunction", steps::restore::IAM_ACTIONS),
        (
            "BinlogPositionFunction",
            steps::binlog_position::IAM_ACTIONS,
        ),
        (
            "CreateMigrationFunction",
            steps::create_migration::IAM_ACTIONS,
        ),
        ("PollLatencyFunction", steps::poll_latency::IAM_ACTIONS),
        ("SwapDnsFunction", steps::swap_dns::IAM_ACTIONS),
        ("FenceWritesFunction", steps::fence_writes::IAM_ACTIONS),
        ("DrainFunction", steps::drain::IAM_ACTIONS),
        ("VerifyFunction", steps::verify::IAM_ACTIONS),
        ("StopMigrationFunction", steps::stop_migration::IAM_ACTIONS),
        ("CleanupFunction", steps::cleanup::IAM_ACTIONS),
    ])
}

/// The state machine resource of the template whose `DefinitionUri` is `asl_path`.
fn state_machine<'t>(template: &'t Value, asl_path: &str) -> &'t Value {
    let uri = format!("../{asl_path}");
    resources_of_type(template, "AWS::Serverless::StateMachine")
        .into_iter()
        .find(|(_, r)| r["Properties"]["DefinitionUri"] == uri.as_str())
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no AWS::Serverless::StateMachine with DefinitionUri {uri}"))
}

fn substitutions<'t>(template: &'t Value, asl_path: &str) -> &'t serde_json::Map<String, Value> {
    state_machine(template, asl_path)["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .unwrap_or_else(|| panic!("{asl_path}: no DefinitionSubstitutions"))
}

/// The function logical id a `${…}` substitution names through `Fn::GetAtt: [Id, Arn]`.
fn function_of(substitution: &Value) -> Option<&str> {
    let get_att = substitution.get("Fn::GetAtt")?.as_array()?;
    match get_att.as_slice() {
        [Value::String(id), Value::String(attr)] if attr == "Arn" => Some(id),
        _ => None,
    }
}

fn states_of(definition: &Value) -> HashMap<String, Value> {
    all_states(definition).into_iter().collect()
}

#[test]
fn both_definitions_parse_on_the_engine_with_every_state_reachable() {
    for path in [CLUSTER_ASL, FLEET_ASL] {
        // Definition::parse rejects a Next that names no state and unreachable states.
        let definition = Definition::parse(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let dummy: HashMap<String, String> = placeholders(definition.source())
            .into_iter()
            .map(|name| {
                let arn = match name.as_str() {
                    "Partition" => "aws".to_string(),
                    _ => format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                };
                (name, arn)
            })
            .collect();
        definition
            .substitute(&dummy)
            .unwrap_or_else(|e| panic!("{path} after substitution: {e}"));
    }
}

#[test]
fn every_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let template = template();
    for path in [CLUSTER_ASL, FLEET_ASL] {
        let used = placeholders(&asl(path));
        let defined: BTreeSet<String> = substitutions(&template, path).keys().cloned().collect();
        let missing: Vec<_> = used.difference(&defined).collect();
        let unused: Vec<_> = defined.difference(&used).collect();
        assert!(
            missing.is_empty(),
            "{path}: no substitution for {missing:?}"
        );
        assert!(
            unused.is_empty(),
            "{path}: substitutions never used: {unused:?}"
        );
    }
}

#[test]
fn every_task_resource_is_a_template_function_with_a_bin_crate_or_sns() {
    let template = template();
    let subs = substitutions(&template, CLUSTER_ASL);
    let functions: BTreeMap<&str, &Value> =
        resources_of_type(&template, "AWS::Serverless::Function")
            .into_iter()
            .collect();
    let mut invoked = BTreeSet::new();
    for resource in Definition::parse(&read(CLUSTER_ASL))
        .unwrap()
        .task_resources()
    {
        if resource.starts_with("arn:${Partition}:states:::sns:publish") {
            continue;
        }
        // The user's own smoke test: the stack's SmokeFunctionArns, checked below.
        if resource == "arn:${Partition}:states:::lambda:invoke" {
            continue;
        }
        let name = resource
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or_else(|| panic!("Task resource {resource} is neither ${{…}} nor SNS"));
        let id = function_of(&subs[name])
            .unwrap_or_else(|| panic!("${{{name}}} is not Fn::GetAtt [<Function>, Arn]"));
        let function = functions
            .get(id)
            .unwrap_or_else(|| panic!("${{{name}}} names {id}, not a function of the template"));
        invoked.insert(id);
        let metadata = &function["Metadata"];
        assert_eq!(metadata["BuildMethod"], "rust-cargolambda", "{id}");
        let bin = metadata["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Metadata.BuildProperties.Binary"));
        let manifest = repo_root().join("functions").join(bin).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{id}: no bin crate functions/{bin}: {e}"));
        assert!(
            text.contains(&format!("name = \"{bin}\"")),
            "{}: package is not named {bin}",
            manifest.display()
        );
    }
    let orphans: Vec<_> = functions
        .keys()
        .filter(|id| !invoked.contains(*id))
        .collect();
    assert!(orphans.is_empty(), "functions no Task invokes: {orphans:?}");

    // smoke.functionArn: the state machine may invoke the stack's SmokeFunctionArns and no
    // other function of the user's; preflight knows the same list.
    let statements = &template["Resources"]["EncryptClusterRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"];
    let smoke = statements
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|s| s.get("Fn::If"))
        .expect("the smoke functions' statement is conditional");
    assert_eq!(smoke[0], "HasSmokeFunctions");
    assert_eq!(
        smoke[1],
        json!({"Sid": "InvokeSmokeFunctions", "Effect": "Allow",
               "Action": "lambda:InvokeFunction", "Resource": {"Ref": "SmokeFunctionArns"}})
    );
    assert_eq!(smoke[2], json!({"Ref": "AWS::NoValue"}));
    assert_eq!(
        functions["PreflightFunction"]["Properties"]["Environment"]["Variables"]
            ["SMOKE_FUNCTION_ARNS"],
        json!({"Fn::Join": [",", {"Ref": "SmokeFunctionArns"}]})
    );
}

/// `sam build` runs `cargo lambda build --bin <Binary>` in each function's `CodeUri`. From the
/// function's own folder cargo selects that package alone, so its features are not unified with
/// the rest of the workspace's and it links only what its step calls (`lambda_deps.rs`); from
/// the workspace root every function would link every SDK client the others enable.
#[test]
fn functions_build_from_their_own_folders_for_arm64() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert!(globals.get("CodeUri").is_none(), "CodeUri is per function");
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let bin = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Binary"));
        assert_eq!(
            function["Properties"]["CodeUri"],
            format!("../functions/{bin}").as_str(),
            "{id}"
        );
        for key in ["Runtime", "Handler", "Architectures"] {
            assert!(
                function["Properties"].get(key).is_none(),
                "{id} overrides Globals {key}"
            );
        }
    }
}

#[test]
fn every_core_error_name_is_handled_and_every_asl_name_is_known() {
    let definition = asl(CLUSTER_ASL);
    let handled: BTreeSet<String> = all_states(&definition)
        .iter()
        .flat_map(|(_, s)| handled_errors(s))
        .collect();
    let unhandled: Vec<_> = error_names::ALL
        .iter()
        .filter(|n| !handled.contains(**n))
        .collect();
    assert!(
        unhandled.is_empty(),
        "core names no Retry/Catch handles: {unhandled:?}"
    );
    let unknown: Vec<_> = handled
        .iter()
        .filter(|n| {
            !error_names::ALL.contains(&n.as_str())
                && !n.starts_with("States.")
                && !n.starts_with("Lambda.")
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "ASL names core does not define: {unknown:?}"
    );
}

#[test]
fn every_lambda_task_retries_transient_errors_with_jitter_and_catches_all_last() {
    for (name, state) in all_states(&asl(CLUSTER_ASL)) {
        let resource = state["Resource"].as_str().unwrap_or_default();
        if state["Type"] != "Task" || !resource.ends_with("FunctionArn}") {
            continue;
        }
        let retries = state["Retry"].as_array().cloned().unwrap_or_default();
        let transient = retries.iter().find(|r| {
            TRANSIENT_NAMES.iter().all(|n| {
                r["ErrorEquals"]
                    .as_array()
                    .is_some_and(|e| e.contains(&json!(n)))
            })
        });
        let transient =
            transient.unwrap_or_else(|| panic!("{name}: no Retry for {TRANSIENT_NAMES:?}"));
        assert_eq!(transient["JitterStrategy"], "FULL", "{name}");
        assert!(
            transient["BackoffRate"].as_f64().unwrap_or(1.0) > 1.0,
            "{name}"
        );
        let catches = state["Catch"].as_array().cloned().unwrap_or_default();
        let last = catches.last().unwrap_or_else(|| panic!("{name}: no Catch"));
        assert_eq!(last["ErrorEquals"], json!(["States.ALL"]), "{name}");
        assert!(
            catches.len() >= 2,
            "{name}: business errors are caught by name before States.ALL"
        );
        for catch in &catches {
            assert_ne!(
                catch["ResultPath"],
                Value::Null,
                "{name}: a Catch must keep the state document"
            );
        }
    }
}

/// The pipeline table of the contracts: state → resource, ResultPath.
/// SNS refuses a Subject of 100 characters or more ("less than 100 characters long",
/// `Publish`): every subject, formatted with the longest cluster identifier RDS allows, fits.
#[test]
fn every_notification_subject_fits_sns_with_the_longest_cluster_id() {
    let longest = "c".repeat(aurora_core::naming::MAX_RDS_IDENTIFIER);
    for (name, state) in all_states(&asl(CLUSTER_ASL)) {
        let parameters = &state["Parameters"];
        let Some(subject) = parameters["Subject.$"]
            .as_str()
            .or(parameters["Subject"].as_str())
        else {
            continue;
        };
        let template = subject
            .strip_prefix("States.Format('")
            .and_then(|rest| rest.split_once('\'').map(|(t, _)| t))
            .unwrap_or(subject);
        let formatted = template.replace("{}", &longest);
        assert!(
            formatted.chars().count() < 100,
            "{name}: {} characters: {formatted}",
            formatted.chars().count()
        );
    }
}

/// The failback's Tasks that run on the reverse view's replication and SQL logins.
const REVERSE_VIEW_TASKS: &[&str] = &[
    "StartReverseReplication",
    "PollReverse",
    "StopReverseReplication",
    "FenceNewCluster",
    "DrainReverse",
    "VerifyReverse",
    "StopReplicationAfterFailback",
];

/// The failback's Tasks that talk to a replication or to the clusters over SQL get the reverse
/// view's `restore`, `replication` and `preflight` together: the Lambdas build the replication
/// engine and the SQL logins from those three, so one forward key among them would point a
/// step at the wrong cluster or with the wrong user.
#[test]
fn failback_tasks_run_in_the_reverse_view() {
    let states: BTreeMap<_, _> = all_states(&asl(CLUSTER_ASL)).into_iter().collect();
    for name in REVERSE_VIEW_TASKS {
        let parameters = &states[*name]["Parameters"];
        for key in ["restore", "replication", "preflight"] {
            assert_eq!(
                parameters[format!("{key}.$")],
                format!("$.reverse.{key}").as_str(),
                "{name}: {key}"
            );
        }
    }
    // The swap back and its revert move the record between the forward endpoints.
    for name in ["SwapBack", "RevertSwapBack"] {
        assert_eq!(
            states[name]["Parameters"]["restore.$"], "$.restore",
            "{name}"
        );
    }
    assert_eq!(states["SwapBack"]["Parameters"]["revert"], true);
    assert!(states["RevertSwapBack"]["Parameters"]
        .get("revert")
        .is_none());
    assert_eq!(
        states["VerifyReverse"]["Parameters"]["direction"],
        aurora_core::steps::failback::FAILBACK_DIRECTION
    );
}

#[test]
fn states_follow_the_pipeline_contract() {
    let states = states_of(&asl(CLUSTER_ASL));
    let table = [
        ("Preflight", "${PreflightFunctionArn}", "$"),
        ("Snapshot", "${SnapshotFunctionArn}", "$.snapshot"),
        ("Restore", "${RestoreFunctionArn}", "$.restore"),
        ("BinlogPosition", "${BinlogPositionFunctionArn}", "$.binlog"),
        (
            "CreateMigration",
            "${CreateMigrationFunctionArn}",
            "$.migration",
        ),
        ("PollLatency", "${PollLatencyFunctionArn}", "$.lag"),
        ("FenceWrites", "${FenceWritesFunctionArn}", "$.fence"),
        ("UnfenceWrites", "${FenceWritesFunctionArn}", "$.unfence"),
        ("Drain", "${DrainFunctionArn}", "$.drain"),
        ("CheckParity", "${VerifyFunctionArn}", "$.parity"),
        ("VerifyOnline", "${VerifyFunctionArn}", "$.verifyOnline"),
        ("Prewarm", "${VerifyFunctionArn}", "$.prewarmed"),
        ("Verify", "${VerifyFunctionArn}", "$.verify"),
        ("SwapDns", "${SwapDnsFunctionArn}", "$.dnsSwap"),
        ("RevertDns", "${SwapDnsFunctionArn}", "$.dnsSwap"),
        ("LowerDnsTtl", "${SwapDnsFunctionArn}", "$.dnsTtl"),
        ("CleanupDnsTtl", "${SwapDnsFunctionArn}", "$.dnsTtlRestored"),
        (
            "CleanupDnsTtlAfterFailure",
            "${SwapDnsFunctionArn}",
            "$.dnsTtlRestored",
        ),
        (
            "CleanupDnsTtlOnRollback",
            "${SwapDnsFunctionArn}",
            "$.dnsTtlRestored",
        ),
        ("StopMigration", "${StopMigrationFunctionArn}", "$.stop"),
        ("Cleanup", "${CleanupFunctionArn}", "$.cleanedUp"),
    ];
    for (name, resource, result_path) in table {
        let state = states
            .get(name)
            .unwrap_or_else(|| panic!("no state {name}"));
        assert_eq!(state["Resource"], resource, "{name}");
        assert_eq!(state["ResultPath"], result_path, "{name}");
    }
    assert_eq!(
        states["Preflight"]["Parameters"],
        json!({"spec.$": "$$.Execution.Input",
               "execution": {"name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id"}})
    );
    assert_eq!(
        states["FenceWrites"]["Parameters"],
        json!({"action": "fence", "sourceClusterId.$": "$.sourceClusterId",
               "targetClusterId.$": "$.targetClusterId",
               "switchover.$": "$.switchover", "execution.$": "$.execution",
               "restore.$": "$.restore", "replication.$": "$.replication", "lock.$": "$.lock"})
    );
    // One function serves the verification states; the action tells them apart.
    assert_eq!(
        states["VerifyOnline"]["Parameters"],
        json!({"action": "online", "document.$": "$"})
    );
    assert_eq!(
        states["Prewarm"]["Parameters"],
        json!({"action": "prewarm", "document.$": "$"})
    );
    assert_eq!(
        states["CheckParity"]["Parameters"],
        json!({"action": "parity", "document.$": "$"})
    );
    // Parity is checked once replication has caught up, before the online pass and the gate;
    // what it finds rolls back, as the online pass's findings do.
    assert_eq!(states["CaughtUp"]["Choices"][0]["Next"], "CheckParity");
    assert_eq!(states["CheckParity"]["Next"], "HasSmokeFunction");
    assert_eq!(states["HasSmokeFunction"]["Default"], "VerifyOnline");
    assert_eq!(states["SmokeFunction"]["Next"], "VerifyOnline");
    // The user's function is invoked by the ARN the spec names (preflight checked it against
    // the stack's SmokeFunctionArns), and any error it raises is a smoke failure.
    assert_eq!(
        states["SmokeFunction"]["Parameters"]["FunctionName.$"],
        "$.smoke.functionArn"
    );
    assert_eq!(
        states["SmokeFunction"]["Catch"][0],
        json!({"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SmokeFunctionFailed"})
    );
    assert_eq!(
        states["SmokeFunctionFailed"]["Parameters"]["Error"],
        "SmokeQueryFailed"
    );
    assert_eq!(states["SmokeFunctionFailed"]["Next"], "Rollback");
    assert_eq!(
        states["CheckParity"]["Retry"], states["VerifyOnline"]["Retry"],
        "the same Retry as VerifyOnline"
    );
    assert_eq!(
        states["CheckParity"]["Catch"][0]["ErrorEquals"],
        json!([
            "ParityMismatch",
            "SmokeQueryFailed",
            "InvalidInput",
            "AccessDenied"
        ])
    );
    for catcher in states["CheckParity"]["Catch"].as_array().unwrap() {
        assert_eq!(catcher["Next"], "Rollback");
        assert_eq!(catcher["ResultPath"], "$.error");
    }
    // The fenced Verify runs the parity check again.
    assert!(states["Verify"]["Catch"][0]["ErrorEquals"]
        .as_array()
        .unwrap()
        .contains(&json!("ParityMismatch")));
    assert_eq!(states["Verify"]["Parameters"], Value::Null);
    assert_eq!(
        states["UnfenceWrites"]["Parameters"],
        json!({"action": "unfence", "sourceClusterId.$": "$.sourceClusterId",
               "execution.$": "$.execution", "fence.$": "$.fence", "lock.$": "$.lock"})
    );
    // FenceWrites failed half-way: the step unfences from the record it saved with the cluster.
    assert_eq!(
        states["UnfenceAfterFailedFence"]["Parameters"],
        json!({"action": "unfence", "sourceClusterId.$": "$.sourceClusterId",
               "execution.$": "$.execution", "lock.$": "$.lock"})
    );
    assert_eq!(
        states["FenceWrites"]["Catch"][0]["Next"],
        "UnfenceAfterFailedFence"
    );
    assert_eq!(
        states["RevertDns"]["Parameters"],
        json!({"revert": true, "sourceClusterId.$": "$.sourceClusterId",
               "execution.$": "$.execution", "dns.$": "$.dns", "restore.$": "$.restore",
               "lock.$": "$.lock"})
    );
    // The TTL actions of the swap-dns function: an action and the whole document.
    assert_eq!(
        states["LowerDnsTtl"]["Parameters"],
        json!({"action": "lower-ttl", "document.$": "$"})
    );
    for name in [
        "CleanupDnsTtl",
        "CleanupDnsTtlOnRollback",
        "CleanupDnsTtlAfterFailure",
    ] {
        assert_eq!(
            states[name]["Parameters"],
            json!({"action": "restore-ttl", "document.$": "$"}),
            "{name}"
        );
    }
    // Every other Lambda Task gets the whole state document.
    for (name, state) in &states {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let special = [
            "Preflight",
            "FenceWrites",
            "UnfenceWrites",
            "UnfenceAfterFailedFence",
            "RevertDns",
            "LowerDnsTtl",
            "CleanupDnsTtl",
            "CleanupDnsTtlOnRollback",
            "CleanupDnsTtlAfterFailure",
            "VerifyOnline",
            "Prewarm",
            "CheckParity",
            "CheckProxy",
            "CheckRename",
            "SwapProxy",
            "RevertProxy",
            "ConfirmProxy",
            "RenameClusters",
            "UndoRenames",
            "ConfirmRename",
            // The failback's Tasks narrow to the reverse view or the swap's fields: checked by
            // failback_tasks_run_in_the_reverse_view.
            "OpenFailbackWindow",
            "SwapBack",
            "RevertSwapBack",
            "UnfenceOldCluster",
            "UnfenceNewCluster",
        ];
        if resource.ends_with("FunctionArn}")
            && !special.contains(&name.as_str())
            && !REVERSE_VIEW_TASKS.contains(&name.as_str())
        {
            assert!(
                state.get("Parameters").is_none(),
                "{name} narrows its input"
            );
            assert!(state.get("InputPath").is_none(), "{name} narrows its input");
        }
    }
    // Notifications go through the SNS integration, not a Lambda.
    for (name, state) in &states {
        if name.starts_with("Notify") {
            assert_eq!(
                state["Resource"], "arn:${Partition}:states:::sns:publish",
                "{name}"
            );
            assert_eq!(
                state["Parameters"]["TopicArn"], "${NotificationTopicArn}",
                "{name}"
            );
        }
    }
}

#[test]
fn approval_publishes_its_task_token_so_a_cli_finds_it_in_the_history() {
    let states = states_of(&asl(CLUSTER_ASL));
    let approval = &states["AwaitApproval"];
    assert_eq!(
        approval["Resource"],
        "arn:${Partition}:states:::sns:publish.waitForTaskToken"
    );
    assert_eq!(
        approval["Parameters"]["Message"]["taskToken.$"],
        "$$.Task.Token"
    );
    assert!(
        approval.get("Retry").is_none(),
        "a rejection (SendTaskFailure) must not be retried into a second request"
    );
}

#[test]
fn rollback_and_after_swap_failures_end_with_the_original_error() {
    let states = states_of(&asl(CLUSTER_ASL));
    for name in ["RolledBack", "FailedAfterSwitchover", "PreflightFailed"] {
        assert_eq!(states[name]["Type"], "Fail", "{name}");
        assert_eq!(states[name]["ErrorPath"], "$.error.Error", "{name}");
        assert_eq!(states[name]["CausePath"], "$.error.Cause", "{name}");
    }
    // Nothing after the swap may lead back into the rollback (which would revert it).
    for name in ["StopMigration", "Cleanup", "CleanupDnsTtl"] {
        for catch in states[name]["Catch"].as_array().unwrap() {
            let next = catch["Next"].as_str().unwrap();
            assert!(next.ends_with("Failed"), "{name} → {next}");
        }
    }
}

#[test]
fn each_function_grants_exactly_the_actions_its_step_declares() {
    let template = template();
    let functions: BTreeMap<&str, &Value> =
        resources_of_type(&template, "AWS::Serverless::Function")
            .into_iter()
            .collect();
    for (id, declared) in declared_iam_actions() {
        let function = functions
            .get(id)
            .unwrap_or_else(|| panic!("no function {id}"));
        let granted = function_actions(function);
        let declared: BTreeSet<String> = declared.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            granted, declared,
            "{id}: granted (left) vs declared (right)"
        );
    }
    let unmapped: Vec<_> = functions
        .keys()
        .filter(|id| !declared_iam_actions().contains_key(*id))
        .collect();
    assert!(
        unmapped.is_empty(),
        "functions without a step mapping: {unmapped:?}"
    );
}

/// Functions that read database credentials speak SQL and must reach the clusters from the VPC;
/// the others call only AWS APIs and stay out of it (no NAT needed, faster cold starts).
#[test]
fn exactly_the_functions_that_read_database_secrets_run_in_the_vpc() {
    let template = template();
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let sql = function_actions(function).contains("secretsmanager:GetSecretValue");
        let in_vpc = function["Properties"].get("VpcConfig").is_some();
        assert_eq!(in_vpc, sql, "{id}: in VPC {in_vpc}, reads secrets {sql}");
    }
}

#[test]
fn no_statement_grants_every_action_or_passes_any_role() {
    let template = template();
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        for policy in function["Properties"]["Policies"].as_array().unwrap() {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                let actions = match &statement["Action"] {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for action in &actions {
                    let action = action.as_str().unwrap_or_default();
                    assert!(!action.contains('*'), "{id}: wildcard action {action}");
                    if action == "iam:PassRole" {
                        assert_eq!(
                            statement["Resource"],
                            json!([{"Ref": "DmsServiceRoleArn"}, {"Fn::If": ["HasSecretsAccessRole",
                                {"Ref": "DmsSecretsAccessRoleArn"}, {"Ref": "AWS::NoValue"}]}])
                        );
                        // Passed to DMS only (either of its principals), never any service.
                        assert_eq!(
                            statement["Condition"]["StringEquals"]["iam:PassedToService"],
                            json!(["dms.amazonaws.com", "dms-data-migrations.amazonaws.com"])
                        );
                    }
                    // Mutations are scoped to resources; only reads IAM cannot scope use "*",
                    // and creates that have no resource type (DMS CreateDataProvider,
                    // CreateInstanceProfile) are held to the ownership tag instead.
                    let verb = action.split(':').nth(1).unwrap_or_default();
                    let reads = ["Describe", "List", "Get"];
                    let owner_tag = format!("aws:RequestTag/{}", aurora_core::naming::OWNER_TAG);
                    let held_to_owner_tag =
                        statement["Condition"]["Null"][owner_tag.as_str()] == "false";
                    if statement["Resource"] == "*" {
                        assert!(
                            reads.iter().any(|r| verb.starts_with(r))
                                || (verb.starts_with("Create") && held_to_owner_tag),
                            "{id}: {action} on Resource *"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn example_input_is_a_valid_spec() {
    let text = read("infra/events/example-input.json");
    let spec = MigrationSpec::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    let long_ago = time::macros::datetime!(2000-01-01 00:00 UTC);
    spec.validate(long_ago).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn fleet_runs_children_through_the_cluster_state_machine_and_catches_per_item() {
    let fleet = asl(FLEET_ASL);
    let states = states_of(&fleet);
    let map = &states["EncryptClusters"];
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["MaxConcurrencyPath"], "$.maxConcurrency");
    let child = &states["EncryptCluster"];
    assert_eq!(
        child["Resource"],
        "arn:${Partition}:states:::states:startExecution.sync:2"
    );
    assert_eq!(
        child["Parameters"]["StateMachineArn"],
        "${EncryptClusterStateMachineArn}"
    );
    assert_eq!(
        child["Catch"].as_array().unwrap().last().unwrap()["ErrorEquals"],
        json!(["States.ALL"])
    );
    let template = template();
    assert_eq!(
        substitutions(&template, FLEET_ASL)["EncryptClusterStateMachineArn"],
        json!({"Ref": "EncryptClusterStateMachine"})
    );
}

/// The functions whose steps take, check or release the per-source lock.
const LOCK_FUNCTIONS: &[&str] = &[
    "PreflightFunction",
    "FenceWritesFunction",
    "SwapDnsFunction",
    "CleanupFunction",
];

#[test]
fn the_lock_table_is_on_demand_keyed_by_source_arn_with_a_ttl() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "{tables:?}");
    let (id, table) = tables[0];
    assert_eq!(id, "SourceLockTable");
    let properties = &table["Properties"];
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        properties["KeySchema"],
        json!([{"AttributeName": aurora_aws::source_lock::KEY, "KeyType": "HASH"}])
    );
    assert_eq!(
        properties["AttributeDefinitions"],
        json!([{"AttributeName": aurora_aws::source_lock::KEY, "AttributeType": "S"}])
    );
    assert_eq!(
        properties["TimeToLiveSpecification"],
        json!({"AttributeName": aurora_aws::source_lock::TTL_ATTRIBUTE, "Enabled": true})
    );
}

/// Only the functions that take, check or release the lock get DynamoDB actions, on the lock
/// table alone, and the table's name in `SOURCE_LOCK_TABLE`; only Preflight (which takes it)
/// may ask Step Functions about a holder, and only about this stack's executions.
#[test]
fn only_the_lock_functions_reach_the_lock_table_and_on_that_table_alone() {
    let template = template();
    let table_arn = json!({"Fn::GetAtt": ["SourceLockTable", "Arn"]});
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let locks = LOCK_FUNCTIONS.contains(&id);
        let actions = function_actions(function);
        let dynamodb: BTreeSet<&str> = actions
            .iter()
            .map(String::as_str)
            .filter(|a| a.starts_with("dynamodb:"))
            .collect();
        let expected: BTreeSet<&str> = if locks {
            steps::source_lock::CHECK_IAM_ACTIONS
                .iter()
                .copied()
                .collect()
        } else {
            BTreeSet::new()
        };
        assert_eq!(dynamodb, expected, "{id}");
        assert_eq!(
            function["Properties"]["Environment"]["Variables"]["SOURCE_LOCK_TABLE"],
            if locks {
                json!({"Ref": "SourceLockTable"})
            } else {
                Value::Null
            },
            "{id}"
        );
        let asks_holder = actions.contains("states:DescribeExecution");
        assert_eq!(asks_holder, id == "PreflightFunction", "{id}");
        for policy in function["Properties"]["Policies"].as_array().unwrap() {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                let listed = match &statement["Action"] {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let names: Vec<&str> = listed.iter().filter_map(Value::as_str).collect();
                if names.iter().any(|a| a.starts_with("dynamodb:")) {
                    assert!(
                        names.iter().all(|a| a.starts_with("dynamodb:")),
                        "{id}: {names:?}"
                    );
                    assert_eq!(statement["Resource"], table_arn, "{id}");
                }
                if names.contains(&"states:DescribeExecution") {
                    assert_eq!(
                        statement["Resource"],
                        json!({"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-encrypt-cluster:*"}),
                        "{id}"
                    );
                }
            }
        }
    }
    let declared: BTreeSet<&str> = steps::preflight::IAM_ACTIONS.iter().copied().collect();
    for action in steps::source_lock::TAKE_IAM_ACTIONS {
        assert!(declared.contains(action), "preflight declares {action}");
    }
    for actions in [
        steps::fence_writes::IAM_ACTIONS,
        steps::swap_dns::IAM_ACTIONS,
        steps::cleanup::IAM_ACTIONS,
    ] {
        for action in steps::source_lock::CHECK_IAM_ACTIONS {
            assert!(actions.contains(action), "{action}");
        }
    }
}

/// Every state that changes the source is handed the execution's lock (`$.lock`), explicitly
/// where it selects its input with Parameters, and names `SourceBusy` in its first Catch.
#[test]
fn every_state_that_changes_the_source_gets_the_lock_and_catches_source_busy() {
    let states = states_of(&asl(CLUSTER_ASL));
    assert_eq!(
        states["Preflight"]["Parameters"]["execution"]["id.$"],
        "$$.Execution.Id"
    );
    for name in [
        "Preflight",
        "FenceWrites",
        "UnfenceWrites",
        "UnfenceAfterFailedFence",
        "SwapDns",
        "RevertDns",
        "Cleanup",
        "CleanupOnRollback",
    ] {
        let state = &states[name];
        if name != "Preflight" {
            if let Some(parameters) = state.get("Parameters") {
                assert_eq!(parameters["lock.$"], "$.lock", "{name}");
            }
        }
        let first = &state["Catch"][0]["ErrorEquals"];
        assert!(
            first.as_array().unwrap().contains(&json!("SourceBusy")),
            "{name}: {first}"
        );
    }
}

/// A fleet input naming one source twice fails before any child starts.
#[tokio::test]
async fn fleet_refuses_a_source_named_twice_before_starting_children() {
    let definition = Definition::parse(&read(FLEET_ASL)).unwrap();
    let engine = asl_engine::Engine::new(definition)
        .with_substitutions(&HashMap::from([(
            "EncryptClusterStateMachineArn".to_string(),
            "arn:aws:states:local:000000000000:stateMachine:encrypt-cluster".to_string(),
        )]))
        .unwrap();
    let input = json!({"clusters": [
        {"sourceClusterId": "orders"},
        {"sourceClusterId": "billing"},
        {"sourceClusterId": "orders"},
    ]});
    let outcome = engine.start(input).wait().await;
    let asl_engine::Status::Failed { error, cause } = &outcome.status else {
        panic!("{:?}", outcome.status)
    };
    assert_eq!(error, "InvalidInput");
    let cause = cause.clone().unwrap_or_default();
    assert!(cause.contains("orders"), "{cause}");
    let entered: Vec<&str> = outcome
        .history
        .iter()
        .filter_map(|e| e.state_name())
        .collect();
    assert!(!entered.contains(&"EncryptClusters"), "{entered:?}");
    assert!(!entered.contains(&"EncryptCluster"), "{entered:?}");

    // Distinct sources go on to the children.
    let states = states_of(&asl(FLEET_ASL));
    assert_eq!(asl(FLEET_ASL)["StartAt"], "ListSources");
    assert_eq!(
        states["SourcesDistinct"]["Choices"][0]["Next"],
        "HasMaxConcurrency"
    );
    assert_eq!(states["SourcesDistinct"]["Default"], "DuplicateSource");
}

/// A Task state as README.md's table of Task states writes it: what it calls, where its result
/// goes, its Retry and its Catch clauses in order.
fn readme_task_row(name: &str, state: &Value) -> String {
    let code = |names: &[Value]| {
        names
            .iter()
            .map(|n| format!("`{}`", n.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let resource = state["Resource"].as_str().unwrap_or_default();
    let calls = match resource
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix("FunctionArn}"))
    {
        Some(function) => {
            let mut step = String::new();
            for (i, c) in function.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    step.push('-');
                }
                step.push(c.to_ascii_lowercase());
            }
            let parameters = &state["Parameters"];
            for key in ["action", "rollback", "revert"] {
                if let Some(value) = parameters.get(key) {
                    step.push_str(&format!(" `{key}: {value}`"));
                }
            }
            step
        }
        None => {
            let integration = resource.rsplit(":::").next().unwrap_or_default();
            let (service, action) = integration.split_once(':').unwrap_or(("", integration));
            match service {
                "lambda" => format!(
                    "Lambda `{action}` of `{}`",
                    state["Parameters"]["FunctionName.$"]
                        .as_str()
                        .unwrap_or_default()
                ),
                _ => format!("SNS `{action}`"),
            }
        }
    };
    let result = match state.get("ResultPath") {
        None => "`$`".to_string(),
        Some(Value::Null) => "discarded".to_string(),
        Some(path) => format!("`{}`", path.as_str().unwrap_or_default()),
    };
    let number = |v: &Value| {
        let x = v.as_f64().unwrap_or_default();
        if x.fract() == 0.0 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        }
    };
    let retries: Vec<String> = state["Retry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let names = r["ErrorEquals"].as_array().cloned().unwrap_or_default();
            let who = if names == TRANSIENT_NAMES {
                "transient".to_string()
            } else {
                code(&names)
            };
            let mut text = format!(
                "{who} {} s ×{}",
                number(r.get("IntervalSeconds").unwrap_or(&json!(1))),
                number(r.get("BackoffRate").unwrap_or(&json!(2)))
            );
            if let Some(max) = r.get("MaxDelaySeconds") {
                text.push_str(&format!(" ≤ {} s", number(max)));
            }
            text.push_str(&format!(
                ", up to {} retries",
                number(r.get("MaxAttempts").unwrap_or(&json!(3)))
            ));
            if r["JitterStrategy"] == "FULL" {
                text.push_str(", jitter");
            }
            text
        })
        .collect();
    let retries = if retries.is_empty() {
        "none".to_string()
    } else {
        retries.join("; ")
    };
    // Consecutive catchers that go to the same state with the same path are one entry.
    let mut groups: Vec<(String, String, Vec<Value>)> = Vec::new();
    for catcher in state["Catch"].as_array().into_iter().flatten() {
        let next = catcher["Next"].as_str().unwrap_or_default().to_string();
        let path = catcher["ResultPath"].as_str().unwrap_or("$").to_string();
        let names = catcher["ErrorEquals"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match groups.last_mut() {
            Some((n, p, all)) if *n == next && *p == path => all.extend(names),
            _ => groups.push((next, path, names)),
        }
    }
    let catches = groups
        .iter()
        .map(|(next, path, names)| format!("{} → `{next}` at `{path}`", code(names)))
        .collect::<Vec<_>>()
        .join("; ");
    format!("| `{name}` | {calls} | {result} | {retries} | {catches} |")
}

#[test]
fn readme_lists_every_task_state_with_its_retries_and_catches() {
    let readme = read("README.md");
    let table = readme
        .split_once("<!-- task-table -->\n")
        .map(|(_, rest)| rest.split("\n\n").next().unwrap_or_default())
        .expect("README.md marks its table of Task states with <!-- task-table -->");
    let rows: HashMap<&str, &str> = table
        .lines()
        .skip(2)
        .filter_map(|row| {
            let name = row.strip_prefix("| `")?.split('`').next()?;
            Some((name, row))
        })
        .collect();
    let tasks: Vec<(String, Value)> = all_states(&asl(CLUSTER_ASL))
        .into_iter()
        .filter(|(_, state)| state["Type"] == "Task")
        .collect();
    let mut wrong = Vec::new();
    for (name, state) in &tasks {
        let expected = readme_task_row(name, state);
        match rows.get(name.as_str()) {
            Some(row) if *row == expected => {}
            Some(row) => wrong.push(format!(
                "{name}: README has\n{row}\nthe definition says\n{expected}"
            )),
            None => wrong.push(format!("{name}: missing; the definition says\n{expected}")),
        }
    }
    for name in rows.keys() {
        if !tasks.iter().any(|(task, _)| task == name) {
            wrong.push(format!("{name}: in the README but not a Task state"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
