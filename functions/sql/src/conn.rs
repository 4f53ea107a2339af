//! Connecting with [`ConnectionSettings`], turning driver and server errors into
//! [`PortError`]s by error code (never by message text), and reading result rows by column name
//! without trusting their types.
//!
//! One short-lived connection per port call: the callers are Lambda invocations and polling
//! steps seconds apart, and a pool would outlive the Tokio runtime of each test.

use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::PortResult;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, SslOpts, Value};

use crate::ca_bundle::check_ca_bundle;
use crate::credentials::{redact, ConnectionSettings, Tls};

/// An open connection and the settings it came from (for messages and redaction).
pub(crate) struct Session<'a> {
    pub conn: Conn,
    pub settings: &'a ConnectionSettings,
    /// Other secrets that may appear in this session's errors (a replication password).
    extra_secrets: Vec<String>,
}

pub(crate) async fn connect(settings: &ConnectionSettings) -> PortResult<Session<'_>> {
    let mut builder = OptsBuilder::default()
        .ip_or_hostname(settings.host.clone())
        .tcp_port(settings.port)
        .user(Some(settings.credentials.username()))
        .pass(Some(settings.credentials.password()))
        // A loopback server would otherwise be re-dialled through its Unix socket.
        .prefer_socket(false)
        .stmt_cache_size(0);
    if let Tls::Required { root_certs } = &settings.tls {
        // The driver would read the bundle only after the TCP handshake and report a missing
        // file as a retryable I/O error; it is a deployment error, so say so before dialling.
        for bundle in root_certs {
            check_ca_bundle(bundle).map_err(|e| PortError::InvalidRequest(e.to_string()))?;
        }
        // rustls needs a process-wide crypto provider. The AWS SDK's HTTPS client brings
        // aws-lc-rs, so the driver uses it too and a Lambda links one crypto library, not two
        // (ring as well cost the SQL functions about 0.2 MiB of zip). Whoever installs first
        // wins; it is the same provider either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let roots = root_certs.iter().map(|p| p.clone().into()).collect();
        builder = builder.ssl_opts(SslOpts::default().with_root_certs(roots));
    }
    let attempt = tokio::time::timeout(settings.connect_timeout, Conn::new(builder)).await;
    let conn = match attempt {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => return Err(classify(&error, "connect", settings, &[])),
        Err(_) => {
            return Err(PortError::Transient(format!(
                "connect to {} timed out after {:?}",
                settings.address(),
                settings.connect_timeout
            )))
        }
    };
    Ok(Session {
        conn,
        settings,
        extra_secrets: Vec::new(),
    })
}

impl Session<'_> {
    /// Also redact `secret` from this session's errors.
    pub(crate) fn redacting(mut self, secret: &str) -> Self {
        self.extra_secrets.push(secret.to_string());
        self
    }

    pub(crate) fn error(&self, error: &mysql_async::Error, what: &str) -> PortError {
        let extra: Vec<&str> = self.extra_secrets.iter().map(String::as_str).collect();
        classify(error, what, self.settings, &extra)
    }

    pub(crate) async fn query(&mut self, sql: &str, what: &str) -> PortResult<Vec<Row>> {
        match self.conn.query(sql).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.error(&e, what)),
        }
    }

    /// A query whose error the caller inspects before classifying it.
    pub(crate) async fn query_raw(&mut self, sql: &str) -> Result<Vec<Row>, mysql_async::Error> {
        self.conn.query(sql).await
    }

    pub(crate) async fn exec(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        what: &str,
    ) -> PortResult<Vec<Row>> {
        match self.conn.exec(sql, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.error(&e, what)),
        }
    }

    /// [`Session::exec`] whose error the caller inspects before classifying it.
    pub(crate) async fn exec_raw(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Row>, mysql_async::Error> {
        self.conn.exec(sql, params).await
    }

    /// [`Session::exec_drop`] whose error the caller inspects before classifying it.
    pub(crate) async fn exec_drop_raw(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(), mysql_async::Error> {
        self.conn.exec_drop(sql, params).await
    }

    /// Runs a statement, discarding every result set it returns (a `CALL` returns several).
    pub(crate) async fn exec_drop(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        what: &str,
    ) -> PortResult<()> {
        match self.conn.exec_drop(sql, params).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.error(&e, what)),
        }
    }

    /// Runs a `CALL` and returns the rows of its first result set.
    pub(crate) async fn call_rows(&mut self, sql: &str, what: &str) -> PortResult<Vec<Row>> {
        let mut result = match self.conn.query_iter(sql).await {
            Ok(result) => result,
            Err(e) => return Err(self.error(&e, what)),
        };
        let rows: Vec<Row> = match result.collect().await {
            Ok(rows) => rows,
            Err(e) => return Err(self.error(&e, what)),
        };
        // The remaining result sets (a CALL always ends with a status one) must be read before
        // the connection can be used or closed cleanly.
        if let Err(e) = result.drop_result().await {
            return Err(self.error(&e, what));
        }
        Ok(rows)
    }

    /// Closes the connection; a failure to say goodbye is not the caller's problem.
    pub(crate) async fn close(self) {
        if let Err(error) = self.conn.disconnect().await {
            tracing::debug!(server = %self.settings.address(), %error, "disconnect failed");
        }
    }
}

/// MySQL and MariaDB server error codes this crate tells apart.
pub(crate) mod codes {
    pub(crate) const DB_ACCESS_DENIED: u16 = 1044;
    pub(crate) const ACCESS_DENIED: u16 = 1045;
    pub(crate) const BAD_DB: u16 = 1049;
    pub(crate) const SERVER_SHUTDOWN: u16 = 1053;
    pub(crate) const PARSE_ERROR: u16 = 1064;
    pub(crate) const CON_COUNT: u16 = 1040;
    pub(crate) const TABLE_ACCESS_DENIED: u16 = 1142;
    pub(crate) const COLUMN_ACCESS_DENIED: u16 = 1143;
    pub(crate) const NO_SUCH_TABLE: u16 = 1146;
    /// `ER_OPTION_PREVENTS_STATEMENT`: `--read-only` (or `super_read_only`) refused a write.
    pub(crate) const OPTION_PREVENTS_STATEMENT: u16 = 1290;
    pub(crate) const NET_READ_ERROR: u16 = 1158;
    pub(crate) const NET_WRITE_INTERRUPTED: u16 = 1161;
    pub(crate) const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
    pub(crate) const SLAVE_MUST_STOP: u16 = 1198;
    pub(crate) const SLAVE_NOT_RUNNING: u16 = 1199;
    pub(crate) const BAD_SLAVE: u16 = 1200;
    pub(crate) const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub(crate) const LOCK_DEADLOCK: u16 = 1213;
    pub(crate) const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub(crate) const SP_DOES_NOT_EXIST: u16 = 1305;
    pub(crate) const QUERY_INTERRUPTED: u16 = 1317;
    pub(crate) const PROC_ACCESS_DENIED: u16 = 1370;
    pub(crate) const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
    /// MariaDB `max_statement_time` exceeded.
    pub(crate) const STATEMENT_TIMEOUT: u16 = 1969;
    /// MariaDB: connection killed.
    pub(crate) const CONNECTION_KILLED: u16 = 1927;
    /// MySQL `max_execution_time` exceeded.
    pub(crate) const QUERY_TIMEOUT: u16 = 3024;
}

/// A [`PortError`] for `error` during `what` on `settings`' server, by error code, with every
/// known secret removed from the text.
pub(crate) fn classify(
    error: &mysql_async::Error,
    what: &str,
    settings: &ConnectionSettings,
    extra_secrets: &[&str],
) -> PortError {
    use mysql_async::{DriverError, Error, IoError};
    let mut secrets = vec![settings.credentials.password()];
    secrets.extend_from_slice(extra_secrets);
    let text = redact(
        &format!("{what} on {}: {error}", settings.address()),
        &secrets,
    );
    match error {
        Error::Server(server) => classify_server_code(server.code, text),
        // A certificate the client does not trust arrives as an I/O error too; retrying will
        // not fix it.
        Error::Io(IoError::Io(io)) if is_tls_failure(io) => PortError::Other(text),
        Error::Io(IoError::Io(_)) => PortError::Transient(text),
        Error::Io(_) => PortError::Other(text),
        Error::Driver(DriverError::ConnectionClosed | DriverError::PacketOutOfOrder) => {
            PortError::Transient(text)
        }
        Error::Driver(_) | Error::Other(_) => PortError::Other(text),
        Error::Url(_) => PortError::InvalidRequest(text),
    }
}

fn is_tls_failure(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

fn classify_server_code(code: u16, text: String) -> PortError {
    use codes::*;
    match code {
        DB_ACCESS_DENIED
        | ACCESS_DENIED
        | TABLE_ACCESS_DENIED
        | COLUMN_ACCESS_DENIED
        | SPECIFIC_ACCESS_DENIED
        | PROC_ACCESS_DENIED
        | ACCESS_DENIED_NO_PASSWORD => PortError::AccessDenied(text),
        CON_COUNT
        | SERVER_SHUTDOWN
        | NET_READ_ERROR..=NET_WRITE_INTERRUPTED
        | LOCK_WAIT_TIMEOUT
        | LOCK_DEADLOCK
        | QUERY_INTERRUPTED
        | STATEMENT_TIMEOUT
        | CONNECTION_KILLED
        | QUERY_TIMEOUT => PortError::Transient(text),
        BAD_DB | NO_SUCH_TABLE => PortError::NotFound {
            resource: Resource::Other,
            message: text,
        },
        PARSE_ERROR | SP_DOES_NOT_EXIST | UNKNOWN_SYSTEM_VARIABLE => {
            PortError::InvalidRequest(text)
        }
        SLAVE_MUST_STOP | SLAVE_NOT_RUNNING | BAD_SLAVE => PortError::InvalidState(text),
        _ => PortError::Other(text),
    }
}

/// The server error code behind `error`, if the server sent one.
pub(crate) fn server_code(error: &mysql_async::Error) -> Option<u16> {
    match error {
        mysql_async::Error::Server(server) => Some(server.code),
        _ => None,
    }
}

/// A cell as text, whatever type the protocol delivered it as; `None` for SQL NULL.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true)),
    }
}

/// The first of `names` that the row has, as text (`None` when absent or NULL).
pub(crate) fn column(row: &Row, names: &[&str]) -> Option<String> {
    let columns = row.columns_ref();
    names.iter().find_map(|name| {
        let index = columns
            .iter()
            .position(|c| c.name_str().eq_ignore_ascii_case(name))?;
        row.as_ref(index).and_then(value_text)
    })
}

/// Cell `index` as text.
pub(crate) fn cell(row: &Row, index: usize) -> Option<String> {
    row.as_ref(index).and_then(value_text)
}

/// `name` as a number; absent, NULL or unparsable reads as `None`.
pub(crate) fn column_u64(row: &Row, names: &[&str]) -> Option<u64> {
    column(row, names).and_then(|t| t.trim().parse().ok())
}

/// `` `name` `` with embedded backticks doubled, so any identifier is safe in SQL text.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;

    #[test]
    fn identifiers_are_backtick_quoted_with_backticks_doubled() {
        assert_eq!(quote_identifier("orders"), "`orders`");
        assert_eq!(quote_identifier("we`ird"), "`we``ird`");
        assert_eq!(
            quote_identifier("a`; DROP TABLE x; --"),
            "`a``; DROP TABLE x; --`"
        );
    }

    fn server_error(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn server_errors_are_classified_by_code_and_redacted() {
        let settings = ConnectionSettings::new(
            "db",
            3306,
            Credentials::new("admin", "hunter22"),
            Tls::Disabled,
        );
        let denied = classify(
            &server_error(
                1045,
                "Access denied for user 'admin' using hunter22 and r3pl-pw",
            ),
            "connect",
            &settings,
            &["r3pl-pw"],
        );
        let PortError::AccessDenied(text) = denied else {
            panic!("{denied:?}")
        };
        assert!(
            !text.contains("hunter22") && !text.contains("r3pl-pw"),
            "{text}"
        );
        assert!(text.contains("db:3306"), "{text}");
        assert!(matches!(
            classify(&server_error(1213, "deadlock"), "x", &settings, &[]),
            PortError::Transient(_)
        ));
        assert!(matches!(
            classify(
                &server_error(1305, "PROCEDURE mysql.rds_x does not exist"),
                "x",
                &settings,
                &[]
            ),
            PortError::InvalidRequest(_)
        ));
        assert!(
            classify(&server_error(1146, "no such table"), "x", &settings, &[])
                .is_not_found(Resource::Other)
        );
        assert!(matches!(
            classify(&server_error(1062, "Duplicate entry"), "x", &settings, &[]),
            PortError::Other(_)
        ));
    }

    #[test]
    fn io_errors_are_transient_but_untrusted_certificates_are_not() {
        let settings =
            ConnectionSettings::new("db", 3306, Credentials::new("admin", "pw12"), Tls::Disabled);
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )));
        assert!(matches!(
            classify(&io, "connect", &settings, &[]),
            PortError::Transient(_)
        ));
        let untrusted = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("invalid peer certificate".into()),
        )));
        assert!(matches!(
            classify(&untrusted, "connect", &settings, &[]),
            PortError::Other(_)
        ));
    }

    #[tokio::test]
    async fn a_missing_ca_bundle_fails_before_dialling_and_is_not_transient() {
        // Port 9 on loopback: were the server dialled, the refusal would read as Transient.
        let settings = ConnectionSettings::new(
            "127.0.0.1",
            9,
            Credentials::new("admin", "pw12"),
            Tls::Required {
                root_certs: vec!["/opt/rds-ca/global-bundle.pem.missing".into()],
            },
        );
        let Err(error) = connect(&settings).await else {
            panic!("connected without a CA bundle")
        };
        let PortError::InvalidRequest(text) = &error else {
            panic!("{error:?}")
        };
        assert!(text.contains("global-bundle.pem.missing"), "{text}");
        assert_ne!(error.default_name(), "Transient");
    }
}
