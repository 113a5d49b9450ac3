//! The credentials server over real TCP on loopback: what a caller with the token gets, what
//! everyone else gets, the token file, the limits, shutdown, and 1,000 concurrent requests
//! served from the cache.

mod common;

use std::net::SocketAddr;

use aws_role_chain::server::CredentialsServer;
use aws_role_chain::test_util::Fault;
use aws_role_chain::RoleChainProvider;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (request line and headers, without the blank line) on a new connection, with
/// `Connection: close`; the status and body of the answer.
async fn send(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server that refuses a request before reading all of it may reset the connection after
    // its answer: what arrived before counts.
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8(answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
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
    a_wrong_token_is_403: ("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: not-the-token", 403);
    the_token_with_a_prefix_is_403: ("GET /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}", 403);
    a_foreign_host_is_403_even_with_the_token: ("GET /role-chain/credentials HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: {token}", 403);
    post_is_405: ("POST /role-chain/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Length: 0", 405);
    another_path_is_404: ("GET /latest/meta-data HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}", 404);
    a_body_is_413: ("{get}\r\nContent-Length: 5", 413);
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

#[tokio::test]
async fn a_failing_chain_is_a_5xx_with_the_error_and_no_secret() {
    let world = World::new().await;
    world.sts.set_outage(Some(Fault::ServiceUnavailable));
    let provider = world.chain(1).configure(&no_retries()).build().unwrap();
    let server = CredentialsServer::start(provider).await.unwrap();

    let (status, body) = send(server.local_addr(), &get(&server, "")).await;

    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], "Unavailable");
    assert!(
        json["message"].as_str().unwrap().contains("hop 0"),
        "{body}"
    );
    assert!(!body.contains(BROKER_EXTERNAL_ID), "{body}");
}

#[tokio::test]
async fn the_token_file_is_read_again_when_it_changes() {
    let world = World::new().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server-token");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "first-token-0123456789\n").unwrap();
    let server = CredentialsServer::builder(world.two_hops())
        .token_file(&path)
        .start()
        .await
        .unwrap();
    assert_eq!(server.token(), "first-token-0123456789");
    let with = |token: &str| {
        format!("GET /role-chain/credentials HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}")
    };
    assert_eq!(
        send(server.local_addr(), &with("first-token-0123456789"))
            .await
            .0,
        200
    );

    std::fs::write(&path, "second-token-987654321\n").unwrap();
    assert_eq!(
        send(server.local_addr(), &with("second-token-987654321"))
            .await
            .0,
        200
    );
    assert_eq!(
        send(server.local_addr(), &with("first-token-0123456789"))
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
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move { send(addr, &request).await.0 })
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
    let builder = CredentialsServer::builder(world.two_hops()).token("my-fixed-token-value");
    assert!(!format!("{builder:?}").contains("my-fixed-token-value"));
    let server = builder.start().await.unwrap();
    assert_eq!(server.token(), "my-fixed-token-value");
    let debug = format!("{server:?}");
    assert!(!debug.contains("my-fixed-token-value"), "{debug}");
    assert!(debug.contains(&server.url()), "{debug}");
}
