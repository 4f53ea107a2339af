//! Where a sandbox lives and the port its servers listen on.

use std::path::PathBuf;

/// The port every sandbox cluster listens on unless told otherwise (never 3306).
pub const DEFAULT_PORT: u16 = 13306;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Everything lives here: registry, clusters, snapshots, keys, zones.
    pub dir: PathBuf,
    /// Used when the sandbox is created; an existing sandbox keeps its port.
    pub port: u16,
}

impl SandboxConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            port: DEFAULT_PORT,
        }
    }

    /// `<system temp dir>/aurora-encrypt-sandbox`.
    pub fn default_dir() -> PathBuf {
        std::env::temp_dir().join("aurora-encrypt-sandbox")
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self::new(Self::default_dir())
    }
}
