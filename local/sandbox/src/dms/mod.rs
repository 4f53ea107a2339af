//! A stand-in for AWS DMS homogeneous data migrations, served over the DMS API's own wire
//! protocol (JSON 1.1 over HTTP, `X-Amz-Target: AmazonDMSv20160101.<Operation>`), so the AWS
//! adapter (`aurora_aws::DmsReplication`) runs unchanged against it: the DMS engine path of the
//! state machine (create, start, poll, drain, stop, delete) meets a service, not a mock.
//!
//! It shows what DMS shows and nothing more:
//! - data providers, instance profiles, migration projects and data migrations, with generated
//!   ARNs, looked up by name or ARN, with DMS's faults (`ResourceNotFoundFault`,
//!   `ResourceAlreadyExistsFault`, `InvalidResourceStateFault` for a start, stop or delete the
//!   status does not allow, or a resource still in use);
//! - the statuses of a CDC data migration: `Creating`, `Ready`, `Starting` for ten minutes
//!   (DMS takes 10–15), `Replication ongoing`, `Stopping`, `Stopped`, and `Failed` with a
//!   `LastFailureMessage` (a secret it cannot read, a server it cannot reach, a bad start
//!   position, a replica thread that stopped);
//! - `DataMigrationStatistics.CDCLatency` refreshed once a minute: between refreshes it is the
//!   old value, and one refresh in four omits it (the field is optional in the API);
//! - no binlog positions: the API has none.
//!
//! Every duration is in DMS time, multiplied by the run's time scale like the state machine's
//! waits. Underneath, changes are applied with the sandbox's native replication from the data
//! migration's `CDCStartPosition`, connecting as the replication user (TLS is not used: sandbox
//! servers have no certificates, where DMS would honour the data provider's `SslMode`).

mod http;
mod model;

pub use http::DmsServer;
pub use model::{DmsStandIn, DmsTimings};
