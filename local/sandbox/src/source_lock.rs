//! `SourceLock` over the sandbox's registry: a record per source cluster ARN, compared and
//! written under the registry's file lock, so executions in different processes (two
//! `run --local`, a fleet's children) exclude each other as a DynamoDB conditional put would.
//!
//! Whether a holder still runs is the sandbox's stand-in for `DescribeExecution`: the process
//! that wrote the lock. A dead process's execution has ended; a live one's is running (this
//! process's own executions included: the sandbox cannot tell which of them still run, so it
//! errs towards keeping the lock). A holder with no record is unknown: only its lease counts.

use async_trait::async_trait;
use aurora_core::ports::{HolderStatus, LockRecord, PortResult, SourceLock};

use crate::registry::SourceLockEntry;
use crate::sandbox::Sandbox;
use crate::server::process_alive;

/// The `SourceLock` port over a [`Sandbox`].
#[derive(Clone)]
pub struct SandboxSourceLock {
    sandbox: Sandbox,
}

impl SandboxSourceLock {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }
}

#[async_trait]
impl SourceLock for SandboxSourceLock {
    async fn read(&self, resource: &str) -> PortResult<Option<LockRecord>> {
        Ok(self
            .sandbox
            .registry(|r| r.source_locks.get(resource).map(|e| e.record.clone())))
    }

    async fn write_if(
        &self,
        record: &LockRecord,
        expected_version: Option<u64>,
    ) -> PortResult<bool> {
        let written = self.sandbox.update(|r| {
            let current = r
                .source_locks
                .get(&record.resource)
                .map(|e| e.record.version);
            if current != expected_version {
                return false;
            }
            r.source_locks.insert(
                record.resource.clone(),
                SourceLockEntry {
                    record: record.clone(),
                    pid: std::process::id(),
                },
            );
            true
        })?;
        Ok(written)
    }

    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus> {
        let pid = self.sandbox.registry(|r| {
            r.source_locks
                .values()
                .find(|e| e.record.holder == holder)
                .map(|e| e.pid)
        });
        Ok(match pid {
            None => HolderStatus::Unknown,
            Some(pid) if pid == std::process::id() || process_alive(pid) => HolderStatus::Running,
            Some(_) => HolderStatus::Ended,
        })
    }
}
