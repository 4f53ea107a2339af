//! In-memory ports for tests: a tiny RDS, replication engine, DNS zone and clock, each recording
//! the calls that change something so tests can assert "nothing was created".
//!
//! Compiled for this crate's tests and, with the `fakes` feature, for other crates' tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::errors::{PortError, Resource};
use crate::ports::*;

/// The fakes' "now" at start: resources created by the fakes carry this creation time.
pub const EPOCH: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

/// A valid state document (spec + execution) for a DMS migration of `source`.
pub fn state_document(source: &str, execution: &str) -> Value {
    json!({
        "sourceClusterId": source,
        "replication": {
            "engine": "dms",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-data-migration",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf",
            "instanceProfile": { "subnetGroupIdentifier": "dms-private", "vpcSecurityGroupIds": ["sg-0123456789abcdef0"] }
        },
        "switchover": { "mode": "auto" },
        "dns": { "hostedZoneId": "Z0123456789ABCDEFGHIJ", "recordName": "db.example.com", "ttlSeconds": 30 },
        "execution": { "name": execution }
    })
}

/// Failures to inject, per method name, consumed in order.
#[derive(Default)]
struct Failures(Mutex<HashMap<&'static str, VecDeque<PortError>>>);

impl Failures {
    fn push(&self, method: &'static str, error: PortError) {
        lock(&self.0).entry(method).or_default().push_back(error);
    }
    fn take(&self, method: &'static str) -> PortResult<()> {
        match lock(&self.0).get_mut(method).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct FakeClock(Mutex<Option<OffsetDateTime>>);

impl FakeClock {
    pub fn advance(&self, seconds: i64) {
        let mut now = lock(&self.0);
        *now = Some(now.unwrap_or(EPOCH) + Duration::seconds(seconds));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        lock(&self.0).unwrap_or(EPOCH)
    }
}

/// Sleeping on the fake clock returns at once and moves the clock on by the duration.
#[async_trait]
impl Sleeper for FakeClock {
    async fn sleep(&self, duration: std::time::Duration) {
        let mut now = lock(&self.0);
        *now = Some(now.unwrap_or(EPOCH) + duration);
    }
}

#[derive(Default)]
struct Rds {
    clusters: BTreeMap<String, Cluster>,
    instances: BTreeMap<String, Instance>,
    snapshots: BTreeMap<String, (ClusterSnapshot, Vec<Tag>)>,
    parameter_groups: Vec<String>,
    restores: BTreeMap<String, RestoreClusterRequest>,
    instance_requests: BTreeMap<String, CreateInstanceRequest>,
    events: BTreeMap<String, Vec<InstanceEvent>>,
    mutations: Vec<String>,
    /// Resource ids set by hand; any other cluster has its stand-in resource id.
    resource_ids: BTreeMap<String, String>,
}

/// A tiny RDS: clusters, instances, snapshots and events.
#[derive(Default)]
pub struct FakeClusters {
    rds: Mutex<Rds>,
    failures: Failures,
}

impl FakeClusters {
    /// Gives `cluster` the resource id `resource_id` (as in a recorded AWS Config event).
    pub fn set_resource_id(&self, cluster: &str, resource_id: &str) {
        lock(&self.rds)
            .resource_ids
            .insert(cluster.to_string(), resource_id.to_string());
    }

    /// An unencrypted Aurora MySQL 3 cluster `source` with a writer and two readers.
    pub fn with_source(source: &str) -> Self {
        let fake = Self::default();
        {
            let mut rds = lock(&fake.rds);
            let members = [
                ("writer", true, 0, "db.r6g.xlarge"),
                ("reader-1", false, 1, "db.r6g.large"),
                ("reader-2", false, 2, "db.r6g.large"),
            ];
            rds.clusters.insert(
                source.to_string(),
                Cluster {
                    id: source.to_string(),
                    arn: format!("arn:aws:rds:eu-west-1:123456789012:cluster:{source}"),
                    status: "available".into(),
                    engine: "aurora-mysql".into(),
                    engine_version: "8.0.mysql_aurora.3.05.2".into(),
                    port: Some(3306),
                    db_subnet_group: Some("private".into()),
                    vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
                    cluster_parameter_group: Some(format!("{source}-params")),
                    iam_database_authentication: true,
                    enabled_cloudwatch_logs_exports: vec!["audit".into(), "error".into()],
                    deletion_protection: true,
                    copy_tags_to_snapshot: true,
                    tags: vec![
                        Tag::new("team", "payments"),
                        Tag::new("aws:cloudformation:stack-name", "db"),
                    ],
                    endpoint: Some(format!("{source}.cluster-abc.eu-west-1.rds.amazonaws.com")),
                    reader_endpoint: Some(format!(
                        "{source}.cluster-ro-abc.eu-west-1.rds.amazonaws.com"
                    )),
                    created_at: Some(EPOCH - Duration::days(400)),
                    members: members
                        .iter()
                        .map(|(name, writer, tier, _)| ClusterMember {
                            instance_id: format!("{source}-{name}"),
                            is_writer: *writer,
                            promotion_tier: Some(*tier),
                        })
                        .collect(),
                    ..Cluster::default()
                },
            );
            for (i, (name, _, tier, class)) in members.iter().enumerate() {
                let id = format!("{source}-{name}");
                rds.instances.insert(
                    id.clone(),
                    Instance {
                        id,
                        cluster_id: Some(source.to_string()),
                        class: class.to_string(),
                        engine: "aurora-mysql".into(),
                        status: "available".into(),
                        promotion_tier: Some(*tier),
                        parameter_group: Some(format!("{source}-instance-params")),
                        availability_zone: Some(format!("eu-west-1{}", ['a', 'b', 'c'][i])),
                        ..Instance::default()
                    },
                );
            }
        }
        fake
    }

    /// Makes the next call of `method` fail with `error`.
    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    /// The calls that created or changed something, in order.
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.rds).mutations.clone()
    }

    pub fn snapshot_tags(&self, id: &str) -> Vec<Tag> {
        lock(&self.rds)
            .snapshots
            .get(id)
            .map(|s| s.1.clone())
            .unwrap_or_default()
    }

    pub fn add_snapshot(&self, id: &str, cluster: &str, status: &str) {
        let snapshot = ClusterSnapshot {
            id: id.into(),
            arn: format!("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:{id}"),
            cluster_id: cluster.into(),
            status: status.into(),
            percent_progress: 0,
            created_at: Some(EPOCH),
        };
        lock(&self.rds)
            .snapshots
            .insert(id.into(), (snapshot, Vec::new()));
    }

    pub fn set_snapshot_status(&self, id: &str, status: &str) {
        if let Some((s, _)) = lock(&self.rds).snapshots.get_mut(id) {
            s.status = status.into();
        }
    }

    pub fn finish_snapshots(&self) {
        for (s, _) in lock(&self.rds).snapshots.values_mut() {
            s.status = "available".into();
            s.percent_progress = 100;
        }
    }

    /// Every cluster and instance still creating becomes available.
    pub fn finish_restores(&self) {
        let mut rds = lock(&self.rds);
        for c in rds.clusters.values_mut().filter(|c| c.status == "creating") {
            c.status = "available".into();
        }
        for i in rds
            .instances
            .values_mut()
            .filter(|i| i.status == "creating")
        {
            i.status = "available".into();
        }
    }

    pub fn set_cluster_status(&self, id: &str, status: &str) {
        if let Some(c) = lock(&self.rds).clusters.get_mut(id) {
            c.status = status.into();
        }
    }

    pub fn set_cluster_encrypted(&self, id: &str, encrypted: bool) {
        if let Some(c) = lock(&self.rds).clusters.get_mut(id) {
            c.storage_encrypted = encrypted;
        }
    }

    /// Changes a cluster in place (engine, encryption, backtrack, tags …).
    pub fn update_cluster(&self, id: &str, f: impl FnOnce(&mut Cluster)) {
        if let Some(c) = lock(&self.rds).clusters.get_mut(id) {
            f(c);
        }
    }

    pub fn update_instance(&self, id: &str, f: impl FnOnce(&mut Instance)) {
        if let Some(instance) = lock(&self.rds).instances.get_mut(id) {
            f(instance);
        }
    }

    /// An instance of another cluster (or of none).
    pub fn add_instance(&self, id: &str, cluster: Option<&str>) {
        let instance = Instance {
            id: id.into(),
            cluster_id: cluster.map(str::to_string),
            class: "db.r6g.large".into(),
            engine: "aurora-mysql".into(),
            status: "available".into(),
            ..Instance::default()
        };
        lock(&self.rds).instances.insert(id.into(), instance);
    }

    pub fn cluster(&self, id: &str) -> Option<Cluster> {
        lock(&self.rds).clusters.get(id).cloned()
    }

    /// A cluster we did not create (no owner tag).
    pub fn add_foreign_cluster(&self, id: &str) {
        let cluster = Cluster {
            id: id.into(),
            status: "available".into(),
            engine: "aurora-mysql".into(),
            ..Cluster::default()
        };
        lock(&self.rds).clusters.insert(id.into(), cluster);
    }

    pub fn add_event(&self, instance_id: &str, seconds_after_epoch: i64, message: &str) {
        lock(&self.rds)
            .events
            .entry(instance_id.into())
            .or_default()
            .push(InstanceEvent {
                time: EPOCH + Duration::seconds(seconds_after_epoch),
                message: message.into(),
            });
    }

    pub fn restore_request(&self, cluster_id: &str) -> RestoreClusterRequest {
        lock(&self.rds)
            .restores
            .get(cluster_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn instance_request(&self, instance_id: &str) -> CreateInstanceRequest {
        lock(&self.rds)
            .instance_requests
            .get(instance_id)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl Clusters for FakeClusters {
    async fn describe_cluster(&self, cluster_id: &str) -> PortResult<Option<Cluster>> {
        self.failures.take("describe_cluster")?;
        Ok(lock(&self.rds).clusters.get(cluster_id).cloned())
    }

    async fn describe_instance(&self, instance_id: &str) -> PortResult<Option<Instance>> {
        self.failures.take("describe_instance")?;
        Ok(lock(&self.rds).instances.get(instance_id).cloned())
    }

    async fn describe_cluster_snapshot(
        &self,
        snapshot_id: &str,
    ) -> PortResult<Option<ClusterSnapshot>> {
        self.failures.take("describe_cluster_snapshot")?;
        Ok(lock(&self.rds)
            .snapshots
            .get(snapshot_id)
            .map(|s| s.0.clone()))
    }

    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot> {
        self.failures.take("create_cluster_snapshot")?;
        let mut rds = lock(&self.rds);
        if !rds.clusters.contains_key(&request.cluster_id) {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: request.cluster_id.clone(),
            });
        }
        if rds.snapshots.contains_key(&request.snapshot_id) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Snapshot,
                message: request.snapshot_id.clone(),
            });
        }
        let snapshot = ClusterSnapshot {
            id: request.snapshot_id.clone(),
            arn: format!(
                "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:{}",
                request.snapshot_id
            ),
            cluster_id: request.cluster_id.clone(),
            status: "creating".into(),
            percent_progress: 0,
            created_at: Some(EPOCH),
        };
        rds.snapshots.insert(
            request.snapshot_id.clone(),
            (snapshot.clone(), request.tags.clone()),
        );
        rds.mutations
            .push(format!("create_cluster_snapshot {}", request.snapshot_id));
        Ok(snapshot)
    }

    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()> {
        self.failures.take("copy_cluster_parameter_group")?;
        let mut rds = lock(&self.rds);
        if rds.parameter_groups.contains(&request.target_group) {
            return Err(PortError::AlreadyExists {
                resource: Resource::ParameterGroup,
                message: request.target_group.clone(),
            });
        }
        rds.parameter_groups.push(request.target_group.clone());
        rds.mutations.push(format!(
            "copy_cluster_parameter_group {} -> {}",
            request.source_group, request.target_group
        ));
        Ok(())
    }

    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()> {
        self.failures.take("restore_cluster")?;
        let mut rds = lock(&self.rds);
        if rds.clusters.contains_key(&request.cluster_id) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Cluster,
                message: request.cluster_id.clone(),
            });
        }
        let id = request.cluster_id.clone();
        rds.clusters.insert(
            id.clone(),
            Cluster {
                arn: format!("arn:aws:rds:eu-west-1:123456789012:cluster:{id}"),
                status: "creating".into(),
                engine: request.engine.clone(),
                engine_version: request.engine_version.clone(),
                storage_encrypted: true,
                kms_key_id: Some(
                    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                        .into(),
                ),
                port: request.port,
                tags: request.tags.clone(),
                endpoint: Some(format!("{id}.cluster-abc.eu-west-1.rds.amazonaws.com")),
                created_at: Some(EPOCH),
                id: id.clone(),
                ..Cluster::default()
            },
        );
        rds.restores.insert(id.clone(), request.clone());
        rds.mutations.push(format!("restore_cluster {id}"));
        Ok(())
    }

    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()> {
        self.failures.take("create_instance")?;
        let mut rds = lock(&self.rds);
        if rds.instances.contains_key(&request.instance_id) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Instance,
                message: request.instance_id.clone(),
            });
        }
        let Some(cluster) = rds.clusters.get_mut(&request.cluster_id) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: request.cluster_id.clone(),
            });
        };
        let is_writer = cluster.members.is_empty();
        cluster.members.push(ClusterMember {
            instance_id: request.instance_id.clone(),
            is_writer,
            promotion_tier: request.promotion_tier,
        });
        rds.instances.insert(
            request.instance_id.clone(),
            Instance {
                id: request.instance_id.clone(),
                cluster_id: Some(request.cluster_id.clone()),
                class: request.class.clone(),
                engine: request.engine.clone(),
                status: "creating".into(),
                promotion_tier: request.promotion_tier,
                parameter_group: request.parameter_group.clone(),
                storage_encrypted: true,
                ..Instance::default()
            },
        );
        rds.instance_requests
            .insert(request.instance_id.clone(), request.clone());
        rds.mutations
            .push(format!("create_instance {}", request.instance_id));
        Ok(())
    }

    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>> {
        self.failures.take("instance_events")?;
        let rds = lock(&self.rds);
        let mut events: Vec<InstanceEvent> = rds
            .events
            .get(instance_id)
            .into_iter()
            .flatten()
            .filter(|e| e.time >= since)
            .cloned()
            .collect();
        events.sort_by_key(|e| e.time);
        Ok(events)
    }

    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        self.failures.take("cluster_id_by_resource_id")?;
        let rds = lock(&self.rds);
        Ok(rds
            .clusters
            .keys()
            .find(|id| {
                rds.resource_ids
                    .get(*id)
                    .cloned()
                    .unwrap_or_else(|| crate::naming::stand_in_resource_id(id))
                    == resource_id
            })
            .cloned())
    }
}

#[derive(Default)]
struct Migrations {
    by_name: BTreeMap<String, (ReplicationHandle, ReplicationStatus, CdcRequest)>,
    /// Statuses `status` reports next, one per call, before the set status.
    queued: BTreeMap<String, VecDeque<ReplicationStatus>>,
    mutations: Vec<String>,
}

/// A replication engine whose state tests set by hand.
#[derive(Default)]
pub struct FakeReplication {
    inner: Mutex<Migrations>,
    failures: Failures,
    /// State a new replication starts in (default `Ready`).
    pub initial_state: Mutex<Option<ReplicationState>>,
}

impl FakeReplication {
    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.inner).mutations.clone()
    }

    pub fn request(&self, name: &str) -> Option<CdcRequest> {
        lock(&self.inner).by_name.get(name).map(|m| m.2.clone())
    }

    /// Sets the state, lag and failure message the next `status` calls report.
    pub fn set_status(
        &self,
        name: &str,
        state: ReplicationState,
        lag: Option<u64>,
        failure: Option<&str>,
    ) {
        if let Some((_, status, _)) = lock(&self.inner).by_name.get_mut(name) {
            status.state = state;
            status.status_text = format!("{state:?}").to_uppercase();
            status.cdc_latency_seconds = lag;
            status.last_failure = failure.map(str::to_string);
        }
    }

    /// Makes the next `status` calls of `name` report `statuses`, one per call, in order; after
    /// them the status set by [`Self::set_status`] (or the last queued one) is reported.
    pub fn queue_statuses(&self, name: &str, statuses: Vec<ReplicationStatus>) {
        let mut inner = lock(&self.inner);
        if let (Some(last), Some((_, status, _))) = (statuses.last(), inner.by_name.get_mut(name)) {
            *status = last.clone();
        }
        inner
            .queued
            .entry(name.to_string())
            .or_default()
            .extend(statuses);
    }

    /// A replication that already exists (as if created by an earlier step).
    pub fn add_existing(&self, name: &str, state: ReplicationState) -> ReplicationHandle {
        let handle = ReplicationHandle {
            engine: "fake".into(),
            id: format!("arn:aws:dms:eu-west-1:123456789012:data-migration:{name}"),
            name: name.into(),
            resources: Vec::new(),
        };
        let status = ReplicationStatus {
            state,
            status_text: format!("{state:?}").to_uppercase(),
            cdc_latency_seconds: None,
            last_failure: None,
            positions: None,
        };
        let request = CdcRequest {
            name: name.into(),
            source: DatabaseEndpoint {
                cluster_id: "source".into(),
                host: "source".into(),
                port: 3306,
            },
            target: DatabaseEndpoint {
                cluster_id: "target".into(),
                host: "target".into(),
                port: 3306,
            },
            start: crate::BinlogPosition::new("mysql-bin-changelog.000001", 4),
            settings: crate::spec::ReplicationSpec::Native(crate::spec::NativeReplication {
                source_secret_arn: String::new(),
                target_secret_arn: String::new(),
            }),
            tags: Vec::new(),
        };
        lock(&self.inner)
            .by_name
            .insert(name.into(), (handle.clone(), status, request));
        handle
    }

    fn with<T>(
        &self,
        handle: &ReplicationHandle,
        f: impl FnOnce(&mut ReplicationStatus, &mut Vec<String>) -> T,
    ) -> PortResult<T> {
        let mut inner = lock(&self.inner);
        let Migrations {
            by_name, mutations, ..
        } = &mut *inner;
        match by_name.get_mut(&handle.name) {
            Some((_, status, _)) => Ok(f(status, mutations)),
            None => Err(PortError::NotFound {
                resource: Resource::Migration,
                message: handle.name.clone(),
            }),
        }
    }
}

#[async_trait]
impl Replication for FakeReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        self.failures.take("ensure_cdc")?;
        let initial = lock(&self.initial_state).unwrap_or(ReplicationState::Ready);
        let mut inner = lock(&self.inner);
        if let Some((handle, _, _)) = inner.by_name.get(&request.name) {
            return Ok(handle.clone());
        }
        let handle = ReplicationHandle {
            engine: "fake".into(),
            id: format!(
                "arn:aws:dms:eu-west-1:123456789012:data-migration:{}",
                request.name
            ),
            name: request.name.clone(),
            resources: Vec::new(),
        };
        let status = ReplicationStatus {
            state: initial,
            status_text: format!("{initial:?}").to_uppercase(),
            cdc_latency_seconds: None,
            last_failure: None,
            positions: None,
        };
        inner.by_name.insert(
            request.name.clone(),
            (handle.clone(), status, request.clone()),
        );
        inner.mutations.push(format!(
            "ensure_cdc {} from {}",
            request.name,
            request.start.start_position()
        ));
        Ok(handle)
    }

    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("start")?;
        self.with(handle, |status, mutations| {
            status.state = ReplicationState::Starting;
            mutations.push(format!("start {}", handle.name));
        })
    }

    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        self.failures.take("status")?;
        let queued = lock(&self.inner)
            .queued
            .get_mut(&handle.name)
            .and_then(VecDeque::pop_front);
        match queued {
            Some(status) => self.with(handle, |_, _| status),
            None => self.with(handle, |status, _| status.clone()),
        }
    }

    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("stop")?;
        self.with(handle, |status, mutations| {
            status.state = ReplicationState::Stopped;
            mutations.push(format!("stop {}", handle.name));
        })
    }

    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("remove")?;
        let mut inner = lock(&self.inner);
        if inner.by_name.remove(&handle.name).is_some() {
            inner.mutations.push(format!("remove {}", handle.name));
        }
        Ok(())
    }
}

/// Metrics that report a fixed sample (or an error).
#[derive(Default)]
pub struct FakeLagMetrics {
    pub sample: Mutex<Option<LagSample>>,
    failures: Failures,
}

impl FakeLagMetrics {
    pub fn fail_next(&self, error: PortError) {
        self.failures.push("cdc_latency", error);
    }
}

#[async_trait]
impl LagMetrics for FakeLagMetrics {
    async fn cdc_latency(
        &self,
        _handle: &ReplicationHandle,
        _since: OffsetDateTime,
    ) -> PortResult<Option<LagSample>> {
        self.failures.take("cdc_latency")?;
        Ok(*lock(&self.sample))
    }
}

#[derive(Default)]
struct Zone {
    records: BTreeMap<String, DnsRecord>,
    changes: BTreeMap<String, ChangeStatus>,
    mutations: Vec<String>,
}

/// One hosted zone; changes stay PENDING until [`FakeDns::sync_all`].
#[derive(Default)]
pub struct FakeDns {
    zone: Mutex<Zone>,
    failures: Failures,
}

impl FakeDns {
    pub fn with_record(name: &str, record_type: &str, value: Option<&str>) -> Self {
        let fake = Self::default();
        lock(&fake.zone).records.insert(
            name.to_string(),
            DnsRecord {
                name: name.into(),
                record_type: record_type.into(),
                value: value.map(str::to_string),
                ttl: Some(300),
            },
        );
        fake
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    pub fn record(&self, name: &str) -> Option<DnsRecord> {
        lock(&self.zone).records.get(name).cloned()
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.zone).mutations.clone()
    }

    pub fn sync_all(&self) {
        for status in lock(&self.zone).changes.values_mut() {
            *status = ChangeStatus::Insync;
        }
    }
}

#[async_trait]
impl Dns for FakeDns {
    async fn resolve(&self, _zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>> {
        self.failures.take("resolve")?;
        Ok(lock(&self.zone).records.get(name).cloned())
    }

    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange> {
        self.failures.take("upsert_cname")?;
        let mut zone = lock(&self.zone);
        let id = format!("C{:04}", zone.changes.len() + 1);
        zone.records.insert(
            name.into(),
            DnsRecord {
                name: name.into(),
                record_type: "CNAME".into(),
                value: Some(value.into()),
                ttl: Some(ttl_seconds),
            },
        );
        zone.changes.insert(id.clone(), ChangeStatus::Pending);
        zone.mutations.push(format!(
            "upsert {zone_id} {name} CNAME {value} ttl={ttl_seconds}"
        ));
        Ok(DnsChange {
            id,
            status: ChangeStatus::Pending,
        })
    }

    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus> {
        self.failures.take("change_status")?;
        lock(&self.zone)
            .changes
            .get(change_id)
            .copied()
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::DnsChange,
                message: change_id.into(),
            })
    }
}

/// KMS keys by every reference that resolves to them (id, ARN, alias). Read-only.
#[derive(Default)]
pub struct FakeKms {
    keys: Mutex<BTreeMap<String, KmsKey>>,
    failures: Failures,
}

/// The ARN of the customer managed key [`FakeKms::with_key`] creates for an alias.
pub fn key_arn(alias: &str) -> String {
    let id = format!("{:08x}-0000-4000-8000-000000000000", fnv(alias));
    format!("arn:aws:kms:eu-west-1:123456789012:key/{id}")
}

fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl FakeKms {
    /// An enabled symmetric customer managed key reachable as `alias`, its id and its ARN; and
    /// the AWS managed `alias/aws/rds`.
    pub fn with_key(alias: &str) -> Self {
        let fake = Self::default();
        fake.add_key(alias, "Enabled", "CUSTOMER");
        fake.add_key("alias/aws/rds", "Enabled", "AWS");
        fake
    }

    pub fn add_key(&self, alias: &str, state: &str, manager: &str) -> KmsKey {
        let arn = key_arn(alias);
        let key = KmsKey {
            key_id: arn.rsplit('/').next().unwrap_or_default().to_string(),
            arn: arn.clone(),
            state: state.into(),
            usage: "ENCRYPT_DECRYPT".into(),
            spec: "SYMMETRIC_DEFAULT".into(),
            manager: manager.into(),
        };
        let mut keys = lock(&self.keys);
        for reference in [alias.to_string(), arn, key.key_id.clone()] {
            keys.insert(reference, key.clone());
        }
        key
    }

    /// Changes every reference's view of the key behind `alias`.
    pub fn update(&self, alias: &str, f: impl Fn(&mut KmsKey)) {
        let arn = key_arn(alias);
        for key in lock(&self.keys).values_mut().filter(|k| k.arn == arn) {
            f(key);
        }
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("describe_key", error);
    }
}

#[async_trait]
impl KmsKeys for FakeKms {
    async fn describe_key(&self, key: &str) -> PortResult<Option<KmsKey>> {
        self.failures.take("describe_key")?;
        Ok(lock(&self.keys).get(key).cloned())
    }
}

#[derive(Default)]
struct ParameterGroups {
    values: BTreeMap<String, BTreeMap<String, ParameterValue>>,
    users: BTreeMap<String, Vec<String>>,
    pending_reboot: BTreeMap<String, Vec<String>>,
}

/// Cluster parameter groups, which clusters use them, and members waiting for a reboot.
#[derive(Default)]
pub struct FakeParameters {
    groups: Mutex<ParameterGroups>,
    failures: Failures,
}

impl FakeParameters {
    /// `<source>-params` with `binlog_format=ROW`, used by `source` alone.
    pub fn for_source(source: &str) -> Self {
        let fake = Self::default();
        let group = format!("{source}-params");
        fake.set(&group, "binlog_format", Some("ROW"));
        fake.set(&group, "read_only", None);
        fake.use_group(source, &group);
        fake
    }

    pub fn set(&self, group: &str, name: &str, value: Option<&str>) {
        lock(&self.groups)
            .values
            .entry(group.into())
            .or_default()
            .insert(
                name.into(),
                ParameterValue {
                    name: name.into(),
                    value: value.map(str::to_string),
                    source: if value.is_some() {
                        "user"
                    } else {
                        "engine-default"
                    }
                    .into(),
                    apply_type: "dynamic".into(),
                },
            );
    }

    pub fn use_group(&self, cluster: &str, group: &str) {
        lock(&self.groups)
            .users
            .entry(group.into())
            .or_default()
            .push(cluster.into());
    }

    pub fn set_pending_reboot(&self, cluster: &str, members: &[&str]) {
        lock(&self.groups).pending_reboot.insert(
            cluster.into(),
            members.iter().map(|m| m.to_string()).collect(),
        );
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

#[async_trait]
impl ClusterParameters for FakeParameters {
    async fn parameter(&self, group: &str, name: &str) -> PortResult<Option<ParameterValue>> {
        self.failures.take("parameter")?;
        let groups = lock(&self.groups);
        match groups.values.get(group) {
            Some(values) => Ok(values.get(name).cloned()),
            // AWS's default groups leave binlog_format OFF; any other unknown group is missing.
            None if group.starts_with("default.") => Ok(Some(ParameterValue {
                name: name.into(),
                value: (name == "binlog_format").then(|| "OFF".to_string()),
                source: "engine-default".into(),
                apply_type: "static".into(),
            })),
            None => Err(PortError::NotFound {
                resource: Resource::ParameterGroup,
                message: group.into(),
            }),
        }
    }

    async fn clusters_using(&self, group: &str) -> PortResult<Vec<String>> {
        self.failures.take("clusters_using")?;
        Ok(lock(&self.groups)
            .users
            .get(group)
            .cloned()
            .unwrap_or_default())
    }

    async fn members_pending_reboot(&self, cluster_id: &str) -> PortResult<Vec<String>> {
        self.failures.take("members_pending_reboot")?;
        Ok(lock(&self.groups)
            .pending_reboot
            .get(cluster_id)
            .cloned()
            .unwrap_or_default())
    }
}

/// A fixed `binlog retention hours` (or an error), recording who asked.
#[derive(Default)]
pub struct FakeRetention {
    pub hours: Mutex<Option<u32>>,
    pub asked: Mutex<Vec<(String, String)>>,
    failures: Failures,
}

impl FakeRetention {
    pub fn hours(hours: Option<u32>) -> Self {
        let fake = Self::default();
        *lock(&fake.hours) = hours;
        fake
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("retention_hours", error);
    }
}

#[async_trait]
impl BinlogRetention for FakeRetention {
    async fn retention_hours(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<Option<u32>> {
        self.failures.take("retention_hours")?;
        lock(&self.asked).push((endpoint.host.clone(), secret_arn.to_string()));
        Ok(*lock(&self.hours))
    }
}

#[derive(Default)]
struct Fences {
    state: BTreeMap<String, FenceState>,
    saved: BTreeMap<String, FenceRecord>,
    mutations: Vec<String>,
}

/// Clusters' security groups and `read_only`, with the saved record, as the AWS adapter keeps
/// them (the record is saved before anything changes).
#[derive(Default)]
pub struct FakeFence {
    inner: Mutex<Fences>,
    failures: Failures,
}

impl FakeFence {
    /// `cluster` on `sg-0123456789abcdef0` with `read_only` at the engine default in
    /// `<cluster>-params`.
    pub fn for_cluster(cluster: &str) -> Self {
        let fake = Self::default();
        fake.set_state(
            cluster,
            FenceState {
                security_group_ids: vec!["sg-0123456789abcdef0".into()],
                parameter_group: Some(format!("{cluster}-params")),
                read_only: None,
            },
        );
        fake
    }

    pub fn set_state(&self, cluster: &str, state: FenceState) {
        lock(&self.inner).state.insert(cluster.into(), state);
    }

    pub fn state(&self, cluster: &str) -> Option<FenceState> {
        lock(&self.inner).state.get(cluster).cloned()
    }

    pub fn saved(&self, cluster: &str) -> Option<FenceRecord> {
        lock(&self.inner).saved.get(cluster).cloned()
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.inner).mutations.clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    fn state_of<'a>(fences: &'a mut Fences, cluster: &str) -> PortResult<&'a mut FenceState> {
        fences
            .state
            .get_mut(cluster)
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster.into(),
            })
    }
}

#[async_trait]
impl WriteFence for FakeFence {
    async fn current(&self, cluster_id: &str) -> PortResult<FenceState> {
        self.failures.take("current")?;
        let mut inner = lock(&self.inner);
        Self::state_of(&mut inner, cluster_id).map(|s| s.clone())
    }

    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>> {
        self.failures.take("saved_record")?;
        Ok(lock(&self.inner).saved.get(cluster_id).cloned())
    }

    async fn apply(&self, record: &FenceRecord) -> PortResult<()> {
        let mut inner = lock(&self.inner);
        let id = record.cluster_id.clone();
        Self::state_of(&mut inner, &id)?;
        if inner.saved.get(&id) != Some(record) {
            inner.saved.insert(id.clone(), record.clone());
            inner.mutations.push(format!("save_record {id}"));
        }
        // A failure injected here happens after the record is saved, like a real partial apply.
        drop(inner);
        self.failures.take("apply")?;
        let mut inner = lock(&self.inner);
        let Fences {
            state, mutations, ..
        } = &mut *inner;
        let Some(current) = state.get_mut(&id) else {
            return Ok(());
        };
        if let Some(group) = &record.fence_security_group_id {
            if record
                .methods
                .contains(&crate::spec::FenceMethod::SecurityGroup)
                && current.security_group_ids != [group.clone()]
            {
                current.security_group_ids = vec![group.clone()];
                mutations.push(format!("set_security_groups {id} [{group}]"));
            }
        }
        if record.methods.contains(&crate::spec::FenceMethod::ReadOnly)
            && current.read_only.as_deref() != Some("1")
        {
            current.read_only = Some("1".into());
            mutations.push(format!("set_read_only {id} 1"));
        }
        Ok(())
    }

    async fn lift(&self, record: &FenceRecord) -> PortResult<()> {
        self.failures.take("lift")?;
        let mut inner = lock(&self.inner);
        let id = record.cluster_id.clone();
        let Fences {
            state,
            saved,
            mutations,
        } = &mut *inner;
        let Some(current) = state.get_mut(&id) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: id,
            });
        };
        if let Some(original) = &record.original_security_group_ids {
            if current.security_group_ids != *original {
                current.security_group_ids = original.clone();
                mutations.push(format!("set_security_groups {id} [{}]", original.join(",")));
            }
        }
        if record.methods.contains(&crate::spec::FenceMethod::ReadOnly)
            && current.read_only != record.original_read_only
        {
            current.read_only = record.original_read_only.clone();
            mutations.push(format!(
                "set_read_only {id} {}",
                record.original_read_only.as_deref().unwrap_or("<default>")
            ));
        }
        if saved.remove(&id).is_some() {
            mutations.push(format!("forget_record {id}"));
        }
        Ok(())
    }
}

/// Per-table digests of one side, or a verifier that never answers (for timeouts).
#[derive(Default)]
pub struct FakeVerifier {
    pub digests: Mutex<Vec<TableDigest>>,
    pub hang: bool,
    pub asked: Mutex<Vec<(Vec<String>, VerifyDepth)>>,
    failures: Failures,
    /// The server's accounts; by default one application user, the same on every fake.
    pub accounts: Mutex<Vec<crate::ports::Account>>,
}

impl FakeVerifier {
    /// `(database, table, rows, checksum)` rows.
    pub fn with(tables: &[(&str, &str, u64, u64)]) -> Self {
        let fake = Self::default();
        *lock(&fake.accounts) = vec![crate::ports::Account {
            user: "app".into(),
            host: "%".into(),
            authentication_digest: "digest-of-app".into(),
            grants: vec!["GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `app`@`%`".into()],
        }];
        *lock(&fake.digests) = tables
            .iter()
            .map(|(db, table, rows, sum)| TableDigest {
                database: db.to_string(),
                table: table.to_string(),
                rows: *rows,
                checksum: Some(*sum),
            })
            .collect();
        fake
    }

    pub fn hanging() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("table_digests", error);
    }
}

#[async_trait]
impl Verifier for FakeVerifier {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.failures.take("table_digests")?;
        lock(&self.asked).push((databases.to_vec(), depth));
        if self.hang {
            std::future::pending::<()>().await;
        }
        let mut digests: Vec<TableDigest> = lock(&self.digests)
            .iter()
            .filter(|d| databases.is_empty() || databases.contains(&d.database))
            .cloned()
            .map(|mut d| {
                if depth == VerifyDepth::Counts {
                    d.checksum = None;
                }
                d
            })
            .collect();
        digests.sort();
        Ok(digests)
    }

    async fn accounts(&self) -> PortResult<Vec<crate::ports::Account>> {
        self.failures.take("accounts")?;
        let mut accounts = lock(&self.accounts).clone();
        accounts.sort();
        Ok(accounts)
    }
}

/// Records deletions; the clusters themselves live in [`FakeClusters`].
#[derive(Default)]
pub struct FakeRetirement {
    mutations: Mutex<Vec<String>>,
    failures: Failures,
}

impl FakeRetirement {
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.mutations).clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

#[async_trait]
impl ClusterRetirement for FakeRetirement {
    async fn disable_deletion_protection(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("disable_deletion_protection")?;
        lock(&self.mutations).push(format!("disable_deletion_protection {cluster_id}"));
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> PortResult<()> {
        self.failures.take("delete_instance")?;
        lock(&self.mutations).push(format!("delete_instance {instance_id}"));
        Ok(())
    }

    async fn delete_cluster(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("delete_cluster")?;
        lock(&self.mutations).push(format!("delete_cluster {cluster_id}"));
        Ok(())
    }
}

/// The fence's SQL half in memory: every fence is confirmed (unless refused) and its marker
/// written on the source; a marker reaches a target only when the test delivers it.
#[derive(Default)]
pub struct FakeFenceSql {
    inner: Mutex<FenceSqlState>,
    failures: Failures,
}

#[derive(Default)]
struct FenceSqlState {
    /// Markers per cluster (the source's written, the target's delivered).
    markers: BTreeMap<String, Vec<FenceMarker>>,
    requests: Vec<SessionFenceRequest>,
    refusal: Option<String>,
    position: u64,
    bypass: BTreeMap<String, Vec<ReadOnlyBypassUser>>,
    removed: Vec<String>,
    /// Clusters prepared ahead of a fence, in order.
    prepared: Vec<String>,
    /// Targets whose replication stalls once a fence is confirmed.
    stall_when_fenced: Vec<String>,
    /// target → source: markers written on the source are visible on the target.
    links: BTreeMap<String, String>,
}

impl FakeFenceSql {
    /// Confirmation will fail with `reason` until [`FakeFenceSql::confirm_again`].
    pub fn refuse_confirmation(&self, reason: &str) {
        lock(&self.inner).refusal = Some(reason.into());
    }
    pub fn confirm_again(&self) {
        lock(&self.inner).refusal = None;
    }
    pub fn requests(&self) -> Vec<SessionFenceRequest> {
        lock(&self.inner).requests.clone()
    }
    /// The clusters [`FenceSql::prepare`] was called for, in order.
    pub fn prepared(&self) -> Vec<String> {
        lock(&self.inner).prepared.clone()
    }
    pub fn markers(&self, cluster: &str) -> Vec<FenceMarker> {
        lock(&self.inner)
            .markers
            .get(cluster)
            .cloned()
            .unwrap_or_default()
    }
    /// From now on every marker written on `source` is visible on `target`, as a running
    /// replication would make it.
    pub fn replicate(&self, source: &str, target: &str) {
        lock(&self.inner).links.insert(target.into(), source.into());
    }
    /// Markers written on the source no longer reach `target` (a replication that stalled).
    pub fn stop_replicating(&self, target: &str) {
        lock(&self.inner).links.remove(target);
    }
    /// The replication to `target` stalls the moment a fence is confirmed: markers written
    /// before it (the catch-up) arrive, the fence's own never does.
    pub fn stall_when_fenced(&self, target: &str) {
        lock(&self.inner).stall_when_fenced.push(target.into());
    }
    /// The replication applies `marker` on `cluster`.
    pub fn deliver(&self, cluster: &str, marker: &FenceMarker) {
        lock(&self.inner)
            .markers
            .entry(cluster.into())
            .or_default()
            .push(marker.clone());
    }
    pub fn set_bypass_users(&self, cluster: &str, users: Vec<ReadOnlyBypassUser>) {
        lock(&self.inner).bypass.insert(cluster.into(), users);
    }
    /// Clusters whose marker schema was removed, in order.
    pub fn removed(&self) -> Vec<String> {
        lock(&self.inner).removed.clone()
    }
    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

/// Lock records in memory; holders are `Running` unless told otherwise.
#[derive(Default)]
pub struct FakeSourceLock {
    records: Mutex<BTreeMap<String, LockRecord>>,
    statuses: Mutex<BTreeMap<String, HolderStatus>>,
    /// Written just before the next conditional write is evaluated: another execution's racing
    /// write.
    interleaved: Mutex<Option<LockRecord>>,
    writes: Mutex<Vec<LockRecord>>,
    failures: Failures,
}

impl FakeSourceLock {
    pub fn set_status(&self, holder: &str, status: HolderStatus) {
        lock(&self.statuses).insert(holder.to_string(), status);
    }

    pub fn record(&self, resource: &str) -> Option<LockRecord> {
        lock(&self.records).get(resource).cloned()
    }

    /// Stores `record` as it is, as another execution (or a test's history) would have.
    pub fn put(&self, record: LockRecord) {
        lock(&self.records).insert(record.resource.clone(), record);
    }

    pub fn interleave_before_next_write(&self, record: LockRecord) {
        *lock(&self.interleaved) = Some(record);
    }

    /// Every successful write, in order.
    pub fn writes(&self) -> Vec<LockRecord> {
        lock(&self.writes).clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

/// Writes the next marker of `execution` on `cluster`.
fn next_marker(inner: &mut FenceSqlState, cluster: &str, execution: &str) -> FenceMarker {
    let markers = inner.markers.entry(cluster.to_string()).or_default();
    let sequence = markers
        .iter()
        .filter(|m| m.execution == execution)
        .map(|m| m.sequence)
        .max()
        .unwrap_or(0)
        + 1;
    let marker = FenceMarker {
        execution: execution.to_string(),
        sequence,
    };
    markers.push(marker.clone());
    marker
}

#[async_trait]
impl FenceSql for FakeFenceSql {
    async fn prepare(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("prepare")?;
        lock(&self.inner).prepared.push(cluster_id.to_string());
        Ok(())
    }

    async fn write_marker(&self, cluster_id: &str, execution: &str) -> PortResult<FenceMarker> {
        self.failures.take("write_marker")?;
        Ok(next_marker(&mut lock(&self.inner), cluster_id, execution))
    }

    async fn end_sessions_and_confirm(
        &self,
        request: &SessionFenceRequest,
    ) -> PortResult<SessionFenceOutcome> {
        self.failures.take("end_sessions_and_confirm")?;
        let mut inner = lock(&self.inner);
        inner.requests.push(request.clone());
        if let Some(reason) = inner.refusal.clone() {
            return Ok(SessionFenceOutcome::NotConfirmed { reason, rounds: 3 });
        }
        for target in std::mem::take(&mut inner.stall_when_fenced) {
            inner.links.remove(&target);
        }
        let marker = next_marker(&mut inner, &request.cluster_id, &request.execution);
        inner.position += 1000;
        Ok(SessionFenceOutcome::Confirmed(FenceConfirmation {
            position: crate::binlog::BinlogPosition::new(
                "mysql-bin-changelog.000009",
                inner.position,
            ),
            marker,
            sessions_ended: 2,
            rounds: 1,
            read_only: request.read_only,
            ordinary_write_refused: request.read_only.then_some(true),
            confirm_ms: 40,
        }))
    }

    async fn marker_arrived(&self, cluster_id: &str, marker: &FenceMarker) -> PortResult<bool> {
        self.failures.take("marker_arrived")?;
        let source = lock(&self.inner).links.get(cluster_id).cloned();
        Ok(self.markers(cluster_id).contains(marker)
            || source.is_some_and(|s| self.markers(&s).contains(marker)))
    }

    async fn remove_marker_schema(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("remove_marker_schema")?;
        let mut inner = lock(&self.inner);
        inner.markers.remove(cluster_id);
        inner.removed.push(cluster_id.into());
        Ok(())
    }

    async fn read_only_bypass_users(
        &self,
        cluster_id: &str,
    ) -> PortResult<Vec<ReadOnlyBypassUser>> {
        self.failures.take("read_only_bypass_users")?;
        Ok(lock(&self.inner)
            .bypass
            .get(cluster_id)
            .cloned()
            .unwrap_or_default())
    }
}

#[async_trait]
impl SourceLock for FakeSourceLock {
    async fn read(&self, resource: &str) -> PortResult<Option<LockRecord>> {
        self.failures.take("read")?;
        Ok(self.record(resource))
    }

    async fn write_if(
        &self,
        record: &LockRecord,
        expected_version: Option<u64>,
    ) -> PortResult<bool> {
        self.failures.take("write_if")?;
        if let Some(racing) = lock(&self.interleaved).take() {
            self.put(racing);
        }
        let mut records = lock(&self.records);
        if records.get(&record.resource).map(|r| r.version) != expected_version {
            return Ok(false);
        }
        records.insert(record.resource.clone(), record.clone());
        lock(&self.writes).push(record.clone());
        Ok(true)
    }

    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus> {
        self.failures.take("holder_status")?;
        Ok(lock(&self.statuses)
            .get(holder)
            .copied()
            .unwrap_or(HolderStatus::Running))
    }
}
