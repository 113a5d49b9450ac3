//! The `aws-role-chain` command as a user runs it, against LocalSts: the base credentials,
//! region and STS endpoint from the environment as every AWS tool reads them, the chain from
//! `--role` or `--profile`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use aws_role_chain::test_util::{LocalRole, LocalSts};
use tokio::io::{AsyncBufReadExt, BufReader};

const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
const BROKER_EXTERNAL_ID: &str = "broker-ext-5b1e";
const STORAGE_EXTERNAL_ID: &str = "storage-ext-7f3a9c";

/// Empty AWS config and credentials files, so that only the environment counts.
fn empty_files() -> (String, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let paths = (dir.join("config"), dir.join("credentials"));
    std::fs::write(&paths.0, "").unwrap();
    std::fs::write(&paths.1, "").unwrap();
    (paths.0.display().to_string(), paths.1.display().to_string())
}

/// LocalSts with compute → broker → storage, and the environment that points a command at it
/// with the compute user's keys.
async fn world() -> (LocalSts, Vec<(&'static str, String)>) {
    let (config, credentials) = empty_files();
    let sts = LocalSts::start().await.unwrap();
    let compute = sts.add_user("222222222222", "compute");
    sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id(BROKER_EXTERNAL_ID),
    );
    sts.add_role(
        LocalRole::new(STORAGE)
            .trust(BROKER)
            .external_id(STORAGE_EXTERNAL_ID),
    );
    let env = vec![
        ("AWS_ACCESS_KEY_ID", compute.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            compute.secret_access_key().to_owned(),
        ),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint_url().to_owned()),
        ("AWS_CONFIG_FILE", config),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("BROKER_EXT", BROKER_EXTERNAL_ID.to_owned()),
        ("STORAGE_EXT", STORAGE_EXTERNAL_ID.to_owned()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ];
    (sts, env)
}

/// The command with only `env` as its environment.
fn command(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aws-role-chain"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args);
    command
}

/// Runs the command off the async threads, so that LocalSts keeps answering.
async fn run(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut command = command(env, args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

const TWO_ROLES: [&str; 4] = [
    "--role",
    "arn:aws:iam::333333333333:role/broker,external-id-env=BROKER_EXT",
    "--role",
    "arn:aws:iam::111111111111:role/storage-access,external-id-env=STORAGE_EXT,session-name=cli-test",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_prints_the_last_roles_credentials() {
    let (sts, env) = world().await;
    let mut args = vec!["credential-process"];
    args.extend(TWO_ROLES);

    let output = run(&env, &args).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let issued = sts.issued();
    assert_eq!(issued.len(), 2);
    assert_eq!(json["Version"], 1);
    assert_eq!(json["AccessKeyId"], issued[1].access_key_id());
    assert_eq!(json["SecretAccessKey"], issued[1].secret_access_key());
    assert_eq!(json["SessionToken"], issued[1].session_token().unwrap());
    assert_eq!(json["AccountId"], "111111111111");
    assert!(
        json["Expiration"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    let requests = sts.requests();
    assert_eq!(requests[1].param("ExternalId"), Some(STORAGE_EXTERNAL_ID));
    assert_eq!(requests[1].param("RoleSessionName"), Some("cli-test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_reads_a_profile_from_the_config_file_the_environment_names() {
    let (sts, mut env) = world().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-profile");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile storage]\nrole_arn = {STORAGE}\nsource_profile = broker\n\
             external_id = {STORAGE_EXTERNAL_ID}\n\
             [profile broker]\nrole_arn = {BROKER}\ncredential_source = Environment\n\
             external_id = {BROKER_EXTERNAL_ID}\n"
        ),
    )
    .unwrap();
    env.retain(|(name, _)| *name != "AWS_CONFIG_FILE");
    env.push(("AWS_CONFIG_FILE", config.display().to_string()));

    let output = run(&env, &["credential-process", "--profile", "storage"]).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["AccountId"], "111111111111");
    let roles: Vec<_> = sts
        .requests()
        .iter()
        .map(|r| r.param("RoleArn").unwrap().to_owned())
        .collect();
    assert_eq!(roles, [BROKER, STORAGE]);
}

/// The command fails with one line on stderr that contains `says`, and prints nothing else.
async fn fails((args, says): (&[&str], &str)) {
    let (_sts, env) = world().await;
    let output = run(&env, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(!stderr.contains(BROKER_EXTERNAL_ID), "{stderr}");
}

macro_rules! cases {
    ($check:ident: $($name:ident: $args:expr;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $check($args).await
            }
        )+
    };
}

cases! { fails:
    no_chain_is_refused: (&["credential-process"], "name the chain with --profile NAME or --role ARN");
    an_external_id_argument_is_refused: (
        &["credential-process", "--role", "arn:aws:iam::333333333333:role/broker,external-id=broker-ext-5b1e"],
        "visible to every user of the host");
    a_missing_external_id_variable_is_named: (
        &["credential-process", "--role", "arn:aws:iam::333333333333:role/broker,external-id-env=NOPE"],
        "environment variable NOPE, which is not set");
    an_unknown_profile_is_named: (&["credential-process", "--profile", "nope"], "no profile \"nope\"");
    a_wrong_external_id_is_access_denied_at_its_hop: (
        &["credential-process", "--role", "arn:aws:iam::333333333333:role/broker,external-id-env=STORAGE_EXT"],
        "the chain failed: hop 0 (arn:aws:iam::333333333333:role/broker): access denied");
    a_malformed_role_is_refused_before_any_request: (
        &["credential-process", "--role", "arn:aws:iam::1:role/x"], "the chain is not valid: role 0 in the chain: role_arn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_the_command_the_role_and_returns_its_status() {
    let (sts, mut env) = world().await;
    env.push(("AWS_PROFILE", "left-over".to_owned()));
    // The child reads the endpoint as an SDK does, prints the key it got, and exits with 7.
    let script = "import json, os, sys, urllib.request\n\
                  assert 'AWS_ACCESS_KEY_ID' not in os.environ and 'AWS_PROFILE' not in os.environ\n\
                  assert 'STORAGE_EXT' not in os.environ and 'BROKER_EXT' not in os.environ\n\
                  assert os.environ['AWS_SHARED_CREDENTIALS_FILE'] == '/dev/null'\n\
                  request = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n\
                      headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n\
                  print(json.load(urllib.request.urlopen(request))['AccessKeyId'])\n\
                  sys.exit(7)\n";
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "python3", "-c", script]);

    let output = run(&env, &args).await;

    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed.trim(), sts.issued()[1].access_key_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_a_missing_program_says_so() {
    let (_sts, env) = world().await;
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "/nonexistent/program"]);
    let output = run(&env, &args).await;
    assert_eq!(
        output.status.code(),
        Some(127),
        "as a shell says: not found"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot run /nonexistent/program"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_the_variables_serves_until_sigterm_and_removes_its_token_file() {
    let (sts, env) = world().await;
    let token_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-serve.token");
    let _ = std::fs::remove_file(&token_file);
    let mut args = vec!["serve", "--token-file", token_file.to_str().unwrap()];
    args.extend(TWO_ROLES);
    let mut child = tokio::process::Command::from(command(&env, &args))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let uri = lines.next_line().await.unwrap().unwrap();
    let file = lines.next_line().await.unwrap().unwrap();
    let uri = uri
        .strip_prefix("export AWS_CONTAINER_CREDENTIALS_FULL_URI=")
        .unwrap()
        .to_owned();
    assert_eq!(
        file,
        format!(
            "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
            token_file.display()
        )
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.trim(), token, "the SDKs send the file as it is");

    let script = "import json, sys, urllib.request\n\
                  request = urllib.request.Request(sys.argv[1], headers={'Authorization': sys.argv[2]})\n\
                  print(json.load(urllib.request.urlopen(request))['AccessKeyId'])\n";
    let mut python = Command::new("python3");
    python.args(["-c", script, &uri, &token]);
    let output = tokio::task::spawn_blocking(move || python.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        sts.issued()[1].access_key_id()
    );

    // SAFETY: kill(2) with the pid of a child not yet waited for.
    unsafe {
        libc::kill(child.id().unwrap() as libc::pid_t, libc::SIGTERM);
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!token_file.exists(), "the token file is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_token_file_others_can_read_or_with_a_newline() {
    use std::os::unix::fs::PermissionsExt;
    let (_sts, env) = world().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-token-files");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, contents, mode, says) in [
        (
            "readable",
            "token-value-0123",
            0o644,
            "can be read by other users (mode 644): chmod 600 it",
        ),
        (
            "newline",
            "token-value-0123\n",
            0o600,
            "spaces or a newline around the token",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut args = vec!["serve", "--token-file", path.to_str().unwrap()];
        args.extend(TWO_ROLES);
        let output = run(&env, &args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("token-value-0123"), "{stderr}");
    }
}
