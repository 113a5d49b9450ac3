//! The credentials server over real TCP on loopback: what a caller with the token gets, what
//! everyone else gets, the token file, the limits and the connection slots, shutdown, and 1,000
//! requests served from the cache. No test holds more than about 600 sockets at once, within a
//! default limit of 1,024 open files.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_role_chain::server::CredentialsServer;
use aws_role_chain::test_util::Fault;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A token of the operator's: 32 characters or more.
const FIXED_TOKEN: &str = "operator-token-0123456789abcdef-0";

/// Sends `head` (request line and headers, without the blank line) on a new connection, with
/// `Connection: close`; the status and body of the answer.
async fn send(addr: SocketAddr, head: &str) -> (u16, String) {
    let answer = exchange(addr, &format!("{head}\r\nConnection: close")).await;
    (answer.status, answer.body)
}

/// An HTTP answer as it came over the wire.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn parse(answer: &[u8]) -> Answer {
        let answer = String::from_utf8_lossy(answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }
}

/// Sends `head` on a new connection without asking to close it, and reads until the server
/// closes it (for at most 20 s).
async fn exchange(addr: SocketAddr, head: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    // A server that refuses a request before reading all of it may reset the connection after
    // its answer: what arrived before counts.
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer));
    assert!(read.await.is_ok(), "the server kept the connection open");
    Answer::parse(&answer)
}

/// A new connection that has sent half a request, without the token, and holds on.
async fn half_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /role-chain/credentials HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    stream
}

/// Whether the server closes `stream` within `within`, reading (and dropping) what it sends.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0; 4096];
    tokio::time::timeout(within, async {
        while !matches!(stream.read(&mut buffer).await, Ok(0) | Err(_)) {}
    })
    .await
    .is_ok()
}

/// A GET of the server's path with its token and a loopback `Host`, plus `extra` header lines.
fn get(server: &CredentialsServer, extra: &str) -> String {
    let path = server
        .url()
        .split_once("/role-chain")
        .map(|(_, p)| format!("/role-chain{p}"));
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}{extra}",
        path.unwrap(),
        server.local_addr(),
        server.token()
    )
}

async fn serving(world: &World) -> (RoleChainProvider, CredentialsServer) {
    let provider = world.two_hops();
    let server = CredentialsServer::start(provider.clone()).await.unwrap();
    (provider, server)
}

#[tokio::test]
async fn a_caller_with_the_token_gets_the_chains_credentials_as_sdks_read_them() {
    let world = World::new().await;
    let (provider, server) = serving(&world).await;

    let (status, body) = send(server.local_addr(), &get(&server, "")).await;

    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let creds = provider.credentials().await.unwrap();
    assert_eq!(json["AccessKeyId"], creds.access_key_id());
    assert_eq!(json["SecretAccessKey"], creds.secret_access_key());
    assert_eq!(json["Token"], creds.session_token().unwrap());
    assert_eq!(json["AccountId"], "111111111111");
    let expiration = json["Expiration"].as_str().unwrap();
    let parsed = aws_smithy_types::DateTime::from_str(
        expiration,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .unwrap();
    let expiry = aws_smithy_types::DateTime::from(creds.expiry().unwrap());
    assert_eq!(parsed.secs(), expiry.secs(), "{expiration}");
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    server.shutdown().await;
}

/// The answer to `head` (with `{get}` replaced by the request line and headers of a valid GET)
/// is `status`, with no credentials in it.
async fn refused((head, status): (&str, u16)) {
    let world = World::new().await;
    let (provider, server) = serving(&world).await;
    let valid = get(&server, "");
    let head = head
        .replace("{get}", &valid)
        .replace("{addr}", &server.local_addr().to_string())
        .replace("{token}", server.token())
        .replace("{pad}", &"9".repeat(16 * 1024));

    let (got, body) = send(server.local_addr(), &head).await;

    assert_eq!(got, status, "{body}");
    assert!(!body.contains("SecretAccessKey"), "{body}");
    assert_eq!(
        world.assume_role_requests().len(),
        0,
        "no chain run for a refusal"
    );
    drop(provider);
}

cases! { refused:
    no_token_is_401: ("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}", 401);
    no_host_is_403_even_with_the_token: ("GET /role-chain/credentials HTTP/1.1\r\nAuthorization: {token}", 403);
    a_name_after_ipv6_brackets_is_403: ("GET /role-chain/credentials HTTP/1.1\r\nHost: [::1]evil.example\r\nAuthorization: {token}", 403);
    a_wrong_token_is_403: ("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: not-the-token", 403);
    the_token_with_a_prefix_is_403: ("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}", 403);
    a_foreign_host_is_403_even_with_the_token: ("GET /role-chain/credentials HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: {token}", 403);
    post_is_405: ("POST /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Length: 0", 405);
    another_path_is_404: ("GET /latest/meta-data HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}", 404);
    a_body_is_413: ("{get}\r\nContent-Length: 5", 413);
    a_chunked_body_is_413: ("{get}\r\nTransfer-Encoding: chunked", 413);
    an_oversized_request_is_431: ("{get}\r\nX-Padding: {pad}", 431);
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_unless_allowed() {
    let world = World::new().await;
    let err = CredentialsServer::builder(world.two_hops())
        .address("0.0.0.0:0".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("loopback only"), "{err}");
}

/// A failing chain's answer: the status, the kind and the hop, never STS's own words.
async fn failing(
    world: &World,
    provider: RoleChainProvider,
    sts_said: &str,
) -> (u16, serde_json::Value) {
    let server = CredentialsServer::start(provider).await.unwrap();
    let (status, body) = send(server.local_addr(), &get(&server, "")).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(world.sts.requests()[0].error_code().is_some());
    assert!(!body.contains(sts_said), "{body}");
    assert!(!body.contains(BROKER_EXTERNAL_ID), "{body}");
    (status, json)
}

#[tokio::test]
async fn a_retryable_failure_is_503_with_its_kind_and_hop_and_not_what_sts_said() {
    let world = World::new().await;
    world.sts.set_outage(Some(Fault::ServiceUnavailable));
    let provider = world.chain(1).configure(&no_retries()).build().unwrap();

    let (status, json) = failing(&world, provider, "Service is unavailable").await;

    assert_eq!(status, 503, "{json}");
    assert_eq!(json["code"], "Unavailable");
    assert_eq!(
        json["message"],
        "the role chain failed at hop 0: STS unavailable; the credentials server's log has the details"
    );
}

#[tokio::test]
async fn a_failure_that_retrying_cannot_mend_is_500() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(aws_role_chain::Role::new(BROKER).external_id("not-the-broker-ext"))
        .build()
        .unwrap();

    let (status, json) = failing(&world, provider, "is not authorized").await;

    assert_eq!(status, 500, "{json}");
    assert_eq!(json["code"], "AccessDenied");
    assert_eq!(
        json["message"],
        "the role chain failed at hop 0: access denied; the credentials server's log has the details"
    );
}

#[tokio::test]
async fn the_token_file_is_read_again_when_it_changes() {
    let world = World::new().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server-token");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "first-token-0123456789abcdef-0123").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = CredentialsServer::builder(world.two_hops())
        .token_file(&path)
        .start()
        .await
        .unwrap();
    assert_eq!(server.token(), "first-token-0123456789abcdef-0123");
    let with = |token: &str| {
        format!("GET /role-chain/credentials HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}")
    };
    assert_eq!(
        send(
            server.local_addr(),
            &with("first-token-0123456789abcdef-0123")
        )
        .await
        .0,
        200
    );

    std::fs::write(&path, "second-token-987654321fedcba-98765").unwrap();
    assert_eq!(
        send(
            server.local_addr(),
            &with("second-token-987654321fedcba-98765")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            server.local_addr(),
            &with("first-token-0123456789abcdef-0123")
        )
        .await
        .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_cost_no_sts_call_beyond_the_chains() {
    let world = World::new().await;
    let (provider, server) = serving(&world).await;
    provider.credentials().await.unwrap();
    let calls_before = world.assume_role_requests().len();

    let addr = server.local_addr();
    let request = get(&server, "");
    // 250 at a time: 500 sockets of the process's, client and server side.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(250));
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let request = request.clone();
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let _permit = in_flight.acquire().await.unwrap();
                send(addr, &request).await.0
            })
        })
        .collect();
    let mut ok = 0;
    for request in requests {
        ok += usize::from(request.await.unwrap() == 200);
    }

    assert_eq!(ok, 1000);
    assert_eq!(world.assume_role_requests().len(), calls_before);
}

#[tokio::test]
async fn after_shutdown_nothing_listens() {
    let world = World::new().await;
    let (_provider, server) = serving(&world).await;
    let addr = server.local_addr();
    assert_eq!(send(addr, &get(&server, "")).await.0, 200);

    server.shutdown().await;

    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn debug_never_shows_the_token() {
    let world = World::new().await;
    let builder = CredentialsServer::builder(world.two_hops()).token(FIXED_TOKEN);
    assert!(!format!("{builder:?}").contains(FIXED_TOKEN));
    let server = builder.start().await.unwrap();
    assert_eq!(server.token(), FIXED_TOKEN);
    let debug = format!("{server:?}");
    assert!(!debug.contains(FIXED_TOKEN), "{debug}");
    assert!(debug.contains(&server.url()), "{debug}");
}

#[tokio::test]
async fn a_refusal_closes_its_connection_and_no_answer_is_cached() {
    let world = World::new().await;
    let (_provider, server) = serving(&world).await;
    let addr = server.local_addr();

    // Keep-alive is HTTP/1.1's default: the server closes the connection all the same.
    let refused = exchange(
        addr,
        &format!("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}"),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.head.contains("\r\nconnection: close"),
        "{}",
        refused.head
    );
    assert!(
        refused.head.contains("\r\ncache-control: no-store"),
        "{}",
        refused.head
    );

    let served = exchange(addr, &format!("{}\r\nConnection: close", get(&server, ""))).await;
    assert_eq!(served.status, 200);
    assert!(
        served.head.contains("\r\ncache-control: no-store"),
        "{}",
        served.head
    );
}

#[tokio::test]
async fn a_request_head_that_does_not_come_within_5_seconds_loses_its_connection() {
    // On manual time, which stands still: a connection's 30-s lifetime never comes, and only
    // the header timeout (hyper's, on real time) can close these.
    let (world, _time, builder) = World::on_manual_time().await;
    let provider = builder
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let server = CredentialsServer::start(provider).await.unwrap();
    let mut partial = half_request(server.local_addr()).await;
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();

    // Closed after the 5-s header timeout; the deadline is ten times that.
    assert!(closed_within(&mut partial, Duration::from_secs(50)).await);
    assert!(closed_within(&mut silent, Duration::from_secs(50)).await);
    drop(world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_ends_after_30_seconds_even_if_its_caller_keeps_it() {
    let (world, time, builder) = World::on_manual_time().await;
    let provider = builder
        .assume(aws_role_chain::Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let server = CredentialsServer::start(provider).await.unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let request = format!("{}\r\n\r\n", get(&server, ""));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"}") {
        let mut buffer = [0; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed after one answer");
        answer.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(Answer::parse(&answer).status, 200);
    assert!(!closed_within(&mut stream, Duration::from_millis(200)).await);

    time.tick(Duration::from_secs(30)).await;

    // Well within the 5 s of real time after which the header timeout would close it.
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
    drop(world);
}

/// A connection that showed the token and stays open.
async fn keep_alive(server: &CredentialsServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let request = format!("{}\r\n\r\n", get(server, ""));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = [0; 4096];
    let read = stream.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    stream
}

#[tokio::test]
async fn when_every_slot_holds_a_caller_with_the_token_a_newcomer_gets_503() {
    let world = World::new().await;
    let server = CredentialsServer::builder(world.two_hops())
        .max_connections(2)
        .start()
        .await
        .unwrap();
    let first = keep_alive(&server).await;
    let _second = keep_alive(&server).await;

    let mut third = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut answer = Vec::new();
    let _ = third.read_to_end(&mut answer).await;
    let answer = Answer::parse(&answer);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains(r#""code":"Busy""#), "{}", answer.body);

    drop(first);
    let addr = server.local_addr();
    let request = get(&server, "");
    let mut served = false;
    for _ in 0..200 {
        served = send(addr, &request).await.0 == 200;
        if served {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a slot comes back when its connection closes");
}

#[tokio::test]
async fn connections_without_the_token_give_their_slots_up_to_new_callers() {
    let world = World::new().await;
    let server = CredentialsServer::builder(world.two_hops())
        .max_connections(4)
        .start()
        .await
        .unwrap();
    let mut holders = Vec::new();
    for _ in 0..10 {
        holders.push(half_request(server.local_addr()).await);
    }

    let (status, body) = send(server.local_addr(), &get(&server, "")).await;

    assert_eq!(status, 200, "{body}");
    let mut closed = 0;
    for holder in &mut holders {
        closed += usize::from(closed_within(holder, Duration::from_millis(100)).await);
    }
    assert!(closed >= 7, "{closed} of 10 holders closed");
}

/// What comes back on a new connection for `head`, unparsed: nothing if the server closed it
/// without an answer.
async fn raw(addr: SocketAddr, head: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_100_refusals_at_once_refusals_go_unanswered() {
    // On manual time that does not move: the budget never refills.
    let (world, _time, builder) = World::on_manual_time().await;
    let provider = builder
        .assume(aws_role_chain::Role::new(BROKER))
        .build()
        .unwrap();
    let server = CredentialsServer::start(provider).await.unwrap();
    let addr = server.local_addr();
    let tokenless = format!("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}");

    let mut answered = 0;
    for _ in 0..130 {
        answered += usize::from(raw(addr, &tokenless).await.starts_with(b"HTTP/1.1 401"));
    }

    assert_eq!(answered, 100);
    let (status, _) = send(addr, &get(&server, "")).await;
    assert_ne!(status, 401, "a caller with the token is still answered");
    drop(world);
}

#[tokio::test]
async fn after_drop_nothing_listens() {
    let world = World::new().await;
    let (_provider, server) = serving(&world).await;
    let addr = server.local_addr();
    assert_eq!(send(addr, &get(&server, "")).await.0, 200);

    drop(server);

    eventually("the port is closed", || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err()
    })
    .await;
}

#[tokio::test]
async fn a_path_of_the_callers_is_served_and_the_default_is_not() {
    let world = World::new().await;
    let server = CredentialsServer::builder(world.two_hops())
        .path("/v1/creds")
        .start()
        .await
        .unwrap();
    assert!(server.url().ends_with("/v1/creds"), "{}", server.url());
    let at = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}",
            server.token()
        )
    };
    assert_eq!(send(server.local_addr(), &at("/v1/creds")).await.0, 200);
    assert_eq!(
        send(server.local_addr(), &at("/role-chain/credentials"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_larger_request_head_is_served_when_allowed() {
    let world = World::new().await;
    let server = CredentialsServer::builder(world.two_hops())
        .max_request_bytes(32 * 1024)
        .start()
        .await
        .unwrap();
    let padding = format!("\r\nX-Padding: {}", "9".repeat(16 * 1024));
    let (status, body) = send(server.local_addr(), &get(&server, &padding)).await;
    assert_eq!(status, 200, "{body}");
}

/// `start` refuses the builder's setting with an error that names it.
async fn setting_refused(
    (set, says): (
        fn(
            aws_role_chain::server::CredentialsServerBuilder,
        ) -> aws_role_chain::server::CredentialsServerBuilder,
        &str,
    ),
) {
    let world = World::new().await;
    let err = set(CredentialsServer::builder(world.two_hops()))
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains(says), "{err}");
}

cases! { setting_refused:
    no_connections_are_refused: (|b| b.max_connections(0), "max_connections must be from 1 to 65536; got 0");
    more_than_65536_connections_are_refused: (|b| b.max_connections(65_537), "got 65537");
    a_request_head_under_8_kib_is_refused: (|b| b.max_request_bytes(1024), "max_request_bytes must be from 8192 to 1048576; got 1024");
    a_request_head_over_1_mib_is_refused: (|b| b.max_request_bytes(usize::MAX), "max_request_bytes must be from 8192");
    a_path_without_a_slash_is_refused: (|b| b.path("creds"), "the path must start with /");
    a_short_token_is_refused: (|b| b.token("short"), "shorter than 32 characters");
    a_health_path_without_a_slash_is_refused: (|b| b.health_path("healthz"), "the health path must start with /");
    a_health_path_that_is_the_credentials_path_is_refused: (|b| b.health_path("/role-chain/credentials"), "differ from the credentials path");
}

#[tokio::test]
async fn a_non_loopback_address_is_bound_when_allowed() {
    let world = World::new().await;
    // TEST-NET-1, on no interface of this host: the bind itself fails, after the check.
    let err = CredentialsServer::builder(world.two_hops())
        .address("192.0.2.1:0".parse().unwrap())
        .allow_non_loopback(true)
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_waiting_for_a_refresh_keeps_its_slot_against_connections_without_the_token() {
    let world = World::new().await;
    // Each STS answer takes 1 s: the caller waits on the chain run with its token shown.
    world.sts.set_latency(Duration::from_secs(1));
    let server = CredentialsServer::builder(world.two_hops())
        .max_connections(2)
        .start()
        .await
        .unwrap();
    let (addr, request) = (server.local_addr(), get(&server, ""));
    let waiting = tokio::spawn(async move { send(addr, &request).await });
    eventually("the chain run started", || !world.sts.requests().is_empty()).await;

    let mut holders = Vec::new();
    for _ in 0..6 {
        holders.push(half_request(addr).await);
    }

    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_health_path_answers_without_the_token_with_the_state_alone_and_nothing_else_does() {
    let world = World::new().await;
    let provider = world.two_hops();
    let server = CredentialsServer::start(provider.clone()).await.unwrap();
    let health = "GET /healthz HTTP/1.1\r\nHost: localhost";

    // Before the first credentials.
    let (status, body) = send(server.local_addr(), health).await;
    assert_eq!((status, body.as_str()), (503, r#"{"state":"none"}"#));

    let credentials = provider.credentials().await.unwrap();
    let (status, body) = send(server.local_addr(), health).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["state"], "valid");
    let left = credentials.expiry().unwrap().duration_since(now()).unwrap();
    let expires_in = json["expires_in"].as_u64().unwrap();
    assert!(
        expires_in.abs_diff(left.as_secs()) <= 5,
        "{body} vs {left:?}"
    );
    assert_eq!(json.as_object().unwrap().len(), 2, "{body}");
    for hidden in ["arn:", "111111111111", credentials.access_key_id()] {
        assert!(!body.contains(hidden), "{body}");
    }
    let (status, _) = send(
        server.local_addr(),
        "HEAD /healthz HTTP/1.1\r\nHost: localhost",
    )
    .await;
    assert_eq!(status, 200);

    // The credentials still need the token; the health path asks for nothing more.
    let without_token = "GET /role-chain/credentials HTTP/1.1\r\nHost: localhost";
    assert_eq!(send(server.local_addr(), without_token).await.0, 401);
    let posted = "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0";
    assert_eq!(send(server.local_addr(), posted).await.0, 401);
    let elsewhere = "GET /healthz HTTP/1.1\r\nHost: attacker.example";
    assert_eq!(send(server.local_addr(), elsewhere).await.0, 403);
    server.shutdown().await;
}

#[tokio::test]
async fn the_health_answer_is_503_while_the_chain_fails() {
    let world = World::new().await;
    world.sts.set_outage(Some(Fault::ServiceUnavailable));
    let provider = world.chain(2).configure(&no_retries()).build().unwrap();
    let server = CredentialsServer::start(provider.clone()).await.unwrap();
    assert!(provider.credentials().await.is_err());

    let (status, body) = send(
        server.local_addr(),
        "GET /healthz HTTP/1.1\r\nHost: localhost",
    )
    .await;

    assert_eq!((status, body.as_str()), (503, r#"{"state":"none"}"#));
    assert!(!body.contains("Unavailable"), "no error text: {body}");
}

/// Credentials kept in service past their expiry, while the refresh that would replace them
/// hangs inside its fetch timeout, are not healthy: 503 `expired`, not 200 with no time left.
/// Sessions of 2 s, then every STS answer delayed 10 minutes; expected within about 2 s, looked
/// for during 20 s.
#[tokio::test]
async fn the_health_answer_is_503_expired_once_the_credentials_in_service_have_expired() {
    let world = World::new().await;
    world.sts.set_session_lifetime(Some(Duration::from_secs(2)));
    let provider = world
        .chain(2)
        .configure(&no_retries())
        .refresh_policy(RefreshPolicy::default().fetch_timeout(Duration::from_secs(600)))
        .build()
        .unwrap();
    let server = CredentialsServer::start(provider.clone()).await.unwrap();
    provider.credentials().await.unwrap();
    world
        .sts
        .set_outage(Some(Fault::Delay(Duration::from_secs(600))));

    let health = "GET /healthz HTTP/1.1\r\nHost: localhost";
    let mut answer = send(server.local_addr(), health).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answer.0 == 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = send(server.local_addr(), health).await;
    }

    assert_eq!(
        (answer.0, answer.1.as_str()),
        (503, r#"{"state":"expired"}"#)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_health_address_serves_the_health_path_to_any_host_and_nothing_else() {
    let world = World::new().await;
    let provider = world.two_hops();
    let server = CredentialsServer::builder(provider.clone())
        .health_address("127.0.0.1:0".parse().unwrap())
        .health_path("/ready")
        .start()
        .await
        .unwrap();
    provider.credentials().await.unwrap();
    let probes: SocketAddr = server
        .health_url()
        .trim_start_matches("http://")
        .trim_end_matches("/ready")
        .parse()
        .unwrap();
    assert_ne!(probes, server.local_addr());

    // A kubelet names the pod's address in Host.
    let probe = "GET /ready HTTP/1.1\r\nHost: 10.1.2.3:9912";
    assert_eq!(send(probes, probe).await.0, 200);
    // Not even a caller with the token gets credentials there.
    let with_token = format!(
        "GET /role-chain/credentials HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}",
        server.token()
    );
    assert_eq!(send(probes, &with_token).await.0, 404);
    assert_eq!(send(server.local_addr(), &with_token).await.0, 200);
    // The old default path is not the health path any more.
    assert_eq!(
        send(probes, "GET /healthz HTTP/1.1\r\nHost: localhost")
            .await
            .0,
        404
    );
    server.shutdown().await;
}
