//! [`ProxyTargets`] over Amazon RDS: DescribeDBProxies, DescribeDBProxyTargets (every page),
//! RegisterDBProxyTargets and DeregisterDBProxyTargets on the proxy's default target group.

use async_trait::async_trait;
use aurora_core::errors::Resource;
use aurora_core::ports::{PortResult, Proxy, ProxyTarget, ProxyTargets};
use aws_config::SdkConfig;
use aws_sdk_rds::types as rds;

use crate::classify::{classify, found};

/// The target group every proxy has, and the only one RDS Proxy supports today.
const DEFAULT_TARGET_GROUP: &str = "default";

#[derive(Debug, Clone)]
pub struct RdsProxies {
    client: aws_sdk_rds::Client,
}

impl RdsProxies {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(aws_sdk_rds::Client::new(config))
    }

    pub fn from_client(client: aws_sdk_rds::Client) -> Self {
        Self { client }
    }
}

fn proxy_from_rds(p: &rds::DbProxy) -> Proxy {
    Proxy {
        name: p.db_proxy_name().unwrap_or_default().to_string(),
        arn: p.db_proxy_arn().unwrap_or_default().to_string(),
        status: p
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        engine_family: p.engine_family().unwrap_or_default().to_string(),
        endpoint: p.endpoint().map(str::to_string),
        // RDS Proxy listens on the engine family's default port, whatever the cluster's.
        port: match p.engine_family() {
            Some("POSTGRESQL") => 5432,
            Some("SQLSERVER") => 1433,
            _ => 3306,
        },
        auth_secret_arns: p
            .auth()
            .iter()
            .filter_map(|a| a.secret_arn().map(str::to_string))
            .collect(),
        vpc_security_group_ids: p.vpc_security_group_ids().to_vec(),
    }
}

fn target_from_rds(t: &rds::DbProxyTarget) -> ProxyTarget {
    let health = t.target_health();
    ProxyTarget {
        kind: t
            .r#type()
            .map(|k| k.as_str().to_string())
            .unwrap_or_default(),
        cluster_id: t.tracked_cluster_id().map(str::to_string),
        instance_id: t.rds_resource_id().map(str::to_string),
        role: t.role().map(|r| r.as_str().to_string()),
        state: health
            .and_then(|h| h.state())
            .map(|s| s.as_str().to_string()),
        reason: health
            .and_then(|h| h.reason())
            .map(|r| r.as_str().to_string()),
        description: health.and_then(|h| h.description()).map(str::to_string),
    }
}

#[async_trait]
impl ProxyTargets for RdsProxies {
    async fn describe_proxy(&self, name: &str) -> PortResult<Option<Proxy>> {
        let output = found(
            self.client
                .describe_db_proxies()
                .db_proxy_name(name)
                .send()
                .await,
            Resource::Proxy,
            name,
        )?;
        Ok(output.and_then(|o| o.db_proxies().first().map(proxy_from_rds)))
    }

    async fn targets(&self, name: &str) -> PortResult<Vec<ProxyTarget>> {
        let mut targets = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_db_proxy_targets()
                .db_proxy_name(name)
                .target_group_name(DEFAULT_TARGET_GROUP)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(e, Resource::Proxy, name))?;
            targets.extend(page.targets().iter().map(target_from_rds));
            match page.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(targets),
            }
        }
    }

    async fn register_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        self.client
            .register_db_proxy_targets()
            .db_proxy_name(name)
            .target_group_name(DEFAULT_TARGET_GROUP)
            .db_cluster_identifiers(cluster_id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Proxy, name))?;
        Ok(())
    }

    async fn deregister_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        self.client
            .deregister_db_proxy_targets()
            .db_proxy_name(name)
            .target_group_name(DEFAULT_TARGET_GROUP)
            .db_cluster_identifiers(cluster_id)
            .send()
            .await
            .map_err(|e| classify(e, Resource::Proxy, name))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{client, xml_error};
    use aurora_core::errors::PortError;
    use aws_sdk_rds::operation::deregister_db_proxy_targets::DeregisterDbProxyTargetsOutput;
    use aws_sdk_rds::operation::describe_db_proxies::DescribeDbProxiesOutput;
    use aws_sdk_rds::operation::describe_db_proxy_targets::DescribeDbProxyTargetsOutput;
    use aws_sdk_rds::operation::register_db_proxy_targets::RegisterDbProxyTargetsOutput;
    use aws_sdk_rds::Client;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn describe_proxy_reads_its_endpoint_family_and_secrets() {
        let rule = mock!(Client::describe_db_proxies)
            .match_requests(|r| r.db_proxy_name() == Some("orders-proxy"))
            .then_output(|| {
                DescribeDbProxiesOutput::builder()
                    .db_proxies(
                        rds::DbProxy::builder()
                            .db_proxy_name("orders-proxy")
                            .db_proxy_arn("arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0")
                            .status(rds::DbProxyStatus::Available)
                            .engine_family("MYSQL")
                            .endpoint("orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com")
                            .auth(
                                rds::UserAuthConfigInfo::builder()
                                    .auth_scheme(rds::AuthScheme::Secrets)
                                    .secret_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf")
                                    .build(),
                            )
                            .vpc_security_group_ids("sg-0123456789abcdef0")
                            .build(),
                    )
                    .build()
            });
        let proxies = RdsProxies::from_client(client!(aws_sdk_rds, &rule));
        let proxy = proxies
            .describe_proxy("orders-proxy")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(proxy.status, "available");
        assert_eq!(proxy.engine_family, "MYSQL");
        assert_eq!(
            proxy.endpoint.as_deref(),
            Some("orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com")
        );
        assert_eq!(
            proxy.auth_secret_arns,
            vec!["arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf"]
        );

        let missing = mock!(Client::describe_db_proxies)
            .then_http_response(|| xml_error(404, "DBProxyNotFoundFault"));
        let proxies = RdsProxies::from_client(client!(aws_sdk_rds, &missing));
        assert_eq!(proxies.describe_proxy("gone").await, Ok(None));
    }

    #[tokio::test]
    async fn targets_follow_every_page_of_the_default_target_group() {
        let first = mock!(Client::describe_db_proxy_targets)
            .match_requests(|r| {
                r.db_proxy_name() == Some("orders-proxy")
                    && r.target_group_name() == Some("default")
                    && r.marker().is_none()
            })
            .then_output(|| {
                DescribeDbProxyTargetsOutput::builder()
                    .targets(
                        rds::DbProxyTarget::builder()
                            .r#type(rds::TargetType::TrackedCluster)
                            .tracked_cluster_id("orders")
                            .build(),
                    )
                    .marker("page-2")
                    .build()
            });
        let second = mock!(Client::describe_db_proxy_targets)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                DescribeDbProxyTargetsOutput::builder()
                    .targets(
                        rds::DbProxyTarget::builder()
                            .r#type(rds::TargetType::RdsInstance)
                            .tracked_cluster_id("orders")
                            .rds_resource_id("orders-1")
                            .role(rds::TargetRole::ReadWrite)
                            .target_health(
                                rds::TargetHealth::builder()
                                    .state(rds::TargetState::Unavailable)
                                    .reason(rds::TargetHealthReason::AuthFailure)
                                    .description("wrong password")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let proxies = RdsProxies::from_client(client!(aws_sdk_rds, &first, &second));
        let targets = proxies.targets("orders-proxy").await.unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].kind, "TRACKED_CLUSTER");
        assert_eq!(targets[0].cluster_id.as_deref(), Some("orders"));
        assert_eq!(
            targets[1],
            ProxyTarget {
                kind: "RDS_INSTANCE".into(),
                cluster_id: Some("orders".into()),
                instance_id: Some("orders-1".into()),
                role: Some("READ_WRITE".into()),
                state: Some("UNAVAILABLE".into()),
                reason: Some("AUTH_FAILURE".into()),
                description: Some("wrong password".into()),
            }
        );
    }

    #[tokio::test]
    async fn a_cluster_is_registered_and_deregistered_by_its_identifier() {
        let register = mock!(Client::register_db_proxy_targets)
            .match_requests(|r| {
                r.db_proxy_name() == Some("orders-proxy")
                    && r.target_group_name() == Some("default")
                    && r.db_cluster_identifiers() == ["orders-encrypted"]
                    && r.db_instance_identifiers.is_none()
            })
            .then_output(|| RegisterDbProxyTargetsOutput::builder().build());
        let deregister = mock!(Client::deregister_db_proxy_targets)
            .match_requests(|r| {
                r.db_proxy_name() == Some("orders-proxy")
                    && r.target_group_name() == Some("default")
                    && r.db_cluster_identifiers() == ["orders"]
            })
            .then_output(|| DeregisterDbProxyTargetsOutput::builder().build());
        let proxies = RdsProxies::from_client(client!(aws_sdk_rds, &register, &deregister));
        proxies
            .deregister_cluster("orders-proxy", "orders")
            .await
            .unwrap();
        proxies
            .register_cluster("orders-proxy", "orders-encrypted")
            .await
            .unwrap();
        assert_eq!((register.num_calls(), deregister.num_calls()), (1, 1));

        let taken = mock!(Client::register_db_proxy_targets)
            .then_http_response(|| xml_error(400, "DBProxyTargetAlreadyRegisteredFault"));
        let proxies = RdsProxies::from_client(client!(aws_sdk_rds, &taken));
        assert!(matches!(
            proxies.register_cluster("orders-proxy", "orders").await,
            Err(PortError::AlreadyExists { .. })
        ));
    }
}
