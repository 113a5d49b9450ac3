//! The cross-account scenario end to end against moto, an STS/IAM/S3 emulator this crate did not
//! write, with IAM enforcement on, and chains from AWS config files compared with what botocore
//! makes of the same files. Run it with `scripts/moto.sh test`, which installs and starts moto
//! and sets `MOTO_ENDPOINT` and `MOTO_PYTHON` (the Python that has boto3).
//!
//! What moto 5.2.5 enforces: signatures, unknown keys, the caller's own `sts:AssumeRole`
//! permission, the role's permission policy on S3 actions and resources, and a same-account trust
//! policy with an exact principal ARN and `StringEquals sts:ExternalId`. It does not check
//! cross-account trust policies, so the ExternalId test uses a same-account role.

mod common;

use std::path::PathBuf;

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_role_chain::{ErrorKind, Role, RoleChainPool, RoleChainProvider};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::OnceCell;

const STORAGE_ACCOUNT: &str = "111111111111";
const COMPUTE_ACCOUNT: &str = "222222222222";
const STORAGE_ROLE: &str = "arn:aws:iam::111111111111:role/storage-access";
const BROKER_ROLE: &str = "arn:aws:iam::222222222222:role/broker";
const GUARDED_ROLE: &str = "arn:aws:iam::222222222222:role/guarded";
const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
const STORAGE_EXTERNAL_ID: &str = "storage-ext-7f3a9c";
const BROKER_EXTERNAL_ID: &str = "broker-ext-5b1e";
const GUARDED_EXTERNAL_ID: &str = "guarded-ext-0a1b";
/// The vendor's customers: a role each, trusting the broker's session with its own ExternalId
/// (in the compute account: moto checks same-account trust policies only, and matches the
/// principal against the caller's ARN as it is).
const CUSTOMERS: [(&str, &str); 3] = [
    ("customer-1", "customer-ext-1a"),
    ("customer-2", "customer-ext-2b"),
    ("customer-3", "customer-ext-3c"),
];
const BROKER_SESSION: &str = "arn:aws:sts::222222222222:assumed-role/broker/vendor-broker";
const BUCKET: &str = "storage-a";
const OTHER_BUCKET: &str = "storage-b";

fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run these tests with scripts/moto.sh test")
}

/// Routes setup calls to an account, as moto's `x-moto-account-id` header does.
#[derive(Debug)]
struct MotoAccount(&'static str);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0);
        Ok(())
    }
}

fn setup_credentials() -> Credentials {
    Credentials::new("AKIASETUPSETUPSETUP0", "setup-secret", None, None, "setup")
}

fn iam(account: &'static str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .credentials_provider(setup_credentials())
            .interceptor(MotoAccount(account))
            .build(),
    )
}

fn s3(
    credentials: impl aws_credential_types::provider::ProvideCredentials + 'static,
) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .force_path_style(true)
            .credentials_provider(credentials)
            .build(),
    )
}

/// POSTs to moto's own API, such as `/moto-api/reset-auth`.
async fn moto_api(path: &str, body: &'static str) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = hyper::Request::post(format!("{}{path}", endpoint()))
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

fn trust(principal: &str, external_id: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"{external_id}"}}}}}}]}}"#
    )
}

const ASSUME_ANY_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;
const BUCKET_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":["arn:aws:s3:::storage-a","arn:aws:s3:::storage-a/*"]}]}"#;

/// Sets up both accounts with enforcement off, then turns it on; returns the compute user's keys.
async fn compute_keys() -> Credentials {
    static KEYS: OnceCell<Credentials> = OnceCell::const_new();
    KEYS.get_or_init(|| async {
        // A clean moto, so that the suite can run again against the same server.
        moto_api("/moto-api/reset", "").await;
        moto_api("/moto-api/reset-auth", "inf").await;

        let storage = iam(STORAGE_ACCOUNT);
        storage
            .create_role()
            .role_name("storage-access")
            .assume_role_policy_document(trust(
                &format!("arn:aws:iam::{COMPUTE_ACCOUNT}:root"),
                STORAGE_EXTERNAL_ID,
            ))
            .send()
            .await
            .unwrap();
        storage
            .put_role_policy()
            .role_name("storage-access")
            .policy_name("bucket-only")
            .policy_document(BUCKET_ONLY)
            .send()
            .await
            .unwrap();
        let admin_s3 = aws_sdk_s3::Client::from_conf(
            s3(setup_credentials())
                .config()
                .to_builder()
                .interceptor(MotoAccount(STORAGE_ACCOUNT))
                .build(),
        );
        for bucket in [BUCKET, OTHER_BUCKET] {
            admin_s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .unwrap();
        }

        let compute = iam(COMPUTE_ACCOUNT);
        compute
            .create_user()
            .user_name("compute")
            .send()
            .await
            .unwrap();
        compute
            .put_user_policy()
            .user_name("compute")
            .policy_name("assume-roles")
            .policy_document(ASSUME_ANY_ROLE)
            .send()
            .await
            .unwrap();
        let customers = CUSTOMERS.map(|(role, external_id)| (role, BROKER_SESSION, external_id));
        for (role, principal, external_id) in [
            ("broker", COMPUTE_USER, BROKER_EXTERNAL_ID),
            ("guarded", COMPUTE_USER, GUARDED_EXTERNAL_ID),
        ]
        .into_iter()
        .chain(customers)
        {
            compute
                .create_role()
                .role_name(role)
                .assume_role_policy_document(trust(principal, external_id))
                .send()
                .await
                .unwrap();
        }
        compute
            .put_role_policy()
            .role_name("broker")
            .policy_name("assume-roles")
            .policy_document(ASSUME_ANY_ROLE)
            .send()
            .await
            .unwrap();
        let key = compute
            .create_access_key()
            .user_name("compute")
            .send()
            .await
            .unwrap();
        let key = key.access_key().unwrap();

        moto_api("/moto-api/reset-auth", "0").await;
        Credentials::new(
            key.access_key_id(),
            key.secret_access_key(),
            None,
            None,
            "moto",
        )
    })
    .await
    .clone()
}

async fn provider(roles: impl IntoIterator<Item = Role>) -> RoleChainProvider {
    roles
        .into_iter()
        .fold(
            RoleChainProvider::builder()
                .base_provider(compute_keys().await)
                .endpoint_url(endpoint())
                .region(Region::new("us-east-1")),
            |builder, role| builder.assume(role),
        )
        .build()
        .unwrap()
}

fn storage_role() -> Role {
    Role::new(STORAGE_ROLE).external_id(STORAGE_EXTERNAL_ID)
}

#[tokio::test]
async fn the_storage_role_puts_lists_and_gets_in_its_bucket() {
    let s3 = s3(provider([storage_role()]).await);
    s3.put_object()
        .bucket(BUCKET)
        .key("report.csv")
        .body(ByteStream::from_static(b"a,b\n1,2\n"))
        .send()
        .await
        .unwrap();
    let listing = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(listing
        .contents()
        .iter()
        .any(|o| o.key() == Some("report.csv")));
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key("report.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        b"a,b\n1,2\n"
    );
}

#[tokio::test]
async fn a_put_to_a_bucket_outside_the_role_policy_is_refused() {
    let s3 = s3(provider([storage_role()]).await);
    let err = s3
        .put_object()
        .bucket(OTHER_BUCKET)
        .key("nope")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{err:?}"
    );
}

#[tokio::test]
async fn get_caller_identity_names_the_assumed_role_in_the_storage_account() {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .credentials_provider(provider([storage_role()]).await)
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(identity.account(), Some(STORAGE_ACCOUNT));
    let arn = identity.arn().unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::111111111111:assumed-role/storage-access/"),
        "{arn}"
    );
}

#[tokio::test]
async fn a_two_hop_chain_through_a_broker_reaches_the_bucket() {
    let chain = provider([
        Role::new(BROKER_ROLE).external_id(BROKER_EXTERNAL_ID),
        storage_role(),
    ])
    .await;
    let creds = chain.credentials().await.unwrap();
    assert_eq!(
        creds.account_id().map(|a| a.as_str()),
        Some(STORAGE_ACCOUNT)
    );
    let hops = chain.status().hops().to_vec();
    assert!(hops.iter().all(|h| h.expiry().is_some()), "{hops:?}");
    s3(chain)
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_right_external_id_passes_a_trust_policy_that_requires_it() {
    let chain = provider([Role::new(GUARDED_ROLE).external_id(GUARDED_EXTERNAL_ID)]).await;
    let creds = chain.credentials().await.unwrap();
    assert_eq!(
        creds.account_id().map(|a| a.as_str()),
        Some(COMPUTE_ACCOUNT)
    );
}

#[tokio::test]
async fn a_wrong_external_id_is_access_denied() {
    let chain = provider([Role::new(GUARDED_ROLE).external_id("not-the-one")]).await;
    let err = chain.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop(), err.role_arn()),
        (ErrorKind::AccessDenied, Some(0), Some(GUARDED_ROLE))
    );
}

#[tokio::test]
async fn unknown_base_keys_are_refused() {
    let chain = RoleChainProvider::builder()
        .base_provider(Credentials::new(
            "AKIAUNKNOWNUNKNOWN00",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .assume(storage_role())
        .build()
        .unwrap();
    let _ = compute_keys().await;
    let err = chain.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::BaseCredentials, Some(0)),
        "{err}"
    );
}

/// compute → broker → storage as profiles of a config file, with the compute user's keys in a
/// credentials file, written for `test`; each hop names its session, the storage hop its
/// duration. `broker_external_id` goes into the broker profile.
fn profile_files(test: &str, keys: &Credentials, broker_external_id: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("moto-profiles")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "[profile storage]\nrole_arn = {STORAGE_ROLE}\nsource_profile = broker\n\
         external_id = {STORAGE_EXTERNAL_ID}\nrole_session_name = nightly-export\n\
         duration_seconds = 900\nregion = us-east-1\n\n\
         [profile broker]\nrole_arn = {BROKER_ROLE}\nsource_profile = compute\n\
         external_id = {broker_external_id}\nrole_session_name = broker-session\n"
    );
    let credentials = format!(
        "[compute]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        keys.access_key_id(),
        keys.secret_access_key()
    );
    let paths = (dir.join("config"), dir.join("credentials"));
    std::fs::write(&paths.0, config).unwrap();
    std::fs::write(&paths.1, credentials).unwrap();
    paths
}

fn from_profile((config, credentials): &(PathBuf, PathBuf)) -> RoleChainProvider {
    RoleChainProvider::builder()
        .profile("storage")
        .profile_files(
            EnvConfigFiles::builder()
                .with_file(EnvConfigFileKind::Config, config)
                .with_file(EnvConfigFileKind::Credentials, credentials)
                .build(),
        )
        .endpoint_url(endpoint())
        .build()
        .unwrap()
}

/// The ARN GetCallerIdentity gives for `credentials`.
async fn caller_arn(credentials: impl ProvideCredentials + 'static) -> String {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .credentials_provider(credentials)
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.unwrap();
    identity.arn().unwrap().to_owned()
}

/// What botocore, given the same files through `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE`, makes of profile `storage`: the ARN of its caller identity.
fn botocore_caller_arn((config, credentials): &(PathBuf, PathBuf)) -> String {
    let python = std::env::var("MOTO_PYTHON")
        .expect("MOTO_PYTHON is not set: run these tests with scripts/moto.sh test");
    let script = "import boto3\n\
                  session = boto3.Session(profile_name='storage')\n\
                  print(session.client('sts').get_caller_identity()['Arn'])\n";
    let output = std::process::Command::new(python)
        .args(["-c", script])
        .env_clear()
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output_within_a_minute()
        .unwrap();
    assert!(
        output.status.success(),
        "botocore failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_two_profile_chain_reaches_the_bucket_as_botocore_reads_the_same_files() {
    let keys = compute_keys().await;
    let files = profile_files("two", &keys, BROKER_EXTERNAL_ID);
    let chain = from_profile(&files);

    let creds = chain.credentials().await.unwrap();

    // duration_seconds = 900, as the storage profile says.
    let lifetime = creds
        .expiry()
        .unwrap()
        .duration_since(aws_smithy_async::time::SystemTimeSource::new().now())
        .unwrap();
    assert!(
        lifetime <= std::time::Duration::from_secs(900),
        "{lifetime:?}"
    );
    assert!(
        lifetime > std::time::Duration::from_secs(800),
        "{lifetime:?}"
    );
    let ours = caller_arn(chain.clone()).await;
    assert_eq!(
        ours,
        "arn:aws:sts::111111111111:assumed-role/storage-access/nightly-export"
    );
    assert_eq!(
        ours,
        botocore_caller_arn(&files),
        "the same chain as botocore"
    );
    s3(chain)
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_external_id_in_a_profile_is_access_denied_at_its_hop() {
    let keys = compute_keys().await;
    let chain = from_profile(&profile_files("wrong-external-id", &keys, "not-the-one"));
    let err = chain.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop(), err.role_arn()),
        (ErrorKind::AccessDenied, Some(0), Some(BROKER_ROLE))
    );
}

/// Runs `script` with moto's Python (which has boto3) and `env`; its trimmed stdout.
fn python(script: &str, env: &[(&str, String)]) -> String {
    let python = std::env::var("MOTO_PYTHON")
        .expect("MOTO_PYTHON is not set: run these tests with scripts/moto.sh test");
    let output = std::process::Command::new(python)
        .args(["-c", script])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-role-chain/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-role-chain/credentials",
        )
        .output_within_a_minute()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The variables that point an SDK at `server`.
fn server_env(server: &aws_role_chain::server::CredentialsServer) -> [(&'static str, String); 2] {
    [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            server.token().to_owned(),
        ),
    ]
}

const CALLER_ARN: &str = "import boto3\nprint(boto3.client('sts').get_caller_identity()['Arn'])\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_gets_the_chain_from_the_credentials_server_and_acts_as_the_last_role() {
    let chain = provider([
        Role::new(BROKER_ROLE).external_id(BROKER_EXTERNAL_ID),
        storage_role(),
    ])
    .await;
    let server = aws_role_chain::server::CredentialsServer::start(chain)
        .await
        .unwrap();
    let env = server_env(&server);

    let arn = tokio::task::spawn_blocking(move || python(CALLER_ARN, &env))
        .await
        .unwrap();

    assert!(
        arn.starts_with("arn:aws:sts::111111111111:assumed-role/storage-access/"),
        "{arn}"
    );
    server.shutdown().await;
}

/// `command` with nothing in its environment but the AWS config files given, moto's endpoint
/// and a region.
fn with_files(
    mut command: std::process::Command,
    config: &std::path::Path,
    credentials: &std::path::Path,
) -> std::process::Command {
    command
        .env_clear()
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// The `aws-role-chain` command, built by scripts/moto.sh.
fn cli() -> String {
    std::env::var("AWS_ROLE_CHAIN_BIN")
        .expect("AWS_ROLE_CHAIN_BIN is not set: run these tests with scripts/moto.sh test")
}

/// `aws-role-chain exec` around a boto3 child that prints its caller ARN and exits with 3, its
/// base credentials the compute user's keys, under `config` as `AWS_CONFIG_FILE`.
async fn exec_boto3(config: String) -> std::process::Output {
    let keys = compute_keys().await;
    let script = format!("{CALLER_ARN}import sys\nsys.exit(3)\n");
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(cli())
            .args([
                "exec",
                "--role",
                &format!("{STORAGE_ROLE},external-id-env=STORAGE_EXT,session-name=exec-child"),
                "--",
                &std::env::var("MOTO_PYTHON").unwrap(),
                "-c",
                &script,
            ])
            .env_clear()
            .env("AWS_ACCESS_KEY_ID", keys.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", keys.secret_access_key())
            .env("AWS_REGION", "us-east-1")
            // botocore's name for it
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", config)
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-role-chain/credentials",
            )
            .env("STORAGE_EXT", STORAGE_EXTERNAL_ID)
            .output_within_a_minute()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The boto3 child acted as the chain's last role and its status came back.
fn assert_acted_as_the_last_role(output: &std::process::Output) {
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "arn:aws:sts::111111111111:assumed-role/storage-access/exec-child"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_a_boto3_child_the_role_and_returns_its_status() {
    let output = exec_boto3("/nonexistent/aws-role-chain/config".to_owned()).await;
    assert_acted_as_the_last_role(&output);
}

/// A config file whose `[default]` profile has credentials that boto3 would read before the
/// endpoint: the compute user's own keys, a credential process printing them, an SSO session.
async fn exec_boto3_under_a_default_profile(name: &str, default_profile: String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-shadow-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(&config, default_profile).unwrap();

    let output = exec_boto3(config.display().to_string()).await;

    assert_acted_as_the_last_role(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_a_boto3_child_the_role_despite_keys_in_the_default_profile() {
    let keys = compute_keys().await;
    let profile = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        keys.access_key_id(),
        keys.secret_access_key()
    );
    exec_boto3_under_a_default_profile("keys", profile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_a_boto3_child_the_role_despite_a_credential_process_in_the_default_profile() {
    let keys = compute_keys().await;
    let printed = serde_json::json!({
        "Version": 1,
        "AccessKeyId": keys.access_key_id(),
        "SecretAccessKey": keys.secret_access_key(),
    });
    let profile = format!("[default]\ncredential_process = echo {printed}\n");
    exec_boto3_under_a_default_profile("process", profile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_a_boto3_child_the_role_despite_an_sso_session_in_the_default_profile() {
    let profile = "[default]\nsso_session = corp\nsso_account_id = 999999999999\n\
                   sso_role_name = Admin\n[sso-session corp]\nsso_region = us-east-1\n\
                   sso_start_url = https://corp.example/start\n";
    exec_boto3_under_a_default_profile("sso", profile.to_owned()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_a_profile_gives_a_boto3_child_its_role_despite_keys_in_the_default_profile() {
    let keys = compute_keys().await;
    let (config, credentials) = profile_files("exec-profile", &keys, BROKER_EXTERNAL_ID);
    let profiles = std::fs::read_to_string(&config).unwrap();
    let default = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n\n",
        keys.access_key_id(),
        keys.secret_access_key()
    );
    std::fs::write(&config, default + &profiles).unwrap();
    let script = format!("{CALLER_ARN}import sys\nsys.exit(3)\n");

    let output = tokio::task::spawn_blocking(move || {
        let mut exec = std::process::Command::new(cli());
        exec.args(["exec", "--profile", "storage", "--"])
            .arg(std::env::var("MOTO_PYTHON").unwrap())
            .args(["-c", &script]);
        with_files(exec, &config, &credentials)
            .output_within_a_minute()
            .unwrap()
    })
    .await
    .unwrap();

    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "arn:aws:sts::111111111111:assumed-role/storage-access/nightly-export"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_gets_credentials_within_1_s_while_300_tokenless_connections_hammer_the_server() {
    let chain = provider([
        Role::new(BROKER_ROLE).external_id(BROKER_EXTERNAL_ID),
        storage_role(),
    ])
    .await;
    let expected = chain.credentials().await.unwrap();
    let server = aws_role_chain::server::CredentialsServer::start(chain)
        .await
        .unwrap();
    let env = server_env(&server);
    // The flood runs until the fetches are done (a minute at most, should Python hang).
    let attackers = common::flood(server.local_addr(), 300, std::time::Duration::from_secs(60));
    // Each fetch in a new botocore session, timed: the slowest, and the key.
    let script = "import time, botocore.session\n\
                  slowest, key = 0.0, None\n\
                  for _ in range(5):\n\
                  \x20   started = time.monotonic()\n\
                  \x20   key = botocore.session.get_session().get_credentials().get_frozen_credentials().access_key\n\
                  \x20   slowest = max(slowest, time.monotonic() - started)\n\
                  print(slowest, key)\n";

    let printed = tokio::task::spawn_blocking(move || python(script, &env))
        .await
        .unwrap();

    let (slowest, key) = printed.split_once(' ').unwrap();
    let slowest: f64 = slowest.parse().unwrap();
    eprintln!("the slowest of 5 fetches during the flood: {slowest} s");
    assert!(slowest < 1.0, "the slowest fetch took {slowest} s");
    assert_eq!(key, expected.access_key_id());
    let rounds = tokio::task::spawn_blocking(move || attackers.stop())
        .await
        .unwrap();
    assert!(rounds >= 600, "{rounds} tokenless requests");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_takes_credential_process_output_as_a_profiles_credentials() {
    let keys = compute_keys().await;
    let (config, credentials) = profile_files("credential-process", &keys, BROKER_EXTERNAL_ID);
    // A profile that runs `aws-role-chain credential-process` on the chain of profile `storage`
    // in the same file.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile via-process]\ncredential_process = {} credential-process --profile storage\n",
        cli()
    ));
    std::fs::write(&config, text).unwrap();
    let script = "import boto3\n\
                  session = boto3.Session(profile_name='via-process')\n\
                  print(session.client('sts').get_caller_identity()['Arn'])\n";

    let output = tokio::task::spawn_blocking(move || {
        let mut python = std::process::Command::new(std::env::var("MOTO_PYTHON").unwrap());
        python.args(["-c", script]);
        with_files(python, &config, &credentials)
            .output_within_a_minute()
            .unwrap()
    })
    .await
    .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "arn:aws:sts::111111111111:assumed-role/storage-access/nightly-export"
    );
}

#[tokio::test]
async fn one_pool_serves_each_customer_its_own_role_and_refuses_a_wrong_external_id_alone() {
    let pool = RoleChainPool::builder()
        .base_provider(compute_keys().await)
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .assume(
            Role::new(BROKER_ROLE)
                .external_id(BROKER_EXTERNAL_ID)
                .session_name("vendor-broker"),
        )
        .build()
        .unwrap();
    let customer = |name: &str, external_id: &str| {
        let arn = format!("arn:aws:iam::{COMPUTE_ACCOUNT}:role/{name}");
        pool.tenant(Role::new(arn).external_id(external_id))
            .unwrap()
    };
    // One STS client for all customers, each request carrying its tenant's credentials.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .identity_cache(aws_sdk_sts::config::IdentityCache::no_cache())
            .build(),
    );
    let wrong = customer(CUSTOMERS[0].0, CUSTOMERS[1].1);
    let err = wrong.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::AccessDenied, Some(1)),
        "{err}"
    );
    for (name, external_id) in CUSTOMERS {
        let tenant = customer(name, external_id);
        let identity = sts
            .get_caller_identity()
            .customize()
            .config_override(aws_sdk_sts::Config::builder().credentials_provider(tenant))
            .send()
            .await
            .unwrap();
        let arn = identity.arn().unwrap();
        let session = format!("arn:aws:sts::{COMPUTE_ACCOUNT}:assumed-role/{name}/");
        assert!(arn.starts_with(&session), "{name}: {arn}");
    }
    // The broker once, the wrong ExternalId once, each customer once.
    assert_eq!(pool.status().assume_role_calls(), 5, "{}", pool.status());
}

/// A child's output, which must come within a minute: one that runs longer is killed and fails
/// its test rather than hang the suite. Its output is small, so the pipes never fill.
trait WithinAMinute {
    fn output_within_a_minute(&mut self) -> std::io::Result<std::process::Output>;
}

impl WithinAMinute for std::process::Command {
    fn output_within_a_minute(&mut self) -> std::io::Result<std::process::Output> {
        use std::process::Stdio;
        let mut child = self.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let started = common::stopwatch();
        while child.try_wait()?.is_none() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{:?} ran for over a minute", self.get_program());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output()
    }
}
