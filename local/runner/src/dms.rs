//! The DMS engine over the sandbox: the sandbox's DMS stand-in served on loopback, and the AWS
//! adapter (`aurora_aws::DmsReplication`) pointed at it with the SDK's `endpoint_url`, so a
//! local run goes through the same DMS request and response handling as a Lambda.

use std::sync::Arc;

use aurora_aws::DmsReplication;
use aurora_sandbox::dms::{DmsServer, DmsStandIn, DmsTimings};
use aurora_sandbox::{Sandbox, SandboxResult};
use aws_sdk_databasemigration::config::{BehaviorVersion, Credentials, Region};
use serde_json::{json, Value};

/// The IAM role the demo's DMS spec names; the stand-in checks no IAM.
pub const SERVICE_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/aurora-sandbox-dms";

/// A running stand-in and the adapter that talks to it; the stand-in stops when dropped.
pub struct SandboxDms {
    pub server: DmsServer,
    pub replication: DmsReplication,
}

/// Starts the stand-in with DMS's durations scaled by `time_scale`.
pub async fn start(sandbox: &Sandbox, time_scale: f64) -> SandboxResult<SandboxDms> {
    let service = DmsStandIn::new(sandbox.clone(), DmsTimings::default().scaled(time_scale));
    let server = DmsServer::start(Arc::new(service)).await?;
    let config = aws_sdk_databasemigration::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("sandbox"))
        .endpoint_url(server.url())
        .credentials_provider(Credentials::new(
            "sandbox",
            "sandbox",
            None,
            None,
            "aurora-sandbox",
        ))
        .build();
    let replication =
        DmsReplication::from_client(aws_sdk_databasemigration::Client::from_conf(config));
    Ok(SandboxDms {
        server,
        replication,
    })
}

/// The spec's `replication` for DMS in the sandbox: the sandbox's secrets, a role and a subnet
/// group by name (the stand-in runs no network of its own).
pub fn replication_spec() -> Value {
    json!({
        "engine": "dms",
        "serviceRoleArn": SERVICE_ROLE_ARN,
        "sourceSecretArn": aurora_sandbox::REPLICATION_SECRET_ARN,
        "targetSecretArn": aurora_sandbox::ADMIN_SECRET_ARN,
        "instanceProfile": { "subnetGroupIdentifier": "aurora-sandbox" }
    })
}
