//! A loopback endpoint of the container-credentials protocol, which every AWS SDK and the AWS
//! CLI read when `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//! (or `…_TOKEN_FILE`) are set: one chain for every process of a host, in any language, each
//! request answered from the provider's cache. Feature `server`.
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
mod token;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::AsyncSleep;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use self::respond::{respond, Rules};
use self::token::{Token, TokenSource};
use crate::RoleChainProvider;

/// The path credentials are served at, unless set.
const DEFAULT_PATH: &str = "/role-chain/credentials";
/// Connections served at once, unless set; more wait to be accepted.
const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The largest request head (request line and headers), unless set; hyper's smallest buffer.
const DEFAULT_MAX_REQUEST_BYTES: usize = 8192;
/// How long a client may take to send a request head: slow clients do not hold connections.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection may stay open; SDKs open a new one when they need it.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// The pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A running credentials endpoint: see the [module documentation](self).
///
/// Answers `GET` on its path with the provider's credentials, to callers that present its token
/// in `Authorization` and name a loopback address or `localhost` in `Host`. Its `Debug` never
/// shows the token.
pub struct CredentialsServer {
    local_addr: SocketAddr,
    path: String,
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
            .field("token", &"** redacted **")
            .finish()
    }
}

/// Settings of a [`CredentialsServer`] before it starts.
pub struct CredentialsServerBuilder {
    provider: RoleChainProvider,
    address: SocketAddr,
    allow_non_loopback: bool,
    path: String,
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

    /// A token of the caller's instead of a random one.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = TokenSource::fixed(token.into());
        self
    }

    /// The token is the content of this file (without surrounding whitespace), read again when
    /// the file changes, as the SDKs read `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token = TokenSource::File(path.into());
        self
    }

    /// Connections served at once (default 256, at most tokio's `Semaphore::MAX_PERMITS`); more
    /// wait to be accepted. Each connection lasts at most 30 s.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// The largest request head, in bytes (default and minimum 8192); a larger one gets 431.
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
        if self.max_connections == 0 {
            return Err(invalid("max_connections must be at least 1".to_owned()));
        }
        let token = Arc::new(Token::new(self.token)?);
        let listener = TcpListener::bind(self.address).await?;
        let local_addr = listener.local_addr()?;
        let rules = Rules {
            path: self.path.clone(),
            bound_ip: Some(local_addr.ip()).filter(|ip| !ip.is_unspecified()),
        };
        let (stop, stopped) = watch::channel(false);
        let serving = Serving {
            provider: self.provider,
            token: token.clone(),
            rules: Arc::new(rules),
            connections: Arc::new(Semaphore::new(
                self.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            max_request_bytes: self.max_request_bytes.max(DEFAULT_MAX_REQUEST_BYTES),
        };
        let task = tokio::spawn(serving.run(listener, stopped));
        debug!(address = %local_addr, "credentials server started");
        Ok(CredentialsServer {
            local_addr,
            path: self.path,
            token_at_start: token.current(),
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
    connections: Arc<Semaphore>,
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
            let permit = tokio::select! {
                permit = self.connections.clone().acquire_owned() => permit,
                _ = stopped.changed() => break,
            };
            let Ok(permit) = permit else { break };
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
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(self.max_request_bytes)
                .serve_connection(TokioIo::new(stream), self.service());
            let connection = graceful.watch(connection);
            // A client that never reads its answers would hold its connection, and a permit,
            // for ever: every connection ends after CONNECTION_LIFETIME.
            let lifetime = self.provider.sleep_impl().sleep(CONNECTION_LIFETIME);
            open.spawn(async move {
                match Timeout::new(connection, lifetime).await {
                    Ok(Err(err)) => debug!(%peer, error = %err, "credentials connection failed"),
                    Err(_) => debug!(%peer, "credentials connection reached its lifetime"),
                    Ok(Ok(())) => {}
                }
                drop(permit);
            });
        }
        drop(listener);
        let grace = self.provider.sleep_impl().sleep(SHUTDOWN_GRACE);
        let _ = Timeout::new(graceful.shutdown(), grace).await;
        open.shutdown().await;
        debug!("credentials server stopped");
    }

    fn service(
        &self,
    ) -> impl hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<http_body_util::Full<bytes::Bytes>>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        let serving = self.clone();
        service_fn(move |request| {
            let serving = serving.clone();
            async move { Ok(respond(request, &serving.provider, &serving.token, &serving.rules).await) }
        })
    }
}
