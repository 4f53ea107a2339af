//! The RDS CA bundle every SQL connection from a Lambda verifies the clusters' certificates
//! against: the stack's `RdsCaBundleLayer` puts it at `/opt/rds-ca/global-bundle.pem`, and
//! [`RDS_CA_BUNDLE`] names it.

use std::ffi::OsString;
use std::path::PathBuf;

use aurora_sql::Tls;

/// The environment variable naming the RDS CA bundle file (`global-bundle.pem`).
pub const RDS_CA_BUNDLE: &str = "RDS_CA_BUNDLE";

/// TLS against the bundle at `path`; `None` when the variable is unset or empty.
pub fn ca_bundle_tls(path: Option<OsString>) -> Option<Tls> {
    path.filter(|p| !p.is_empty()).map(|p| Tls::Required {
        root_certs: vec![PathBuf::from(p)],
    })
}

/// TLS against the bundle [`RDS_CA_BUNDLE`] names in this process's environment.
pub fn ca_bundle_tls_from_env() -> Option<Tls> {
    ca_bundle_tls(std::env::var_os(RDS_CA_BUNDLE))
}
