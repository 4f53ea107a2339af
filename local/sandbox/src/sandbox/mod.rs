//! [`Sandbox`]: a directory of MariaDB clusters, their registry, and the processes this process
//! started. Servers keep running between CLI invocations (`sandbox up`, then `status`, then
//! `down`); a `Sandbox` that is dropped without [`Sandbox::detach`] kills the servers it started
//! itself, so a failed test or a panic leaves nothing running.
//!
//! This file holds the handle and what it hands out; its methods are spread by concern over
//! `config`, `registry_access`, `lifecycle`, `connections`, `credentials` and `seed`.

mod config;
mod connections;
mod credentials;
mod lifecycle;
mod registry_access;
mod seed;

pub use config::{SandboxConfig, DEFAULT_PORT};
pub use credentials::{
    ADMIN_SECRET_ARN, APP_SECRET_ARN, PRIVILEGED_APP_USER, REPLICATION_SECRET_ARN, REPLICATION_USER,
};
pub use registry_access::ClusterStatus;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::process::Child;

use crate::error::{SandboxError, SandboxResult};
use crate::registry::{self, Registry};
use crate::tools::Tools;
use crate::{SandboxClusters, SandboxDns, SandboxFence};

/// The zone the sandbox's DNS records live in.
pub const ZONE_ID: &str = "sandbox";
/// The application's DNS name: a CNAME to the writer endpoint of the cluster it uses.
pub const APP_RECORD: &str = "db.sandbox.internal";
/// TTL of the application record: clients re-resolve at least this often.
pub const APP_RECORD_TTL: i64 = 1;
/// The instance class sandbox instances report.
pub const INSTANCE_CLASS: &str = "db.sandbox";
/// The engine sandbox clusters report: they stand in for Aurora MySQL.
pub const ENGINE: &str = "aurora-mysql";

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) tools: Tools,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) children: Mutex<HashMap<String, Child>>,
    pub(crate) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    detached: std::sync::atomic::AtomicBool,
    /// Set by `destroy`: no background work starts after it.
    pub(crate) closing: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        if self.detached.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for (_, child) in lock(&self.children).iter_mut() {
            let _ = child.start_kill();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle on one sandbox directory; cheap to clone, shared by the port adapters.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

impl Sandbox {
    /// Opens the sandbox in `config.dir`, creating it if needed. Refuses, naming the install
    /// command, when MariaDB is missing.
    pub fn open(config: SandboxConfig) -> SandboxResult<Self> {
        let tools = Tools::locate()?;
        if config.port == 3306 {
            return Err(SandboxError::InvalidState(
                "port 3306 is left to a system server; choose another".into(),
            ));
        }
        std::fs::create_dir_all(&config.dir).map_err(SandboxError::io(format!(
            "creating {}",
            config.dir.display()
        )))?;
        let dir = config.dir.canonicalize().map_err(SandboxError::io(format!(
            "resolving {}",
            config.dir.display()
        )))?;
        let registry = {
            let _locked = registry::RegistryLock::exclusive(&dir)?;
            match Registry::load(&dir)? {
                Some(registry) => registry,
                None => {
                    let registry = Registry {
                        port: config.port,
                        next_server_id: 1,
                        ..Registry::default()
                    };
                    registry.save(&dir)?;
                    registry
                }
            }
        };
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                dir,
                tools,
                registry: Mutex::new(registry),
                children: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
                detached: std::sync::atomic::AtomicBool::new(false),
                closing: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        sandbox.dns().create_zone(ZONE_ID)?;
        Ok(sandbox)
    }

    /// Opens an existing sandbox without creating anything; `None` if `dir` holds none.
    pub fn existing(dir: &Path) -> SandboxResult<Option<Self>> {
        if !Registry::path(dir).exists() {
            return Ok(None);
        }
        Self::open(SandboxConfig::new(dir)).map(Some)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
    pub fn tools(&self) -> &Tools {
        &self.inner.tools
    }
    pub fn port(&self) -> u16 {
        self.registry(|r| r.port)
    }

    /// Leaves the servers this process started running when the sandbox is dropped (`sandbox
    /// up`); `down` or [`Sandbox::shutdown`] stops them later.
    pub fn detach(&self) {
        self.inner
            .detached
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn clusters(&self) -> SandboxClusters {
        SandboxClusters::new(self.clone())
    }
    pub fn fence(&self) -> SandboxFence {
        SandboxFence::new(self.clone())
    }
    /// The fence's SQL half over this sandbox's clusters.
    pub fn fence_sql(&self) -> aurora_sql::SqlFence<crate::fence::SandboxWriters> {
        aurora_sql::SqlFence::new(crate::fence::SandboxWriters::new(self.clone()))
    }
    pub fn source_lock(&self) -> crate::SandboxSourceLock {
        crate::SandboxSourceLock::new(self.clone())
    }
    pub fn dns(&self) -> SandboxDns {
        SandboxDns::new(self.inner.dir.join("dns"))
    }

    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = lock(&self.inner.tasks);
        // A sandbox being destroyed starts nothing more: a step still running (an interrupted
        // engine) would otherwise start a server after the clean-up has stopped them all.
        if self.inner.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(task));
    }
}
