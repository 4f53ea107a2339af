//! A tiny RDS: clusters, instances, snapshots and the events of an instance.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::{lock, Failures, EPOCH};
use crate::errors::{PortError, Resource};
use crate::ports::{
    Cluster, ClusterMember, ClusterSnapshot, ClusterWindows, Clusters, CopyParameterGroupRequest,
    CreateInstanceRequest, CreateSnapshotRequest, CustomEndpoint, Instance, InstanceEvent,
    PortResult, RestoreClusterRequest, Tag,
};

/// The windows RDS picks for a restored cluster or a new instance that was given none.
const RDS_PICKED_BACKUP_WINDOW: &str = "23:10-23:40";
const RDS_PICKED_MAINTENANCE_WINDOW: &str = "wed:07:40-wed:08:10";

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
    /// Custom endpoints by identifier.
    custom_endpoints: BTreeMap<String, CustomEndpoint>,
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
                    extras: crate::ports::ClusterExtras {
                        backup_retention_days: Some(14),
                        backup_window: Some("02:00-02:30".into()),
                        maintenance_window: Some("sun:03:00-sun:03:30".into()),
                        ..Default::default()
                    },
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
                        extras: crate::ports::InstanceExtras {
                            maintenance_window: Some(format!(
                                "sun:0{}:00-sun:0{}:30",
                                4 + i,
                                4 + i
                            )),
                            ..Default::default()
                        },
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

    /// Gives `cluster` an available custom endpoint `endpoint` of type `ANY` with
    /// `static_members`.
    pub fn add_custom_endpoint(&self, cluster: &str, endpoint: &str, static_members: &[&str]) {
        lock(&self.rds).custom_endpoints.insert(
            endpoint.into(),
            CustomEndpoint {
                id: endpoint.into(),
                cluster_id: cluster.into(),
                status: "available".into(),
                endpoint_type: "ANY".into(),
                static_members: static_members.iter().map(|m| m.to_string()).collect(),
                excluded_members: Vec::new(),
            },
        );
    }

    pub fn custom_endpoint(&self, id: &str) -> Option<CustomEndpoint> {
        lock(&self.rds).custom_endpoints.get(id).cloned()
    }

    /// Lets the next call of `method` through: a `fail_next` after it hits the call after.
    pub fn pass_next(&self, method: &'static str) {
        self.failures.pass(method);
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
                // What RestoreDBClusterFromSnapshot is given is what the cluster then has.
                db_subnet_group: request.db_subnet_group.clone(),
                vpc_security_group_ids: request.vpc_security_group_ids.clone(),
                cluster_parameter_group: request.cluster_parameter_group.clone(),
                iam_database_authentication: request.iam_database_authentication,
                enabled_cloudwatch_logs_exports: request.enabled_cloudwatch_logs_exports.clone(),
                deletion_protection: request.deletion_protection,
                copy_tags_to_snapshot: request.copy_tags_to_snapshot,
                extras: crate::ports::ClusterExtras {
                    serverless_v2_scaling: request.serverless_v2_scaling,
                    storage_type: request.storage_type.clone(),
                    network_type: request.network_type.clone(),
                    // As RDS: one day of backups unless asked, windows of its own choosing.
                    backup_retention_days: Some(request.backup_retention_days.unwrap_or(1)),
                    backup_window: Some(RDS_PICKED_BACKUP_WINDOW.into()),
                    maintenance_window: Some(RDS_PICKED_MAINTENANCE_WINDOW.into()),
                    ..Default::default()
                },
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
                availability_zone: request.availability_zone.clone(),
                publicly_accessible: request.publicly_accessible,
                storage_encrypted: true,
                extras: crate::ports::InstanceExtras {
                    ca_certificate: request.ca_certificate.clone(),
                    performance_insights: request.performance_insights.clone(),
                    monitoring_interval: 0,
                    maintenance_window: Some(
                        request
                            .maintenance_window
                            .clone()
                            .unwrap_or_else(|| RDS_PICKED_MAINTENANCE_WINDOW.into()),
                    ),
                },
                ..Instance::default()
            },
        );
        rds.instance_requests
            .insert(request.instance_id.clone(), request.clone());
        rds.mutations
            .push(format!("create_instance {}", request.instance_id));
        Ok(())
    }

    async fn set_windows(&self, cluster_id: &str, windows: &ClusterWindows) -> PortResult<()> {
        self.failures.take("set_windows")?;
        let mut rds = lock(&self.rds);
        let Some(cluster) = rds.clusters.get_mut(cluster_id) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            });
        };
        if windows.backup.is_some() {
            cluster.extras.backup_window = windows.backup.clone();
        }
        if windows.maintenance.is_some() {
            cluster.extras.maintenance_window = windows.maintenance.clone();
        }
        rds.mutations
            .push(format!("set_windows {cluster_id} {windows:?}"));
        Ok(())
    }

    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        self.failures.take("rename_cluster")?;
        let mut rds = lock(&self.rds);
        if rds.clusters.contains_key(to) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Cluster,
                message: to.to_string(),
            });
        }
        let Some(mut cluster) = rds.clusters.remove(from) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: from.to_string(),
            });
        };
        cluster.id = to.to_string();
        cluster.endpoint = Some(format!("{to}.cluster-abc.eu-west-1.rds.amazonaws.com"));
        for instance in rds.instances.values_mut() {
            if instance.cluster_id.as_deref() == Some(from) {
                instance.cluster_id = Some(to.to_string());
            }
        }
        for endpoint in rds.custom_endpoints.values_mut() {
            if endpoint.cluster_id == from {
                endpoint.cluster_id = to.to_string();
            }
        }
        rds.clusters.insert(to.to_string(), cluster);
        rds.mutations.push(format!("rename_cluster {from} -> {to}"));
        Ok(())
    }

    async fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>> {
        self.failures.take("custom_endpoints")?;
        Ok(lock(&self.rds)
            .custom_endpoints
            .values()
            .filter(|e| e.cluster_id == cluster_id)
            .cloned()
            .collect())
    }

    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        self.failures.take("create_custom_endpoint")?;
        let mut rds = lock(&self.rds);
        if rds.custom_endpoints.contains_key(&endpoint.id) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Cluster,
                message: endpoint.id.clone(),
            });
        }
        if !rds.clusters.contains_key(&endpoint.cluster_id) {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: endpoint.cluster_id.clone(),
            });
        }
        let member = |id: &String| {
            rds.instances
                .get(id)
                .is_some_and(|i| i.cluster_id.as_deref() == Some(endpoint.cluster_id.as_str()))
        };
        if let Some(stranger) = endpoint
            .static_members
            .iter()
            .chain(&endpoint.excluded_members)
            .find(|m| !member(m))
        {
            return Err(PortError::InvalidRequest(format!(
                "{stranger} is not an instance of {}",
                endpoint.cluster_id
            )));
        }
        let created = CustomEndpoint {
            status: "available".into(),
            ..endpoint.clone()
        };
        rds.custom_endpoints.insert(endpoint.id.clone(), created);
        rds.mutations.push(format!(
            "create_custom_endpoint {} on {}",
            endpoint.id, endpoint.cluster_id
        ));
        Ok(())
    }

    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        self.failures.take("delete_custom_endpoint")?;
        let mut rds = lock(&self.rds);
        if rds.custom_endpoints.remove(id).is_none() {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: id.to_string(),
            });
        }
        rds.mutations.push(format!("delete_custom_endpoint {id}"));
        Ok(())
    }

    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        self.failures.take("rename_instance")?;
        let mut rds = lock(&self.rds);
        if rds.instances.contains_key(to) {
            return Err(PortError::AlreadyExists {
                resource: Resource::Instance,
                message: to.to_string(),
            });
        }
        let Some(mut instance) = rds.instances.remove(from) else {
            return Err(PortError::NotFound {
                resource: Resource::Instance,
                message: from.to_string(),
            });
        };
        instance.id = to.to_string();
        instance.endpoint = Some(format!("{to}.abc.eu-west-1.rds.amazonaws.com"));
        for cluster in rds.clusters.values_mut() {
            for member in &mut cluster.members {
                if member.instance_id == from {
                    member.instance_id = to.to_string();
                }
            }
        }
        rds.instances.insert(to.to_string(), instance);
        rds.mutations
            .push(format!("rename_instance {from} -> {to}"));
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
