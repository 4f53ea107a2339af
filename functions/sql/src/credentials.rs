//! Logins and connection settings, and where they come from: a Secrets Manager secret's JSON
//! (`{"username", "password", "host", "port"}`) read through [`SecretsSource`].
//!
//! The password lives in [`Credentials`] only, whose `Debug` never prints it, and every error
//! this crate builds passes through [`ConnectionSettings::redact`], so a password that a server
//! echoes back never reaches a log, an error message or a state document.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{DatabaseEndpoint, PortResult};
use serde::Deserialize;

/// A user name and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, for the connection and the `CHANGE MASTER` parameters only.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username)
    }
}

/// Transport security of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP: loopback sandboxes only.
    Disabled,
    /// TLS with the server certificate verified against the built-in web roots plus
    /// `root_certs` (PEM or DER files). RDS certificates chain to the RDS CAs, which are not web
    /// roots: pass the region's bundle (`global-bundle.pem`).
    Required { root_certs: Vec<PathBuf> },
}

/// How long a connection attempt may take before it counts as a transient failure.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to log in to one MySQL-protocol server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
    pub tls: Tls,
    pub connect_timeout: Duration,
}

impl ConnectionSettings {
    pub fn new(host: impl Into<String>, port: u16, credentials: Credentials, tls: Tls) -> Self {
        Self {
            host: host.into(),
            port,
            credentials,
            tls,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `text` with every occurrence of the password replaced.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &[self.credentials.password()])
    }
}

/// `text` with every non-empty secret replaced by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |acc, secret| acc.replace(secret, "***"))
}

/// The JSON of a Secrets Manager database secret. RDS-managed master user secrets carry only
/// `username` and `password`; secrets made for a cluster usually add `host` and `port`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SecretValue {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default, deserialize_with = "port_from_number_or_string")]
    pub port: Option<u16>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

fn port_from_number_or_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("port is not a number between 0 and 65535")),
    }
}

impl SecretValue {
    /// Parses the secret's JSON. The error names what is wrong and never quotes the input.
    pub fn from_json(json: &str) -> Result<Self, PortError> {
        serde_json::from_str(json).map_err(|e| {
            // serde_json's messages may quote a value (a password among them): keep only a
            // missing field's name, or else the category and the location.
            let message = e.to_string();
            let detail = match message.strip_prefix("missing field ") {
                Some(rest) => format!("missing field {}", rest.split(' ').next().unwrap_or("")),
                None => format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            };
            PortError::InvalidRequest(format!(
                "secret is not database credentials JSON {{\"username\", \"password\", \"host\", \"port\"}}: {detail}"
            ))
        })
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.username, &self.password)
    }

    /// Settings for the server at `endpoint`. The endpoint wins over the secret's own host and
    /// port: a restored cluster shares the source's users, and so the source's secret, but not
    /// its address.
    pub fn at_endpoint(
        &self,
        endpoint: &DatabaseEndpoint,
        tls: Tls,
    ) -> PortResult<ConnectionSettings> {
        let port = u16::try_from(endpoint.port).map_err(|_| {
            PortError::InvalidRequest(format!(
                "port {} of {} is not a TCP port",
                endpoint.port, endpoint.cluster_id
            ))
        })?;
        Ok(ConnectionSettings::new(
            &endpoint.host,
            port,
            self.credentials(),
            tls,
        ))
    }

    /// Settings from the secret's own `host` and `port` (3306 when the port is absent).
    pub fn settings(&self, tls: Tls) -> PortResult<ConnectionSettings> {
        let host = self
            .host
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| PortError::InvalidRequest("secret has no `host`".into()))?;
        Ok(ConnectionSettings::new(
            host,
            self.port.unwrap_or(3306),
            self.credentials(),
            tls,
        ))
    }
}

/// Reads a secret's JSON text by ARN. The AWS implementation is `GetSecretValue`'s
/// `SecretString`; it belongs with the AWS adapters, which this crate does not depend on.
#[async_trait]
pub trait SecretsSource: Send + Sync {
    async fn secret_json(&self, secret_arn: &str) -> PortResult<String>;

    /// The secret parsed as database credentials.
    async fn secret_value(&self, secret_arn: &str) -> PortResult<SecretValue> {
        SecretValue::from_json(&self.secret_json(secret_arn).await?)
    }
}

/// Secrets held in memory, keyed by ARN: the sandbox and tests.
#[derive(Default, Clone)]
pub struct StaticSecrets {
    secrets: HashMap<String, String>,
}

impl StaticSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, secret_arn: impl Into<String>, value: &SecretValue) -> Self {
        let json = serde_json::json!({
            "username": value.username,
            "password": value.password,
            "host": value.host,
            "port": value.port,
        });
        self.secrets.insert(secret_arn.into(), json.to_string());
        self
    }
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticSecrets")
            .field("arns", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl SecretsSource for StaticSecrets {
    async fn secret_json(&self, secret_arn: &str) -> PortResult<String> {
        self.secrets
            .get(secret_arn)
            .cloned()
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Other,
                message: format!("secret {secret_arn}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "pa$$-w0rd-\"quoted\"";

    #[test]
    fn debug_and_display_never_print_the_password() {
        let credentials = Credentials::new("admin", PASSWORD);
        let settings = ConnectionSettings::new("db", 3306, credentials.clone(), Tls::Disabled);
        for text in [
            format!("{credentials:?}"),
            format!("{credentials}"),
            format!("{settings:?}"),
            format!("{:?}", SecretValue::from_json(&secret_json()).unwrap()),
        ] {
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(text.contains("admin"), "{text}");
        }
    }

    fn secret_json() -> String {
        serde_json::json!({"username": "admin", "password": PASSWORD, "host": "h", "port": 3306})
            .to_string()
    }

    #[test]
    fn secret_json_with_a_string_port_parses() {
        let value = SecretValue::from_json(
            r#"{"username":"u","password":"p","host":"db.example","port":"3307","engine":"mysql"}"#,
        )
        .unwrap();
        let settings = value.settings(Tls::Disabled).unwrap();
        assert_eq!(settings.address(), "db.example:3307");
        assert_eq!(settings.credentials.password(), "p");
    }

    #[test]
    fn managed_secret_without_host_takes_the_endpoint() {
        let value = SecretValue::from_json(r#"{"username":"u","password":"p"}"#).unwrap();
        assert!(matches!(
            value.settings(Tls::Disabled),
            Err(PortError::InvalidRequest(_))
        ));
        let endpoint = DatabaseEndpoint {
            cluster_id: "orders-encrypted".into(),
            host: "target.example".into(),
            port: 3306,
        };
        let settings = value.at_endpoint(&endpoint, Tls::Disabled).unwrap();
        assert_eq!(settings.address(), "target.example:3306");
    }

    #[test]
    fn malformed_secret_errors_do_not_quote_the_secret() {
        let json = format!(r#"{{"username":"u","password":{PASSWORD:?},"port":"not-a-port"}}"#);
        let err = SecretValue::from_json(&json).unwrap_err().to_string();
        assert!(!err.contains(PASSWORD), "{err}");
        assert!(!err.contains("not-a-port"), "{err}");
        let err = SecretValue::from_json(&format!(r#"{{"password":{PASSWORD:?}}}"#))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(PASSWORD), "{err}");
        assert!(err.contains("missing field `username`"), "{err}");
        let err = SecretValue::from_json(r#"{"username":"u","password":12345678}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("12345678"), "{err}");
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        assert_eq!(redact("a s3cr3t b s3cr3t", &["s3cr3t", ""]), "a *** b ***");
    }

    #[tokio::test]
    async fn static_secrets_round_trip_and_report_missing_arns() {
        let value = SecretValue::from_json(&secret_json()).unwrap();
        let secrets = StaticSecrets::new().with("arn:secret:a", &value);
        assert_eq!(secrets.secret_value("arn:secret:a").await.unwrap(), value);
        assert!(secrets
            .secret_value("arn:secret:b")
            .await
            .unwrap_err()
            .is_not_found(Resource::Other));
        assert!(!format!("{secrets:?}").contains(PASSWORD));
    }
}
