//! One module per step. Each is a plain async function over ports, callable without Lambda, and
//! idempotent: invoked twice with the same input it creates nothing new.
//!
//! Every step module has one `Deps<'a>`: the ports its entry points use (`&'a dyn Clusters`, …),
//! the clock and sleeper, the source's lock where the step checks it, and its settings. Its entry
//! points take `(input, &Deps)`, so a Lambda bin, the pipeline registry and a test each build
//! `step::Deps { … }` and nothing else.

pub mod binlog_position;
pub mod cleanup;
pub mod create_migration;
pub mod dns_ttl;
pub mod drain;
pub mod failback;
pub mod fence_writes;
pub mod parity;
pub mod poll_latency;
pub mod preflight;
pub mod prewarm;
pub mod rename;
pub mod restore;
pub mod snapshot;
pub mod source_lock;
pub mod stop_migration;
pub mod swap_dns;
pub mod swap_proxy;
pub mod verify;
pub mod verify_online;

use crate::ports::Tag;

/// Tags every resource we create carries: the owner tag lets later steps and cleanup tell ours
/// from someone else's.
pub(crate) fn ownership_tags(source_cluster_id: &str, execution_name: &str) -> Vec<Tag> {
    vec![
        Tag::new(crate::naming::OWNER_TAG, source_cluster_id),
        Tag::new(
            crate::naming::EXECUTION_TAG,
            crate::naming::execution_tag_value(execution_name),
        ),
    ]
}
