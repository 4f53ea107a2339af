//! RenameClusters: the `rename` switchover (`switchover.method: rename`), as Blue/Green does it.
//! While writes are fenced and drained, the source cluster and its instances are renamed out of
//! the way (`orders` → `orders-old-<execution hash>`), then the target and its instances take
//! the source's names, so the application's cluster, reader and instance endpoints lead to the
//! target without a change on its side. Last, the source's custom endpoints, whose names are
//! their own and stay with the cluster renamed, are deleted and created again on the target.
//! With `revert` every rename is undone, in reverse order.
//!
//! The first invocation records the plan (`$.rename.plan`) and renames nothing: the record is
//! in the state document before the first rename, as the fence's record is before the fence,
//! so a rollback undoes exactly what was planned, even after a lost invocation. Each later
//! invocation walks the plan in order from the first rename not yet seen done. A rename is done
//! once its new name exists and its old one does not; a resource under its old name and
//! `available` is renamed
//! (ModifyDBCluster/ModifyDBInstance with `NewDB…Identifier` and `ApplyImmediately`); anything
//! else is a rename in flight, polled. The order makes that test sound: the target takes the
//! source's name only after the source has left it.
//!
//! Between the source leaving its name and the target taking it, neither answers to it: new
//! connections fail (the name does not resolve) while the fence already refuses writes, so the
//! window adds to the write pause and loses nothing.
//!
//! The target taking the source's cluster name is the point of no return (`committed`): from
//! then on the application may write to it, so a failure after it is not undone (undoing would
//! lose those writes); the state machine reports it as a failure after the switchover. Before
//! it, the target is reachable by no name the application uses, and undoing loses nothing.
//!
//! Once every rename is done, the output carries `renamed`: the ids and endpoints the rest of
//! the run uses (the state machine copies them over `sourceClusterId`, `targetClusterId` and
//! `restore`), so StopMigration, Cleanup and a retirement address the old cluster by its new
//! name.
//!
//! Input: `{"action": "rename", "revert"?: true, "document": <state document>}`, of which it
//! reads `sourceClusterId`, `execution`, `restore`, the previous `rename` and `lock`. Output:
//! [`RenameOutput`]. Errors: `RenameFailed` (a resource in a state that will not rename, or the
//! renames took longer than [`RENAME_TIMEOUT_SECONDS`]), `InvalidInput`, `Transient`, and
//! `SourceBusy` from [`run_holding_lock`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::naming;
use crate::poll;
use crate::ports::{Clock, Clusters, CustomEndpoint, DatabaseEndpoint, SourceLock};
use crate::state::{ExecutionRef, RestoreOutput};
use crate::steps::source_lock::{self, HeldLock, LockError};

/// The `action` of the renames and their undoing (the swap-dns function serves them).
pub const ACTION: &str = "rename";
/// How long all the renames of one direction may take.
pub const RENAME_TIMEOUT_SECONDS: i64 = 1800;

/// Whether a swap-dns invocation is a rename.
pub fn is_rename_request(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(ACTION)
}

/// A cluster or an instance renamed, or a custom endpoint moved from one cluster to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenameKind {
    Cluster,
    Instance,
    Endpoint,
}

impl RenameKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Instance => "instance",
            Self::Endpoint => "custom endpoint",
        }
    }
}

/// One rename of the plan. For a custom endpoint, `from` and `to` are the clusters it moves
/// between and `endpoint` what it is (recorded before anything changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rename {
    pub kind: RenameKind,
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<CustomEndpoint>,
}

impl Rename {
    fn undone(&self) -> Self {
        Self {
            kind: self.kind,
            from: self.to.clone(),
            to: self.from.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// What the rest of the run uses once the names are swapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renamed {
    /// The old cluster's new name.
    pub source_cluster_id: String,
    /// The target, under the source's name.
    pub target_cluster_id: String,
    /// `$.restore` with both clusters' and the instances' new names and endpoints.
    pub restore: RestoreOutput,
    /// `$.migration`, its handle naming the target by its new name where the engine names it
    /// so (native replication).
    pub migration: serde_json::Value,
}

/// `$.rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameOutput {
    /// The forward plan, in order (a revert walks it backwards).
    pub plan: Vec<Rename>,
    /// Renames of this direction done so far.
    pub done: usize,
    /// When undoing: how many of the plan's first renames may have happened (those done, and
    /// the next, which may have been asked for), undone newest first. The others never were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_undo: Option<usize>,
    pub revert: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The target has been asked to take the source's cluster name: from then on the
    /// application may reach it and write there, so the renames are never undone (a later
    /// failure is one after the switchover, for a person).
    #[serde(default)]
    pub committed: bool,
    /// Every rename of this direction is done.
    pub ready: bool,
    pub next_poll_seconds: u32,
    /// On the forward direction, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed: Option<Renamed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameInput {
    pub source_cluster_id: String,
    pub execution: ExecutionRef,
    pub restore: RestoreOutput,
    /// CreateMigration's output, carried into [`Renamed`].
    #[serde(default)]
    pub migration: serde_json::Value,
    /// This step's previous output: the plan, and the progress while polling.
    #[serde(default)]
    pub rename: Option<RenameOutput>,
    #[serde(default)]
    pub lock: Option<HeldLock>,
    /// Undo the renames: the request's, not the document's.
    #[serde(skip)]
    pub revert: bool,
}

/// `{"action": "rename", "revert"?: true, "document": <state document>}`.
#[derive(Debug, Clone, Deserialize)]
pub struct RenameRequest {
    #[serde(default)]
    pub revert: bool,
    pub document: RenameInput,
}

impl RenameRequest {
    pub fn into_input(self) -> RenameInput {
        RenameInput {
            revert: self.revert,
            ..self.document
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("there is no plan to undo: nothing was renamed")]
    NothingToUndo,
    #[error("the renames are not done: there is nothing to confirm yet")]
    NotRenamed,
    #[error("the source cluster `{0}` does not exist")]
    SourceMissing(String),
    #[error("cannot rename {kind} `{from}` to `{to}`: {why}")]
    Failed {
        kind: &'static str,
        from: String,
        to: String,
        why: String,
    },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for RenameError {
    fn error_name(&self) -> &'static str {
        match self {
            Self::NothingToUndo | Self::NotRenamed | Self::SourceMissing(_) => {
                error_names::INVALID_INPUT
            }
            Self::Failed { .. } => error_names::RENAME_FAILED,
            Self::Port(e) => e.default_name(),
            Self::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(RenameError);

pub struct Deps<'a> {
    pub clusters: &'a dyn Clusters,
    pub clock: &'a dyn Clock,
    /// Checked by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
}

/// [`run`], once the source's lock is confirmed to be this execution's (and renewed).
pub async fn run_holding_lock(
    input: &RenameInput,
    deps: &Deps<'_>,
) -> Result<RenameOutput, RenameError> {
    source_lock::ensure_held(deps.lock, input.lock.as_ref(), deps.clock.now()).await?;
    run(input, deps).await
}

/// The renames of a switchover from `source` to `target`: the source and its instances out of
/// the way, then the target and its instances under the source's names.
pub async fn plan(
    input: &RenameInput,
    clusters: &dyn Clusters,
) -> Result<Vec<Rename>, RenameError> {
    let source_id = &input.source_cluster_id;
    let source = clusters
        .describe_cluster(source_id)
        .await?
        .ok_or_else(|| RenameError::SourceMissing(source_id.clone()))?;
    let away = |id: &str| naming::renamed_away(id, &input.execution.name);
    let mut plan = vec![Rename {
        kind: RenameKind::Cluster,
        from: source_id.clone(),
        to: away(source_id),
        endpoint: None,
    }];
    let mut members: Vec<_> = source.members.iter().collect();
    members.sort_by_key(|m| (!m.is_writer, m.instance_id.clone()));
    for member in members {
        plan.push(Rename {
            kind: RenameKind::Instance,
            from: member.instance_id.clone(),
            to: away(&member.instance_id),
            endpoint: None,
        });
    }
    plan.push(Rename {
        kind: RenameKind::Cluster,
        from: input.restore.target_cluster_id.clone(),
        to: source_id.clone(),
        endpoint: None,
    });
    let mut instances: Vec<_> = input.restore.instances.iter().collect();
    instances.sort_by_key(|i| (!i.writer, i.instance_id.clone()));
    for instance in instances {
        plan.push(Rename {
            kind: RenameKind::Instance,
            from: instance.instance_id.clone(),
            to: instance.source_instance_id.clone(),
            endpoint: None,
        });
    }
    // Last, once the target's instances have the names the endpoints list as members.
    let mut endpoints = clusters.custom_endpoints(source_id).await?;
    endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    for endpoint in endpoints {
        plan.push(Rename {
            kind: RenameKind::Endpoint,
            from: away(source_id),
            to: source_id.clone(),
            endpoint: Some(endpoint),
        });
    }
    Ok(plan)
}

/// The status of the cluster or instance named `id`, or `None` when nothing has that name.
async fn presence(
    clusters: &dyn Clusters,
    kind: RenameKind,
    id: &str,
) -> Result<Option<String>, RenameError> {
    Ok(match kind {
        RenameKind::Cluster => clusters.describe_cluster(id).await?.map(|c| c.status),
        RenameKind::Instance => clusters.describe_instance(id).await?.map(|i| i.status),
        // Moved, not renamed: see `move_endpoint`.
        RenameKind::Endpoint => None,
    })
}

/// One step of moving a custom endpoint from cluster `step.from` to `step.to`: delete it where
/// it is, then create it on the other cluster with the same name, type and members (its DNS
/// name follows its identifier, so clients keep it). True once it is available there.
async fn move_endpoint(clusters: &dyn Clusters, step: &Rename) -> Result<bool, RenameError> {
    let failed = |why: String| RenameError::Failed {
        kind: RenameKind::Endpoint.noun(),
        from: step.from.clone(),
        to: step.to.clone(),
        why,
    };
    let Some(endpoint) = step.endpoint.as_ref() else {
        return Err(failed("the plan does not record the endpoint".into()));
    };
    // Read per cluster (DescribeDBClusterEndpoints by cluster, as CheckRename reads them).
    let find = |endpoints: Vec<CustomEndpoint>| {
        endpoints
            .into_iter()
            .find(|e| e.id.eq_ignore_ascii_case(&endpoint.id))
    };
    let on_to = find(clusters.custom_endpoints(&step.to).await?);
    let on_from = find(clusters.custom_endpoints(&step.from).await?);
    let asked = match (on_to, on_from) {
        (Some(found), _) => return Ok(found.status == "available"),
        (None, Some(found)) => {
            if found.status != "available" {
                return Ok(false);
            }
            clusters.delete_custom_endpoint(&endpoint.id).await
        }
        (None, None) => {
            clusters
                .create_custom_endpoint(&CustomEndpoint {
                    cluster_id: step.to.clone(),
                    status: String::new(),
                    ..endpoint.clone()
                })
                .await
        }
    };
    match asked {
        Ok(()) => Ok(false),
        Err(PortError::InvalidRequest(why) | PortError::InvalidState(why)) => Err(failed(why)),
        // The name is another cluster's.
        Err(PortError::AlreadyExists { message, .. }) => {
            Err(failed(format!("`{message}` is another cluster's")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run(input: &RenameInput, deps: &Deps<'_>) -> Result<RenameOutput, RenameError> {
    let (clusters, now) = (deps.clusters, deps.clock.now());
    let previous = input.rename.as_ref();
    let plan = match previous {
        Some(p) => p.plan.clone(),
        None if input.revert => return Err(RenameError::NothingToUndo),
        None => plan(input, clusters).await?,
    };
    let same_direction = previous.filter(|p| p.revert == input.revert);
    let started_at = same_direction.map_or(now, |p| p.started_at);
    let to_undo = input.revert.then(|| match (same_direction, previous) {
        (Some(p), _) => p.to_undo.unwrap_or(plan.len()),
        (None, Some(forward)) => (forward.done + 1).min(plan.len()),
        (None, None) => 0,
    });
    let mut output = RenameOutput {
        plan: plan.clone(),
        done: 0,
        to_undo,
        revert: input.revert,
        started_at,
        committed: !input.revert && same_direction.is_some_and(|p| p.committed),
        ready: false,
        next_poll_seconds: poll::RENAME.min,
        renamed: None,
    };
    // The record first: nothing is renamed until the plan is in the state document.
    if previous.is_none() {
        output.next_poll_seconds = 0;
        return Ok(output);
    }
    let steps: Vec<Rename> = if let Some(count) = to_undo {
        plan[..count].iter().rev().map(Rename::undone).collect()
    } else {
        plan.clone()
    };
    // Steps a previous invocation saw done stay done: a later step may reuse a name an earlier
    // one freed (the target takes the source's), so they are not looked at again.
    output.done = same_direction.map_or(0, |p| p.done.min(steps.len()));
    for step in &steps[output.done..] {
        // The target taking the source's cluster name: the point of no return.
        let commits =
            !input.revert && step.kind == RenameKind::Cluster && step.to == input.source_cluster_id;
        let kind = step.kind.noun();
        if step.kind == RenameKind::Endpoint {
            if move_endpoint(clusters, step).await? {
                output.done += 1;
                continue;
            }
        } else {
            let at_old = presence(clusters, step.kind, &step.from).await?;
            let at_new = presence(clusters, step.kind, &step.to).await?;
            match (at_old, at_new) {
                (None, Some(status)) if status == "available" => {
                    output.done += 1;
                    output.committed |= commits;
                    continue;
                }
                (Some(status), None) if status == "available" => {
                    let renamed = match step.kind {
                        RenameKind::Cluster => clusters.rename_cluster(&step.from, &step.to).await,
                        _ => clusters.rename_instance(&step.from, &step.to).await,
                    };
                    match renamed {
                        Ok(()) => output.committed |= commits,
                        Err(PortError::InvalidRequest(why) | PortError::InvalidState(why)) => {
                            return Err(RenameError::Failed {
                                kind,
                                from: step.from.clone(),
                                to: step.to.clone(),
                                why,
                            })
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(RenameError::Failed {
                        kind,
                        from: step.from.clone(),
                        to: step.to.clone(),
                        why: format!("`{}` is taken by another {kind}", step.to),
                    })
                }
                // Renaming, modifying, or between its two names: asked for already.
                _ => output.committed |= commits,
            }
        }
        if now - started_at >= time::Duration::seconds(RENAME_TIMEOUT_SECONDS) {
            return Err(RenameError::Failed {
                kind,
                from: step.from.clone(),
                to: step.to.clone(),
                why: format!("not done after {RENAME_TIMEOUT_SECONDS} s"),
            });
        }
        return Ok(output);
    }
    output.ready = true;
    output.next_poll_seconds = 0;
    if !input.revert {
        output.renamed = Some(renamed(input, &plan, clusters).await?);
    }
    Ok(output)
}

/// The ids and endpoints after the forward renames.
async fn renamed(
    input: &RenameInput,
    plan: &[Rename],
    clusters: &dyn Clusters,
) -> Result<Renamed, RenameError> {
    let new_name = |kind: RenameKind, id: &str| {
        plan.iter()
            .find(|r| r.kind == kind && r.from == id)
            .map_or_else(|| id.to_string(), |r| r.to.clone())
    };
    let old_source = new_name(RenameKind::Cluster, &input.source_cluster_id);
    let new_target = new_name(RenameKind::Cluster, &input.restore.target_cluster_id);
    let endpoint =
        |cluster: Option<crate::ports::Cluster>, id: &str, previous: Option<&DatabaseEndpoint>| {
            cluster
                .and_then(|c| c.endpoint.map(|host| (host, c.port)))
                .map(|(host, port)| DatabaseEndpoint {
                    cluster_id: id.to_string(),
                    host,
                    port: port.or(previous.map(|p| p.port)).unwrap_or(3306),
                })
        };
    let mut restore = input.restore.clone();
    restore.target_cluster_id = new_target.clone();
    restore.source_endpoint = endpoint(
        clusters.describe_cluster(&old_source).await?,
        &old_source,
        input.restore.source_endpoint.as_ref(),
    );
    restore.target_endpoint = endpoint(
        clusters.describe_cluster(&new_target).await?,
        &new_target,
        input.restore.target_endpoint.as_ref(),
    );
    for instance in &mut restore.instances {
        instance.instance_id = new_name(RenameKind::Instance, &instance.instance_id);
        instance.endpoint = clusters
            .describe_instance(&instance.instance_id)
            .await?
            .and_then(|i| i.endpoint);
    }
    if restore.writer_instance_id.is_some() {
        restore.writer_instance_id = restore
            .writer_instance_id
            .as_deref()
            .map(|id| new_name(RenameKind::Instance, id));
    }
    let mut migration = input.migration.clone();
    if let Some(id) = migration.pointer_mut("/handle/id") {
        if id.as_str() == Some(input.restore.target_cluster_id.as_str()) {
            *id = serde_json::Value::String(new_target.clone());
        }
    }
    Ok(Renamed {
        source_cluster_id: old_source,
        target_cluster_id: new_target,
        restore,
        migration,
    })
}

/// The `action` of [`check`], right after Preflight.
pub const CHECK_ACTION: &str = "rename-check";

/// Whether a swap-dns invocation is [`check`].
pub fn is_check_request(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(CHECK_ACTION)
}

/// [`check`]'s input: from the state document Preflight returned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRenameInput {
    pub source_cluster_id: String,
    pub target_cluster_id: String,
    pub execution: ExecutionRef,
}

/// `$.renameCheck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameCheck {
    /// The names the source and its instances will take.
    pub renamed_away: Vec<String>,
    /// What the switchover will do, for the plan.
    pub plan: String,
}

/// CheckRename: before anything is created, refuses a source whose `-old-` names are taken
/// (`RenameFailed`), and says which custom endpoints will move. Only reads.
pub async fn check(
    input: &CheckRenameInput,
    clusters: &dyn Clusters,
) -> Result<RenameCheck, RenameError> {
    let source_id = &input.source_cluster_id;
    let source = clusters
        .describe_cluster(source_id)
        .await?
        .ok_or_else(|| RenameError::SourceMissing(source_id.clone()))?;
    let mut custom: Vec<String> = clusters
        .custom_endpoints(source_id)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    custom.sort();
    let away = |id: &str| naming::renamed_away(id, &input.execution.name);
    let mut names = vec![(RenameKind::Cluster, source_id.clone(), away(source_id))];
    for member in &source.members {
        names.push((
            RenameKind::Instance,
            member.instance_id.clone(),
            away(&member.instance_id),
        ));
    }
    for (kind, from, to) in &names {
        if presence(clusters, *kind, to).await?.is_some() {
            return Err(RenameError::Failed {
                kind: kind.noun(),
                from: from.clone(),
                to: to.clone(),
                why: format!("`{to}` is taken"),
            });
        }
    }
    let moved = if custom.is_empty() {
        String::new()
    } else {
        format!(
            "; then move its custom endpoint(s) {} to the target (each deleted and created again with its name and members: it does not answer for the minute or two that takes)",
            custom.join(", ")
        )
    };
    Ok(RenameCheck {
        plan: format!(
            "while fenced and drained: rename {source_id} to {} and its {} instance(s) likewise, then {} and its instances to the source's names{moved}; undone if anything fails before {} takes the name {source_id}",
            away(source_id),
            source.members.len(),
            input.target_cluster_id,
            input.target_cluster_id,
        ),
        renamed_away: names.into_iter().map(|(_, _, to)| to).collect(),
    })
}

/// The `action` of [`confirm`] (the verify function serves it).
pub const CONFIRM_ACTION: &str = "rename-confirm";

/// Whether a verify invocation is [`confirm`].
pub fn is_confirm_request(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(CONFIRM_ACTION)
}

/// [`confirm`]'s input: `{"action": "rename-confirm", "document": <state document>}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfirmRenameRequest {
    pub document: ConfirmRenameInput,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRenameInput {
    /// The source's name, which the target now has.
    pub source_cluster_id: String,
    pub replication: crate::spec::ReplicationSpec,
    pub rename: RenameOutput,
    #[serde(default)]
    pub fence: Option<crate::steps::swap_dns::FencedAt>,
    /// This step's previous output, while polling.
    #[serde(default)]
    pub rename_confirmed: Option<RenameConfirmation>,
}

/// `$.renameConfirmed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameConfirmation {
    /// A session at the source's name reached the target's writer.
    pub confirmed: bool,
    /// The server a session at the cluster endpoint reached, and the target writer's.
    pub reached: Option<String>,
    pub writer: Option<String>,
    pub next_poll_seconds: u32,
    /// From `fence.fencedAt` to the confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_window_ms: Option<u64>,
}

/// ConfirmRename: a session at the cluster endpoint the source's name now has reaches the same
/// server as one at the target writer's instance endpoint. DNS follows a rename within its TTL
/// (5 s for RDS endpoints), so this polls until [`RENAME_TIMEOUT_SECONDS`] after the renames
/// began.
pub async fn confirm(
    input: &ConfirmRenameInput,
    clusters: &dyn Clusters,
    identity: &dyn crate::ports::ServerIdentity,
    clock: &dyn Clock,
) -> Result<RenameConfirmation, RenameError> {
    let now = clock.now();
    let renamed = input
        .rename
        .renamed
        .as_ref()
        .ok_or(RenameError::NotRenamed)?;
    let failed = |why: String| RenameError::Failed {
        kind: "cluster",
        from: renamed.restore.target_cluster_id.clone(),
        to: input.source_cluster_id.clone(),
        why,
    };
    let cluster = clusters
        .describe_cluster(&input.source_cluster_id)
        .await?
        .ok_or_else(|| failed("no cluster answers to the name".into()))?;
    let writer_id = renamed
        .restore
        .instances
        .iter()
        .find(|i| i.writer)
        .map(|i| i.instance_id.clone())
        .ok_or_else(|| failed("the target has no writer instance".into()))?;
    let writer = clusters
        .describe_instance(&writer_id)
        .await?
        .and_then(|i| i.endpoint)
        .ok_or_else(|| failed(format!("instance `{writer_id}` has no endpoint yet")))?;
    let port = cluster.port.unwrap_or(3306);
    let at = |host: String| DatabaseEndpoint {
        cluster_id: input.source_cluster_id.clone(),
        host,
        port,
    };
    let secret = input.replication.target_secret_arn();
    let writer = identity.identity(&at(writer), secret).await?;
    let reached = match cluster.endpoint {
        Some(host) => identity.identity(&at(host), secret).await.ok(),
        None => None,
    };
    let confirmed = reached.as_ref() == Some(&writer);
    if !confirmed
        && now - input.rename.started_at >= time::Duration::seconds(RENAME_TIMEOUT_SECONDS)
    {
        return Err(failed(format!(
            "a session at the cluster endpoint reached {}, not the writer `{writer}`",
            reached.map_or_else(|| "nothing".to_string(), |r| format!("`{r}`"))
        )));
    }
    Ok(RenameConfirmation {
        confirmed,
        reached,
        writer: Some(writer),
        next_poll_seconds: if confirmed { 0 } else { poll::RENAME.min },
        fenced_window_ms: input
            .fence
            .filter(|_| confirmed)
            .map(|f| u64::try_from((now - f.fenced_at).whole_milliseconds()).unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeClusters, FakeIdentity, FakeSourceLock, EPOCH};
    use serde_json::json;

    fn restore() -> RestoreOutput {
        serde_json::from_value(json!({
            "targetClusterId": "orders-encrypted",
            "status": "available",
            "encrypted": true,
            "restoreStartedAt": "2026-11-30T12:00:00Z",
            "writerInstanceId": "orders-encrypted-writer",
            "instances": [
                {"instanceId": "orders-encrypted-writer", "sourceInstanceId": "orders-writer", "class": "db.r6g.xlarge", "status": "available", "writer": true},
                {"instanceId": "orders-encrypted-reader-1", "sourceInstanceId": "orders-reader-1", "class": "db.r6g.large", "status": "available", "writer": false}
            ],
            "sourceEndpoint": {"clusterId": "orders", "host": "orders.cluster-abc.eu-west-1.rds.amazonaws.com", "port": 3306},
            "targetEndpoint": {"clusterId": "orders-encrypted", "host": "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com", "port": 3306},
            "ready": true,
            "nextPollSeconds": 0
        }))
        .unwrap()
    }

    /// The source with a writer and one reader, and its restored target.
    fn world() -> FakeClusters {
        let rds = FakeClusters::with_source("orders");
        rds.update_cluster("orders", |c| {
            c.members.retain(|m| m.instance_id != "orders-reader-2")
        });
        rds.add_instance("orders-encrypted-writer", Some("orders-encrypted"));
        rds.add_instance("orders-encrypted-reader-1", Some("orders-encrypted"));
        rds.add_foreign_cluster("orders-encrypted");
        rds
    }

    fn input(previous: Option<RenameOutput>, revert: bool) -> RenameInput {
        RenameInput {
            source_cluster_id: "orders".into(),
            execution: ExecutionRef {
                name: "exec-1".into(),
                id: None,
            },
            restore: restore(),
            migration: json!({"handle": {"engine": "native", "id": "orders-encrypted", "name": "m"}}),
            rename: previous,
            lock: None,
            revert,
        }
    }

    async fn step(
        rds: &FakeClusters,
        previous: Option<RenameOutput>,
        revert: bool,
    ) -> Result<RenameOutput, RenameError> {
        let (clock, lock) = (FakeClock::at(EPOCH), FakeSourceLock::default());
        let deps = Deps {
            clusters: rds,
            clock: &clock,
            lock: &lock,
        };
        run(&input(previous, revert), &deps).await
    }

    async fn until_ready(rds: &FakeClusters, mut out: RenameOutput, revert: bool) -> RenameOutput {
        for _ in 0..20 {
            if out.ready {
                return out;
            }
            out = step(rds, Some(out), revert).await.unwrap();
        }
        panic!("never ready: {out:?}");
    }

    #[tokio::test]
    async fn the_plan_is_recorded_before_anything_is_renamed() {
        let rds = world();
        let out = step(&rds, None, false).await.unwrap();
        assert!(!out.ready);
        assert!(rds.mutations().is_empty(), "nothing renamed yet");
        let away = naming::renamed_away("orders", "exec-1");
        assert!(
            away.starts_with("orders-old-") && away.len() <= 63,
            "{away}"
        );
        let plan: Vec<(&str, &str)> = out
            .plan
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect();
        assert_eq!(
            plan,
            vec![
                ("orders", away.as_str()),
                (
                    "orders-writer",
                    naming::renamed_away("orders-writer", "exec-1").as_str()
                ),
                (
                    "orders-reader-1",
                    naming::renamed_away("orders-reader-1", "exec-1").as_str()
                ),
                ("orders-encrypted", "orders"),
                ("orders-encrypted-writer", "orders-writer"),
                ("orders-encrypted-reader-1", "orders-reader-1"),
            ]
        );
    }

    #[tokio::test]
    async fn the_target_takes_the_sources_names_and_the_run_learns_the_new_ones() {
        let rds = world();
        let first = step(&rds, None, false).await.unwrap();
        let done = until_ready(&rds, first, false).await;
        assert_eq!(done.done, 6);
        let away = naming::renamed_away("orders", "exec-1");
        assert_eq!(rds.mutations().len(), 6);
        assert_eq!(
            rds.mutations()[0],
            format!("rename_cluster orders -> {away}")
        );
        assert_eq!(
            rds.mutations()[3],
            "rename_cluster orders-encrypted -> orders"
        );
        assert!(rds
            .cluster("orders")
            .unwrap()
            .tag(naming::OWNER_TAG)
            .is_none());
        let renamed = done.renamed.clone().unwrap();
        assert_eq!(renamed.source_cluster_id, away);
        assert_eq!(renamed.target_cluster_id, "orders");
        assert_eq!(renamed.restore.target_cluster_id, "orders");
        assert_eq!(renamed.restore.source_endpoint.unwrap().cluster_id, away);
        assert_eq!(
            renamed.restore.writer_instance_id.as_deref(),
            Some("orders-writer")
        );
        assert_eq!(renamed.restore.instances[0].instance_id, "orders-writer");
        assert_eq!(renamed.migration["handle"]["id"], "orders");
        // Done is done: another invocation renames nothing.
        let before = rds.mutations();
        step(&rds, Some(done), false).await.unwrap();
        assert_eq!(rds.mutations(), before);
    }

    #[tokio::test]
    async fn a_revert_undoes_every_rename_in_reverse_order_from_where_it_stopped() {
        let rds = world();
        let mut out = step(&rds, None, false).await.unwrap();
        // Four renames in: the source is away, the target has its name, one instance moved.
        for _ in 0..4 {
            out = step(&rds, Some(out), false).await.unwrap();
        }
        assert!(rds.cluster("orders").is_some() && rds.cluster("orders-encrypted").is_none());
        let back = step(&rds, Some(out), true).await.unwrap();
        let back = until_ready(&rds, back, true).await;
        assert!(back.renamed.is_none());
        assert_eq!(rds.cluster("orders").unwrap().id, "orders");
        assert!(rds.cluster("orders-encrypted").is_some());
        assert!(rds
            .cluster(&naming::renamed_away("orders", "exec-1"))
            .is_none());
        let mutations = rds.mutations();
        assert_eq!(
            mutations.last().unwrap(),
            &format!(
                "rename_cluster {} -> orders",
                naming::renamed_away("orders", "exec-1")
            )
        );
        // Without a recorded plan there is nothing to undo.
        let err = step(&rds, None, true).await.unwrap_err();
        assert_eq!(err.error_name(), "InvalidInput");
    }

    #[tokio::test]
    async fn the_check_refuses_taken_names_before_anything_is_created_and_names_the_endpoints_to_move(
    ) {
        let check_input = CheckRenameInput {
            source_cluster_id: "orders".into(),
            target_cluster_id: "orders-encrypted".into(),
            execution: ExecutionRef {
                name: "exec-1".into(),
                id: None,
            },
        };
        let rds = world();
        let found = check(&check_input, &rds).await.unwrap();
        assert_eq!(
            found.renamed_away[0],
            naming::renamed_away("orders", "exec-1")
        );
        assert!(found.plan.contains("orders-encrypted"), "{}", found.plan);
        assert!(!found.plan.contains("custom endpoint"), "{}", found.plan);

        rds.add_custom_endpoint("orders", "analytics", &["orders-reader-1"]);
        let found = check(&check_input, &rds).await.unwrap();
        assert!(
            found.plan.contains("custom endpoint(s) analytics"),
            "{}",
            found.plan
        );

        let taken = world();
        taken.add_instance(&naming::renamed_away("orders-writer", "exec-1"), None);
        let err = check(&check_input, &taken).await.unwrap_err();
        assert_eq!(err.error_name(), "RenameFailed");
        assert!(rds.mutations().is_empty() && taken.mutations().is_empty());
    }

    #[tokio::test]
    async fn custom_endpoints_move_to_the_target_last_with_their_names_and_members() {
        let rds = world();
        rds.add_custom_endpoint("orders", "analytics", &["orders-reader-1"]);
        let first = step(&rds, None, false).await.unwrap();
        let last = first.plan.last().unwrap().clone();
        assert_eq!(last.kind, RenameKind::Endpoint);
        assert_eq!(
            (last.from.as_str(), last.to.as_str()),
            (naming::renamed_away("orders", "exec-1").as_str(), "orders")
        );
        let done = until_ready(&rds, first, false).await;
        assert_eq!(done.done, 7);
        let mutations = rds.mutations();
        assert_eq!(
            mutations[mutations.len() - 2..],
            [
                "delete_custom_endpoint analytics".to_string(),
                "create_custom_endpoint analytics on orders".to_string()
            ],
            "after every rename: {mutations:?}"
        );
        let moved = rds.custom_endpoint("analytics").unwrap();
        assert_eq!(moved.cluster_id, "orders");
        assert_eq!(moved.static_members, ["orders-reader-1"]);
        assert_eq!(moved.endpoint_type, "ANY");
        // Done is done.
        step(&rds, Some(done), false).await.unwrap();
        assert_eq!(rds.mutations(), mutations);
    }

    #[tokio::test]
    async fn an_endpoint_that_cannot_be_created_on_the_target_fails_after_the_commit() {
        let rds = world();
        rds.add_custom_endpoint("orders", "analytics", &["orders-reader-1"]);
        rds.fail_next(
            "create_custom_endpoint",
            PortError::InvalidState("cluster is modifying".into()),
        );
        let mut out = step(&rds, None, false).await.unwrap();
        let err = loop {
            match step(&rds, Some(out.clone()), false).await {
                Ok(next) => out = next,
                Err(e) => break e,
            }
        };
        assert_eq!(err.error_name(), "RenameFailed");
        assert!(err.to_string().contains("custom endpoint"), "{err}");
        assert!(out.committed, "the target already has the source's name");
    }

    #[tokio::test]
    async fn a_name_taken_by_another_resource_fails_the_rename() {
        let rds = world();
        rds.add_instance(&naming::renamed_away("orders-writer", "exec-1"), None);
        let mut out = step(&rds, None, false).await.unwrap();
        let err = loop {
            match step(&rds, Some(out), false).await {
                Ok(next) => out = next,
                Err(e) => break e,
            }
        };
        assert_eq!(err.error_name(), "RenameFailed");
        assert!(err.to_string().contains("orders-writer"), "{err}");
    }

    #[tokio::test]
    async fn the_cluster_endpoint_must_reach_the_targets_writer() {
        let rds = world();
        let first = step(&rds, None, false).await.unwrap();
        let done = until_ready(&rds, first, false).await;
        let confirm_input = ConfirmRenameInput {
            source_cluster_id: "orders".into(),
            replication: serde_json::from_value(json!({
                "engine": "native",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-AbCdEf"
            }))
            .unwrap(),
            rename: done,
            fence: None,
            rename_confirmed: None,
        };
        let identity = FakeIdentity::default();
        // The cluster endpoint still leads to the old writer's server.
        identity.route(
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
            "someone-else",
        );
        let clock = FakeClock::at(EPOCH);
        let waiting = confirm(&confirm_input, &rds, &identity, &clock)
            .await
            .unwrap();
        assert!(!waiting.confirmed);
        // Routed to the renamed writer: confirmed.
        identity.route(
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
            "orders-writer.abc.eu-west-1.rds.amazonaws.com",
        );
        let ok = confirm(&confirm_input, &rds, &identity, &clock)
            .await
            .unwrap();
        assert!(ok.confirmed, "{ok:?}");
    }
}
