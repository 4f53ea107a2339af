//! The DMS stand-in on loopback HTTP/1.1, speaking the API's JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: AmazonDMSv20160101.<Operation>` and a JSON body; answers `200` with the
//! output, or `400` with `{"__type": <fault>, "message"}` as the SDK expects. Requests are not
//! signature-checked: it stands in for the service's behaviour, not for IAM.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::model::DmsStandIn;
use crate::error::{SandboxError, SandboxResult};

const TARGET_PREFIX: &str = "AmazonDMSv20160101.";
/// Requests larger than this are refused: the API's inputs are a few kilobytes.
const MAX_BODY: usize = 1 << 20;

/// A running stand-in; stops serving when dropped.
pub struct DmsServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl DmsServer {
    /// Listens on an ephemeral loopback port.
    pub async fn start(service: Arc<DmsStandIn>) -> SandboxResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SandboxError::io("binding the DMS stand-in"))?;
        let address = listener
            .local_addr()
            .map_err(SandboxError::io("the DMS stand-in's address"))?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, &service).await {
                        tracing::debug!(error = %e, "DMS stand-in connection ended");
                    }
                });
            }
        });
        Ok(Self { address, task })
    }

    /// The endpoint URL to give the SDK (`endpoint_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for DmsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the requests of one connection (the SDK keeps connections alive).
async fn serve(stream: TcpStream, service: &DmsStandIn) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut target = None;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = Some(value.to_string()),
                    "content-length" => length = value.parse().unwrap_or(0),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        if length > MAX_BODY {
            return Ok(());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let (status, payload) = answer(service, target.as_deref(), &body).await;
        let text = payload.to_string();
        let mut response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nx-amzn-requestid: {}\r\n",
            text.len(),
            fastrand::u64(..)
        );
        if let Some(code) = payload.get("__type").and_then(Value::as_str) {
            response.push_str(&format!("x-amzn-errortype: {code}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&text);
        write.write_all(response.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

async fn answer(service: &DmsStandIn, target: Option<&str>, body: &[u8]) -> (&'static str, Value) {
    let Some(operation) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
        return (
            "400 Bad Request",
            json!({"__type": "UnknownOperationException", "message": "missing or foreign X-Amz-Target"}),
        );
    };
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(input) => input,
            Err(e) => {
                return (
                    "400 Bad Request",
                    json!({"__type": "SerializationException", "message": e.to_string()}),
                )
            }
        }
    };
    match service.call(operation, &input).await {
        Ok(output) => ("200 OK", output),
        Err(fault) => (
            "400 Bad Request",
            json!({"__type": fault.code, "message": fault.message}),
        ),
    }
}
