//! Deterministic names for everything a run creates, so that a re-invoked step finds what an
//! earlier attempt created instead of creating a second one.
//!
//! Every name is checked against its own documented limit ([`NameKind`]): the plan, the AWS
//! adapters and the sandbox's control plane all use [`NameKind::check`], so a name AWS would
//! refuse is refused everywhere, before anything is created.

/// The tag every resource we create carries; its value is the source cluster id. Cleanup deletes
/// only resources with this tag.
pub const OWNER_TAG: &str = "aurora-encrypt:source";
/// The execution that created a resource; its value is [`execution_tag_value`].
pub const EXECUTION_TAG: &str = "aurora-encrypt:execution";

/// RDS cluster, instance and snapshot identifiers.
pub const MAX_RDS_IDENTIFIER: usize = 63;
const MAX_PARAMETER_GROUP_NAME: usize = 255;
const MAX_DMS_NAME: usize = 255;
/// Hex digits of the hash that keeps shortened or lossily cleaned names distinct (48 bits: a
/// collision among 10^5 runs has odds of about 1 in 10^5).
const HASH_DIGITS: usize = 12;

/// A kind of name, with the limit and pattern its API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `DBClusterIdentifier` (CreateDBCluster, RestoreDBClusterFromSnapshot): 1-63 letters,
    /// digits or hyphens; first a letter; no trailing hyphen, no two consecutive hyphens.
    DbCluster,
    /// `DBInstanceIdentifier` (CreateDBInstance): same rule as a cluster.
    DbInstance,
    /// `DBClusterSnapshotIdentifier` (CreateDBClusterSnapshot): same rule, 1-63.
    DbClusterSnapshot,
    /// `TargetDBClusterParameterGroupIdentifier` (CopyDBClusterParameterGroup): 1-255 letters,
    /// digits or hyphens; first a letter; no trailing hyphen, no two consecutive hyphens.
    DbClusterParameterGroup,
    /// `DataMigrationName` (CreateDataMigration): begins with a letter, ASCII letters, digits and
    /// hyphens, no trailing hyphen or two consecutive hyphens, 1-255. DMS documents no rule for
    /// the names of data providers, instance profiles and migration projects; they are held to
    /// this one (which `InstanceProfileIdentifier` of CreateMigrationProject also states).
    DmsResource,
}

impl NameKind {
    pub fn max_len(self) -> usize {
        match self {
            NameKind::DbCluster | NameKind::DbInstance | NameKind::DbClusterSnapshot => {
                MAX_RDS_IDENTIFIER
            }
            NameKind::DbClusterParameterGroup => MAX_PARAMETER_GROUP_NAME,
            NameKind::DmsResource => MAX_DMS_NAME,
        }
    }

    /// What the API calls this name, for error messages.
    pub fn label(self) -> &'static str {
        match self {
            NameKind::DbCluster => "DBClusterIdentifier",
            NameKind::DbInstance => "DBInstanceIdentifier",
            NameKind::DbClusterSnapshot => "DBClusterSnapshotIdentifier",
            NameKind::DbClusterParameterGroup => "DBClusterParameterGroupName",
            NameKind::DmsResource => "DMS resource name",
        }
    }

    /// `Ok` when AWS accepts `name` for this kind; otherwise why not.
    pub fn check(self, name: &str) -> Result<(), String> {
        let max = self.max_len();
        let problem = if name.is_empty() || name.len() > max {
            Some(format!("must be 1-{max} characters long"))
        } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            Some("must start with a letter".to_string())
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            Some("may contain only ASCII letters, digits and hyphens".to_string())
        } else if name.ends_with('-') || name.contains("--") {
            Some("must not end with a hyphen or contain two consecutive hyphens".to_string())
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(format!("{} `{name}` {problem}", self.label())),
        }
    }
}

/// Which service's tag rules apply (the Tag data type of each API reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRules {
    /// RDS: key 1-128, value 0-256, `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, no `aws:` or `rds:`
    /// prefix.
    Rds,
    /// DMS: key 1-128, value 0-256, `^([\p{L}\p{Z}\p{N}_.:/=+\-]*)$` (no `@`), no `aws:` or
    /// `dms:` prefix.
    Dms,
}

/// `Ok` when every tag meets the service's documented rules; otherwise the first problem.
pub fn check_tags(rules: TagRules, tags: &[crate::ports::Tag]) -> Result<(), String> {
    let (reserved, at) = match rules {
        TagRules::Rds => ("rds:", true),
        TagRules::Dms => ("dms:", false),
    };
    // Letters, separators and numbers in ASCII terms: a non-ASCII character is refused here
    // rather than trusting `char` classes to match Java's `\p{L}`.
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '_' | '.' | ':' | '/' | '=' | '+' | '-')
            || (at && c == '@')
    };
    for tag in tags {
        let key = &tag.key;
        if key.is_empty() || key.chars().count() > 128 {
            return Err(format!("tag key `{key}` must be 1-128 characters"));
        }
        if tag.value.chars().count() > 256 {
            return Err(format!("the value of tag `{key}` is over 256 characters"));
        }
        if key.starts_with("aws:") || key.starts_with(reserved) {
            return Err(format!("tag key `{key}` uses a reserved prefix"));
        }
        if let Some(bad) = key.chars().chain(tag.value.chars()).find(|c| !allowed(*c)) {
            return Err(format!(
                "tag `{key}` contains `{bad}`, which tags may not hold"
            ));
        }
    }
    Ok(())
}

/// A Route 53 record name: labels of 1-63 characters, at most 253 characters without the final
/// dot (255 octets on the wire), letters, digits, hyphens and underscores (a leading `*.` is a
/// wildcard).
pub fn check_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let bare_labels = bare.strip_prefix("*.").unwrap_or(bare);
    if bare.is_empty() || bare.len() > 253 {
        return Err(format!("DNS name `{name}` must be 1-253 characters"));
    }
    for label in bare_labels.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "DNS name `{name}` has a label that is not 1-63 characters"
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "DNS name `{name}` may hold only letters, digits, hyphens and underscores"
            ));
        }
    }
    Ok(())
}

/// RDS cluster and instance identifiers: 1-63 letters, digits or hyphens; first a letter; no
/// trailing hyphen and no two consecutive hyphens.
pub fn is_valid_rds_identifier(id: &str) -> bool {
    NameKind::DbCluster.check(id).is_ok()
}

/// The cluster snapshot for one execution: `aurora-encrypt-<source>-<execution>-<hash>`, cut to
/// 63 characters. The hash covers the source and the execution name as given, so two runs never
/// share a snapshot even when their names clean up to the same text or have to be shortened.
pub fn snapshot_id(source_cluster_id: &str, execution_name: &str) -> String {
    run_scoped(
        "aurora-encrypt",
        source_cluster_id,
        execution_name,
        MAX_RDS_IDENTIFIER,
    )
}

/// The target instance that mirrors a source instance: the source cluster's id prefix becomes the
/// target's (`orders-instance-1` → `orders-encrypted-instance-1`), else `-enc` is appended.
pub fn target_instance_id(
    source_cluster_id: &str,
    target_cluster_id: &str,
    source_instance_id: &str,
) -> String {
    let name = match source_instance_id.strip_prefix(source_cluster_id) {
        Some(rest) => format!("{target_cluster_id}{rest}"),
        None => format!("{source_instance_id}-enc"),
    };
    fit(&name, MAX_RDS_IDENTIFIER)
}

/// The target's own copy of the source's cluster parameter group, so that fencing the source
/// with `read_only` never touches the target.
pub fn target_parameter_group(target_cluster_id: &str) -> String {
    fit(
        &format!("{target_cluster_id}-aurora-encrypt"),
        MAX_PARAMETER_GROUP_NAME,
    )
}

/// The prefix of the DMS resources (data providers, instance profile, project, migration) of one
/// target cluster. Keyed by the target, not the execution: one migration per target at a time.
/// Short enough that every name [`dms_resource_names`] derives from it stays within 255.
pub fn migration_name(target_cluster_id: &str) -> String {
    fit(
        &format!("aurora-encrypt-{target_cluster_id}"),
        MAX_DMS_NAME - LONGEST_DMS_SUFFIX.len(),
    )
}

const LONGEST_DMS_SUFFIX: &str = "-project";

/// The DMS resources of one migration (see [`migration_name`]), as `(kind, name)`: the adapter
/// names them this way so that a re-run and cleanup find them by name.
pub fn dms_resource_names(migration_name: &str) -> [(&'static str, String); 5] {
    [
        ("dms-data-provider", format!("{migration_name}-source")),
        ("dms-data-provider", format!("{migration_name}-target")),
        ("dms-instance-profile", format!("{migration_name}-profile")),
        (
            "dms-migration-project",
            format!("{migration_name}{LONGEST_DMS_SUFFIX}"),
        ),
        ("dms-data-migration", migration_name.to_string()),
    ]
}

/// The snapshot taken of the source before `cleanup.retireSource` deletes it: like
/// [`snapshot_id`], under its own prefix.
/// The name a cluster or instance is renamed to, out of the way of the target, by the `rename`
/// switchover of `execution_name`: `<id>-old-<hash of the execution>`, shortened to fit.
pub fn renamed_away(id: &str, execution_name: &str) -> String {
    let tag = hash(execution_name.as_bytes());
    let suffix = format!("-old-{}", &tag[..8]);
    let mut base = clean(id);
    base.truncate(MAX_RDS_IDENTIFIER - suffix.len());
    format!("{}{suffix}", base.trim_end_matches('-'))
}

pub fn final_snapshot_id(source_cluster_id: &str, execution_name: &str) -> String {
    run_scoped(
        "aurora-encrypt-final",
        source_cluster_id,
        execution_name,
        MAX_RDS_IDENTIFIER,
    )
}

/// The value of [`EXECUTION_TAG`] for an execution. Step Functions allows `(`, `)`, `!`, `'`,
/// `@` and any Unicode letter or symbol in execution names; RDS tag values allow only letters,
/// digits, spaces and `_ . : / = + - @`, DMS tag values not even `@`. A name of plain ASCII
/// letters, digits and `_ . = + -` is its own value; any other is cleaned and given a hash of the
/// original so distinct executions keep distinct values.
pub fn execution_tag_value(execution_name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '=' | '+' | '-');
    if !execution_name.is_empty() && execution_name.chars().all(plain) {
        return execution_name.to_string();
    }
    let cleaned: String = execution_name
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .collect();
    format!("{cleaned}.{}", hash(execution_name.as_bytes()))
}

/// The resource id the stand-ins (fakes, sandbox) give a cluster: `cluster-` and 26 upper-case
/// letters and digits, the shape of `DbClusterResourceId` (what AWS Config reports).
pub fn stand_in_resource_id(cluster_id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = u128::from(fnv1a(cluster_id.to_ascii_lowercase().as_bytes()))
        | (u128::from(fnv1a(
            format!("resource:{cluster_id}")
                .to_ascii_lowercase()
                .as_bytes(),
        )) << 64);
    let id: String = (0..26)
        .map(|_| {
            let c = ALPHABET[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect();
    format!("cluster-{id}")
}

/// Whether `id` has the shape of a cluster resource id (`cluster-` and upper-case letters and
/// digits). Lower-case letters set it apart from an identifier, which RDS stores lower-cased.
pub fn is_cluster_resource_id(id: &str) -> bool {
    id.strip_prefix("cluster-").is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// `<prefix>-<source>-<execution>` cleaned and cut so that `-<hash>` still fits in `max`; the
/// hash covers the source and the execution name exactly as given.
fn run_scoped(prefix: &str, source: &str, execution: &str, max: usize) -> String {
    let hash = hash(format!("{source}\n{execution}").as_bytes());
    let mut body = clean(&format!("{prefix}-{source}-{execution}"));
    body.truncate(max - HASH_DIGITS - 1);
    format!("{}-{hash}", body.trim_end_matches('-'))
}

/// Lower-cases, turns anything else into hyphens, squeezes and trims them, and makes sure the
/// name starts with a letter.
fn clean(raw: &str) -> String {
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let mut name = name.trim_end_matches('-').to_string();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "x-");
    }
    name.trim_end_matches('-').to_string()
}

/// [`clean`]s `raw`; if the result is longer than `max`, shortens it and appends a hash of the
/// whole so names stay distinct.
fn fit(raw: &str, max: usize) -> String {
    let mut name = clean(raw);
    if name.len() > max {
        let hash = hash(raw.as_bytes());
        name.truncate(max - hash.len() - 1);
        name = format!("{}-{hash}", name.trim_end_matches('-'));
    }
    name
}

fn hash(bytes: &[u8]) -> String {
    format!(
        "{:0width$x}",
        fnv1a(bytes) >> (64 - 4 * HASH_DIGITS),
        width = HASH_DIGITS
    )
}

/// FNV-1a: tiny, stable across releases and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn snapshot_id_is_deterministic_and_valid() {
        let id = snapshot_id("orders", "Run_2026-11-27T10:00:00.000Z");
        assert!(id.starts_with("aurora-encrypt-orders-run-2026-11-27t10-00-00-000z-"));
        assert_eq!(id, snapshot_id("orders", "Run_2026-11-27T10:00:00.000Z"));
        NameKind::DbClusterSnapshot.check(&id).unwrap();
        assert_ne!(id, snapshot_id("orders", "Run_2026-11-28"));
    }

    #[test]
    fn snapshot_ids_fit_63_for_the_longest_source_and_a_uuid_execution() {
        let source = format!("a{}", "b".repeat(62));
        let execution = "0f6d2c1e-8a4b-4c3d-9e2f-1a2b3c4d5e6f";
        for id in [
            snapshot_id(&source, execution),
            final_snapshot_id(&source, execution),
        ] {
            NameKind::DbClusterSnapshot.check(&id).unwrap();
        }
    }

    #[test]
    fn runs_whose_names_clean_up_alike_get_distinct_snapshots() {
        assert_ne!(snapshot_id("x", "a-b"), snapshot_id("x-a", "b"));
        assert_ne!(
            snapshot_id("orders", "Run_1"),
            snapshot_id("orders", "run-1")
        );
        assert_ne!(
            final_snapshot_id("orders", "Run_1"),
            final_snapshot_id("orders", "run-1")
        );
    }

    #[test]
    fn target_instance_ids_follow_the_source_prefix_and_fit() {
        assert_eq!(
            target_instance_id("orders", "orders-encrypted", "orders-instance-1"),
            "orders-encrypted-instance-1"
        );
        assert_eq!(
            target_instance_id("orders", "orders-encrypted", "writer-a"),
            "writer-a-enc"
        );
        let long = format!("orders-{}", "x".repeat(56));
        let a = target_instance_id("orders", "orders-encrypted", &long);
        let b = target_instance_id("orders", "orders-encrypted", &format!("{long}y"));
        assert!(is_valid_rds_identifier(&a), "{a}");
        assert!(is_valid_rds_identifier(&b), "{b}");
        assert_ne!(a, b, "truncated names must stay distinct");
    }

    #[test]
    fn identifier_rules() {
        for ok in ["a", "orders", "orders-1", &"a".repeat(63)] {
            assert!(is_valid_rds_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-", "a--b", "a_b", &"a".repeat(64)] {
            assert!(!is_valid_rds_identifier(bad), "{bad}");
        }
        NameKind::DbClusterParameterGroup
            .check(&"a".repeat(255))
            .unwrap();
        assert!(NameKind::DbClusterParameterGroup
            .check(&"a".repeat(256))
            .is_err());
        let error = NameKind::DbClusterSnapshot
            .check(&"a".repeat(64))
            .unwrap_err();
        assert!(error.contains("DBClusterSnapshotIdentifier"), "{error}");
    }

    #[test]
    fn execution_tag_values_are_tag_safe_and_distinct() {
        assert_eq!(execution_tag_value("run-1"), "run-1");
        let odd = execution_tag_value("run(1)!'@é");
        assert!(odd
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.=+-".contains(c)));
        assert_ne!(odd, execution_tag_value("run(1)!'@e"));
    }

    #[test]
    fn tags_follow_each_services_rules() {
        use crate::ports::Tag;
        let ours = [
            Tag::new(OWNER_TAG, "orders"),
            Tag::new(EXECUTION_TAG, "run-1"),
        ];
        check_tags(TagRules::Rds, &ours).unwrap();
        check_tags(TagRules::Dms, &ours).unwrap();
        let at = [Tag::new("owner", "ops@example.com")];
        check_tags(TagRules::Rds, &at).unwrap();
        assert!(check_tags(TagRules::Dms, &at).is_err());
        assert!(check_tags(TagRules::Rds, &[Tag::new("rds:x", "y")]).is_err());
        assert!(check_tags(TagRules::Rds, &[Tag::new("k", "run(1)")]).is_err());
        assert!(check_tags(TagRules::Rds, &[Tag::new("k", "v".repeat(257))]).is_err());
    }

    #[test]
    fn dns_names_follow_route53_limits() {
        check_dns_name("db.example.com").unwrap();
        check_dns_name("db.example.com.").unwrap();
        check_dns_name("_x.example.com").unwrap();
        assert!(check_dns_name(&format!("{}.example.com", "a".repeat(64))).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(check_dns_name(&long).is_err(), "{} characters", long.len());
        assert!(check_dns_name("db example.com").is_err());
        assert!(check_dns_name("db..example.com").is_err());
    }

    /// xorshift64*: a fixed seed keeps every run of the property tests the same.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick(&mut self, chars: &[char]) -> char {
            chars[self.below(chars.len())]
        }
    }

    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &str = "0123456789";

    /// A valid RDS cluster id of 1-63 characters (lengths near the limit are drawn often).
    fn source_id(rng: &mut Rng) -> String {
        let letters: Vec<char> = LETTERS.chars().collect();
        let body: Vec<char> = format!("{LETTERS}{DIGITS}-").chars().collect();
        let len = if rng.below(3) == 0 {
            63 - rng.below(4)
        } else {
            1 + rng.below(63)
        };
        let mut id = String::from(rng.pick(&letters));
        while id.len() < len {
            let c = rng.pick(&body);
            let last = id.len() + 1 == len;
            if c == '-' && (id.ends_with('-') || last) {
                continue;
            }
            id.push(c);
        }
        id
    }

    /// An execution name Step Functions accepts: 1-80 characters, none of whitespace,
    /// `< > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /` or control characters; anything else,
    /// non-ASCII included.
    fn execution_name(rng: &mut Rng) -> String {
        let chars: Vec<char> = format!("{LETTERS}{DIGITS}-_.()!'@=+é日ß🙂Ω")
            .chars()
            .collect();
        let len = if rng.below(3) == 0 {
            80 - rng.below(4)
        } else {
            1 + rng.below(80)
        };
        (0..len).map(|_| rng.pick(&chars)).collect()
    }

    #[test]
    fn every_planned_name_meets_its_documented_limit() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5000 {
            let source = source_id(&mut rng);
            let execution = execution_name(&mut rng);
            let target = if is_valid_rds_identifier(&format!("{source}-encrypted")) {
                format!("{source}-encrypted")
            } else {
                source_id(&mut rng)
            };
            let case = format!("source {source:?}, execution {execution:?}, target {target:?}");
            let checks = [
                (
                    NameKind::DbClusterSnapshot,
                    snapshot_id(&source, &execution),
                ),
                (
                    NameKind::DbClusterSnapshot,
                    final_snapshot_id(&source, &execution),
                ),
                (
                    NameKind::DbInstance,
                    target_instance_id(&source, &target, &format!("{source}-instance-1")),
                ),
                (
                    NameKind::DbInstance,
                    target_instance_id(&source, &target, &source_id(&mut rng)),
                ),
                (
                    NameKind::DbClusterParameterGroup,
                    target_parameter_group(&target),
                ),
            ];
            for (kind, name) in checks {
                kind.check(&name).unwrap_or_else(|e| panic!("{case}: {e}"));
            }
            let migration = migration_name(&target);
            for (_, name) in dms_resource_names(&migration) {
                NameKind::DmsResource
                    .check(&name)
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
            }
            let tag = execution_tag_value(&execution);
            assert!(
                tag.len() <= 256
                    && tag
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.=+-".contains(c)),
                "{case}: tag value {tag:?}"
            );
        }
    }

    #[test]
    fn distinct_runs_get_distinct_names() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut snapshots: HashMap<String, (String, String)> = HashMap::new();
        let mut finals: HashMap<String, (String, String)> = HashMap::new();
        let mut tags: HashMap<String, String> = HashMap::new();
        let mut source = source_id(&mut rng);
        for i in 0..20000 {
            // Four runs per source, so runs that differ only in the execution name are common.
            if i % 4 == 0 {
                source = source_id(&mut rng);
            }
            let execution = execution_name(&mut rng);
            let run = (source.clone(), execution.clone());
            for (names, name) in [
                (&mut snapshots, snapshot_id(&source, &execution)),
                (&mut finals, final_snapshot_id(&source, &execution)),
            ] {
                if let Some(other) = names.insert(name.clone(), run.clone()) {
                    assert_eq!(other, run, "{name} names two runs");
                }
            }
            if let Some(other) = tags.insert(execution_tag_value(&execution), execution.clone()) {
                assert_eq!(other, execution, "two executions share a tag value");
            }
        }
    }
}
