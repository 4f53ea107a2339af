//! The RDS CA bundle (`global-bundle.pem`) that TLS connections to Aurora verify the servers
//! against, checked before anything connects.
//!
//! The driver reads the file only once a server has accepted the TCP connection, and reports a
//! missing file as an I/O error, which reads like a network fault and would be retried while
//! writes are fenced. Checking the file first turns it into a configuration error that names
//! the file and the fix, and lets Preflight refuse a spec that will need it.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// What to do when the bundle is missing, for every message that reports it.
pub const CA_BUNDLE_FIX: &str = "deploy the stack's RdsCaBundleLayer (sam build makes it from infra/rds-ca) and set RDS_CA_BUNDLE to /opt/rds-ca/global-bundle.pem, or pass --rds-ca-bundle global-bundle.pem to a local run";

/// Why the bundle at a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RDS CA bundle `{path}` {problem}: {CA_BUNDLE_FIX}")]
pub struct CaBundleError {
    pub path: String,
    pub problem: String,
}

/// Reads the bundle at `path` and checks that it holds at least one certificate usable as a
/// trust anchor; returns how many it holds.
pub fn check_ca_bundle(path: &Path) -> Result<usize, CaBundleError> {
    let error = |problem: String| CaBundleError {
        path: path.display().to_string(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot be read ({e})")))?;
    let mut roots = rustls::RootCertStore::empty();
    for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| error(format!("is not valid PEM ({e:?})")))?;
        roots.add(cert).map_err(|e| {
            error(format!(
                "holds an unusable certificate #{} ({e})",
                index + 1
            ))
        })?;
    }
    match roots.len() {
        0 => Err(error("holds no PEM certificate".into())),
        count => Ok(count),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed CA certificate (`openssl req -x509 -newkey ec -pkeyopt
    /// ec_paramgen_curve:P-256 -nodes -subj /CN=aurora-encrypt-test-ca -days 36500`).
    pub(crate) const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUFO3ovmzdOaw6rFSwaydnC/R4gLswCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWYXVyb3JhLWVuY3J5cHQtdGVzdC1jYTAgFw0yNjExMzAxNTQw
MDVaGA8yMTI2MTEwNjE1NDAwNVowITEfMB0GA1UEAwwWYXVyb3JhLWVuY3J5cHQt
dGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEf1sEecHvkoDOXtgRxQ
Xf6+zpF06YjBHDN1LZjE0YH8Xr/X9RO7TQZGBOZRqikiaoRsG1SHNMuwmTD7P638
/TmjUzBRMB0GA1UdDgQWBBThfsUPdpzHzoF9zUmOUSLvLawytTAfBgNVHSMEGDAW
gBThfsUPdpzHzoF9zUmOUSLvLawytTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0gAMEUCICZVFttyWm+RsqNDz0/SCKooz6YMrW74zk6prYtfDMMSAiEA4SQl
peghep3rMWgUytcisPEkdLMoZeWJUPuNsGA8lJk=
-----END CERTIFICATE-----
";

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("aurora-sql-ca-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_bundle_is_named_with_its_fix() {
        let error = check_ca_bundle(Path::new("/opt/rds-ca/no-such-bundle.pem")).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("/opt/rds-ca/no-such-bundle.pem"), "{text}");
        assert!(text.contains("cannot be read"), "{text}");
        assert!(text.contains("RdsCaBundleLayer"), "{text}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = scratch("empty");
        let empty = write(&dir, "empty.pem", "");
        assert!(check_ca_bundle(&empty)
            .unwrap_err()
            .problem
            .contains("no PEM certificate"));
        let html = write(&dir, "error.html", "<html>403 Forbidden</html>\n");
        assert!(check_ca_bundle(&html)
            .unwrap_err()
            .problem
            .contains("no PEM certificate"));
    }

    #[test]
    fn a_bundle_of_ca_certificates_is_counted() {
        let dir = scratch("two");
        let two = write(&dir, "bundle.pem", &format!("{TEST_CA}{TEST_CA}"));
        assert_eq!(check_ca_bundle(&two), Ok(2));
    }
}
