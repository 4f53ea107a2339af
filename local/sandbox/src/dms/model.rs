//! The DMS stand-in's resources and the operations the AWS adapter calls, request and response
//! bodies as the DMS API's JSON (field names from the service model).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aurora_core::ports::{CdcRequest, ReplicationHandle, ReplicationState, ReplicationStatus};
use aurora_core::spec::{NativeReplication, ReplicationSpec};
use aurora_core::BinlogPosition;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::sandbox::{Sandbox, ADMIN_SECRET_ARN, REPLICATION_SECRET_ARN};

const ARN_PREFIX: &str = "arn:aws:dms:sandbox:000000000000";

/// How long things take, in DMS time (multiplied by the time scale before use).
#[derive(Debug, Clone, Copy)]
pub struct DmsTimings {
    /// `Creating` before `Ready`.
    pub creating: Duration,
    /// `Starting` before `Replication ongoing` (DMS: 10–15 minutes).
    pub starting: Duration,
    /// `Stopping` before `Stopped`.
    pub stopping: Duration,
    /// How often `CDCLatency` is refreshed; between refreshes it is the previous value.
    pub latency_refresh: Duration,
    /// One refresh in this many omits `CDCLatency` (0: never).
    pub latency_missing_one_in: u32,
}

impl Default for DmsTimings {
    fn default() -> Self {
        Self {
            creating: Duration::from_secs(60),
            starting: Duration::from_secs(600),
            stopping: Duration::from_secs(60),
            latency_refresh: Duration::from_secs(60),
            latency_missing_one_in: 4,
        }
    }
}

impl DmsTimings {
    pub fn scaled(self, time_scale: f64) -> Self {
        let scale = |d: Duration| d.mul_f64(time_scale.clamp(0.0, 1e6));
        Self {
            creating: scale(self.creating),
            starting: scale(self.starting),
            stopping: scale(self.stopping),
            latency_refresh: scale(self.latency_refresh),
            latency_missing_one_in: self.latency_missing_one_in,
        }
    }
}

/// A DMS fault: the `__type` the SDK classifies, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: &'static str,
    pub message: String,
}

fn fault(code: &'static str, message: impl Into<String>) -> Fault {
    Fault {
        code,
        message: message.into(),
    }
}

fn not_found(what: &str, id: &str) -> Fault {
    fault("ResourceNotFoundFault", format!("{what} {id} not found"))
}

#[derive(Debug, Clone)]
struct Provider {
    name: String,
    arn: String,
    created: OffsetDateTime,
    engine: String,
    settings: Value,
}

#[derive(Debug, Clone)]
struct Profile {
    name: String,
    arn: String,
    body: Value,
}

#[derive(Debug, Clone)]
struct Descriptor {
    provider_arn: String,
    secret: Option<String>,
    role: Option<String>,
}

#[derive(Debug, Clone)]
struct Project {
    name: String,
    arn: String,
    created: OffsetDateTime,
    source: Descriptor,
    target: Descriptor,
    profile_arn: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Creating,
    Ready,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Creating => "Creating",
            Status::Ready => "Ready",
            Status::Starting => "Starting",
            Status::Running => "Replication ongoing",
            Status::Stopping => "Stopping",
            Status::Stopped => "Stopped",
            Status::Failed => "Failed",
        }
    }
}

#[derive(Debug, Clone)]
struct Migration {
    name: String,
    arn: String,
    created: OffsetDateTime,
    project_arn: String,
    role: String,
    start_position: String,
    status: Status,
    /// When the current status began.
    since: Instant,
    started: Option<OffsetDateTime>,
    stopped: Option<OffsetDateTime>,
    failure: Option<String>,
    /// The last published `CDCLatency` (`None`: omitted) and when it was refreshed.
    latency: Option<i64>,
    refreshed: Option<Instant>,
    refreshes: u32,
    /// The native replication underneath, once started.
    native: Option<(String, String, ReplicationHandle)>,
}

#[derive(Default)]
struct State {
    providers: BTreeMap<String, Provider>,
    profiles: BTreeMap<String, Profile>,
    projects: BTreeMap<String, Project>,
    migrations: BTreeMap<String, Migration>,
}

/// The stand-in service: one per run, in memory (a DMS account in one region).
pub struct DmsStandIn {
    sandbox: Sandbox,
    timings: DmsTimings,
    state: tokio::sync::Mutex<State>,
}

fn iso(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn resource_id() -> String {
    (0..26)
        .map(|_| {
            let c = fastrand::u8(0..36);
            char::from(if c < 10 { b'0' + c } else { b'A' + c - 10 })
        })
        .collect()
}

fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, Fault> {
    str_field(body, key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            fault(
                "InvalidParameterValueException",
                format!("{key} is required"),
            )
        })
}

/// Finds a resource by name or ARN, as DMS identifiers accept either.
fn find<'a, T>(
    map: &'a BTreeMap<String, T>,
    id: &str,
    arn_of: impl Fn(&T) -> &str,
) -> Option<&'a T> {
    map.get(id)
        .or_else(|| map.values().find(|r| arn_of(r) == id))
}

/// Items whose name or ARN matches the filter's values (DMS filters match either).
fn filtered<'a, T>(
    body: &Value,
    filter_name: &str,
    items: impl Iterator<Item = &'a T>,
    keys: impl Fn(&T) -> (&str, &str),
) -> Result<Vec<&'a T>, Fault>
where
    T: 'a,
{
    let mut values: Option<Vec<String>> = None;
    for filter in body
        .get("Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = str_field(filter, "Name").unwrap_or_default();
        if name != filter_name {
            return Err(fault(
                "InvalidParameterValueException",
                format!("unsupported filter {name}"),
            ));
        }
        values = Some(
            filter
                .get("Values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        );
    }
    Ok(items
        .filter(|item| {
            let (name, arn) = keys(item);
            values
                .as_ref()
                .is_none_or(|v| v.iter().any(|x| x == name || x == arn))
        })
        .collect())
}

impl DmsStandIn {
    pub fn new(sandbox: Sandbox, timings: DmsTimings) -> Self {
        Self {
            sandbox,
            timings,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// Serves one API call: `operation` from `X-Amz-Target`, `body` its JSON input.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, Fault> {
        let mut state = self.state.lock().await;
        self.advance(&mut state).await;
        let now = OffsetDateTime::now_utc();
        match operation {
            "CreateDataProvider" => create_provider(&mut state, body, now),
            "DescribeDataProviders" => {
                let list = filtered(
                    body,
                    "data-provider-identifier",
                    state.providers.values(),
                    |p| (&p.name, &p.arn),
                )?;
                Ok(
                    json!({ "DataProviders": list.iter().map(|p| provider_json(p)).collect::<Vec<_>>() }),
                )
            }
            "DeleteDataProvider" => {
                let id = required(body, "DataProviderIdentifier")?;
                let provider = find(&state.providers, id, |p| &p.arn)
                    .ok_or_else(|| not_found("data provider", id))?
                    .clone();
                if state.projects.values().any(|p| {
                    p.source.provider_arn == provider.arn || p.target.provider_arn == provider.arn
                }) {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!("data provider {id} is used by a migration project"),
                    ));
                }
                state.providers.remove(&provider.name);
                Ok(json!({ "DataProvider": provider_json(&provider) }))
            }
            "CreateInstanceProfile" => create_profile(&mut state, body, now),
            "DescribeInstanceProfiles" => {
                let list = filtered(
                    body,
                    "instance-profile-identifier",
                    state.profiles.values(),
                    |p| (&p.name, &p.arn),
                )?;
                Ok(
                    json!({ "InstanceProfiles": list.iter().map(|p| p.body.clone()).collect::<Vec<_>>() }),
                )
            }
            "DeleteInstanceProfile" => {
                let id = required(body, "InstanceProfileIdentifier")?;
                let profile = find(&state.profiles, id, |p| &p.arn)
                    .ok_or_else(|| not_found("instance profile", id))?
                    .clone();
                if state
                    .projects
                    .values()
                    .any(|p| p.profile_arn == profile.arn)
                {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!("instance profile {id} is used by a migration project"),
                    ));
                }
                state.profiles.remove(&profile.name);
                Ok(json!({ "InstanceProfile": profile.body }))
            }
            "CreateMigrationProject" => create_project(&mut state, body, now),
            "DescribeMigrationProjects" => {
                let list = filtered(
                    body,
                    "migration-project-identifier",
                    state.projects.values(),
                    |p| (&p.name, &p.arn),
                )?;
                Ok(
                    json!({ "MigrationProjects": list.iter().map(|p| project_json(&state, p)).collect::<Vec<_>>() }),
                )
            }
            "DeleteMigrationProject" => {
                let id = required(body, "MigrationProjectIdentifier")?;
                let project = find(&state.projects, id, |p| &p.arn)
                    .ok_or_else(|| not_found("migration project", id))?
                    .clone();
                if state
                    .migrations
                    .values()
                    .any(|m| m.project_arn == project.arn)
                {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!("migration project {id} has data migrations"),
                    ));
                }
                let output = json!({ "MigrationProject": project_json(&state, &project) });
                state.projects.remove(&project.name);
                Ok(output)
            }
            "CreateDataMigration" => create_migration(&mut state, body, now),
            "DescribeDataMigrations" => {
                let list = filtered(
                    body,
                    "data-migration-identifier",
                    state.migrations.values(),
                    |m| (&m.name, &m.arn),
                )?;
                Ok(
                    json!({ "DataMigrations": list.iter().map(|m| migration_json(m)).collect::<Vec<_>>() }),
                )
            }
            "StartDataMigration" => {
                let id = required(body, "DataMigrationIdentifier")?;
                let start_type = required(body, "StartType")?;
                let name = find(&state.migrations, id, |m| &m.arn)
                    .ok_or_else(|| not_found("data migration", id))?
                    .name
                    .clone();
                let migration = state
                    .migrations
                    .get_mut(&name)
                    .ok_or_else(|| not_found("data migration", id))?;
                if start_type != "start-replication" {
                    return Err(fault(
                        "InvalidParameterValueException",
                        format!("the sandbox's DMS starts CDC migrations with start-replication, not {start_type}"),
                    ));
                }
                if !matches!(
                    migration.status,
                    Status::Ready | Status::Stopped | Status::Failed
                ) {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!(
                            "data migration {id} is {}; it can be started when Ready, Stopped or Failed",
                            migration.status.text()
                        ),
                    ));
                }
                migration.status = Status::Starting;
                migration.since = Instant::now();
                migration.failure = None;
                migration.latency = None;
                migration.refreshed = None;
                migration.started = Some(now);
                Ok(json!({ "DataMigration": migration_json(migration) }))
            }
            "StopDataMigration" => {
                let id = required(body, "DataMigrationIdentifier")?;
                let name = find(&state.migrations, id, |m| &m.arn)
                    .ok_or_else(|| not_found("data migration", id))?
                    .name
                    .clone();
                let migration = state
                    .migrations
                    .get_mut(&name)
                    .ok_or_else(|| not_found("data migration", id))?;
                if !matches!(migration.status, Status::Starting | Status::Running) {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!(
                            "data migration {id} is {}; only a starting or running migration stops",
                            migration.status.text()
                        ),
                    ));
                }
                migration.status = Status::Stopping;
                migration.since = Instant::now();
                Ok(json!({ "DataMigration": migration_json(migration) }))
            }
            "DeleteDataMigration" => {
                let id = required(body, "DataMigrationIdentifier")?;
                let migration = find(&state.migrations, id, |m| &m.arn)
                    .ok_or_else(|| not_found("data migration", id))?
                    .clone();
                if matches!(
                    migration.status,
                    Status::Creating | Status::Starting | Status::Running | Status::Stopping
                ) {
                    return Err(fault(
                        "InvalidResourceStateFault",
                        format!(
                            "data migration {id} is {}; stop it before deleting it",
                            migration.status.text()
                        ),
                    ));
                }
                if let Some((source, target, handle)) = &migration.native {
                    let engine = self
                        .native(source, target)
                        .map_err(|message| fault("InternalServiceFault", message))?;
                    aurora_core::ports::Replication::remove(&engine, handle)
                        .await
                        .map_err(|e| fault("InternalServiceFault", e.to_string()))?;
                    self.sandbox.restore_durability(target).await;
                }
                state.migrations.remove(&migration.name);
                Ok(json!({ "DataMigration": migration_json(&migration) }))
            }
            other => Err(fault(
                "InvalidActionException",
                format!("the sandbox's DMS does not serve {other}"),
            )),
        }
    }

    fn native(&self, source: &str, target: &str) -> Result<aurora_sql::NativeReplication, String> {
        self.sandbox
            .native_replication(aurora_sql::AuroraMajorVersion::Three, source, target)
            .map_err(|e| e.to_string())
    }

    /// Moves every migration on as time has passed: creation, starting, stopping, and the
    /// coarse latency refresh. Runs before each call, as a describe would observe it.
    async fn advance(&self, state: &mut State) {
        let names: Vec<String> = state.migrations.keys().cloned().collect();
        for name in names {
            let Some(migration) = state.migrations.get(&name).cloned() else {
                continue;
            };
            let elapsed = migration.since.elapsed();
            let updated = match migration.status {
                Status::Creating if elapsed >= self.timings.creating => Migration {
                    status: Status::Ready,
                    since: Instant::now(),
                    ..migration
                },
                Status::Starting if elapsed >= self.timings.starting => {
                    self.begin_replication(state, migration).await
                }
                Status::Running => self.refresh(migration).await,
                Status::Stopping if elapsed >= self.timings.stopping => {
                    self.end_replication(migration).await
                }
                _ => continue,
            };
            state.migrations.insert(name, updated);
        }
    }

    fn failed(mut migration: Migration, message: String) -> Migration {
        migration.status = Status::Failed;
        migration.since = Instant::now();
        migration.failure = Some(message);
        migration.stopped = Some(OffsetDateTime::now_utc());
        migration.latency = None;
        migration
    }

    /// The source and target clusters a migration's project names, as DMS would reach them:
    /// each data provider's server and port, and a secret it can read.
    fn clusters_of(
        &self,
        state: &State,
        migration: &Migration,
    ) -> Result<(String, String), String> {
        let project = state
            .projects
            .values()
            .find(|p| p.arn == migration.project_arn)
            .ok_or("the migration project no longer exists")?;
        let cluster_of = |descriptor: &Descriptor| -> Result<String, String> {
            let provider = state
                .providers
                .values()
                .find(|p| p.arn == descriptor.provider_arn)
                .ok_or("a data provider of the project no longer exists")?;
            let server = provider
                .settings
                .pointer("/MySqlSettings/ServerName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let port = provider
                .settings
                .pointer("/MySqlSettings/Port")
                .and_then(Value::as_i64);
            let secret = descriptor.secret.as_deref().unwrap_or_default();
            if ![REPLICATION_SECRET_ARN, ADMIN_SECRET_ARN].contains(&secret) {
                return Err(format!(
                    "Failed to retrieve the secret {secret} of data provider {}: ResourceNotFoundException",
                    provider.name
                ));
            }
            let cluster = self
                .sandbox
                .cluster_by_host(server)
                .filter(|_| port == Some(i64::from(self.sandbox.port())))
                .ok_or_else(|| {
                    format!(
                        "Failed to connect to data provider {} at {server}:{}: no server answers",
                        provider.name,
                        port.unwrap_or_default()
                    )
                })?;
            Ok(cluster)
        };
        Ok((cluster_of(&project.source)?, cluster_of(&project.target)?))
    }

    /// The end of `Starting`: resolve the project's providers and secrets as DMS would, then
    /// replicate natively from the start position.
    async fn begin_replication(&self, state: &State, mut migration: Migration) -> Migration {
        let resolved = self.clusters_of(state, &migration);
        let (source, target) = match resolved {
            Ok(pair) => pair,
            Err(message) => return Self::failed(migration, message),
        };
        let start = match BinlogPosition::from_start_position(&migration.start_position) {
            Ok(start) => start,
            Err(e) => {
                let message = format!(
                    "Invalid CDC start position {}: {e}",
                    migration.start_position
                );
                return Self::failed(migration, message);
            }
        };
        let (Some(source_endpoint), Some(target_endpoint)) = (
            self.sandbox.endpoint(&source),
            self.sandbox.endpoint(&target),
        ) else {
            return Self::failed(migration, "a data provider's server is gone".into());
        };
        let engine = match self.native(&source, &target) {
            Ok(engine) => engine,
            Err(message) => return Self::failed(migration, message),
        };
        self.sandbox.tune_replica(&target).await;
        let request = CdcRequest {
            name: migration.name.clone(),
            source: source_endpoint,
            target: target_endpoint,
            start,
            settings: ReplicationSpec::Native(NativeReplication {
                source_secret_arn: REPLICATION_SECRET_ARN.into(),
                target_secret_arn: ADMIN_SECRET_ARN.into(),
            }),
            tags: Vec::new(),
        };
        use aurora_core::ports::Replication;
        let handle = match engine.ensure_cdc(&request).await {
            Ok(handle) => handle,
            Err(e) => return Self::failed(migration, format!("Failed to start replication: {e}")),
        };
        if let Err(e) = engine.start(&handle).await {
            return Self::failed(migration, format!("Failed to start replication: {e}"));
        }
        migration.native = Some((source, target, handle));
        migration.status = Status::Running;
        migration.since = Instant::now();
        migration
    }

    /// A coarse refresh of the published latency; a replica thread that stopped fails the
    /// migration with its error, as DMS reports a failed task.
    async fn refresh(&self, mut migration: Migration) -> Migration {
        let due = migration
            .refreshed
            .is_none_or(|at| at.elapsed() >= self.timings.latency_refresh);
        if !due {
            return migration;
        }
        let Some((source, target, handle)) = migration.native.clone() else {
            return migration;
        };
        let status: Result<ReplicationStatus, String> = match self.native(&source, &target) {
            Ok(engine) => aurora_core::ports::Replication::status(&engine, &handle)
                .await
                .map_err(|e| e.to_string()),
            Err(message) => Err(message),
        };
        match status {
            Ok(status) if status.state == ReplicationState::Failed => Self::failed(
                migration,
                format!(
                    "Replication stopped: {}",
                    status
                        .last_failure
                        .unwrap_or_else(|| status.status_text.clone())
                ),
            ),
            Ok(status) => {
                migration.refreshes += 1;
                let missing = self.timings.latency_missing_one_in > 0
                    && migration
                        .refreshes
                        .is_multiple_of(self.timings.latency_missing_one_in);
                migration.latency = if missing {
                    None
                } else {
                    status.cdc_latency_seconds.map(|s| s as i64)
                };
                migration.refreshed = Some(Instant::now());
                migration
            }
            // The server did not answer this time: keep the old figure, as a metric lags.
            Err(_) => migration,
        }
    }

    async fn end_replication(&self, mut migration: Migration) -> Migration {
        if let Some((source, target, handle)) = &migration.native {
            if let Ok(engine) = self.native(source, target) {
                if let Err(e) = aurora_core::ports::Replication::stop(&engine, handle).await {
                    return Self::failed(migration, format!("Failed to stop replication: {e}"));
                }
                self.sandbox.restore_durability(target).await;
            }
        }
        migration.status = Status::Stopped;
        migration.since = Instant::now();
        migration.stopped = Some(OffsetDateTime::now_utc());
        migration.latency = None;
        migration
    }
}

fn already_exists(what: &str, name: &str) -> Fault {
    fault(
        "ResourceAlreadyExistsFault",
        format!("{what} {name} already exists"),
    )
}

fn create_provider(state: &mut State, body: &Value, now: OffsetDateTime) -> Result<Value, Fault> {
    let name = str_field(body, "DataProviderName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("data-provider-{}", resource_id().to_lowercase()));
    let engine = required(body, "Engine")?;
    if !["aurora", "mysql", "mariadb"].contains(&engine) {
        return Err(fault(
            "InvalidParameterValueException",
            format!("the sandbox's DMS has MySQL-family data providers only, not {engine}"),
        ));
    }
    let settings = body
        .get("Settings")
        .filter(|s| s.get("MySqlSettings").is_some())
        .cloned()
        .ok_or_else(|| {
            fault(
                "InvalidParameterValueException",
                "Settings.MySqlSettings is required for a MySQL-family engine",
            )
        })?;
    if state.providers.contains_key(&name) {
        return Err(already_exists("data provider", &name));
    }
    let provider = Provider {
        arn: format!("{ARN_PREFIX}:data-provider:{}", resource_id()),
        name: name.clone(),
        created: now,
        engine: engine.to_string(),
        settings,
    };
    let output = json!({ "DataProvider": provider_json(&provider) });
    state.providers.insert(name, provider);
    Ok(output)
}

fn provider_json(p: &Provider) -> Value {
    json!({
        "DataProviderName": p.name,
        "DataProviderArn": p.arn,
        "DataProviderCreationTime": iso(p.created),
        "Engine": p.engine,
        "Settings": p.settings,
    })
}

fn create_profile(state: &mut State, body: &Value, now: OffsetDateTime) -> Result<Value, Fault> {
    let name = str_field(body, "InstanceProfileName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("instance-profile-{}", resource_id().to_lowercase()));
    if state.profiles.contains_key(&name) {
        return Err(already_exists("instance profile", &name));
    }
    let arn = format!("{ARN_PREFIX}:instance-profile:{}", resource_id());
    let mut profile = json!({
        "InstanceProfileName": name,
        "InstanceProfileArn": arn,
        "InstanceProfileCreationTime": iso(now),
        "PubliclyAccessible": body.get("PubliclyAccessible").and_then(Value::as_bool).unwrap_or(false),
        "NetworkType": "IPV4",
    });
    for key in ["SubnetGroupIdentifier", "VpcSecurityGroups", "Description"] {
        if let Some(value) = body.get(key) {
            profile[key] = value.clone();
        }
    }
    let output = json!({ "InstanceProfile": profile });
    state.profiles.insert(
        name.clone(),
        Profile {
            name,
            arn,
            body: profile,
        },
    );
    Ok(output)
}

fn descriptor(state: &State, body: &Value, key: &str) -> Result<Descriptor, Fault> {
    let list = body
        .get(key)
        .and_then(Value::as_array)
        .filter(|l| l.len() == 1)
        .ok_or_else(|| {
            fault(
                "InvalidParameterValueException",
                format!("{key} must hold one data provider"),
            )
        })?;
    let item = &list[0];
    let id = required(item, "DataProviderIdentifier")?;
    let provider =
        find(&state.providers, id, |p| &p.arn).ok_or_else(|| not_found("data provider", id))?;
    Ok(Descriptor {
        provider_arn: provider.arn.clone(),
        secret: str_field(item, "SecretsManagerSecretId").map(str::to_string),
        role: str_field(item, "SecretsManagerAccessRoleArn").map(str::to_string),
    })
}

fn create_project(state: &mut State, body: &Value, now: OffsetDateTime) -> Result<Value, Fault> {
    let name = str_field(body, "MigrationProjectName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("migration-project-{}", resource_id().to_lowercase()));
    if state.projects.contains_key(&name) {
        return Err(already_exists("migration project", &name));
    }
    let source = descriptor(state, body, "SourceDataProviderDescriptors")?;
    let target = descriptor(state, body, "TargetDataProviderDescriptors")?;
    let profile_id = required(body, "InstanceProfileIdentifier")?;
    let profile = find(&state.profiles, profile_id, |p| &p.arn)
        .ok_or_else(|| not_found("instance profile", profile_id))?;
    let project = Project {
        name: name.clone(),
        arn: format!("{ARN_PREFIX}:migration-project:{}", resource_id()),
        created: now,
        source,
        target,
        profile_arn: profile.arn.clone(),
    };
    let output = json!({ "MigrationProject": project_json(state, &project) });
    state.projects.insert(name, project);
    Ok(output)
}

fn project_json(state: &State, p: &Project) -> Value {
    let descriptor = |d: &Descriptor| {
        let name = state
            .providers
            .values()
            .find(|x| x.arn == d.provider_arn)
            .map(|x| x.name.clone());
        json!([{
            "DataProviderArn": d.provider_arn,
            "DataProviderName": name,
            "SecretsManagerSecretId": d.secret,
            "SecretsManagerAccessRoleArn": d.role,
        }])
    };
    let profile_name = state
        .profiles
        .values()
        .find(|x| x.arn == p.profile_arn)
        .map(|x| x.name.clone());
    json!({
        "MigrationProjectName": p.name,
        "MigrationProjectArn": p.arn,
        "MigrationProjectCreationTime": iso(p.created),
        "SourceDataProviderDescriptors": descriptor(&p.source),
        "TargetDataProviderDescriptors": descriptor(&p.target),
        "InstanceProfileArn": p.profile_arn,
        "InstanceProfileName": profile_name,
    })
}

fn create_migration(state: &mut State, body: &Value, now: OffsetDateTime) -> Result<Value, Fault> {
    let name = str_field(body, "DataMigrationName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("data-migration-{}", resource_id().to_lowercase()));
    if state.migrations.contains_key(&name) {
        return Err(already_exists("data migration", &name));
    }
    let project_id = required(body, "MigrationProjectIdentifier")?;
    let project = find(&state.projects, project_id, |p| &p.arn)
        .ok_or_else(|| not_found("migration project", project_id))?;
    let kind = required(body, "DataMigrationType")?;
    if kind != "cdc" {
        return Err(fault(
            "InvalidParameterValueException",
            format!("the sandbox's DMS runs cdc data migrations only, not {kind}"),
        ));
    }
    let role = required(body, "ServiceAccessRoleArn")?;
    let start_position = body
        .pointer("/SourceDataSettings/0/CDCStartPosition")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            fault(
                "InvalidParameterValueException",
                "a cdc data migration needs SourceDataSettings[0].CDCStartPosition",
            )
        })?;
    let migration = Migration {
        name: name.clone(),
        arn: format!("{ARN_PREFIX}:data-migration:{}", resource_id()),
        created: now,
        project_arn: project.arn.clone(),
        role: role.to_string(),
        start_position: start_position.to_string(),
        status: Status::Creating,
        since: Instant::now(),
        started: None,
        stopped: None,
        failure: None,
        latency: None,
        refreshed: None,
        refreshes: 0,
        native: None,
    };
    let output = json!({ "DataMigration": migration_json(&migration) });
    state.migrations.insert(name, migration);
    Ok(output)
}

fn migration_json(m: &Migration) -> Value {
    let mut out = json!({
        "DataMigrationName": m.name,
        "DataMigrationArn": m.arn,
        "DataMigrationCreateTime": iso(m.created),
        "ServiceAccessRoleArn": m.role,
        "MigrationProjectArn": m.project_arn,
        "DataMigrationType": "cdc",
        "DataMigrationSettings": { "CloudwatchLogsEnabled": true },
        "SourceDataSettings": [{ "CDCStartPosition": m.start_position }],
        "DataMigrationStatus": m.status.text(),
    });
    if let Some(started) = m.started {
        out["DataMigrationStartTime"] = json!(iso(started));
    }
    if let Some(stopped) = m.stopped {
        out["DataMigrationEndTime"] = json!(iso(stopped));
    }
    if let Some(failure) = &m.failure {
        out["LastFailureMessage"] = json!(failure);
    }
    if m.status == Status::Running {
        let mut statistics = json!({
            "TablesLoaded": 0,
            "TablesLoading": 0,
            "TablesQueued": 0,
            "TablesErrored": 0,
            "FullLoadPercentage": 0,
        });
        if let Some(started) = m.started {
            statistics["StartTime"] = json!(iso(started));
            statistics["ElapsedTimeMillis"] =
                json!((OffsetDateTime::now_utc() - started).whole_milliseconds() as i64);
        }
        if let Some(latency) = m.latency {
            statistics["CDCLatency"] = json!(latency);
        }
        out["DataMigrationStatistics"] = statistics;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_matches_names_and_arns_and_unknown_filters_are_refused() {
        let items = [("a", "arn:a"), ("b", "arn:b")];
        let body = json!({"Filters": [{"Name": "x-identifier", "Values": ["arn:b"]}]});
        let found = filtered(&body, "x-identifier", items.iter(), |i| (i.0, i.1)).unwrap();
        assert_eq!(found, vec![&("b", "arn:b")]);
        let all = filtered(&json!({}), "x-identifier", items.iter(), |i| (i.0, i.1)).unwrap();
        assert_eq!(all.len(), 2);
        assert!(filtered(
            &json!({"Filters": [{"Name": "other", "Values": []}]}),
            "x-identifier",
            items.iter(),
            |i| (i.0, i.1)
        )
        .is_err());
    }

    #[test]
    fn running_migrations_publish_latency_only_when_refreshed_and_sometimes_not_at_all() {
        let mut migration = Migration {
            name: "m".into(),
            arn: "arn:m".into(),
            created: OffsetDateTime::UNIX_EPOCH,
            project_arn: "arn:p".into(),
            role: "arn:aws:iam::000000000000:role/r".into(),
            start_position: "mysql-bin.000001:4".into(),
            status: Status::Running,
            since: Instant::now(),
            started: Some(OffsetDateTime::UNIX_EPOCH),
            stopped: None,
            failure: None,
            latency: None,
            refreshed: None,
            refreshes: 0,
            native: None,
        };
        let body = migration_json(&migration);
        assert_eq!(body["DataMigrationStatus"], "Replication ongoing");
        assert!(body["DataMigrationStatistics"].get("CDCLatency").is_none());
        migration.latency = Some(3);
        assert_eq!(
            migration_json(&migration)["DataMigrationStatistics"]["CDCLatency"],
            3
        );
        migration.status = Status::Stopped;
        assert!(migration_json(&migration)
            .get("DataMigrationStatistics")
            .is_none());
        assert!(migration_json(&migration).get("BinlogPosition").is_none());
    }
}
