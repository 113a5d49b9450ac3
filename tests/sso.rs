//! A root profile signed in with IAM Identity Center (SSO), fetched for real by aws-config's SSO
//! provider: the profile names an `sso-session`, as `aws configure sso` writes it; the provider
//! reads the sign-in's cached token under `$HOME/.aws/sso/cache`, as `aws sso login` leaves it, and calls the SSO portal's `GetRoleCredentials`, here a portal on
//! 127.0.0.1 (hyper) that hands out a session of LocalSts, as the real one hands out a session
//! of the permission set's role. That session then signs hop 0.
//!
//! The chain runs on a clock of its own, in 2019, when the sign-in's token is still valid: it
//! expired in 2020, so aws-config's provider must read the chain's clock, not the system's.
//!
//! One test in its own binary: it points `HOME` at a directory of its own, which no other test
//! of the process may see.

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_role_chain::test_util::LocalRole;
use aws_role_chain::RoleChainProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_sts::config::{Region, SharedCredentialsProvider};
use aws_smithy_async::test_util::ManualTimeSource;
use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::{Request, Response};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};

const START_URL: &str = "https://example-org.awsapps.com/start";
const SSO_SESSION: &str = "example-org";
const ACCESS_TOKEN: &str = "sso-access-token-of-the-sign-in";
const PERMISSION_SET: &str =
    "arn:aws:iam::222222222222:role/AWSReservedSSO_Export_0123456789abcdef";

/// What the portal was asked: each request's path and query, and its bearer token.
type Asked = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// An SSO portal on 127.0.0.1 whose `GetRoleCredentials` answers with `session` to the holder of
/// [`ACCESS_TOKEN`], and 401 to anyone else.
async fn portal(session: Credentials) -> (String, Asked) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Asked::default();
    let log = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (session, log) = (session.clone(), log.clone());
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let token = request
                        .headers()
                        .get("x-amz-sso_bearer_token")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let path = request.uri().path_and_query().map(|p| p.to_string());
                    log.lock().push((path.unwrap_or_default(), token.clone()));
                    let answer = match token.as_deref() {
                        Some(ACCESS_TOKEN) => {
                            Response::new(Full::new(Bytes::from(role_credentials(&session))))
                        }
                        _ => {
                            let mut refused = Response::new(Full::new(Bytes::from_static(
                                br#"{"message":"Session token not found or invalid"}"#,
                            )));
                            *refused.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                            refused.headers_mut().insert(
                                "x-amzn-errortype",
                                "UnauthorizedException".parse().unwrap(),
                            );
                            refused
                        }
                    };
                    async move { Ok::<_, Infallible>(answer) }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (url, asked)
}

/// `GetRoleCredentials`' answer: the session's keys, its expiry in milliseconds.
fn role_credentials(session: &Credentials) -> String {
    let expiration = session
        .expiry()
        .and_then(|e| e.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    format!(
        r#"{{"roleCredentials":{{"accessKeyId":"{}","secretAccessKey":"{}","sessionToken":"{}","expiration":{expiration}}}}}"#,
        session.access_key_id(),
        session.secret_access_key(),
        session.session_token().unwrap_or_default(),
    )
}

/// A session of the permission set's role, as the compute user assumes it with the SDK's client
/// on the test's clock.
async fn permission_set_session(world: &World, time: &ManualTimeSource) -> Credentials {
    world
        .sts
        .add_role(LocalRole::new(PERMISSION_SET).trust(COMPUTE_USER));
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version_latest()
            .time_source(time.clone())
            .credentials_provider(SharedCredentialsProvider::new(world.compute.clone()))
            .endpoint_url(world.sts.endpoint_url())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let assumed = client
        .assume_role()
        .role_arn(PERMISSION_SET)
        .role_session_name("alice")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "sso",
    )
}

#[tokio::test]
async fn an_sso_root_gets_its_role_credentials_from_the_portal_and_they_sign_hop_0() {
    // 2019-06-01T00:00:00Z
    let time = ManualTimeSource::new(UNIX_EPOCH + Duration::from_secs(1_559_347_200));
    let world = World::with_clock(time.clone()).await;
    let session = permission_set_session(&world, &time).await;
    world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(PERMISSION_SET)
            .external_id(BROKER_EXTERNAL_ID),
    );
    let (portal_url, asked) = portal(session.clone()).await;

    // The sign-in's token, where `aws sso login` caches it: named by the SHA-1 of the session's
    // name.
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sso-home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let name: String = Sha1::digest(SSO_SESSION.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        cache.join(format!("{name}.json")),
        format!(
            r#"{{"startUrl":"{START_URL}","region":"eu-west-1","accessToken":"{ACCESS_TOKEN}","expiresAt":"2020-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    // The only test of this binary: no other reads the environment meanwhile.
    std::env::set_var("HOME", &home);

    let config = format!(
        "[profile broker]\nrole_arn = {BROKER}\nsource_profile = sso\n\
         external_id = {BROKER_EXTERNAL_ID}\n\n\
         [profile sso]\nsso_session = {SSO_SESSION}\nsso_account_id = 222222222222\n\
         sso_role_name = Export\nendpoint_url = {portal_url}\n\n\
         [sso-session {SSO_SESSION}]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\n\
         sso_registration_scopes = sso:account:access\n"
    );
    let config_path = home.join("config");
    std::fs::write(&config_path, config).unwrap();
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Config, config_path)
        .build();
    let provider = RoleChainProvider::builder()
        .profile("broker")
        .profile_files(files)
        .endpoint_url(world.sts.endpoint_url())
        .time_source(time)
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let asked = asked.lock().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let (path, token) = &asked[0];
    assert!(path.starts_with("/federation/credentials?"), "{path}");
    assert!(path.contains("account_id=222222222222"), "{path}");
    assert!(path.contains("role_name=Export"), "{path}");
    assert_eq!(token.as_deref(), Some(ACCESS_TOKEN));
    let hops = world.assume_role_requests();
    let hop_0 = hops.last().unwrap();
    assert_eq!(hop_0.param("RoleArn"), Some(BROKER));
    assert_eq!(hop_0.access_key_id(), Some(session.access_key_id()));
    assert_eq!(
        hop_0.caller_arn(),
        Some("arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_Export_0123456789abcdef/alice")
    );
    assert_eq!(hop_0.status(), 200);
}
