//! [`ClusterRetirement`] over Amazon RDS: ModifyDBCluster (deletion protection off),
//! DeleteDBInstance and DeleteDBCluster (`SkipFinalSnapshot`: the cleanup step takes and checks
//! its own final snapshot first). Deleting something already gone is success.

use async_trait::async_trait;
use aurora_core::errors::Resource;
use aurora_core::ports::{ClusterRetirement, PortResult};
use aws_config::SdkConfig;
use aws_sdk_rds::Client;

use crate::classify::classify;

#[derive(Clone, Debug)]
pub struct RdsClusterRetirement {
    client: Client,
}

impl RdsClusterRetirement {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

fn ok_if_gone(result: PortResult<()>, kind: Resource) -> PortResult<()> {
    match result {
        Err(e) if e.is_not_found(kind) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl ClusterRetirement for RdsClusterRetirement {
    async fn disable_deletion_protection(&self, cluster_id: &str) -> PortResult<()> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(cluster_id)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Resource::Cluster, cluster_id))
    }

    async fn delete_instance(&self, instance_id: &str) -> PortResult<()> {
        let result = self
            .client
            .delete_db_instance()
            .db_instance_identifier(instance_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Resource::Instance, instance_id));
        ok_if_gone(result, Resource::Instance)
    }

    async fn delete_cluster(&self, cluster_id: &str) -> PortResult<()> {
        let result = self
            .client
            .delete_db_cluster()
            .db_cluster_identifier(cluster_id)
            .skip_final_snapshot(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Resource::Cluster, cluster_id));
        ok_if_gone(result, Resource::Cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aurora_core::errors::PortError;
    use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
    use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn requests_carry_the_fields_we_rely_on() {
        let protect = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders")
                    && r.deletion_protection() == Some(false)
                    && r.apply_immediately() == Some(true)
                    && r.vpc_security_group_ids().is_empty()
            })
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let instance = mock!(Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-1"))
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let cluster = mock!(Client::delete_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders") && r.skip_final_snapshot() == Some(true)
            })
            .then_output(|| DeleteDbClusterOutput::builder().build());
        let rds =
            RdsClusterRetirement::from_client(client!(aws_sdk_rds, &protect, &instance, &cluster));
        rds.disable_deletion_protection("orders").await.unwrap();
        rds.delete_instance("orders-1").await.unwrap();
        rds.delete_cluster("orders").await.unwrap();
        assert_eq!(
            (
                protect.num_calls(),
                instance.num_calls(),
                cluster.num_calls()
            ),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn deleting_what_is_gone_succeeds_and_a_busy_cluster_is_invalid_state() {
        let instance = mock!(Client::delete_db_instance)
            .then_http_response(|| xml_error(404, "DBInstanceNotFound"));
        let gone = mock!(Client::delete_db_cluster)
            .match_requests(|r| r.db_cluster_identifier() == Some("gone"))
            .then_http_response(|| xml_error(404, "DBClusterNotFoundFault"));
        let busy = mock!(Client::delete_db_cluster)
            .match_requests(|r| r.db_cluster_identifier() == Some("busy"))
            .then_http_response(|| xml_error(400, "InvalidDBClusterStateFault"));
        let rds = RdsClusterRetirement::from_client(client!(aws_sdk_rds, &instance, &gone, &busy));
        rds.delete_instance("orders-1").await.unwrap();
        rds.delete_cluster("gone").await.unwrap();
        assert!(matches!(
            rds.delete_cluster("busy").await.unwrap_err(),
            PortError::InvalidState(_)
        ));
    }
}
