//! A dry run's plan, as a person reads it: every resource a real run would create, modify or
//! delete (action, kind, name, step), then what preflight checked. The plan itself is
//! `$.preflight` in the execution's output (`--json` prints it as is).

use std::fmt::Write as _;

use serde_json::Value;

/// The plan of a dry run's output, as text; `None` when the output holds no dry-run plan.
pub(crate) fn render(output: &Value) -> Option<String> {
    let plan = output.get("preflight")?;
    if plan.get("dryRun").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let resources = plan
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // The detail, often long, goes last and unpadded.
    let rows: Vec<[String; 5]> = resources
        .iter()
        .map(|r| {
            [
                text(r, "action"),
                text(r, "kind"),
                text(r, "name"),
                text(r, "step"),
                text(r, "detail"),
            ]
        })
        .collect();
    let header = ["ACTION", "KIND", "NAME", "STEP", "DETAIL"].map(str::to_string);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "dry run: nothing was created or changed; a real run would touch {} resource(s):\n",
        rows.len()
    );
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        line.push(row[4].clone());
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    let _ = writeln!(out, "checks passed:");
    let encryption = plan.get("encryption").cloned().unwrap_or(Value::Null);
    let mut checks = vec![
        format!(
            "source {} (engine version {}, Aurora MySQL {})",
            text(plan, "sourceClusterArn"),
            text(plan, "engineVersion"),
            plan.get("engineMajorVersion").unwrap_or(&Value::Null)
        ),
        format!(
            "key {} ({}){}",
            text(&encryption, "kmsKeyArn"),
            text(&encryption, "kmsKeyManager"),
            if encryption.get("rekey").and_then(Value::as_bool) == Some(true) {
                ", re-keying an encrypted source"
            } else {
                ""
            }
        ),
        format!(
            "cluster parameter group {}",
            text(plan, "clusterParameterGroup")
        ),
    ];
    let needed = plan
        .get("requiredBinlogRetentionHours")
        .and_then(Value::as_u64);
    let raised = plan.get("binlogRetentionChange").filter(|c| c.is_object());
    match (
        plan.get("binlogRetentionHours").and_then(Value::as_u64),
        needed,
    ) {
        // binlogRetention.set: the plan's resources say what changes and when it goes back.
        (found, Some(needed)) if raised.is_some() => checks.push(format!(
            "binlog retention {} raised to {needed} h for the run (binlogRetention.set)",
            found.map_or_else(|| "not set".to_string(), |h| format!("{h} h"))
        )),
        (Some(hours), Some(needed)) => checks.push(format!(
            "binlog retention {hours} h (the run needs {needed} h)"
        )),
        (None, Some(needed)) => checks.push(format!(
            "binlog retention not read (the run needs {needed} h; see warnings)"
        )),
        _ => {}
    }
    if let Some(users) = plan.get("readOnlyBypassUsers").and_then(Value::as_array) {
        let names: Vec<String> = users.iter().map(|u| text(u, "grantee")).collect();
        checks.push(if names.is_empty() {
            "no user bypasses read_only".into()
        } else {
            format!("users read_only does not stop: {}", names.join(", "))
        });
    }
    if let Some(ttl) = plan.get("dnsTtlSeconds").and_then(Value::as_i64) {
        checks.push(format!("DNS record on the source, TTL {ttl} s"));
    }
    if let Some(verification) = plan.get("verification").and_then(Value::as_str) {
        checks.push(format!("verification {verification}"));
    }
    if let Some(lock) = plan.get("lock") {
        checks.push(if lock.get("free").and_then(Value::as_bool) == Some(true) {
            "source lock free: no other execution migrates this source".into()
        } else {
            format!("source lock: {lock}")
        });
    }
    for check in checks {
        let _ = writeln!(out, "  {check}");
    }
    let warnings = plan
        .get("warnings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !warnings.is_empty() {
        let _ = writeln!(out, "warnings:");
        for warning in warnings {
            let _ = writeln!(out, "  {}", warning.as_str().unwrap_or_default());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dry_run_plan_is_a_table_of_resources_then_the_checks() {
        let output = json!({"preflight": {
            "dryRun": true,
            "sourceClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:orders",
            "engineVersion": "8.0.mysql_aurora.3.05.2",
            "engineMajorVersion": 3,
            "encryption": {"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/k", "kmsKeyManager": "CUSTOMER", "rekey": false},
            "clusterParameterGroup": "orders-params",
            "binlogRetentionHours": 168,
            "requiredBinlogRetentionHours": 24,
            "readOnlyBypassUsers": [{"grantee": "'admin'@'%'", "privileges": ["SUPER"], "sessions": 2}],
            "resources": [
                {"action": "create", "kind": "db-cluster-snapshot", "name": "orders-exec-1", "step": "Snapshot"},
                {"action": "create", "kind": "db-cluster", "name": "orders-encrypted", "step": "Restore", "detail": "encrypted"}
            ],
            "warnings": ["the lag metric is coarse"],
            "dnsTtlSeconds": 300
        }});
        let text = render(&output).expect("a dry run's plan");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("2 resource(s)"), "{text}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["ACTION", "KIND", "NAME", "STEP", "DETAIL"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["create", "db-cluster-snapshot", "orders-exec-1", "Snapshot"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            [
                "create",
                "db-cluster",
                "orders-encrypted",
                "Restore",
                "encrypted"
            ]
        );
        // Columns line up: every row's name starts where the header's NAME does.
        let at = lines[1].find("NAME").unwrap();
        assert_eq!(lines[2].find("orders-exec-1"), Some(at));
        for expected in [
            "engine version 8.0.mysql_aurora.3.05.2, Aurora MySQL 3",
            "(CUSTOMER)",
            "binlog retention 168 h (the run needs 24 h)",
            "users read_only does not stop: 'admin'@'%'",
            "TTL 300 s",
            "warnings:\n  the lag metric is coarse",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn a_real_run_has_no_plan_to_show() {
        assert_eq!(render(&json!({"preflight": {"dryRun": false}})), None);
        assert_eq!(render(&json!({"cleanedUp": true})), None);
    }
}
