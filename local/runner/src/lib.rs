//! `aurora-local`: the whole migration on one machine. The real
//! `statemachine/encrypt-cluster.asl.json` runs on the local engine with every step in-process
//! (`aurora-pipeline`), over the MariaDB sandbox's adapters ([`sandbox_ports`]) or any other
//! [`aurora_pipeline::Ports`] the caller builds (the CLI's AWS backend).
//!
//! - [`runner`]: starts the execution, streams its history to an observer, answers the approval
//!   gate, stops on request;
//! - [`timing`]: where the time went, from the history: step handlers, waits, the engine's own
//!   overhead;
//! - [`writers`]: the demo's application, writing through the sandbox's DNS name and recording
//!   every acknowledged write;
//! - [`checks`]: lost and duplicated writes, encryption at rest;
//! - [`timeline`]: the switchover drawn as an SVG (writes per lane, fenced steps, CDC lag);
//! - [`demo`]: the demo from sandbox up to report;
//! - [`fleet`]: several clusters at once through `encrypt-fleet.asl.json`, each migration a
//!   child execution of encrypt-cluster.
//! - [`dms`]: the DMS engine over the sandbox's DMS stand-in, through the AWS adapter.

pub mod approval_box;
mod aurora_version;
pub mod checks;
pub mod demo;
pub mod dms;
pub mod fleet;
pub mod runner;
pub mod sandbox_ports;
pub mod timeline;
pub mod timing;
pub mod writers;

pub use aurora_version::{aurora_engine_version, AuroraVersioned};
pub use runner::{run_local, Approval, LocalRun, RunOptions};
pub use sandbox_ports::{sandbox_ports, SandboxPortSettings};
