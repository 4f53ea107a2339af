//! `ProxyTargets`: the RDS Proxy the application connects through, and the cluster its default
//! target group tracks (DescribeDBProxies, DescribeDBProxyTargets, RegisterDBProxyTargets,
//! DeregisterDBProxyTargets). `ServerIdentity`: which server a new connection to an endpoint
//! reaches, so that a re-targeted proxy is proven over SQL, not only by its health report.

use async_trait::async_trait;

use super::{DatabaseEndpoint, PortResult};

/// An RDS Proxy, as DescribeDBProxies reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxy {
    pub name: String,
    pub arn: String,
    /// `available`, `modifying`, `creating`, …
    pub status: String,
    /// `MYSQL`, `POSTGRESQL`, `SQLSERVER`.
    pub engine_family: String,
    /// The host name clients connect to.
    pub endpoint: Option<String>,
    /// The port it listens on: the engine's default (3306 for MySQL), whatever the cluster's.
    pub port: i32,
    /// The secrets of its `Auth` entries: the users it logs in as.
    pub auth_secret_arns: Vec<String>,
    pub vpc_security_group_ids: Vec<String>,
}

/// `TargetType` of a cluster registered with a proxy.
pub const TRACKED_CLUSTER: &str = "TRACKED_CLUSTER";
/// `TargetType` of each instance of a tracked cluster.
pub const RDS_INSTANCE: &str = "RDS_INSTANCE";
/// `TargetHealth.State` of a target that serves connections.
pub const TARGET_AVAILABLE: &str = "AVAILABLE";
/// `Role` of the writer instance's target.
pub const READ_WRITE: &str = "READ_WRITE";

/// One entry of DescribeDBProxyTargets: the tracked cluster, or one of its instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyTarget {
    /// `TRACKED_CLUSTER` or `RDS_INSTANCE`.
    pub kind: String,
    /// `TrackedClusterId`.
    pub cluster_id: Option<String>,
    /// `RdsResourceId`: the instance identifier of an instance target.
    pub instance_id: Option<String>,
    /// `READ_WRITE`, `READ_ONLY`, `UNKNOWN`.
    pub role: Option<String>,
    /// `TargetHealth.State`: `REGISTERING`, `AVAILABLE`, `UNAVAILABLE`, `UNUSED`.
    pub state: Option<String>,
    /// `TargetHealth.Reason`: `AUTH_FAILURE`, `CONNECTION_FAILED`, `UNREACHABLE`, …
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[async_trait]
pub trait ProxyTargets: Send + Sync {
    /// The proxy, or `None` when there is none of that name.
    async fn describe_proxy(&self, name: &str) -> PortResult<Option<Proxy>>;
    /// The targets of its default target group.
    async fn targets(&self, name: &str) -> PortResult<Vec<ProxyTarget>>;
    /// Registers a cluster with its default target group.
    async fn register_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()>;
    /// Deregisters a cluster from its default target group.
    async fn deregister_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()>;
}

#[async_trait]
pub trait ServerIdentity: Send + Sync {
    /// Which server a new session at `endpoint` reaches, logged in with the secret
    /// `secret_arn`: the same text for two endpoints of one server, different for two servers
    /// (Aurora's `aurora_server_id`, else `server_uuid`, else `server_id` and `hostname`).
    async fn identity(&self, endpoint: &DatabaseEndpoint, secret_arn: &str) -> PortResult<String>;
}
