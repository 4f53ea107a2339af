//! The sandbox zone served over real DNS (UDP on loopback, hickory-server), so that clients
//! resolve the application's name as applications do: through a stub resolver that caches each
//! answer for its TTL.
//!
//! Each query reads the zone file ([`SandboxDns::lookup`]): a change made through the API is
//! served once it is INSYNC, as Route 53's name servers serve it. The record's CNAME chain ends at
//! a cluster endpoint, which in the sandbox is a loopback address: the answer is an `A` record
//! for the queried name with that address and the smallest TTL on the chain.
//!
//! TTLs are in the run's time: a TTL of 300 s is served as 300 × the time scale (rounded to whole
//! seconds, as DNS TTLs are), the same compression the state machine applies to its waits, so a
//! client caches an answer for as long, relative to the run, as it would on AWS.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use hickory_server::authority::MessageResponseBuilder;
use hickory_server::proto::op::{Header, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::ServerFuture;
use tokio::task::JoinHandle;

use crate::dns::SandboxDns;
use crate::error::{SandboxError, SandboxResult};

/// A running DNS server; stops serving when dropped.
pub struct SandboxDnsServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl SandboxDnsServer {
    /// Serves `zone_id` of `dns` on an ephemeral loopback UDP port. Call inside a Tokio runtime.
    pub fn start(dns: SandboxDns, zone_id: &str, time_scale: f64) -> SandboxResult<Self> {
        Self::start_with(dns, zone_id, time_scale, |_| {})
    }

    /// [`Self::start`], calling `on_answer` with every address it answers (so that the network
    /// behind it serves that endpoint before the client connects).
    pub fn start_with(
        dns: SandboxDns,
        zone_id: &str,
        time_scale: f64,
        on_answer: impl Fn(Ipv4Addr) + Send + Sync + 'static,
    ) -> SandboxResult<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(SandboxError::io("binding the sandbox DNS server"))?;
        let address = socket
            .local_addr()
            .map_err(SandboxError::io("the sandbox DNS server's address"))?;
        socket
            .set_nonblocking(true)
            .map_err(SandboxError::io("the sandbox DNS server's socket"))?;
        let mut server = ServerFuture::new(ZoneHandler {
            dns,
            on_answer: Box::new(on_answer),
            zone_id: zone_id.to_string(),
            time_scale: if time_scale.is_finite() && time_scale > 0.0 {
                time_scale
            } else {
                1.0
            },
        });
        server
            .register_socket_std(socket)
            .map_err(SandboxError::io("serving the sandbox zone"))?;
        let task = tokio::spawn(async move {
            if let Err(e) = server.block_until_done().await {
                tracing::warn!(error = %e, "the sandbox DNS server stopped");
            }
        });
        Ok(Self { address, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for SandboxDnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ZoneHandler {
    dns: SandboxDns,
    on_answer: Box<dyn Fn(Ipv4Addr) + Send + Sync>,
    zone_id: String,
    time_scale: f64,
}

impl ZoneHandler {
    /// The address and TTL (in the run's time) `name` resolves to, or `None` (NXDOMAIN).
    fn answer(&self, name: &str) -> Option<(Ipv4Addr, u32)> {
        let resolved = self.dns.lookup(&self.zone_id, name).ok()??;
        let address = resolved.host.parse().ok()?;
        (self.on_answer)(address);
        let ttl = (resolved.ttl_seconds.max(0) as f64 * self.time_scale).round();
        Some((address, ttl.min(f64::from(u32::MAX)) as u32))
    }
}

#[async_trait::async_trait]
impl RequestHandler for ZoneHandler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut header = Header::response_from_request(request.header());
        header.set_authoritative(true);
        let mut answers = Vec::new();
        match request.request_info() {
            Ok(info) => {
                let name = Name::from(info.query.name().clone());
                match self.answer(&name.to_string()) {
                    Some((address, ttl)) => {
                        if info.query.query_type() == RecordType::A {
                            answers.push(Record::from_rdata(name, ttl, RData::A(A(address))));
                        }
                    }
                    None => {
                        header.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            Err(_) => {
                header.set_response_code(ResponseCode::FormErr);
            }
        }
        let response = MessageResponseBuilder::from_message_request(request).build(
            header,
            answers.iter(),
            [],
            [],
            [],
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "a DNS answer was not sent");
                header.into()
            }
        }
    }
}
