//! [`ClusterParameters`] over Amazon RDS: a parameter of a cluster parameter group
//! (DescribeDBClusterParameters, every page), the clusters that use a group (DescribeDBClusters,
//! every page), and members whose parameter group status is not `in-sync`; sets a parameter for
//! the next reboot (ModifyDBClusterParameterGroup, `ApplyMethod` `pending-reboot`, which a static
//! parameter such as `binlog_format` requires).

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{ClusterParameters, ParameterValue, PortResult};
use aws_config::SdkConfig;
use aws_sdk_rds::Client;

use crate::classify::classify;

#[derive(Clone, Debug)]
pub struct RdsClusterParameters {
    client: Client,
}

impl RdsClusterParameters {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

/// Sets one parameter of a cluster parameter group (ModifyDBClusterParameterGroup), applied
/// `apply`: `Immediate` for a dynamic parameter, `PendingReboot` for a static one.
pub(crate) async fn modify_parameter(
    client: &Client,
    group: &str,
    name: &str,
    value: &str,
    apply: aws_sdk_rds::types::ApplyMethod,
) -> PortResult<()> {
    let parameter = aws_sdk_rds::types::Parameter::builder()
        .parameter_name(name)
        .parameter_value(value)
        .apply_method(apply)
        .build();
    client
        .modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(group)
        .parameters(parameter)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify(e, Resource::ParameterGroup, group))
}

/// Finds one parameter of a cluster parameter group, following `Marker` across pages.
pub(crate) async fn find_parameter(
    client: &Client,
    group: &str,
    name: &str,
) -> PortResult<Option<ParameterValue>> {
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(group)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| classify(e, Resource::ParameterGroup, group))?;
        if let Some(p) = page
            .parameters()
            .iter()
            .find(|p| p.parameter_name() == Some(name))
        {
            return Ok(Some(ParameterValue {
                name: name.to_string(),
                value: p.parameter_value().map(str::to_string),
                source: p.source().unwrap_or_default().to_string(),
                apply_type: p.apply_type().unwrap_or_default().to_string(),
            }));
        }
        match page.marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

#[async_trait]
impl ClusterParameters for RdsClusterParameters {
    async fn parameter(&self, group: &str, name: &str) -> PortResult<Option<ParameterValue>> {
        find_parameter(&self.client, group, name).await
    }

    async fn clusters_using(&self, group: &str) -> PortResult<Vec<String>> {
        let mut users = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_db_clusters()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(e, Resource::Cluster, "DescribeDBClusters"))?;
            users.extend(
                page.db_clusters()
                    .iter()
                    .filter(|c| c.db_cluster_parameter_group() == Some(group))
                    .filter_map(|c| c.db_cluster_identifier().map(str::to_string)),
            );
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(users),
            }
        }
    }

    async fn members_pending_reboot(&self, cluster_id: &str) -> PortResult<Vec<String>> {
        let output = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster_id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Cluster, cluster_id))?;
        let cluster = output
            .db_clusters()
            .first()
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            })?;
        Ok(cluster
            .db_cluster_members()
            .iter()
            .filter(|m| m.db_cluster_parameter_group_status() != Some("in-sync"))
            .filter_map(|m| m.db_instance_identifier().map(str::to_string))
            .collect())
    }

    async fn set_at_reboot(&self, group: &str, name: &str, value: &str) -> PortResult<()> {
        let apply = aws_sdk_rds::types::ApplyMethod::PendingReboot;
        modify_parameter(&self.client, group, name, value, apply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::types::{DbCluster, DbClusterMember, Parameter};
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn parameter_is_found_on_a_later_page() {
        let first = mock!(Client::describe_db_cluster_parameters)
            .match_requests(|r| {
                r.db_cluster_parameter_group_name() == Some("orders-params") && r.marker().is_none()
            })
            .then_output(|| {
                DescribeDbClusterParametersOutput::builder()
                    .parameters(Parameter::builder().parameter_name("autocommit").build())
                    .marker("page-2")
                    .build()
            });
        let second = mock!(Client::describe_db_cluster_parameters)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                DescribeDbClusterParametersOutput::builder()
                    .parameters(
                        Parameter::builder()
                            .parameter_name("binlog_format")
                            .parameter_value("MIXED")
                            .source("user")
                            .apply_type("static")
                            .build(),
                    )
                    .build()
            });
        let params = RdsClusterParameters::from_client(client!(aws_sdk_rds, &first, &second));
        let value = params
            .parameter("orders-params", "binlog_format")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(value.value.as_deref(), Some("MIXED"));
        assert_eq!(value.apply_type, "static");
        assert_eq!(second.num_calls(), 1);
        assert_eq!(
            params.parameter("orders-params", "nope").await.unwrap(),
            None,
            "absent after the last page"
        );
    }

    #[tokio::test]
    async fn a_missing_group_is_not_found() {
        let rule = mock!(Client::describe_db_cluster_parameters)
            .then_http_response(|| xml_error(404, "DBParameterGroupNotFound"));
        let params = RdsClusterParameters::from_client(client!(aws_sdk_rds, &rule));
        let error = params.parameter("gone", "binlog_format").await.unwrap_err();
        assert!(error.is_not_found(Resource::ParameterGroup), "{error:?}");
    }

    #[tokio::test]
    async fn clusters_using_a_group_span_every_page() {
        let cluster = |id: &str, group: &str| {
            DbCluster::builder()
                .db_cluster_identifier(id)
                .db_cluster_parameter_group(group)
                .build()
        };
        let first = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.marker().is_none() && r.db_cluster_identifier().is_none())
            .then_output(move || {
                DescribeDbClustersOutput::builder()
                    .db_clusters(cluster("orders", "orders-params"))
                    .db_clusters(cluster("billing", "default.aurora-mysql8.0"))
                    .marker("m2")
                    .build()
            });
        let second = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.marker() == Some("m2"))
            .then_output(move || {
                DescribeDbClustersOutput::builder()
                    .db_clusters(cluster("payments", "orders-params"))
                    .build()
            });
        let params = RdsClusterParameters::from_client(client!(aws_sdk_rds, &first, &second));
        assert_eq!(
            params.clusters_using("orders-params").await.unwrap(),
            vec!["orders", "payments"]
        );
    }

    #[tokio::test]
    async fn members_not_in_sync_are_pending_reboot() {
        let rule = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("orders")
                            .db_cluster_members(
                                DbClusterMember::builder()
                                    .db_instance_identifier("orders-1")
                                    .db_cluster_parameter_group_status("pending-reboot")
                                    .build(),
                            )
                            .db_cluster_members(
                                DbClusterMember::builder()
                                    .db_instance_identifier("orders-2")
                                    .db_cluster_parameter_group_status("in-sync")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let params = RdsClusterParameters::from_client(client!(aws_sdk_rds, &rule));
        assert_eq!(
            params.members_pending_reboot("orders").await.unwrap(),
            vec!["orders-1"]
        );
    }

    #[tokio::test]
    async fn a_parameter_set_at_reboot_is_one_pending_reboot_modification() {
        use aws_sdk_rds::operation::modify_db_cluster_parameter_group::ModifyDbClusterParameterGroupOutput;
        use aws_sdk_rds::types::ApplyMethod;
        let set = mock!(Client::modify_db_cluster_parameter_group)
            .match_requests(|r| {
                let p = &r.parameters()[0];
                r.db_cluster_parameter_group_name() == Some("orders-params")
                    && r.parameters().len() == 1
                    && p.parameter_name() == Some("binlog_format")
                    && p.parameter_value() == Some("OFF")
                    && p.apply_method() == Some(&ApplyMethod::PendingReboot)
            })
            .then_output(|| {
                ModifyDbClusterParameterGroupOutput::builder()
                    .db_cluster_parameter_group_name("orders-params")
                    .build()
            });
        let missing = mock!(Client::modify_db_cluster_parameter_group)
            .then_http_response(|| xml_error(404, "DBParameterGroupNotFound"));
        let params = RdsClusterParameters::from_client(client!(aws_sdk_rds, &set, &missing));
        params
            .set_at_reboot("orders-params", "binlog_format", "OFF")
            .await
            .unwrap();
        assert_eq!(set.num_calls(), 1);
        let error = params
            .set_at_reboot("gone", "binlog_format", "OFF")
            .await
            .unwrap_err();
        assert!(error.is_not_found(Resource::ParameterGroup), "{error:?}");
    }
}
