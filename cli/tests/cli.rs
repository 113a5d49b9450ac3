//! The `aws-role-chain` command as a user runs it, against LocalSts: the base credentials,
//! region and STS endpoint from the environment as every AWS tool reads them, the chain from
//! `--role` or `--profile`. Every run of the command is under a timeout: none can hang the
//! suite.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

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
    for id in [BROKER_EXTERNAL_ID, STORAGE_EXTERNAL_ID] {
        assert!(!stderr.contains(id), "{stderr}");
    }
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

/// Variables that would put other credentials before the endpoint in some SDK's chain.
const SHADOWING: [&str; 13] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_CREDENTIAL_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_the_command_the_role_and_nothing_that_would_shadow_it() {
    let (sts, mut env) = world().await;
    // The base credentials from the profile AWS_PROFILE names, so that every other variable
    // can be set to something the child must not see (the key pair's variables are checked by
    // the SDK child tests below).
    let key = |name| env.iter().find(|(set, _)| *set == name).unwrap().1.clone();
    let (key_id, secret) = (key("AWS_ACCESS_KEY_ID"), key("AWS_SECRET_ACCESS_KEY"));
    env.retain(|(name, _)| !SHADOWING.contains(name) && *name != "AWS_CONFIG_FILE");
    for name in &SHADOWING[2..] {
        env.push((name, "left-over".to_owned()));
    }
    env.retain(|(name, _)| *name != "AWS_PROFILE");
    env.push(("AWS_PROFILE", "compute".to_owned()));
    // Where the SDK for Java 1.x and boto's legacy config would find keys.
    env.push(("AWS_CREDENTIAL_PROFILES_FILE", "/etc/java-keys".to_owned()));
    env.push(("BOTO_CONFIG", "/etc/boto-keys".to_owned()));
    // The child reads the endpoint as an SDK does, checks its environment and config file,
    // prints the key it got, and exits with 7.
    let script = "import json, os, stat, sys, urllib.request\n\
                  names = sys.argv[1].split(',')\n\
                  left = [n for n in names + ['STORAGE_EXT', 'BROKER_EXT'] if n in os.environ]\n\
                  assert not left, left\n\
                  for name in ['AWS_SHARED_CREDENTIALS_FILE', 'AWS_CREDENTIAL_PROFILES_FILE', 'BOTO_CONFIG']:\n\
                  \x20   assert os.environ[name] == '/dev/null', name\n\
                  config = os.environ['AWS_CONFIG_FILE']\n\
                  assert stat.S_IMODE(os.stat(config).st_mode) == 0o600\n\
                  assert open(config).read() == '[default]\\nregion = eu-west-3\\noutput = json\\n', open(config).read()\n\
                  assert os.environ['AWS_ROLE_CHAIN_EXEC'] == str(os.getppid())\n\
                  print(config)\n\
                  request = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n\
                      headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n\
                  print(json.load(urllib.request.urlopen(request))['AccessKeyId'])\n\
                  sys.exit(7)\n";
    let dir = scratch("cli-exec-env");
    let config = dir.join("config");
    write_file(
        &config,
        &format!(
            "[default]\nregion = us-west-2\naws_access_key_id = AKIDDEFAULT\n\
             aws_secret_access_key = default-secret\n\
             [profile compute]\nregion = eu-west-3\noutput = json\ncli_pager =\n\
             aws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
        ),
        0o600,
    );
    env.push(("AWS_CONFIG_FILE", config.display().to_string()));
    let names = SHADOWING.join(",");
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "python3", "-c", script, &names]);

    let output = run(&env, &args).await;

    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let (child_config, key) = printed.trim().split_once('\n').unwrap();
    assert_eq!(key, sts.issued()[1].access_key_id());
    assert!(
        !Path::new(child_config).exists(),
        "the child's config file is removed at exit"
    );
}

/// The AWS SDK for Rust's default chain, run by `exec` under a config file whose `[default]`
/// profile has credentials of its own: it gets the chain's last role all the same.
async fn sdk_child_gets_the_last_role(default_profile: &str) {
    sdk_child_of_chain_gets_the_last_role(default_profile, &TWO_ROLES).await;
}

/// The same, with the chain from `chain` (`--role`s or `--profile`).
async fn sdk_child_of_chain_gets_the_last_role(default_profile: &str, chain: &[&str]) {
    let (sts, mut env) = world().await;
    let dir = scratch(&format!(
        "cli-shadow-{}-{}",
        default_profile.len(),
        chain.len()
    ));
    let config = dir.join("config");
    write_file(&config, default_profile, 0o600);
    env.retain(|(name, _)| *name != "AWS_CONFIG_FILE");
    env.push(("AWS_CONFIG_FILE", config.display().to_string()));
    // The example prints what the SDK's default chain finds.
    let child = Path::new(env!("CARGO_BIN_EXE_aws-role-chain"))
        .with_file_name("examples")
        .join("sdk_credentials");
    assert!(
        child.exists(),
        "{} is built by cargo test, or by cargo build --example sdk_credentials",
        child.display()
    );
    let mut args = vec!["exec"];
    args.extend(chain);
    args.extend(["--", child.to_str().unwrap()]);

    let output = run(&env, &args).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        printed.trim(),
        format!("{} 111111111111", sts.issued()[1].access_key_id())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_an_sdk_child_the_role_despite_keys_in_the_default_profile() {
    sdk_child_gets_the_last_role(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_a_profile_gives_an_sdk_child_its_role_despite_keys_in_the_default_profile() {
    let config = format!(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\
         [profile storage]\nrole_arn = {STORAGE}\nsource_profile = broker\n\
         external_id = {STORAGE_EXTERNAL_ID}\n\
         [profile broker]\nrole_arn = {BROKER}\ncredential_source = Environment\n\
         external_id = {BROKER_EXTERNAL_ID}\n"
    );
    sdk_child_of_chain_gets_the_last_role(&config, &["--profile", "storage"]).await;
}

/// The child's config file keeps the settings of the profile named by `--profile`, not the
/// default profile's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_a_profile_gives_the_child_that_profiles_settings() {
    let (_sts, mut env) = world().await;
    let dir = scratch("cli-profile-settings");
    let config = dir.join("config");
    let text = format!(
        "[default]\nregion = us-west-1\n\
         [profile storage]\nregion = eu-west-2\nrole_arn = {STORAGE}\nsource_profile = broker\n\
         external_id = {STORAGE_EXTERNAL_ID}\n\
         [profile broker]\nrole_arn = {BROKER}\ncredential_source = Environment\n\
         external_id = {BROKER_EXTERNAL_ID}\n"
    );
    write_file(&config, &text, 0o600);
    env.retain(|(name, _)| *name != "AWS_CONFIG_FILE");
    env.push(("AWS_CONFIG_FILE", config.display().to_string()));

    let output = run(
        &env,
        &[
            "exec",
            "--profile",
            "storage",
            "--",
            "sh",
            "-c",
            "cat \"$AWS_CONFIG_FILE\"",
        ],
    )
    .await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let child_config = String::from_utf8(output.stdout).unwrap();
    assert_eq!(child_config, "[default]\nregion = eu-west-2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_an_sdk_child_the_role_despite_a_credential_process_in_the_default_profile() {
    sdk_child_gets_the_last_role(
        "[default]\ncredential_process = echo {\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS\",\"SecretAccessKey\":\"s\"}\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gives_an_sdk_child_the_role_despite_an_sso_session_in_the_default_profile() {
    sdk_child_gets_the_last_role(
        "[default]\nsso_session = corp\nsso_account_id = 999999999999\nsso_role_name = Admin\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.example/start\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_inside_exec_is_refused_unless_nested_is_given() {
    let (sts, mut env) = world().await;
    env.push(("AWS_ROLE_CHAIN_EXEC", "4242".to_owned()));
    let mut args = vec!["exec"];
    args.extend(TWO_ROLES);
    args.extend(["--", "true"]);

    let refused = run(&env, &args).await;

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("inside another aws-role-chain exec (process 4242"),
        "{stderr}"
    );
    assert!(stderr.contains("--nested"), "{stderr}");
    assert!(sts.requests().is_empty(), "refused before any request");

    args.insert(1, "--nested");
    let nested = run(&env, &args).await;
    assert!(
        nested.status.success(),
        "{}",
        String::from_utf8_lossy(&nested.stderr)
    );
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

/// The URI and the token file of the two `export` lines `serve` prints, as a POSIX shell reads
/// them.
async fn exports(serving: &mut Running) -> (String, PathBuf) {
    let mut lines = String::new();
    for _ in 0..2 {
        lines.push_str(&serving.line().await);
        lines.push('\n');
    }
    assert!(
        lines.starts_with("export AWS_CONTAINER_CREDENTIALS_FULL_URI="),
        "{lines}"
    );
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(format!(
        "{lines}printf '%s\\n%s' \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\" \
         \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\""
    ));
    let output = finish(shell).await;
    assert!(output.status.success(), "{lines}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let (uri, file) = printed.split_once('\n').unwrap();
    (uri.to_owned(), PathBuf::from(file))
}

/// The access key id that `uri` gives for `token`, read as an SDK reads it.
async fn fetch_key(uri: &str, token: &str) -> String {
    let script = "import json, sys, urllib.request\n\
                  request = urllib.request.Request(sys.argv[1], headers={'Authorization': sys.argv[2]})\n\
                  print(json.load(urllib.request.urlopen(request))['AccessKeyId'])\n";
    let mut python = Command::new("python3");
    python.args(["-c", script, uri, token]);
    let output = finish(python).await;
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_quoted_variables_serves_until_sigterm_and_removes_its_token_file() {
    let (sts, env) = world().await;
    // A name that only correct quoting gives back: a space, a quote, a `$`.
    let token_file = scratch("cli-serve").join("token file's $HOME");
    let mut args = vec!["serve", "--token-file", token_file.to_str().unwrap()];
    args.extend(TWO_ROLES);
    let mut serving = Running::start(&env, &args);

    let (uri, file) = exports(&mut serving).await;

    assert_eq!(file, token_file);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.trim(), token, "the SDKs send the file as it is");
    assert_eq!(
        fetch_key(&uri, &token).await,
        sts.issued()[1].access_key_id()
    );
    let status = serving.stopped_by(libc::SIGTERM).await;
    assert!(status.success(), "{status:?}");
    assert!(!token_file.exists(), "the token file is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_its_token_in_the_users_runtime_directory_else_the_temporary_one() {
    for variable in ["XDG_RUNTIME_DIR", "TMPDIR"] {
        let (_sts, mut env) = world().await;
        let dir = scratch(&format!("cli-default-{variable}"));
        env.push((variable, dir.display().to_string()));
        let mut args = vec!["serve"];
        args.extend(TWO_ROLES);
        let mut serving = Running::start(&env, &args);

        let (_, file) = exports(&mut serving).await;

        assert_eq!(file.parent(), Some(dir.as_path()), "{variable}");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("aws-role-chain-") && name.ends_with(".token"),
            "{name}"
        );
        assert!(serving.stopped_by(libc::SIGINT).await.success());
        assert!(!file.exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_leaves_a_token_file_it_did_not_create_or_that_was_replaced() {
    let (_sts, env) = world().await;
    let dir = scratch("cli-not-ours");
    let operators = dir.join("operator.token");
    write_file(&operators, "operator-token-0123456789abcdef-01", 0o600);
    let replaced = dir.join("replaced.token");
    for path in [&operators, &replaced] {
        let mut args = vec!["serve", "--token-file", path.to_str().unwrap()];
        args.extend(TWO_ROLES);
        let mut serving = Running::start(&env, &args);
        exports(&mut serving).await;
        if path == &replaced {
            let other = dir.join("other");
            write_file(&other, "another process's file", 0o600);
            std::fs::rename(&other, path).unwrap();
        }
        assert!(serving.stopped_by(libc::SIGTERM).await.success());
        assert!(path.exists(), "{} is left in place", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_token_file_that_is_not_fit_to_hold_the_token() {
    let (_sts, env) = world().await;
    let dir = scratch("cli-token-files");
    let token = "token-value-0123456789abcdef-0123";
    for (name, contents, mode, says) in [
        (
            "readable",
            token,
            0o644,
            "other users (mode 644): chmod 600 it",
        ),
        (
            "newline",
            &format!("{token}\n"),
            0o600,
            "spaces or a newline around the token",
        ),
        ("short", "token-value", 0o600, "shorter than 32 characters"),
        ("link", "", 0o600, "is a symbolic link"),
    ] {
        let path = dir.join(name);
        if name == "link" {
            std::os::unix::fs::symlink(dir.join("readable"), &path).unwrap();
        } else {
            write_file(&path, contents, mode);
        }
        let mut args = vec!["serve", "--token-file", path.to_str().unwrap()];
        args.extend(TWO_ROLES);
        let output = run(&env, &args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains(token), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_id_file_is_read_only_if_it_is_the_users_own_and_private() {
    let (sts, env) = world().await;
    let dir = scratch("cli-external-id-files");
    let private = dir.join("private");
    write_file(&private, &format!("{BROKER_EXTERNAL_ID}\n"), 0o600);
    let readable = dir.join("readable");
    write_file(&readable, BROKER_EXTERNAL_ID, 0o640);
    let link = dir.join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let role = |path: &Path| {
        format!(
            "arn:aws:iam::333333333333:role/broker,external-id-file={}",
            path.display()
        )
    };

    let read = run(&env, &["credential-process", "--role", &role(&private)]).await;
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(
        sts.requests()[0].param("ExternalId"),
        Some(BROKER_EXTERNAL_ID)
    );

    for (path, says) in [
        (&readable, "other users (mode 640): chmod 600 it"),
        (&link, "is a symbolic link"),
    ] {
        let output = run(&env, &["credential-process", "--role", &role(path)]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains(BROKER_EXTERNAL_ID), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exports_a_relative_token_file_as_an_absolute_path() {
    let (_sts, env) = world().await;
    let dir = scratch("cli-relative");
    let mut args = vec!["serve", "--token-file", "relative.token"];
    args.extend(TWO_ROLES);
    let mut command = command(&env, &args);
    command.current_dir(&dir);
    let mut serving = Running::from(command);

    let (_, file) = exports(&mut serving).await;

    assert_eq!(file, dir.join("relative.token"));
    assert!(file.exists());
    assert!(serving.stopped_by(libc::SIGTERM).await.success());
}

/// The status and body of a GET of `url` by Python's own HTTP client, with `headers` (`name:
/// value` each).
async fn python_get(url: &str, headers: &[&str]) -> (u16, String) {
    let script = "import sys, urllib.request, urllib.error\n\
                  request = urllib.request.Request(sys.argv[1], headers=dict(h.split(': ', 1) for h in sys.argv[2:]))\n\
                  try:\n    answer = urllib.request.urlopen(request)\n\
                  except urllib.error.HTTPError as refused:\n    answer = refused\n\
                  print(answer.status)\n\
                  print(answer.read().decode())\n";
    let mut python = Command::new("python3");
    python.args(["-c", script, url]).args(headers);
    let output = finish(python).await;
    let text = String::from_utf8(output.stdout).unwrap();
    let (status, body) = text.split_once('\n').unwrap_or_else(|| panic!("{text:?}"));
    (status.parse().unwrap(), body.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_health_probes_on_its_health_address_and_nothing_else_there() {
    let (_sts, env) = world().await;
    // A port free a moment ago: the command binds it at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let health = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--health-address", &health];
    args.extend(TWO_ROLES);
    let mut serving = Running::start(&env, &args);
    let (uri, file) = exports(&mut serving).await;
    let token = std::fs::read_to_string(&file).unwrap();

    let (status, body) = python_get(&format!("http://{health}/healthz"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""state":"valid""#) && body.contains(r#""expires_in":"#),
        "{body}"
    );
    let path = &uri[uri.find("/role-chain").unwrap()..];
    let authorized = format!("Authorization: {token}");
    let (status, _) = python_get(&format!("http://{health}{path}"), &[&authorized]).await;
    assert_eq!(status, 404, "no credentials on the health address");
    assert_eq!(python_get(&uri, &[&authorized]).await.0, 200);
    assert_eq!(python_get(&uri, &[]).await.0, 401);
    assert!(serving.stopped_by(libc::SIGTERM).await.success());
}
