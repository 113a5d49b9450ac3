//! A loopback endpoint of the container-credentials protocol, which every AWS SDK and the AWS
//! CLI read when `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//! (or `…_TOKEN_FILE`) are set: one chain for every process of a host, in any language, each
//! request answered from the provider's cache. Feature `server`.
//!
//! Against the other processes of the host: loopback only (and loopback peers only); a
//! 256-bit token compared in constant time; a `Host` that names loopback or `localhost`; `GET`
//! of the path without a body; request heads of at most 8 KiB within 5 s; connections of at
//! most 30 s; every refusal closes its connection, and past a budget goes unanswered; a
//! connection without the token gives its slot up to a new one; failures answered with the
//! error kind and hop only. The guide's
//! [Security of the endpoint](crate::guide::sharing#security-of-the-endpoint) says what holds
//! and what does not.
//!
//! ```
//! use aws_role_chain::server::CredentialsServer;
//! use aws_role_chain::test_util::{LocalRole, LocalSts};
//! use aws_role_chain::{Role, RoleChainProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sts = LocalSts::start().await?;
//! let compute = sts.add_user("222222222222", "compute");
//! sts.add_role(LocalRole::new("arn:aws:iam::111111111111:role/storage"));
//! let provider = RoleChainProvider::builder()
//!     .base_provider(compute)
//!     .endpoint_url(sts.endpoint_url())
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage"))
//!     .build()?;
//!
//! let server = CredentialsServer::start(provider).await?;
//! // For the processes that should act as the role:
//! let env = [
//!     ("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url()),
//!     ("AWS_CONTAINER_AUTHORIZATION_TOKEN", server.token().to_owned()),
//! ];
//! assert!(env[0].1.starts_with("http://127.0.0.1:"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod respond;
mod slots;
mod token;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::AsyncSleep;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use self::respond::{respond, Rules};
use self::slots::{RefusalBudget, Slots};
use self::token::{Token, TokenSource};
use crate::provider::RoleChainProvider;
use crate::redact::REDACTED;

/// The path credentials are served at, unless set.
const DEFAULT_PATH: &str = "/role-chain/credentials";
/// The path of the health answer, unless set.
const DEFAULT_HEALTH_PATH: &str = "/healthz";
/// Connections the health listener serves at once.
const HEALTH_CONNECTIONS: usize = 16;
/// Connections served at once, unless set.
const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The most connections that can be asked for: each holds a file descriptor.
const MAX_CONNECTIONS: usize = 65_536;
/// The largest request head (request line and headers), unless set; hyper's smallest buffer.
const DEFAULT_MAX_REQUEST_BYTES: usize = 8192;
/// How long a client may take to send a request head: slow clients do not hold connections.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head that can be asked for.
const MAX_REQUEST_BYTES: usize = 1 << 20;
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection may stay open; SDKs open a new one when they need it.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// The pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A running credentials endpoint: see the [module documentation](self).
///
/// Answers `GET` on its path with the provider's credentials, to callers that present its token
/// in `Authorization` and name a loopback address or `localhost` in `Host`. Every refusal closes
/// its connection; a connection without the token gives its slot up to a new one when all are
/// taken. Its `Debug` never shows the token.
pub struct CredentialsServer {
    local_addr: SocketAddr,
    path: String,
    health_url: String,
    token_at_start: Arc<zeroize::Zeroizing<String>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CredentialsServer {
    /// Serves `provider` on 127.0.0.1, an ephemeral port, with a random 256-bit token.
    pub async fn start(provider: RoleChainProvider) -> io::Result<CredentialsServer> {
        CredentialsServer::builder(provider).start().await
    }

    /// A builder for other addresses, paths, tokens and limits.
    pub fn builder(provider: RoleChainProvider) -> CredentialsServerBuilder {
        CredentialsServerBuilder {
            provider,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            allow_non_loopback: false,
            path: DEFAULT_PATH.to_owned(),
            health_path: DEFAULT_HEALTH_PATH.to_owned(),
            health_address: None,
            token: TokenSource::Random,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`, such as
    /// `http://127.0.0.1:41234/role-chain/credentials`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.local_addr, self.path)
    }

    /// The value for `AWS_CONTAINER_AUTHORIZATION_TOKEN`: the token as the server started. A
    /// token read from a file is read again when the file changes.
    pub fn token(&self) -> &str {
        &self.token_at_start
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL of the health answer, which needs no token: on the
    /// [`health_address`](CredentialsServerBuilder::health_address) if one is set, else beside
    /// the credentials, such as `http://127.0.0.1:41234/healthz`.
    pub fn health_url(&self) -> &str {
        &self.health_url
    }

    /// Stops accepting connections, lets the requests in flight finish (for at most 5 s) and
    /// closes the connections.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for CredentialsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for CredentialsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsServer")
            .field("url", &self.url())
            .field("token", &REDACTED)
            .finish()
    }
}

/// Settings of a [`CredentialsServer`] before it starts.
pub struct CredentialsServerBuilder {
    provider: RoleChainProvider,
    address: SocketAddr,
    allow_non_loopback: bool,
    path: String,
    health_path: String,
    health_address: Option<SocketAddr>,
    token: TokenSource,
    max_connections: usize,
    max_request_bytes: usize,
}

impl CredentialsServerBuilder {
    /// The address to listen on. Default: `127.0.0.1:0` (an ephemeral port). An address other
    /// than loopback is refused by [`start`](Self::start) unless
    /// [`allow_non_loopback`](Self::allow_non_loopback) is set.
    pub fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// Allows an address other than loopback, such as a pod's own address for a sidecar. Every
    /// process that reaches it and knows the token gets the credentials: keep it off unless the
    /// network is the host's own.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// The path credentials are served at. Default: `/role-chain/credentials`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The path of the health answer, which needs no token: `200` with
    /// `{"state":"valid","expires_in":<seconds>}` while the provider holds valid credentials,
    /// else `503` with `{"state":"expired"}` or `{"state":"none"}` (before the first); nothing
    /// else, no ARN, account or error. `GET` or `HEAD`. Default: `/healthz`.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// A second listener, on any address, that answers the health path only, to any `Host`:
    /// for probes that cannot reach loopback, such as a Kubernetes kubelet's, which connects to
    /// the pod's address. The credentials stay on [`address`](Self::address). Default: none;
    /// the health path is then answered on `address` alone.
    pub fn health_address(mut self, address: SocketAddr) -> Self {
        self.health_address = Some(address);
        self
    }

    /// A token of the caller's instead of a random one: 32 to 4096 visible ASCII characters
    /// (no spaces), or [`start`](Self::start) refuses it.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = TokenSource::fixed(token.into());
        self
    }

    /// The token is the content of this file, read again when the file changes, as the SDKs
    /// read `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`. The file must be a regular file (not a
    /// symlink) owned by the server's user, without group or other permission bits, at most
    /// 4 KiB, holding a token as [`token`](Self::token) takes it with nothing around it (the
    /// SDKs send it as it is, a newline included). Checked at every read: while the file is
    /// not so, every request is refused. A file that vanishes or is emptied keeps the token.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token = TokenSource::File(path.into());
        self
    }

    /// Connections served at once: default 256, from 1 to 65,536 (else [`start`](Self::start)
    /// refuses it). When all are taken, the oldest connection whose caller has not shown the
    /// token is closed for a new one; when all callers have, a new connection is answered `503`
    /// and closed. Each connection lasts at most 30 s.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// The largest request head, in bytes: default 8192, from 8192 to 1 MiB (else
    /// [`start`](Self::start) refuses it); a larger head gets 431.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    pub async fn start(self) -> io::Result<CredentialsServer> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        if !self.address.ip().is_loopback() && !self.allow_non_loopback {
            return Err(invalid(format!(
                "the credentials server listens on loopback only; {} is not (set \
                 allow_non_loopback to serve it anyway)",
                self.address
            )));
        }
        if !self.path.starts_with('/') {
            return Err(invalid(format!(
                "the path must start with /; got {:?}",
                self.path
            )));
        }
        if !self.health_path.starts_with('/') || self.health_path == self.path {
            return Err(invalid(format!(
                "the health path must start with / and differ from the credentials path; got {:?}",
                self.health_path
            )));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(invalid(format!(
                "max_connections must be from 1 to {MAX_CONNECTIONS}; got {}",
                self.max_connections
            )));
        }
        if !(DEFAULT_MAX_REQUEST_BYTES..=MAX_REQUEST_BYTES).contains(&self.max_request_bytes) {
            return Err(invalid(format!(
                "max_request_bytes must be from {DEFAULT_MAX_REQUEST_BYTES} to \
                 {MAX_REQUEST_BYTES}; got {}",
                self.max_request_bytes
            )));
        }
        let token = Arc::new(Token::new(self.token, self.provider.time_source().clone())?);
        let listener = TcpListener::bind(self.address).await?;
        let local_addr = listener.local_addr()?;
        let health = match self.health_address {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        let health_url = match &health {
            Some(listener) => format!("http://{}{}", listener.local_addr()?, self.health_path),
            None => format!("http://{local_addr}{}", self.health_path),
        };
        let rules = Rules {
            path: self.path.clone(),
            health_path: self.health_path,
            health_only: false,
            bound_ip: Some(local_addr.ip()).filter(|ip| !ip.is_unspecified()),
        };
        let (stop, stopped) = watch::channel(false);
        let serving = Serving {
            provider: self.provider,
            token: token.clone(),
            rules: Arc::new(rules),
            bound: local_addr.ip(),
            slots: Slots::new(self.max_connections),
            refusals: Arc::new(RefusalBudget::new()),
            max_request_bytes: self.max_request_bytes,
        };
        let probes = health.map(|listener| {
            let rules = Rules {
                health_only: true,
                ..serving.rules.as_ref().clone()
            };
            let serving = Serving {
                rules: Arc::new(rules),
                // Any peer: it serves the health path alone.
                bound: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                slots: Slots::new(HEALTH_CONNECTIONS),
                refusals: Arc::new(RefusalBudget::new()),
                ..serving.clone()
            };
            serving.run(listener, stopped.clone())
        });
        let task = tokio::spawn(async move {
            match probes {
                Some(probes) => drop(tokio::join!(serving.run(listener, stopped), probes)),
                None => serving.run(listener, stopped).await,
            }
        });
        debug!(address = %local_addr, "credentials server started");
        Ok(CredentialsServer {
            local_addr,
            health_url,
            path: self.path,
            token_at_start: token.current().ok_or_else(|| {
                io::Error::other("the credentials server's token file changed while it started")
            })?,
            stop,
            task,
        })
    }
}

impl fmt::Debug for CredentialsServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsServerBuilder")
            .field("address", &self.address)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("path", &self.path)
            .field("health_path", &self.health_path)
            .field("health_address", &self.health_address)
            .field("token", &self.token)
            .field("max_connections", &self.max_connections)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

/// What the accept loop and each connection share.
#[derive(Clone)]
struct Serving {
    provider: RoleChainProvider,
    token: Arc<Token>,
    rules: Arc<Rules>,
    /// The address listened on: a loopback one admits loopback peers only.
    bound: IpAddr,
    slots: Arc<Slots>,
    refusals: Arc<RefusalBudget>,
    max_request_bytes: usize,
}

impl Serving {
    /// Accepts connections until `stopped`, then lets those open finish their requests for a
    /// grace period, and ends them. Dropping the loop (as dropping the server does) ends them
    /// too: they live in its `JoinSet`.
    async fn run(self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        let graceful = GracefulShutdown::new();
        let mut open = JoinSet::new();
        loop {
            while open.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, say: a pause, not a busy loop.
                        warn!(error = %err, "the credentials server could not accept a connection");
                        self.provider.sleep_impl().sleep(ACCEPT_PAUSE).await;
                        continue;
                    }
                },
                _ = stopped.changed() => break,
            };
            if !admits_peer(self.bound, peer.ip()) {
                debug!(%peer, "a connection from another host to a loopback address is dropped");
                continue;
            }
            let Some(slot) = self.slots.admit() else {
                debug!(%peer, "every connection slot is held by a caller with the token");
                busy(&stream);
                continue;
            };
            let key = slot.key();
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(self.max_request_bytes)
                .serve_connection(TokioIo::new(stream), self.service(slot.admitted()));
            let connection = graceful.watch(connection);
            // A client that never reads its answers would hold its connection, and a slot,
            // for ever: every connection ends after CONNECTION_LIFETIME.
            let lifetime = self.provider.sleep_impl().sleep(CONNECTION_LIFETIME);
            let task = open.spawn(async move {
                match Timeout::new(connection, lifetime).await {
                    Ok(Err(err)) => debug!(%peer, error = %err, "credentials connection ended"),
                    Err(_) => debug!(%peer, "credentials connection reached its lifetime"),
                    Ok(Ok(())) => {}
                }
                drop(slot);
            });
            self.slots.serving(key, task);
        }
        drop(listener);
        let grace = self.provider.sleep_impl().sleep(SHUTDOWN_GRACE);
        let _ = Timeout::new(graceful.shutdown(), grace).await;
        open.shutdown().await;
        debug!("credentials server stopped");
    }

    /// The service of one connection; `admitted` is set once its caller shows the token.
    fn service(
        &self,
        admitted: Arc<AtomicBool>,
    ) -> impl hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<http_body_util::Full<bytes::Bytes>>,
        Error = io::Error,
        Future = impl Send,
    > + Clone {
        let serving = self.clone();
        service_fn(move |request| {
            let serving = serving.clone();
            let admitted = admitted.clone();
            async move {
                let answer = respond(
                    &request,
                    &serving.provider,
                    &serving.token,
                    &serving.rules,
                    &admitted,
                )
                .await;
                if !answer.admitted
                    && !serving
                        .refusals
                        .answer(serving.provider.time_source().now())
                {
                    // An error makes hyper close the connection without an answer.
                    return Err(io::Error::other("refused without an answer"));
                }
                let status = answer.response.status().as_u16();
                serving.provider.metrics().server_request(status);
                debug!(
                    method = %request.method(),
                    path = request.uri().path(),
                    status,
                    "credentials request"
                );
                Ok(answer.response)
            }
        })
    }
}

/// Whether a connection from `peer` is served on `bound`: on loopback, only from loopback. A
/// host that routes outside traffic to 127.0.0.1 (`route_localnet`) would otherwise expose the
/// endpoint to its neighbours.
fn admits_peer(bound: IpAddr, peer: IpAddr) -> bool {
    !bound.is_loopback() || peer.to_canonical().is_loopback()
}

/// `503` on a connection that gets no slot, written if the socket takes it at once, and the
/// connection closed.
fn busy(stream: &TcpStream) {
    const BODY: &str = r#"{"code":"Busy","message":"every connection of the credentials server is taken; try again"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         cache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // What the client sent is read first, so that closing does not reset the connection.
    let _ = stream.try_read(&mut [0; 1024]);
    let _ = stream.try_write(answer.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    fn peer((bound, peer, admitted): (&str, &str, bool)) {
        let (bound, peer) = (bound.parse().unwrap(), peer.parse().unwrap());
        assert_eq!(admits_peer(bound, peer), admitted);
    }

    cases! { peer:
        loopback_serves_loopback: ("127.0.0.1", "127.0.0.1", true);
        loopback_serves_another_loopback_address: ("127.0.0.1", "127.3.2.1", true);
        loopback_drops_a_private_address: ("127.0.0.1", "192.168.1.20", false);
        loopback_drops_a_public_address: ("127.0.0.1", "203.0.113.7", false);
        ipv6_loopback_serves_ipv6_loopback: ("::1", "::1", true);
        ipv6_loopback_drops_another_address: ("::1", "2001:db8::1", false);
        loopback_serves_an_ipv4_mapped_loopback_address: ("::1", "::ffff:127.0.0.1", true);
        loopback_drops_an_ipv4_mapped_outside_address: ("::1", "::ffff:10.0.0.1", false);
        an_allowed_other_address_serves_anyone: ("10.0.0.5", "10.0.0.9", true);
    }
}
