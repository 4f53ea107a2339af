//! Parity: which settings differ between two servers, by name, with both values.
//!
//! Binlog replication carries rows, not the configuration around them: parameter group values,
//! and on Aurora MySQL 3 neither accounts nor grants. A target that differs there serves the
//! application differently after the swap (another `sql_mode`, a missing user, a trigger that
//! runs as someone else). [`compare`] puts two servers' [`ServerSettings`] and accounts side by
//! side; the accounts go through [`compare_accounts`], the one comparison of users and grants.
//! Names matched by a pattern of `parity.ignore` ([`matches`]) are reported apart as ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ports::{Account, Cluster, Instance, ServerSettings};
use crate::steps::verify::compare_accounts;

/// The kinds a setting's name starts with (`kind:name`).
pub const KINDS: &[&str] = &[
    "variable", "event", "trigger", "routine", "view", "timezone", "account",
];

/// Longest value a [`Difference`] carries; longer ones are cut (the comparison saw them whole).
const MAX_VALUE_CHARS: usize = 200;

/// A setting that differs: its value on each side, `None` where it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub setting: String,
    pub source: Option<String>,
    pub target: Option<String>,
}

impl Difference {
    fn new(setting: impl Into<String>, source: Option<&str>, target: Option<&str>) -> Self {
        let cut = |v: &str| {
            if v.chars().count() > MAX_VALUE_CHARS {
                format!("{}…", v.chars().take(MAX_VALUE_CHARS).collect::<String>())
            } else {
                v.to_string()
            }
        };
        Self {
            setting: setting.into(),
            source: source.map(cut),
            target: target.map(cut),
        }
    }

    /// `name (source: value, target: value)`, `missing` for an absent side.
    pub fn describe(&self) -> String {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "missing".into());
        format!(
            "{} (source: {}, target: {})",
            self.setting,
            side(&self.source),
            side(&self.target)
        )
    }
}

/// What [`compare`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Settings and accounts compared (on either side).
    pub compared: usize,
    /// Differences no `ignore` pattern matches, by name.
    pub differences: Vec<Difference>,
    /// Differences an `ignore` pattern allowed, by name.
    pub ignored: Vec<Difference>,
}

/// Whether `pattern` is a valid `parity.ignore` entry: `*…`, or a kind followed by `:`, `*` or
/// nothing; at most 256 characters.
pub fn is_pattern(pattern: &str) -> bool {
    if pattern.is_empty() || pattern.chars().count() > 256 {
        return false;
    }
    pattern.starts_with('*')
        || KINDS.iter().any(|kind| {
            pattern
                .strip_prefix(kind)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '*']))
        })
}

/// Whether `name` matches `pattern`: `*` is any run of characters, `?` one character, anything
/// else itself (case counts: account names are case-sensitive).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every setting and account that differs between `source` and `target`, by name, split into
/// those `ignore` allows and the others.
pub fn compare(
    source: &ServerSettings,
    target: &ServerSettings,
    source_accounts: &[Account],
    target_accounts: &[Account],
    ignore: &[String],
) -> Comparison {
    let names: BTreeSet<&String> = source.keys().chain(target.keys()).collect();
    let mut found: Vec<Difference> = names
        .iter()
        .filter_map(|name| {
            let (s, t) = (source.get(*name), target.get(*name));
            (s != t).then(|| Difference::new(*name, s.map(String::as_str), t.map(String::as_str)))
        })
        .collect();
    let accounts: BTreeSet<(&str, &str)> = source_accounts
        .iter()
        .chain(target_accounts)
        .map(|a| (a.user.as_str(), a.host.as_str()))
        .collect();
    found.extend(account_differences(source_accounts, target_accounts));
    found.sort_by(|a, b| a.setting.cmp(&b.setting));
    let (ignored, differences) = found
        .into_iter()
        .partition(|d| ignore.iter().any(|p| matches(p, &d.setting)));
    Comparison {
        compared: names.len() + accounts.len(),
        differences,
        ignored,
    }
}

/// The accounts [`compare_accounts`] finds different, as [`Difference`]s: `exists` against
/// missing; for grants, the lines only that side has; a credential is never shown.
fn account_differences(source: &[Account], target: &[Account]) -> Vec<Difference> {
    let by_name = |accounts: &[Account]| -> BTreeMap<String, Account> {
        accounts.iter().map(|a| (a.name(), a.clone())).collect()
    };
    let (s, t) = (by_name(source), by_name(target));
    compare_accounts(source, target)
        .into_iter()
        .map(|m| {
            let setting = format!("account:{}", m.account);
            let (sa, ta) = (s.get(&m.account), t.get(&m.account));
            match (sa, ta) {
                (Some(sa), Some(ta)) if m.reason == "grants" => {
                    let only = |a: &Account, b: &Account| {
                        let lines: Vec<&str> = a
                            .grants
                            .iter()
                            .filter(|g| !b.grants.contains(g))
                            .map(String::as_str)
                            .collect();
                        if lines.is_empty() {
                            "no other grant".to_string()
                        } else {
                            lines.join("; ")
                        }
                    };
                    Difference::new(setting, Some(&only(sa, ta)), Some(&only(ta, sa)))
                }
                (Some(_), Some(_)) => Difference::new(
                    setting,
                    Some("a credential (not shown)"),
                    Some("another credential or plugin (not shown)"),
                ),
                (s, t) => Difference::new(setting, s.map(|_| "exists"), t.map(|_| "exists")),
            }
        })
        .collect()
}

/// The settings of a cluster and its instances that Restore carries over from the source
/// (`cluster:<setting>`, `instance:<source instance>:<setting>`), for comparing the source
/// with the target through the control plane: a security group, a tag or a log export changed
/// on the source during the catch-up would otherwise go unnoticed. `instances` pairs each
/// instance with the id of the source instance it stands for (itself, on the source), so both
/// sides name an instance alike. The instance class is left out when the spec sets one for the
/// target (`instanceClass`); the cluster parameter group's name (the target has a copy) and the
/// encryption (the point of the run) always are, as are `aws:` tags and aurora-encrypt's own.
pub fn control_plane_settings(
    cluster: &Cluster,
    instances: &[(String, Instance)],
    compare_class: bool,
) -> ServerSettings {
    let mut settings = ServerSettings::new();
    let mut put = |name: String, value: String| {
        settings.insert(name, value);
    };
    let list = |values: &[String]| {
        let mut sorted = values.to_vec();
        sorted.sort();
        sorted.join(",")
    };
    put("cluster:port".into(), format!("{:?}", cluster.port));
    put(
        "cluster:dbSubnetGroup".into(),
        cluster.db_subnet_group.clone().unwrap_or_default(),
    );
    put(
        "cluster:vpcSecurityGroups".into(),
        list(&cluster.vpc_security_group_ids),
    );
    put(
        "cluster:iamDatabaseAuthentication".into(),
        cluster.iam_database_authentication.to_string(),
    );
    put(
        "cluster:cloudwatchLogsExports".into(),
        list(&cluster.enabled_cloudwatch_logs_exports),
    );
    put(
        "cluster:deletionProtection".into(),
        cluster.deletion_protection.to_string(),
    );
    put(
        "cluster:copyTagsToSnapshot".into(),
        cluster.copy_tags_to_snapshot.to_string(),
    );
    put(
        "cluster:serverlessV2Scaling".into(),
        cluster
            .extras
            .serverless_v2_scaling
            .map(|s| format!("{}-{} ACU", s.min_capacity, s.max_capacity))
            .unwrap_or_default(),
    );
    put(
        "cluster:storageType".into(),
        cluster.extras.storage_type.clone().unwrap_or_default(),
    );
    put(
        "cluster:networkType".into(),
        cluster.extras.network_type.clone().unwrap_or_default(),
    );
    let extras = &cluster.extras;
    put(
        "cluster:backupRetentionDays".into(),
        extras
            .backup_retention_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    put(
        "cluster:backupWindow".into(),
        extras.backup_window.clone().unwrap_or_default(),
    );
    put(
        "cluster:maintenanceWindow".into(),
        extras.maintenance_window.clone().unwrap_or_default(),
    );
    put(
        "cluster:associatedRoles".into(),
        list(&extras.associated_roles),
    );
    for tag in &cluster.tags {
        if tag.key.starts_with("aws:")
            || tag.key == crate::naming::OWNER_TAG
            || tag.key == crate::naming::EXECUTION_TAG
        {
            continue;
        }
        put(format!("cluster:tag:{}", tag.key), tag.value.clone());
    }
    for (name, instance) in instances {
        let mut field = |setting: &str, value: String| {
            put(format!("instance:{name}:{setting}"), value);
        };
        if compare_class {
            field("class", instance.class.clone());
        }
        field("promotionTier", format!("{:?}", instance.promotion_tier));
        field(
            "parameterGroup",
            instance.parameter_group.clone().unwrap_or_default(),
        );
        field(
            "publiclyAccessible",
            instance.publicly_accessible.to_string(),
        );
        field(
            "caCertificate",
            instance.extras.ca_certificate.clone().unwrap_or_default(),
        );
        field(
            "performanceInsights",
            instance
                .extras
                .performance_insights
                .as_ref()
                .map(|p| format!("on, {:?} days", p.retention_days))
                .unwrap_or_else(|| "off".into()),
        );
        field(
            "maintenanceWindow",
            instance
                .extras
                .maintenance_window
                .clone()
                .unwrap_or_default(),
        );
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(id: &str) -> Cluster {
        Cluster {
            id: id.into(),
            port: Some(3306),
            vpc_security_group_ids: vec!["sg-b".into(), "sg-a".into()],
            enabled_cloudwatch_logs_exports: vec!["audit".into()],
            tags: vec![
                crate::ports::Tag::new("team", "payments"),
                crate::ports::Tag::new("aws:cloudformation:stack-name", id),
            ],
            ..Cluster::default()
        }
    }

    fn instance(id: &str, class: &str) -> Instance {
        Instance {
            id: id.into(),
            class: class.into(),
            promotion_tier: Some(1),
            ..Instance::default()
        }
    }

    #[test]
    fn the_control_plane_settings_name_instances_after_the_source_and_leave_our_tags_out() {
        let source = cluster("orders");
        let mut target = cluster("orders-encrypted");
        target
            .tags
            .push(crate::ports::Tag::new(crate::naming::OWNER_TAG, "orders"));
        target.vpc_security_group_ids.reverse();
        let s = control_plane_settings(
            &source,
            &[("orders-1".into(), instance("orders-1", "db.r6g.large"))],
            true,
        );
        let t = control_plane_settings(
            &target,
            &[(
                "orders-1".into(),
                instance("orders-encrypted-1", "db.r6g.large"),
            )],
            true,
        );
        assert_eq!(s, t);
        assert_eq!(s["cluster:vpcSecurityGroups"], "sg-a,sg-b");
        assert_eq!(s["cluster:tag:team"], "payments");
        assert_eq!(s["instance:orders-1:class"], "db.r6g.large");

        // A security group added to the source during the catch-up, a larger target class.
        let mut changed = source.clone();
        changed.vpc_security_group_ids.push("sg-c".into());
        let s = control_plane_settings(
            &changed,
            &[("orders-1".into(), instance("orders-1", "db.r6g.large"))],
            true,
        );
        let t = control_plane_settings(
            &target,
            &[(
                "orders-1".into(),
                instance("orders-encrypted-1", "db.r6g.xlarge"),
            )],
            true,
        );
        let found = compare(&s, &t, &[], &[], &[]);
        let names: Vec<&str> = found
            .differences
            .iter()
            .map(|d| d.setting.as_str())
            .collect();
        assert_eq!(
            names,
            vec!["cluster:vpcSecurityGroups", "instance:orders-1:class"]
        );
        // The spec chose the target's class: not compared.
        let t = control_plane_settings(
            &target,
            &[(
                "orders-1".into(),
                instance("orders-encrypted-1", "db.r6g.xlarge"),
            )],
            false,
        );
        let s = control_plane_settings(
            &source,
            &[("orders-1".into(), instance("orders-1", "db.r6g.large"))],
            false,
        );
        assert!(compare(&s, &t, &[], &[], &[]).differences.is_empty());

        // A target that kept RDS's defaults: one day of backups, a window RDS picked.
        let mut defaults = target.clone();
        defaults.extras.backup_retention_days = Some(1);
        defaults.extras.maintenance_window = Some("wed:07:40-wed:08:10".into());
        let mut kept = source.clone();
        kept.extras.backup_retention_days = Some(14);
        kept.extras.maintenance_window = Some("sun:03:00-sun:03:30".into());
        let found = compare(
            &control_plane_settings(&kept, &[], false),
            &control_plane_settings(&defaults, &[], false),
            &[],
            &[],
            &[],
        );
        let shown: Vec<String> = found.differences.iter().map(|d| format!("{d:?}")).collect();
        assert_eq!(found.differences.len(), 2, "{shown:?}");
        assert_eq!(found.differences[0].setting, "cluster:backupRetentionDays");
        assert_eq!(found.differences[1].setting, "cluster:maintenanceWindow");
    }

    fn settings(pairs: &[(&str, &str)]) -> ServerSettings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn account(user: &str, digest: &str, grants: &[&str]) -> Account {
        Account {
            user: user.into(),
            host: "%".into(),
            authentication_digest: digest.into(),
            grants: grants.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(matches("variable:innodb_*", "variable:innodb_io_capacity"));
        assert!(matches("variable:innodb_*", "variable:innodb_"));
        assert!(!matches("variable:innodb_*", "variable:sql_mode"));
        assert!(matches("*", "anything"));
        assert!(matches("view:shop.v?", "view:shop.v1"));
        assert!(!matches("view:shop.v?", "view:shop.v12"));
        assert!(matches("*:shop.*", "trigger:shop.audit"));
        assert!(matches("account:'rep*'@'%'", "account:'reporting'@'%'"));
        assert!(!matches("account:'Rep*'@'%'", "account:'reporting'@'%'"));
        assert!(matches("a*b*c", "aXXbYYbZc"));
        assert!(!matches("a*b*c", "aXXbYYbZ"));
    }

    #[test]
    fn patterns_start_with_a_kind_or_a_star() {
        for ok in [
            "variable:innodb_*",
            "*",
            "*:shop.*",
            "account:'x'@'%'",
            "view*",
            "event",
        ] {
            assert!(is_pattern(ok), "{ok}");
        }
        for bad in [
            "",
            "innodb_*",
            "variables:x",
            "table:shop.t",
            &"v".repeat(257),
        ] {
            assert!(!is_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn equal_servers_have_no_difference_and_everything_is_counted() {
        let s = settings(&[
            ("variable:sql_mode", "STRICT_TRANS_TABLES"),
            ("view:shop.v", "x"),
        ]);
        let a = [account("app", "d", &["GRANT USAGE ON *.* TO `app`@`%`"])];
        let c = compare(&s, &s.clone(), &a, &a, &[]);
        assert_eq!(c.compared, 3);
        assert!(c.differences.is_empty());
        assert!(c.ignored.is_empty());
    }

    #[test]
    fn differences_are_named_with_both_values_and_missing_sides() {
        let s = settings(&[
            ("variable:sql_mode", "STRICT_TRANS_TABLES"),
            ("trigger:shop.audit", "definer=a@%"),
        ]);
        let t = settings(&[
            ("variable:sql_mode", ""),
            ("event:shop.purge", "definer=b@%"),
        ]);
        let c = compare(&s, &t, &[], &[], &[]);
        let described: Vec<String> = c.differences.iter().map(Difference::describe).collect();
        assert_eq!(
            described,
            vec![
                "event:shop.purge (source: missing, target: definer=b@%)",
                "trigger:shop.audit (source: definer=a@%, target: missing)",
                "variable:sql_mode (source: STRICT_TRANS_TABLES, target: )",
            ]
        );
    }

    #[test]
    fn accounts_go_through_compare_accounts_and_never_show_a_credential() {
        let s = [
            account(
                "etl",
                "secret-digest-1",
                &["GRANT SELECT, INSERT ON `shop`.* TO `etl`@`%`"],
            ),
            account("ops", "secret-digest-2", &[]),
            account("reporting", "d", &[]),
        ];
        let t = [
            account(
                "etl",
                "secret-digest-1",
                &["GRANT SELECT ON `shop`.* TO `etl`@`%`"],
            ),
            account("ops", "secret-digest-3", &[]),
        ];
        let c = compare(&ServerSettings::new(), &ServerSettings::new(), &s, &t, &[]);
        assert_eq!(c.compared, 3);
        let text = format!("{:?}", c.differences);
        assert!(!text.contains("secret-digest"), "{text}");
        assert_eq!(c.differences[0].setting, "account:'etl'@'%'");
        assert_eq!(
            c.differences[0].source.as_deref(),
            Some("GRANT SELECT, INSERT ON `shop`.* TO `etl`@`%`")
        );
        assert_eq!(c.differences[1].setting, "account:'ops'@'%'");
        assert_eq!(
            c.differences[2],
            Difference::new("account:'reporting'@'%'", Some("exists"), None)
        );
    }

    #[test]
    fn ignored_differences_are_reported_apart() {
        let s = settings(&[
            ("variable:innodb_io_capacity", "200"),
            ("variable:sql_mode", "A"),
        ]);
        let t = settings(&[
            ("variable:innodb_io_capacity", "2000"),
            ("variable:sql_mode", "B"),
        ]);
        let c = compare(&s, &t, &[], &[], &["variable:innodb_*".into()]);
        assert_eq!(c.ignored.len(), 1);
        assert_eq!(c.ignored[0].setting, "variable:innodb_io_capacity");
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].setting, "variable:sql_mode");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(1_000);
        let s = settings(&[("variable:optimizer_switch", &long)]);
        let c = compare(&s, &ServerSettings::new(), &[], &[], &[]);
        assert_eq!(
            c.differences[0].source.as_ref().unwrap().chars().count(),
            MAX_VALUE_CHARS + 1
        );
    }
}
