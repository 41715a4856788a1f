//! The `send` example (contract examples/SEND.md) with TLS and AUTH flags:
//! STARTTLS on Postfix 2525, implicit TLS + AUTH on Postfix 2465.

use crate::send_example::{data_file, run_send};
use crate::support::*;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[track_caller]
fn assert_tls_json(json: &serde_json::Value, verified: bool) {
    let tls = &json["tls"];
    assert_eq!(tls["version"], "TLSv1.3", "{json:#}");
    let cipher = tls["cipher"].as_str().unwrap_or("");
    assert!(cipher.starts_with("TLS_"), "{json:#}");
    assert_eq!(tls["verified"], verified, "{json:#}");
    assert_eq!(tls["verify_error"].is_null(), verified, "{json:#}");
    assert_eq!(tls["fallback"], false, "{json:#}");
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn starttls_verified() {
    let env = Env::get();
    let t = token("send-starttls");
    let to = env.ok_rcpt("send-starttls");
    let data = data_file(&env, &t, &to);
    let server = format!("{}:{}", env.host, env.postfix_port);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server,
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--tls",
        "starttls",
        "--tls-ca",
        env.ca_file.to_str().unwrap(),
        "--tls-name",
        &env.tls_server_name,
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    assert_tls_json(&json, true);
    let caps: Vec<&str> = json["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        !caps.contains(&"STARTTLS"),
        "capabilities after TLS: {caps:?}"
    );
    assert!(json["auth"].is_null(), "{json:#}");
    assert_eq!(
        json["transactions"][0]["recipients"][0]["status"],
        "delivered"
    );
    let stored = block_on(postfix_one(&env, &t));
    let (added, _) = split_postfix_headers(&stored);
    assert!(added.contains("with ESMTPS id "), "{added}");
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn starttls_untrusted_refused() {
    // Twin of starttls_verified without --tls-ca: refused (transient tls error, exit 75,
    // nothing sent), and accepted unverified with --tls-verify none.
    let env = Env::get();
    let t = token("send-starttls-untrusted");
    let to = env.ok_rcpt("send-untrusted");
    let data = data_file(&env, &t, &to);
    let server = format!("{}:{}", env.host, env.postfix_port);
    let mut args = vec![
        "--server",
        &server,
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--tls",
        "starttls",
        "--tls-name",
        &env.tls_server_name,
        "--json",
        "--data",
        data.to_str().unwrap(),
    ];
    let (code, json, stderr) = run_send(&args);
    assert_eq!(code, 75, "{json:#}\n{stderr}");
    assert_eq!(json["error"]["kind"], "tls", "{json:#}");
    assert_eq!(json["error"]["permanent"], false, "{json:#}");
    assert_eq!(json["error"]["command"], "STARTTLS", "{json:#}");
    assert_eq!(
        json["transactions"][0]["recipients"][0]["status"], "transient",
        "{json:#}"
    );
    assert_eq!(postfix_count_now(&env, &t), 0);

    args.extend(["--tls-verify", "none"]);
    let (code, json, stderr) = run_send(&args);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    assert_tls_json(&json, false);
    // The phrase, then who issued the certificate to whom.
    let why = json["tls"]["verify_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("certificate not issued by a trusted authority: issuer \""),
        "{why}"
    );
    block_on(postfix_one(&env, &t));
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn implicit_tls_auth() {
    let env = Env::get();
    let t = token("send-implicit");
    let to = env.ok_rcpt("send-implicit");
    let data = data_file(&env, &t, &to);
    let server = format!("{}:{}", env.host, env.submissions_port);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server,
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--tls",
        "implicit",
        "--tls-ca",
        env.ca_file.to_str().unwrap(),
        "--tls-name",
        &env.tls_server_name,
        "--auth-user",
        &env.user,
        "--auth-pass",
        &env.password,
        "--json",
        "-v",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    assert_tls_json(&json, true);
    assert_eq!(
        json["auth"],
        serde_json::json!({"mechanism": "SCRAM-SHA-256"}),
        "{json:#}"
    );
    assert_eq!(
        json["transactions"][0]["recipients"][0]["status"],
        "delivered"
    );
    assert!(
        !stderr.contains(&env.password),
        "the password leaked into the -v transcript"
    );
    // The contract: credentials in the transcript are written ****.
    assert!(
        stderr.contains("C: AUTH SCRAM-SHA-256 ****"),
        "the AUTH line is not redacted as ****:\n{stderr}"
    );
    let stored = block_on(postfix_one(&env, &t));
    let (added, _) = split_postfix_headers(&stored);
    assert!(added.contains("with ESMTPSA id "), "{added}");
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn levels_and_ignore_errors() {
    // (flags, exit status, Some(verified) when TLS must be reported)
    let env = Env::get();
    let ca = env.ca_file.to_str().unwrap().to_owned();
    let name = env.tls_server_name.clone();
    let cases: [(&str, Vec<&str>, i32, Option<bool>); 5] = [
        (
            "level-verify-ca",
            vec!["--level", "verify", "--tls-ca", &ca, "--tls-name", &name],
            0,
            Some(true),
        ),
        (
            "level-verify",
            vec!["--level", "verify", "--tls-name", &name],
            75,
            None,
        ),
        (
            "level-encrypt",
            vec!["--level", "encrypt", "--tls-name", &name],
            0,
            Some(false),
        ),
        (
            "level-may",
            vec!["--level", "may", "--tls-name", &name],
            0,
            Some(false),
        ),
        (
            "ignore-errors",
            vec![
                "--tls",
                "starttls",
                "--tls-ignore-errors",
                "--tls-name",
                &name,
            ],
            0,
            Some(false),
        ),
    ];
    let server = format!("{}:{}", env.host, env.postfix_port);
    for (label, flags, want_code, want_tls) in cases {
        let t = token(&format!("send-{label}"));
        let to = env.ok_rcpt("send-level");
        let data = data_file(&env, &t, &to);
        let mut args = vec![
            "--server",
            &server,
            "--from",
            "sender@test.example",
            "--to",
            &to,
            "--json",
            "--data",
            data.to_str().unwrap(),
        ];
        args.extend(flags);
        let (code, json, stderr) = run_send(&args);
        assert_eq!(code, want_code, "{label}: {json:#}\n{stderr}");
        match want_tls {
            Some(v) => {
                assert_tls_json(&json, v);
                block_on(postfix_one(&env, &t));
            }
            None => {
                assert_eq!(json["error"]["kind"], "tls", "{label}: {json:#}");
                assert_eq!(json["error"]["permanent"], false, "{label}: {json:#}");
                assert_eq!(postfix_count_now(&env, &t), 0, "{label}");
            }
        }
    }
}
