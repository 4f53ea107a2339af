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
}

/// A tiny RDS: clusters, instances, snapshots and events.
#[derive(Default)]
pub struct FakeClusters {
    rds: Mutex<Rds>,
    failures: Failures,
}

impl FakeClusters {
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
}

#[derive(Default)]
struct Migrations {
    by_name: BTreeMap<String, (ReplicationHandle, ReplicationStatus, CdcRequest)>,
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

    fn with<T>(
        &self,
        handle: &ReplicationHandle,
        f: impl FnOnce(&mut ReplicationStatus, &mut Vec<String>) -> T,
    ) -> PortResult<T> {
        let mut inner = lock(&self.inner);
        let Migrations { by_name, mutations } = &mut *inner;
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
        self.with(handle, |status, _| status.clone())
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
