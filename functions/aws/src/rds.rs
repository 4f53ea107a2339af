//! [`Clusters`] over Amazon RDS: describe clusters, instances and snapshots; snapshot, copy the
//! cluster parameter group, restore encrypted, recreate instances; read an instance's events.

use async_trait::async_trait;
use aurora_core::errors::Resource;
use aurora_core::ports::{
    Cluster, ClusterExtras, ClusterMember, ClusterSnapshot, ClusterWindows, Clusters,
    CopyParameterGroupRequest, CreateInstanceRequest, CreateSnapshotRequest, CustomEndpoint,
    Instance, InstanceEvent, InstanceExtras, PerformanceInsights, PortResult,
    RestoreClusterRequest, ServerlessV2Scaling, Tag,
};
use aws_config::SdkConfig;
use aws_sdk_rds::types::{self as rds, SourceType};
use aws_sdk_rds::Client;
use time::{Duration, OffsetDateTime};

use crate::classify::{classify, found};
use crate::{to_offset, to_smithy};

/// DescribeEvents refuses a StartTime older than this.
const EVENT_RETENTION: Duration = Duration::days(14);

#[derive(Clone, Debug)]
pub struct RdsClusters {
    client: Client,
}

impl RdsClusters {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

fn tags_to_rds(tags: &[Tag]) -> Option<Vec<rds::Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|t| rds::Tag::builder().key(&t.key).value(&t.value).build())
            .collect()
    })
}

fn tags_from_rds(tags: &[rds::Tag]) -> Vec<Tag> {
    tags.iter()
        .filter_map(|t| Some(Tag::new(t.key()?, t.value().unwrap_or_default())))
        .collect()
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn cluster_from_rds(c: &rds::DbCluster) -> Cluster {
    Cluster {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        arn: c.db_cluster_arn().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        engine: c.engine().unwrap_or_default().to_string(),
        engine_version: c.engine_version().unwrap_or_default().to_string(),
        storage_encrypted: c.storage_encrypted().unwrap_or(false),
        kms_key_id: c.kms_key_id().map(str::to_string),
        port: c.port(),
        db_subnet_group: c.db_subnet_group().map(str::to_string),
        vpc_security_group_ids: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect(),
        cluster_parameter_group: c.db_cluster_parameter_group().map(str::to_string),
        iam_database_authentication: c.iam_database_authentication_enabled().unwrap_or(false),
        backtrack_window: c.backtrack_window().unwrap_or(0),
        enabled_cloudwatch_logs_exports: c.enabled_cloudwatch_logs_exports().to_vec(),
        deletion_protection: c.deletion_protection().unwrap_or(false),
        copy_tags_to_snapshot: c.copy_tags_to_snapshot().unwrap_or(false),
        tags: tags_from_rds(c.tag_list()),
        endpoint: c.endpoint().map(str::to_string),
        reader_endpoint: c.reader_endpoint().map(str::to_string),
        created_at: c.cluster_create_time().and_then(to_offset),
        members: c
            .db_cluster_members()
            .iter()
            .filter_map(|m| {
                Some(ClusterMember {
                    instance_id: m.db_instance_identifier()?.to_string(),
                    is_writer: m.is_cluster_writer().unwrap_or(false),
                    promotion_tier: m.promotion_tier(),
                })
            })
            .collect(),
        extras: ClusterExtras {
            serverless_v2_scaling: c.serverless_v2_scaling_configuration().and_then(|s| {
                Some(ServerlessV2Scaling {
                    min_capacity: s.min_capacity()?,
                    max_capacity: s.max_capacity()?,
                    seconds_until_auto_pause: s.seconds_until_auto_pause(),
                })
            }),
            storage_type: c.storage_type().map(str::to_string),
            network_type: c.network_type().map(str::to_string),
            associated_roles: c
                .associated_roles()
                .iter()
                .filter_map(|r| {
                    let arn = r.role_arn()?;
                    Some(match r.feature_name() {
                        Some(feature) if !feature.is_empty() => format!("{arn} ({feature})"),
                        _ => arn.to_string(),
                    })
                })
                .collect(),
            domains: c
                .domain_memberships()
                .iter()
                .filter_map(|d| d.domain().map(str::to_string))
                .collect(),
            backup_retention_days: c.backup_retention_period(),
            backup_window: c.preferred_backup_window().map(str::to_string),
            maintenance_window: c.preferred_maintenance_window().map(str::to_string),
        },
    }
}

fn instance_from_rds(i: &rds::DbInstance) -> Instance {
    Instance {
        id: i.db_instance_identifier().unwrap_or_default().to_string(),
        cluster_id: i.db_cluster_identifier().map(str::to_string),
        class: i.db_instance_class().unwrap_or_default().to_string(),
        engine: i.engine().unwrap_or_default().to_string(),
        status: i.db_instance_status().unwrap_or_default().to_string(),
        promotion_tier: i.promotion_tier(),
        parameter_group: i
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .map(str::to_string),
        availability_zone: i.availability_zone().map(str::to_string),
        publicly_accessible: i.publicly_accessible().unwrap_or(false),
        storage_encrypted: i.storage_encrypted().unwrap_or(false),
        endpoint: i.endpoint().and_then(|e| e.address()).map(str::to_string),
        extras: InstanceExtras {
            ca_certificate: i.ca_certificate_identifier().map(str::to_string),
            performance_insights: i.performance_insights_enabled().unwrap_or(false).then(|| {
                PerformanceInsights {
                    kms_key_id: i.performance_insights_kms_key_id().map(str::to_string),
                    retention_days: i.performance_insights_retention_period(),
                }
            }),
            monitoring_interval: i.monitoring_interval().unwrap_or(0),
            maintenance_window: i.preferred_maintenance_window().map(str::to_string),
        },
    }
}

fn snapshot_from_rds(s: &rds::DbClusterSnapshot) -> ClusterSnapshot {
    ClusterSnapshot {
        id: s
            .db_cluster_snapshot_identifier()
            .unwrap_or_default()
            .to_string(),
        arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
        cluster_id: s.db_cluster_identifier().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        percent_progress: s.percent_progress().unwrap_or(0),
        created_at: s.snapshot_create_time().and_then(to_offset),
    }
}

/// A `CUSTOM` endpoint of DescribeDBClusterEndpoints (writer and reader endpoints are not).
fn custom_endpoint(e: &rds::DbClusterEndpoint) -> Option<CustomEndpoint> {
    (e.endpoint_type() == Some("CUSTOM")).then(|| CustomEndpoint {
        id: e
            .db_cluster_endpoint_identifier()
            .unwrap_or_default()
            .to_string(),
        cluster_id: e.db_cluster_identifier().unwrap_or_default().to_string(),
        status: e.status().unwrap_or_default().to_string(),
        endpoint_type: e.custom_endpoint_type().unwrap_or("ANY").to_string(),
        static_members: e.static_members().to_vec(),
        excluded_members: e.excluded_members().to_vec(),
    })
}

#[async_trait]
impl Clusters for RdsClusters {
    async fn describe_cluster(&self, cluster_id: &str) -> PortResult<Option<Cluster>> {
        let output = found(
            self.client
                .describe_db_clusters()
                .db_cluster_identifier(cluster_id)
                .send()
                .await,
            Resource::Cluster,
            cluster_id,
        )?;
        Ok(output.and_then(|o| o.db_clusters().first().map(cluster_from_rds)))
    }

    async fn describe_instance(&self, instance_id: &str) -> PortResult<Option<Instance>> {
        let output = found(
            self.client
                .describe_db_instances()
                .db_instance_identifier(instance_id)
                .send()
                .await,
            Resource::Instance,
            instance_id,
        )?;
        Ok(output.and_then(|o| o.db_instances().first().map(instance_from_rds)))
    }

    async fn describe_cluster_snapshot(
        &self,
        snapshot_id: &str,
    ) -> PortResult<Option<ClusterSnapshot>> {
        let output = found(
            self.client
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(snapshot_id)
                .send()
                .await,
            Resource::Snapshot,
            snapshot_id,
        )?;
        Ok(output.and_then(|o| o.db_cluster_snapshots().first().map(snapshot_from_rds)))
    }

    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot> {
        let output = self
            .client
            .create_db_cluster_snapshot()
            .db_cluster_identifier(&request.cluster_id)
            .db_cluster_snapshot_identifier(&request.snapshot_id)
            .set_tags(tags_to_rds(&request.tags))
            .send()
            .await
            .map_err(|e| classify(e, Resource::Snapshot, &request.snapshot_id))?;
        // The response always carries the snapshot; if it ever does not, what we asked for is
        // what is being created.
        Ok(output
            .db_cluster_snapshot()
            .map(snapshot_from_rds)
            .unwrap_or_else(|| ClusterSnapshot {
                id: request.snapshot_id.clone(),
                arn: String::new(),
                cluster_id: request.cluster_id.clone(),
                status: "creating".to_string(),
                percent_progress: 0,
                created_at: None,
            }))
    }

    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()> {
        self.client
            .copy_db_cluster_parameter_group()
            .source_db_cluster_parameter_group_identifier(&request.source_group)
            .target_db_cluster_parameter_group_identifier(&request.target_group)
            .target_db_cluster_parameter_group_description(&request.description)
            .set_tags(tags_to_rds(&request.tags))
            .send()
            .await
            .map_err(|e| classify(e, Resource::ParameterGroup, &request.target_group))?;
        Ok(())
    }

    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()> {
        // Only what the source had is set: an empty list or `None` leaves the RDS default.
        // Backtrack is never passed: binlog replication needs it off, which is the default.
        self.client
            .restore_db_cluster_from_snapshot()
            .db_cluster_identifier(&request.cluster_id)
            .snapshot_identifier(&request.snapshot_id)
            .engine(&request.engine)
            .set_engine_version(
                (!request.engine_version.is_empty()).then(|| request.engine_version.clone()),
            )
            .set_kms_key_id(request.kms_key_id.clone())
            .set_port(request.port)
            .set_db_subnet_group_name(request.db_subnet_group.clone())
            .set_vpc_security_group_ids(non_empty(&request.vpc_security_group_ids))
            .set_db_cluster_parameter_group_name(request.cluster_parameter_group.clone())
            .enable_iam_database_authentication(request.iam_database_authentication)
            .set_enable_cloudwatch_logs_exports(non_empty(&request.enabled_cloudwatch_logs_exports))
            .deletion_protection(request.deletion_protection)
            .copy_tags_to_snapshot(request.copy_tags_to_snapshot)
            .set_tags(tags_to_rds(&request.tags))
            .set_serverless_v2_scaling_configuration(request.serverless_v2_scaling.map(|s| {
                rds::ServerlessV2ScalingConfiguration::builder()
                    .min_capacity(s.min_capacity)
                    .max_capacity(s.max_capacity)
                    .set_seconds_until_auto_pause(s.seconds_until_auto_pause)
                    .build()
            }))
            .set_storage_type(request.storage_type.clone())
            .set_network_type(request.network_type.clone())
            .set_backup_retention_period(request.backup_retention_days)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Cluster, &request.cluster_id))?;
        Ok(())
    }

    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()> {
        self.client
            .create_db_instance()
            .db_instance_identifier(&request.instance_id)
            .db_cluster_identifier(&request.cluster_id)
            .db_instance_class(&request.class)
            .engine(&request.engine)
            .set_promotion_tier(request.promotion_tier)
            .set_db_parameter_group_name(request.parameter_group.clone())
            .set_availability_zone(request.availability_zone.clone())
            .publicly_accessible(request.publicly_accessible)
            .set_tags(tags_to_rds(&request.tags))
            .set_ca_certificate_identifier(request.ca_certificate.clone())
            .set_enable_performance_insights(request.performance_insights.as_ref().map(|_| true))
            .set_performance_insights_kms_key_id(
                request
                    .performance_insights
                    .as_ref()
                    .and_then(|p| p.kms_key_id.clone()),
            )
            .set_performance_insights_retention_period(
                request
                    .performance_insights
                    .as_ref()
                    .and_then(|p| p.retention_days),
            )
            .set_preferred_maintenance_window(request.maintenance_window.clone())
            .send()
            .await
            .map_err(|e| classify(e, Resource::Instance, &request.instance_id))?;
        Ok(())
    }

    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(from)
            .new_db_cluster_identifier(to)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Cluster, from))?;
        Ok(())
    }

    async fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>> {
        let mut endpoints = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_db_cluster_endpoints()
                .db_cluster_identifier(cluster_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(e, Resource::Cluster, cluster_id))?;
            endpoints.extend(
                page.db_cluster_endpoints()
                    .iter()
                    .filter_map(custom_endpoint),
            );
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(endpoints),
            }
        }
    }

    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        let non_empty = |members: &[String]| (!members.is_empty()).then(|| members.to_vec());
        self.client
            .create_db_cluster_endpoint()
            .db_cluster_identifier(&endpoint.cluster_id)
            .db_cluster_endpoint_identifier(&endpoint.id)
            .endpoint_type(&endpoint.endpoint_type)
            .set_static_members(non_empty(&endpoint.static_members))
            .set_excluded_members(non_empty(&endpoint.excluded_members))
            .send()
            .await
            .map_err(|e| classify(e, Resource::ClusterEndpoint, &endpoint.id))?;
        Ok(())
    }

    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        self.client
            .delete_db_cluster_endpoint()
            .db_cluster_endpoint_identifier(id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::ClusterEndpoint, id))?;
        Ok(())
    }

    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        self.client
            .modify_db_instance()
            .db_instance_identifier(from)
            .new_db_instance_identifier(to)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Instance, from))?;
        Ok(())
    }

    async fn set_windows(&self, cluster_id: &str, windows: &ClusterWindows) -> PortResult<()> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(cluster_id)
            .set_preferred_backup_window(windows.backup.clone())
            .set_preferred_maintenance_window(windows.maintenance.clone())
            .send()
            .await
            .map_err(|e| classify(e, Resource::Cluster, cluster_id))?;
        Ok(())
    }

    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>> {
        // Without StartTime the API looks back one hour only; before 14 days it has nothing.
        let start = since.max(OffsetDateTime::now_utc() - EVENT_RETENTION);
        let mut events = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_events()
                .source_identifier(instance_id)
                .source_type(SourceType::DbInstance)
                .start_time(to_smithy(start))
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(e, Resource::Instance, instance_id))?;
            for event in page.events() {
                match (event.date().and_then(to_offset), event.message()) {
                    (Some(time), Some(message)) => events.push(InstanceEvent {
                        time,
                        message: message.to_string(),
                    }),
                    _ => {
                        tracing::warn!(instance_id, "skipping an RDS event without date or message")
                    }
                }
            }
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        // RDS returns events oldest first already; sorting keeps that true across pages.
        events.sort_by_key(|e| e.time);
        Ok(events)
    }

    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        // `db-cluster-resource-id` is a documented filter of DescribeDBClusters; a filter that
        // matches nothing answers with an empty list.
        let filter = rds::Filter::builder()
            .name("db-cluster-resource-id")
            .values(resource_id)
            .build();
        let output = self
            .client
            .describe_db_clusters()
            .filters(filter)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Cluster, resource_id))?;
        Ok(output
            .db_clusters()
            .iter()
            .find(|c| c.db_cluster_resource_id() == Some(resource_id))
            .and_then(|c| c.db_cluster_identifier())
            .map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aurora_core::errors::PortError;
    use aws_sdk_rds::operation::create_db_cluster_snapshot::CreateDbClusterSnapshotOutput;
    use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
    use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::describe_events::DescribeEventsOutput;
    use aws_sdk_rds::operation::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput;
    use aws_sdk_rds::Client;
    use aws_smithy_mocks::mock;
    use time::macros::datetime;

    fn restore_request() -> RestoreClusterRequest {
        RestoreClusterRequest {
            cluster_id: "orders-encrypted".into(),
            snapshot_id: "orders-snap".into(),
            engine: "aurora-mysql".into(),
            engine_version: "8.0.mysql_aurora.3.05.2".into(),
            kms_key_id: Some("alias/aurora-orders".into()),
            port: Some(3306),
            db_subnet_group: Some("private".into()),
            vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
            cluster_parameter_group: Some("orders-encrypted-params".into()),
            iam_database_authentication: true,
            enabled_cloudwatch_logs_exports: vec!["audit".into()],
            deletion_protection: true,
            copy_tags_to_snapshot: true,
            tags: vec![Tag::new("app", "orders")],
            serverless_v2_scaling: Some(ServerlessV2Scaling {
                min_capacity: 0.5,
                max_capacity: 16.0,
                seconds_until_auto_pause: None,
            }),
            storage_type: Some("aurora-iopt1".into()),
            network_type: Some("DUAL".into()),
            backup_retention_days: Some(14),
        }
    }

    #[tokio::test]
    async fn a_config_resource_id_resolves_through_the_documented_filter() {
        let rule = mock!(Client::describe_db_clusters)
            .match_requests(|r| {
                r.db_cluster_identifier().is_none()
                    && r.filters().len() == 1
                    && r.filters()[0].name() == Some("db-cluster-resource-id")
                    && r.filters()[0].values() == ["cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
            })
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        rds::DbCluster::builder()
                            .db_cluster_identifier("orders")
                            .db_cluster_resource_id("cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                            .build(),
                    )
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        assert_eq!(
            clusters
                .cluster_id_by_resource_id("cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                .await
                .unwrap()
                .as_deref(),
            Some("orders")
        );
        let none = mock!(Client::describe_db_clusters)
            .then_output(|| DescribeDbClustersOutput::builder().build());
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &none));
        assert_eq!(
            clusters.cluster_id_by_resource_id("cluster-NOPE").await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn describe_cluster_maps_every_field() {
        let rule = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        rds::DbCluster::builder()
                            .db_cluster_identifier("orders")
                            .db_cluster_arn("arn:aws:rds:eu-west-1:123456789012:cluster:orders")
                            .status("available")
                            .engine("aurora-mysql")
                            .engine_version("8.0.mysql_aurora.3.05.2")
                            .storage_encrypted(false)
                            .port(3306)
                            .db_subnet_group("private")
                            .vpc_security_groups(
                                rds::VpcSecurityGroupMembership::builder()
                                    .vpc_security_group_id("sg-1")
                                    .build(),
                            )
                            .db_cluster_parameter_group("orders-params")
                            .iam_database_authentication_enabled(true)
                            .backtrack_window(0)
                            .enabled_cloudwatch_logs_exports("audit")
                            .deletion_protection(true)
                            .copy_tags_to_snapshot(true)
                            .tag_list(rds::Tag::builder().key("app").value("orders").build())
                            .endpoint("orders.cluster-x.eu-west-1.rds.amazonaws.com")
                            .reader_endpoint("orders.cluster-ro-x.eu-west-1.rds.amazonaws.com")
                            .cluster_create_time(aws_smithy_types::DateTime::from_secs(
                                1_700_000_000,
                            ))
                            .db_cluster_members(
                                rds::DbClusterMember::builder()
                                    .db_instance_identifier("orders-1")
                                    .is_cluster_writer(true)
                                    .promotion_tier(1)
                                    .build(),
                            )
                            .db_cluster_members(
                                rds::DbClusterMember::builder()
                                    .db_instance_identifier("orders-2")
                                    .is_cluster_writer(false)
                                    .promotion_tier(2)
                                    .build(),
                            )
                            .serverless_v2_scaling_configuration(
                                rds::ServerlessV2ScalingConfigurationInfo::builder()
                                    .min_capacity(0.5)
                                    .max_capacity(16.0)
                                    .build(),
                            )
                            .storage_type("aurora-iopt1")
                            .network_type("DUAL")
                            .associated_roles(
                                rds::DbClusterRole::builder()
                                    .role_arn("arn:aws:iam::123456789012:role/s3-import")
                                    .feature_name("s3Import")
                                    .build(),
                            )
                            .domain_memberships(
                                rds::DomainMembership::builder()
                                    .domain("d-1234567890")
                                    .build(),
                            )
                            .backup_retention_period(14)
                            .preferred_backup_window("02:00-02:30")
                            .preferred_maintenance_window("sun:03:00-sun:03:30")
                            .build(),
                    )
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));

        let cluster = clusters.describe_cluster("orders").await.unwrap().unwrap();

        assert_eq!(
            cluster,
            Cluster {
                id: "orders".into(),
                arn: "arn:aws:rds:eu-west-1:123456789012:cluster:orders".into(),
                status: "available".into(),
                engine: "aurora-mysql".into(),
                engine_version: "8.0.mysql_aurora.3.05.2".into(),
                storage_encrypted: false,
                kms_key_id: None,
                port: Some(3306),
                db_subnet_group: Some("private".into()),
                vpc_security_group_ids: vec!["sg-1".into()],
                cluster_parameter_group: Some("orders-params".into()),
                iam_database_authentication: true,
                backtrack_window: 0,
                enabled_cloudwatch_logs_exports: vec!["audit".into()],
                deletion_protection: true,
                copy_tags_to_snapshot: true,
                tags: vec![Tag::new("app", "orders")],
                endpoint: Some("orders.cluster-x.eu-west-1.rds.amazonaws.com".into()),
                reader_endpoint: Some("orders.cluster-ro-x.eu-west-1.rds.amazonaws.com".into()),
                created_at: Some(datetime!(2023-11-14 22:13:20 UTC)),
                members: vec![
                    ClusterMember {
                        instance_id: "orders-1".into(),
                        is_writer: true,
                        promotion_tier: Some(1)
                    },
                    ClusterMember {
                        instance_id: "orders-2".into(),
                        is_writer: false,
                        promotion_tier: Some(2)
                    },
                ],
                extras: ClusterExtras {
                    serverless_v2_scaling: Some(ServerlessV2Scaling {
                        min_capacity: 0.5,
                        max_capacity: 16.0,
                        seconds_until_auto_pause: None,
                    }),
                    storage_type: Some("aurora-iopt1".into()),
                    network_type: Some("DUAL".into()),
                    associated_roles: vec![
                        "arn:aws:iam::123456789012:role/s3-import (s3Import)".into()
                    ],
                    domains: vec!["d-1234567890".into()],
                    backup_retention_days: Some(14),
                    backup_window: Some("02:00-02:30".into()),
                    maintenance_window: Some("sun:03:00-sun:03:30".into()),
                },
            }
        );
        assert_eq!(
            cluster.writer().map(|m| m.instance_id.as_str()),
            Some("orders-1")
        );
    }

    #[tokio::test]
    async fn missing_cluster_instance_and_snapshot_are_none() {
        let cluster = mock!(Client::describe_db_clusters)
            .then_http_response(|| xml_error(404, "DBClusterNotFoundFault"));
        let instance = mock!(Client::describe_db_instances)
            .then_http_response(|| xml_error(404, "DBInstanceNotFound"));
        let snapshot = mock!(Client::describe_db_cluster_snapshots)
            .then_http_response(|| xml_error(404, "DBClusterSnapshotNotFoundFault"));
        let clusters =
            RdsClusters::from_client(client!(aws_sdk_rds, &cluster, &instance, &snapshot));

        assert_eq!(clusters.describe_cluster("gone").await, Ok(None));
        assert_eq!(clusters.describe_instance("gone").await, Ok(None));
        assert_eq!(clusters.describe_cluster_snapshot("gone").await, Ok(None));
        assert_eq!(
            (
                cluster.num_calls(),
                instance.num_calls(),
                snapshot.num_calls()
            ),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn describe_instance_reads_class_tier_and_parameter_group() {
        let rule = mock!(Client::describe_db_instances).then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    rds::DbInstance::builder()
                        .db_instance_identifier("orders-1")
                        .db_cluster_identifier("orders")
                        .db_instance_class("db.r6g.large")
                        .engine("aurora-mysql")
                        .db_instance_status("available")
                        .promotion_tier(1)
                        .db_parameter_groups(
                            rds::DbParameterGroupStatus::builder()
                                .db_parameter_group_name("orders-inst")
                                .build(),
                        )
                        .availability_zone("eu-west-1a")
                        .publicly_accessible(false)
                        .storage_encrypted(true)
                        .ca_certificate_identifier("rds-ca-rsa2048-g1")
                        .performance_insights_enabled(true)
                        .performance_insights_retention_period(7)
                        .monitoring_interval(60)
                        .preferred_maintenance_window("mon:04:00-mon:04:30")
                        .endpoint(
                            rds::Endpoint::builder()
                                .address("orders-1.abc123.eu-west-1.rds.amazonaws.com")
                                .port(3306)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let instance = clusters
            .describe_instance("orders-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(instance.class, "db.r6g.large");
        assert_eq!(
            instance.endpoint.as_deref(),
            Some("orders-1.abc123.eu-west-1.rds.amazonaws.com")
        );
        assert_eq!(instance.promotion_tier, Some(1));
        assert_eq!(instance.parameter_group.as_deref(), Some("orders-inst"));
        assert_eq!(instance.cluster_id.as_deref(), Some("orders"));
        assert!(instance.storage_encrypted);
        assert_eq!(
            instance.extras,
            InstanceExtras {
                ca_certificate: Some("rds-ca-rsa2048-g1".into()),
                performance_insights: Some(PerformanceInsights {
                    kms_key_id: None,
                    retention_days: Some(7),
                }),
                monitoring_interval: 60,
                maintenance_window: Some("mon:04:00-mon:04:30".into()),
            }
        );
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_transient() {
        let throttled =
            mock!(Client::describe_db_clusters).then_http_response(|| xml_error(400, "Throttling"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &throttled));
        assert!(matches!(
            clusters.describe_cluster("orders").await,
            Err(PortError::Transient(_))
        ));

        let unavailable = mock!(Client::describe_db_clusters)
            .sequence()
            .http_status(503, None)
            .build();
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &unavailable));
        assert!(matches!(
            clusters.describe_cluster("orders").await,
            Err(PortError::Transient(_))
        ));

        let internal = mock!(Client::describe_db_clusters)
            .then_http_response(|| xml_error(500, "InternalFailure"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &internal));
        assert!(matches!(
            clusters.describe_cluster("orders").await,
            Err(PortError::Transient(_))
        ));
    }

    #[tokio::test]
    async fn access_denied_is_not_mistaken_for_a_missing_cluster() {
        let rule = mock!(Client::describe_db_clusters)
            .then_http_response(|| xml_error(403, "AccessDenied"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        assert!(matches!(
            clusters.describe_cluster("orders").await,
            Err(PortError::AccessDenied(_))
        ));
    }

    #[tokio::test]
    async fn restore_passes_key_network_parameter_group_and_tags() {
        let rule = mock!(Client::restore_db_cluster_from_snapshot)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders-encrypted")
                    && r.snapshot_identifier() == Some("orders-snap")
                    && r.engine() == Some("aurora-mysql")
                    && r.engine_version() == Some("8.0.mysql_aurora.3.05.2")
                    && r.kms_key_id() == Some("alias/aurora-orders")
                    && r.port() == Some(3306)
                    && r.db_subnet_group_name() == Some("private")
                    && r.vpc_security_group_ids() == ["sg-0123456789abcdef0"]
                    && r.db_cluster_parameter_group_name() == Some("orders-encrypted-params")
                    && r.enable_iam_database_authentication() == Some(true)
                    && r.enable_cloudwatch_logs_exports() == ["audit"]
                    && r.deletion_protection() == Some(true)
                    && r.copy_tags_to_snapshot() == Some(true)
                    && r.backtrack_window().is_none()
                    && r.tags().len() == 1
                    && r.tags()[0].key() == Some("app")
                    && r.tags()[0].value() == Some("orders")
                    && r.serverless_v2_scaling_configuration().is_some_and(|s| {
                        s.min_capacity() == Some(0.5) && s.max_capacity() == Some(16.0)
                    })
                    && r.storage_type() == Some("aurora-iopt1")
                    && r.network_type() == Some("DUAL")
                    && r.backup_retention_period() == Some(14)
                    && r.preferred_backup_window().is_none()
            })
            .then_output(|| RestoreDbClusterFromSnapshotOutput::builder().build());
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));

        clusters.restore_cluster(&restore_request()).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn restore_leaves_unset_options_to_rds() {
        let rule = mock!(Client::restore_db_cluster_from_snapshot)
            .match_requests(|r| {
                r.kms_key_id().is_none()
                    && r.port().is_none()
                    && r.db_subnet_group_name().is_none()
                    && r.vpc_security_group_ids.is_none()
                    && r.enable_cloudwatch_logs_exports.is_none()
                    && r.tags.is_none()
                    && r.serverless_v2_scaling_configuration().is_none()
                    && r.storage_type().is_none()
                    && r.network_type().is_none()
                    && r.backup_retention_period().is_none()
                    && r.preferred_backup_window().is_none()
            })
            .then_output(|| RestoreDbClusterFromSnapshotOutput::builder().build());
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let request = RestoreClusterRequest {
            cluster_id: "orders-encrypted".into(),
            snapshot_id: "orders-snap".into(),
            engine: "aurora-mysql".into(),
            ..Default::default()
        };
        clusters.restore_cluster(&request).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn restore_onto_an_existing_cluster_is_already_exists() {
        let rule = mock!(Client::restore_db_cluster_from_snapshot)
            .then_http_response(|| xml_error(400, "DBClusterAlreadyExistsFault"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let error = clusters
            .restore_cluster(&restore_request())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                PortError::AlreadyExists {
                    resource: Resource::Cluster,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn restore_from_a_missing_snapshot_names_the_snapshot() {
        let rule = mock!(Client::restore_db_cluster_from_snapshot)
            .then_http_response(|| xml_error(404, "DBClusterSnapshotNotFoundFault"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let error = clusters
            .restore_cluster(&restore_request())
            .await
            .unwrap_err();
        assert!(error.is_not_found(Resource::Snapshot), "{error:?}");
    }

    #[tokio::test]
    async fn create_instance_passes_class_tier_and_parameter_group() {
        let rule = mock!(Client::create_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("orders-encrypted-1")
                    && r.db_cluster_identifier() == Some("orders-encrypted")
                    && r.db_instance_class() == Some("db.r6g.large")
                    && r.engine() == Some("aurora-mysql")
                    && r.promotion_tier() == Some(1)
                    && r.db_parameter_group_name() == Some("orders-inst")
                    && r.availability_zone() == Some("eu-west-1a")
                    && r.publicly_accessible() == Some(false)
                    && r.tags().len() == 1
                    && r.ca_certificate_identifier() == Some("rds-ca-rsa2048-g1")
                    && r.enable_performance_insights() == Some(true)
                    && r.performance_insights_kms_key_id() == Some("alias/aws/rds")
                    && r.performance_insights_retention_period() == Some(7)
                    && r.preferred_maintenance_window() == Some("mon:04:00-mon:04:30")
            })
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        clusters
            .create_instance(&CreateInstanceRequest {
                instance_id: "orders-encrypted-1".into(),
                cluster_id: "orders-encrypted".into(),
                class: "db.r6g.large".into(),
                engine: "aurora-mysql".into(),
                promotion_tier: Some(1),
                parameter_group: Some("orders-inst".into()),
                availability_zone: Some("eu-west-1a".into()),
                publicly_accessible: false,
                tags: vec![Tag::new("app", "orders")],
                ca_certificate: Some("rds-ca-rsa2048-g1".into()),
                performance_insights: Some(PerformanceInsights {
                    kms_key_id: Some("alias/aws/rds".into()),
                    retention_days: Some(7),
                }),
                maintenance_window: Some("mon:04:00-mon:04:30".into()),
            })
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn custom_endpoints_are_read_on_every_page_and_the_others_left_out() {
        use aws_sdk_rds::operation::describe_db_cluster_endpoints::DescribeDbClusterEndpointsOutput;
        let endpoint = |id: &str, kind: &str| {
            rds::DbClusterEndpoint::builder()
                .db_cluster_endpoint_identifier(id)
                .endpoint_type(kind)
                .build()
        };
        let first = mock!(Client::describe_db_cluster_endpoints)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders") && r.marker().is_none())
            .then_output(move || {
                DescribeDbClusterEndpointsOutput::builder()
                    .db_cluster_endpoints(endpoint("orders", "WRITER"))
                    .db_cluster_endpoints(endpoint("analytics", "CUSTOM"))
                    .marker("next")
                    .build()
            });
        let second = mock!(Client::describe_db_cluster_endpoints)
            .match_requests(|r| r.marker() == Some("next"))
            .then_output(move || {
                DescribeDbClusterEndpointsOutput::builder()
                    .db_cluster_endpoints(endpoint("reporting", "CUSTOM"))
                    .db_cluster_endpoints(endpoint("orders-ro", "READER"))
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &first, &second));
        let ids: Vec<String> = clusters
            .custom_endpoints("orders")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec!["analytics", "reporting"]);
    }

    #[tokio::test]
    async fn a_custom_endpoint_is_deleted_by_name_and_created_with_its_type_and_members() {
        use aws_sdk_rds::operation::create_db_cluster_endpoint::CreateDbClusterEndpointOutput;
        use aws_sdk_rds::operation::delete_db_cluster_endpoint::DeleteDbClusterEndpointOutput;
        let create = mock!(Client::create_db_cluster_endpoint)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders")
                    && r.db_cluster_endpoint_identifier() == Some("analytics")
                    && r.endpoint_type() == Some("READER")
                    && r.static_members() == ["orders-2", "orders-3"]
                    && r.excluded_members().is_empty()
            })
            .then_output(|| CreateDbClusterEndpointOutput::builder().build());
        let delete = mock!(Client::delete_db_cluster_endpoint)
            .match_requests(|r| r.db_cluster_endpoint_identifier() == Some("analytics"))
            .then_output(|| DeleteDbClusterEndpointOutput::builder().build());
        let taken = mock!(Client::create_db_cluster_endpoint)
            .then_http_response(|| xml_error(400, "DBClusterEndpointAlreadyExistsFault"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &create, &delete));
        clusters.delete_custom_endpoint("analytics").await.unwrap();
        let endpoint = CustomEndpoint {
            id: "analytics".into(),
            cluster_id: "orders".into(),
            status: String::new(),
            endpoint_type: "READER".into(),
            static_members: vec!["orders-2".into(), "orders-3".into()],
            excluded_members: Vec::new(),
        };
        clusters.create_custom_endpoint(&endpoint).await.unwrap();
        assert_eq!((create.num_calls(), delete.num_calls()), (1, 1));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &taken));
        assert!(matches!(
            clusters.create_custom_endpoint(&endpoint).await,
            Err(PortError::AlreadyExists {
                resource: Resource::ClusterEndpoint,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn renames_apply_immediately_with_the_new_identifier() {
        let cluster = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders")
                    && r.new_db_cluster_identifier() == Some("orders-old-1a2b3c4d")
                    && r.apply_immediately() == Some(true)
                    && r.preferred_maintenance_window().is_none()
            })
            .then_output(|| {
                aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput::builder().build()
            });
        let instance = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("orders-encrypted-1")
                    && r.new_db_instance_identifier() == Some("orders-1")
                    && r.apply_immediately() == Some(true)
            })
            .then_output(|| {
                aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput::builder()
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &cluster, &instance));
        clusters
            .rename_cluster("orders", "orders-old-1a2b3c4d")
            .await
            .unwrap();
        clusters
            .rename_instance("orders-encrypted-1", "orders-1")
            .await
            .unwrap();
        assert_eq!((cluster.num_calls(), instance.num_calls()), (1, 1));
        let taken = mock!(Client::modify_db_cluster)
            .then_http_response(|| xml_error(400, "DBClusterAlreadyExistsFault"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &taken));
        assert!(matches!(
            clusters.rename_cluster("orders-encrypted", "orders").await,
            Err(PortError::AlreadyExists { .. })
        ));
    }

    #[tokio::test]
    async fn both_windows_are_set_in_one_modify_db_cluster() {
        let rule = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders-encrypted")
                    && r.preferred_backup_window() == Some("02:00-02:30")
                    && r.preferred_maintenance_window() == Some("sun:03:00-sun:03:30")
                    && r.apply_immediately().is_none()
                    && r.new_db_cluster_identifier().is_none()
            })
            .then_output(|| {
                aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput::builder().build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        clusters
            .set_windows(
                "orders-encrypted",
                &ClusterWindows {
                    backup: Some("02:00-02:30".into()),
                    maintenance: Some("sun:03:00-sun:03:30".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn create_instance_that_exists_is_already_exists() {
        let rule = mock!(Client::create_db_instance)
            .then_http_response(|| xml_error(400, "DBInstanceAlreadyExists"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let error = clusters
            .create_instance(&CreateInstanceRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                PortError::AlreadyExists {
                    resource: Resource::Instance,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn create_snapshot_passes_tags_and_returns_the_snapshot() {
        let rule = mock!(Client::create_db_cluster_snapshot)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders")
                    && r.db_cluster_snapshot_identifier() == Some("orders-snap")
                    && r.tags().first().and_then(|t| t.key()) == Some("aurora-encrypt")
            })
            .then_output(|| {
                CreateDbClusterSnapshotOutput::builder()
                    .db_cluster_snapshot(
                        rds::DbClusterSnapshot::builder()
                            .db_cluster_snapshot_identifier("orders-snap")
                            .db_cluster_identifier("orders")
                            .status("creating")
                            .percent_progress(0)
                            .build(),
                    )
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let snapshot = clusters
            .create_cluster_snapshot(&CreateSnapshotRequest {
                cluster_id: "orders".into(),
                snapshot_id: "orders-snap".into(),
                tags: vec![Tag::new("aurora-encrypt", "run-1")],
            })
            .await
            .unwrap();
        assert_eq!(snapshot.status, "creating");
        assert_eq!(snapshot.cluster_id, "orders");
    }

    #[tokio::test]
    async fn describe_snapshot_reports_progress() {
        let rule = mock!(Client::describe_db_cluster_snapshots).then_output(|| {
            DescribeDbClusterSnapshotsOutput::builder()
                .db_cluster_snapshots(
                    rds::DbClusterSnapshot::builder()
                        .db_cluster_snapshot_identifier("orders-snap")
                        .status("creating")
                        .percent_progress(42)
                        .build(),
                )
                .build()
        });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let snapshot = clusters
            .describe_cluster_snapshot("orders-snap")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(snapshot.percent_progress, 42);
    }

    #[tokio::test]
    async fn copying_onto_an_existing_parameter_group_is_already_exists() {
        let rule = mock!(Client::copy_db_cluster_parameter_group)
            .match_requests(|r| {
                r.source_db_cluster_parameter_group_identifier() == Some("orders-params")
                    && r.target_db_cluster_parameter_group_identifier()
                        == Some("orders-encrypted-params")
            })
            .then_http_response(|| xml_error(400, "DBParameterGroupAlreadyExists"));
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let error = clusters
            .copy_cluster_parameter_group(&CopyParameterGroupRequest {
                source_group: "orders-params".into(),
                target_group: "orders-encrypted-params".into(),
                description: "fence".into(),
                tags: vec![],
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                PortError::AlreadyExists {
                    resource: Resource::ParameterGroup,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    fn event(secs: i64, message: &str) -> rds::Event {
        rds::Event::builder()
            .source_identifier("orders-encrypted-1")
            .source_type(SourceType::DbInstance)
            .date(aws_smithy_types::DateTime::from_secs(secs))
            .message(message)
            .build()
    }

    #[tokio::test]
    async fn instance_events_follow_every_page_with_start_time_and_source_type() {
        let since = OffsetDateTime::now_utc() - Duration::hours(3);
        let expected_start = since.unix_timestamp();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let first = mock!(Client::describe_events)
            .match_requests(move |r| {
                r.marker().is_none()
                    && r.source_identifier() == Some("orders-encrypted-1")
                    && r.source_type() == Some(&SourceType::DbInstance)
                    && r.start_time().map(|t| t.secs()) == Some(expected_start)
                    && r.duration().is_none()
            })
            .then_output(move || {
                DescribeEventsOutput::builder()
                    .events(event(now - 100, "DB instance restarted"))
                    .marker("page-2")
                    .build()
            });
        let second = mock!(Client::describe_events)
            .match_requests(move |r| {
                r.marker() == Some("page-2")
                    && r.start_time().map(|t| t.secs()) == Some(expected_start)
            })
            .then_output(move || {
                DescribeEventsOutput::builder()
                    .events(event(
                        now - 50,
                        "Binlog position from crash recovery is mysql-bin-changelog.000005 940",
                    ))
                    .build()
            });
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &first, &second));

        let events = clusters
            .instance_events("orders-encrypted-1", since)
            .await
            .unwrap();

        assert_eq!(events.len(), 2);
        assert_eq!(events[0].message, "DB instance restarted");
        assert!(events[1].message.starts_with("Binlog position"));
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn instance_events_never_ask_for_more_than_fourteen_days() {
        let rule = mock!(Client::describe_events)
            .match_requests(|r| {
                let oldest = OffsetDateTime::now_utc() - EVENT_RETENTION - Duration::minutes(1);
                r.start_time()
                    .is_some_and(|t| t.secs() >= oldest.unix_timestamp())
            })
            .then_output(|| DescribeEventsOutput::builder().build());
        let clusters = RdsClusters::from_client(client!(aws_sdk_rds, &rule));
        let events = clusters
            .instance_events(
                "orders-encrypted-1",
                OffsetDateTime::now_utc() - Duration::days(30),
            )
            .await
            .unwrap();
        assert!(events.is_empty());
        assert_eq!(rule.num_calls(), 1);
    }
}
