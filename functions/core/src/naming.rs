//! Deterministic names for everything a run creates, so that a re-invoked step finds what an
//! earlier attempt created instead of creating a second one.

/// The tag every resource we create carries; its value is the source cluster id. Cleanup deletes
/// only resources with this tag.
pub const OWNER_TAG: &str = "aurora-encrypt:source";
/// The execution that created a resource.
pub const EXECUTION_TAG: &str = "aurora-encrypt:execution";

const MAX_RDS_IDENTIFIER: usize = 63;

/// RDS cluster and instance identifiers: 1-63 letters, digits or hyphens; first a letter; no
/// trailing hyphen and no two consecutive hyphens.
pub fn is_valid_rds_identifier(id: &str) -> bool {
    is_valid_name(id, MAX_RDS_IDENTIFIER)
}

fn is_valid_name(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--")
}

/// The cluster snapshot for one execution: `aurora-encrypt-<source>-<execution>`.
pub fn snapshot_id(source_cluster_id: &str, execution_name: &str) -> String {
    fit(
        &format!("aurora-encrypt-{source_cluster_id}-{execution_name}"),
        255,
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
    fit(&format!("{target_cluster_id}-aurora-encrypt"), 255)
}

/// The prefix of the DMS resources (data providers, instance profile, project, migration) of one
/// target cluster. Keyed by the target, not the execution: one migration per target at a time.
pub fn migration_name(target_cluster_id: &str) -> String {
    fit(&format!("aurora-encrypt-{target_cluster_id}"), 200)
}

/// The DMS resources of one migration (see [`migration_name`]), as `(kind, name)`: the adapter
/// names them this way so that a re-run and cleanup find them by name.
pub fn dms_resource_names(migration_name: &str) -> [(&'static str, String); 5] {
    [
        ("dms-data-provider", format!("{migration_name}-source")),
        ("dms-data-provider", format!("{migration_name}-target")),
        ("dms-instance-profile", format!("{migration_name}-profile")),
        ("dms-migration-project", format!("{migration_name}-project")),
        ("dms-data-migration", migration_name.to_string()),
    ]
}

/// The snapshot taken of the source before `cleanup.retireSource` deletes it.
pub fn final_snapshot_id(source_cluster_id: &str, execution_name: &str) -> String {
    fit(
        &format!("aurora-encrypt-final-{source_cluster_id}-{execution_name}"),
        255,
    )
}

/// Lower-cases, turns anything else into hyphens, squeezes and trims them; if the result is
/// longer than `max`, shortens it and appends a hash of the whole so names stay distinct.
fn fit(raw: &str, max: usize) -> String {
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
    if name.len() > max {
        let hash = format!("{:08x}", fnv1a(raw.as_bytes()) as u32);
        name.truncate(max - hash.len() - 1);
        name = format!("{}-{hash}", name.trim_end_matches('-'));
    }
    name
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

    #[test]
    fn snapshot_id_is_deterministic_and_valid() {
        let id = snapshot_id("orders", "Run_2026-11-27T10:00:00.000Z");
        assert_eq!(id, "aurora-encrypt-orders-run-2026-11-27t10-00-00-000z");
        assert_eq!(id, snapshot_id("orders", "Run_2026-11-27T10:00:00.000Z"));
        assert!(is_valid_name(&id, 255));
        assert_ne!(id, snapshot_id("orders", "Run_2026-11-28"));
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
    }
}
