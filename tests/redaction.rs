//! No secret key, session token or ExternalId in any Debug, Display or log line.

mod common;

use aws_role_chain::test_util::Fault;
use aws_role_chain::{Role, RoleChainProvider};
use common::*;
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything logged on this thread at TRACE level, spans included, until the guard drops.
fn capture_trace() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_writer(capture.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

fn assert_free_of_secrets(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} contains a secret ({} chars)",
            secret.len()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_printed_or_logged_over_successes_and_failures_contains_a_secret() {
    let (capture, _guard) = capture_trace();

    let world = World::new().await;
    let good = world.two_hops();
    let creds = good.credentials().await.unwrap();
    good.credentials().await.unwrap();
    let wrong_id = "wrong-external-id-31337";
    let bad = world
        .builder()
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .assume(Role::new(STORAGE).external_id(wrong_id))
        .build()
        .unwrap();
    let err = bad.credentials().await.unwrap_err();
    let build_err = RoleChainProvider::builder()
        .base_provider(world.compute.clone())
        .assume(Role::new(BROKER).external_id(format!("{BROKER_EXTERNAL_ID} !")))
        .build()
        .unwrap_err();

    good.invalidate();
    good.credentials().await.unwrap();

    // Answers that fail to parse may hold secrets: their errors must not show them.
    let mut fault_errors = String::new();
    for fault in [
        Fault::TruncatedBody,
        Fault::GarbageBody,
        Fault::MissingCredentials,
        Fault::ExpiredCredentials,
    ] {
        world.sts.push_faults([fault]);
        let provider = world
            .builder()
            .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
            .build()
            .unwrap();
        let err = provider.credentials().await.unwrap_err();
        fault_errors.push_str(&format!("{err} {err:?} {}\n", source_chain(&err)));
    }
    let status = format!("{:?}", good.status());

    // Every session LocalSts issued: the middle hop's sign the last hop's requests.
    let issued = world.sts.issued();
    assert!(issued.len() >= 4);
    let mut secrets = vec![
        world.compute.secret_access_key(),
        creds.secret_access_key(),
        creds.session_token().unwrap(),
        BROKER_EXTERNAL_ID,
        STORAGE_EXTERNAL_ID,
        wrong_id,
    ];
    for session in &issued {
        secrets.push(session.secret_access_key());
        secrets.push(session.session_token().unwrap());
    }
    let role = Role::new(BROKER).external_id(BROKER_EXTERNAL_ID);
    let printed = [
        ("provider Debug", format!("{good:?}")),
        (
            "builder Debug",
            format!("{:?}", world.builder().assume(role.clone())),
        ),
        ("role Debug", format!("{role:?}")),
        ("error Display", err.to_string()),
        ("error Debug", format!("{err:?}")),
        ("error source chain", source_chain(&err)),
        ("errors of unparsable answers", fault_errors),
        ("build error Display", build_err.to_string()),
        ("build error Debug", format!("{build_err:?}")),
        (
            "recorded requests Debug",
            format!("{:?}", world.sts.requests()),
        ),
        ("status Debug", status),
        (
            "failing provider status Debug",
            format!("{:?}", bad.status()),
        ),
        ("status Display", good.status().to_string()),
        ("failing provider status Display", bad.status().to_string()),
        (
            "failing provider status last error",
            format!("{:?}", bad.status().last_error()),
        ),
    ];
    for (what, text) in &printed {
        assert_free_of_secrets(text, &secrets, what);
    }

    let logs = capture.text();
    assert!(
        logs.contains("assume_role"),
        "the capture saw the hop spans"
    );
    assert!(logs.contains(STORAGE), "the capture saw role ARNs");
    assert_free_of_secrets(&logs, &secrets, "TRACE logs");
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        text.push_str(&format!("{e} / {e:?}\n"));
        next = e.source();
    }
    text
}

/// `text` shows none of `codes` as a value: quoted, or after `=` or `: ` (six digits alone also
/// occur in timestamps).
fn assert_free_of_codes(text: &str, codes: &[String], what: &str) {
    for code in codes {
        for shown in [
            format!("\"{code}\""),
            format!("={code}"),
            format!(": {code}"),
        ] {
            assert!(!text.contains(&shown), "{what} shows an MFA code");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn mfa_codes_and_keys_read_from_files_are_never_printed_or_logged() {
    let (capture, _guard) = capture_trace();

    let world = World::new().await;
    let device = "arn:aws:iam::222222222222:mfa/compute";
    world.sts.add_role(
        aws_role_chain::test_util::LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id(BROKER_EXTERNAL_ID)
            .mfa(device),
    );
    let codes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // The first answer is right, the second wrong by one.
    let (phone, typed) = (world.sts.mfa_device(device).unwrap(), codes.clone());
    let token_provider = move |_| {
        let mut typed = typed.lock().unwrap();
        let code = match typed.len() {
            0 => phone.code(),
            _ => format!(
                "{:06}",
                (phone.code().parse::<u32>().unwrap() + 1) % 1_000_000
            ),
        };
        typed.push(code.clone());
        async move { Ok(code) }
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("redaction");
    std::fs::create_dir_all(&dir).unwrap();
    let files_secret = world.compute.secret_access_key().to_owned();
    std::fs::write(
        dir.join("config"),
        format!(
            "[profile broker]\nrole_arn = {BROKER}\nsource_profile = compute\n\
             external_id = {BROKER_EXTERNAL_ID}\nmfa_serial = {device}\n\
             [profile compute]\naws_access_key_id = {}\naws_secret_access_key = {files_secret}\n",
            world.compute.access_key_id()
        ),
    )
    .unwrap();
    let builder = RoleChainProvider::builder()
        .profile("broker")
        .profile_files(
            aws_runtime::env_config::file::EnvConfigFiles::builder()
                .with_file(
                    aws_runtime::env_config::file::EnvConfigFileKind::Config,
                    dir.join("config"),
                )
                .build(),
        )
        .endpoint_url(world.sts.endpoint_url())
        .mfa_token_provider(token_provider);
    let builder_debug = format!("{builder:?}");
    let provider = builder.build().unwrap();
    provider.credentials().await.unwrap();
    provider.invalidate();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(
        codes.lock().unwrap().len(),
        2,
        "asked again after the invalidation"
    );

    let codes = codes.lock().unwrap().clone();
    let printed = [
        ("builder Debug", builder_debug),
        ("provider Debug", format!("{provider:?}")),
        ("error Display", err.to_string()),
        ("error Debug", format!("{err:?}")),
        ("error source chain", source_chain(&err)),
        ("status Debug", format!("{:?}", provider.status())),
        ("status Display", provider.status().to_string()),
        (
            "recorded requests Debug",
            format!("{:?}", world.sts.requests()),
        ),
        ("TRACE logs", capture.text()),
    ];
    for (what, text) in &printed {
        assert_free_of_codes(text, &codes, what);
        assert_free_of_secrets(text, &[&files_secret, BROKER_EXTERNAL_ID], what);
    }
    assert!(capture.text().contains("asking the MFA token provider"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_credentials_servers_token_and_what_callers_present_are_never_logged() {
    use aws_role_chain::server::CredentialsServer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (capture, _guard) = capture_trace();
    let world = World::new().await;
    let server = CredentialsServer::start(world.two_hops()).await.unwrap();
    let wrong = "presented-token-that-is-not-the-servers-0001";
    let mut secrets = vec![server.token().to_owned(), wrong.to_owned()];
    for token in [server.token().to_owned(), wrong.to_owned()] {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let request = format!(
            "GET /role-chain/credentials HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    server.shutdown().await;
    let issued = world.sts.issued();
    for credentials in &issued {
        secrets.push(credentials.secret_access_key().to_owned());
        secrets.push(credentials.session_token().unwrap().to_owned());
    }

    let logs = capture.text();
    assert!(
        logs.contains("credentials request"),
        "the requests were logged"
    );
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_free_of_secrets(&logs, &secrets, "the server's TRACE logs");
}
