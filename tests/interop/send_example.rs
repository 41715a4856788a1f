//! The `send` example (examples/send.rs, contract examples/SEND.md) against
//! Postfix 2525, plain SMTP

use std::process::Command as Process;

use crate::support::*;

/// `<target>/debug/examples/send`, next to this test binary's `deps/`, unless
/// `SMTPC_SEND_BIN` names it (run.sh sets it, to a missing path when the build failed).
fn send_bin() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("SMTPC_SEND_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    profile_dir
        .join("examples")
        .join(format!("send{}", std::env::consts::EXE_SUFFIX))
}

/// Runs `send` with `args` and returns (exit status, parsed JSON, stderr).
pub fn run_send(args: &[&str]) -> (i32, serde_json::Value, String) {
    let bin = send_bin();
    assert!(
        bin.is_file(),
        "{} does not exist: build it with `cargo build --example send` (run.sh does)",
        bin.display()
    );
    let out = Process::new(&bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("send --json printed no JSON ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    });
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("send killed by a signal; stderr: {stderr}"));
    (code, json, stderr)
}

/// A message file for `--data`, carrying `token`.
pub fn data_file(env: &Env, token: &str, to: &str) -> std::path::PathBuf {
    let path = env.state_dir.join(format!("send-{token}.eml"));
    // Unix line endings on purpose: `send` normalises them (contract: "every line ending
    // becomes CRLF").
    let body = crlf_to_lf(&message(
        token,
        to,
        b"sent by the send example\r\n.dot line\r\n",
    ));
    std::fs::write(&path, body).expect("write --data file");
    path
}

fn server_arg(env: &Env) -> String {
    format!("{}:{}", env.host, env.postfix_port)
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn delivered() {
    let env = Env::get();
    let t = token("send-ok");
    let to = env.ok_rcpt("send-ok");
    let data = data_file(&env, &t, &to);
    let server = server_arg(&env);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server,
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--helo",
        "client.test.example",
        "--tls",
        "skip",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    assert_eq!(json["server"], server.as_str());
    assert_eq!(json["greeting"]["code"], 220);
    assert_eq!(json["greeting"]["message"], "mx.test.example ESMTP Postfix");
    let caps: Vec<&str> = json["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for c in [
        "PIPELINING",
        "SIZE 10240000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "STARTTLS",
    ] {
        assert!(caps.contains(&c), "{c} missing from {caps:?}");
    }
    assert!(
        json["tls"].is_null() && json["auth"].is_null() && json["error"].is_null(),
        "{json:#}"
    );
    let txs = json["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), 1);
    let r = &txs[0]["recipients"][0];
    assert_eq!(r["address"], to.as_str());
    assert_eq!(r["status"], "delivered");
    // The default path: Postfix offers CHUNKING, so BDAT.
    assert_eq!(r["command"], "BDAT");
    assert_eq!(r["code"], 250);
    assert_eq!(r["enhanced_code"], "2.0.0");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or("")
            .contains(" bytes queued as "),
        "{r}"
    );
    assert_eq!(txs[0]["data"]["code"], 250);
    assert!(txs[0]["error"].is_null());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt.block_on(postfix_one(&env, &t));
    let (_, message) = split_postfix_headers(&stored);
    // LF line endings in the file, LF in the maildir: stored exactly as in the file.
    assert_bytes_eq(
        message,
        &std::fs::read(&data).unwrap(),
        "Postfix maildir copy",
    );
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn delivered_no_chunking() {
    // Twin of `delivered`: `--no-chunking` sends by DATA, dot-stuffed on the wire, and
    // the stored copy is the same.
    let env = Env::get();
    let t = token("send-ok-data");
    let to = env.ok_rcpt("send-ok-data");
    let data = data_file(&env, &t, &to);
    let server = server_arg(&env);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server,
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--helo",
        "client.test.example",
        "--tls",
        "skip",
        "--no-chunking",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    let r = &json["transactions"][0]["recipients"][0];
    assert_eq!(r["status"], "delivered", "{json:#}");
    assert_eq!(r["command"], "DATA", "{json:#}");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Ok: queued as "),
        "{r}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt.block_on(postfix_one(&env, &t));
    let (_, message) = split_postfix_headers(&stored);
    assert_bytes_eq(
        message,
        &std::fs::read(&data).unwrap(),
        "Postfix maildir copy",
    );
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn reject_exits_69() {
    let env = Env::get();
    let t = token("send-reject");
    let to = env.ok_rcpt("send-mixed");
    let data = data_file(&env, &t, &to);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server_arg(&env),
        "--from",
        "sender@test.example",
        "--to",
        &to,
        "--to",
        &env.reject_rcpt,
        "--tls",
        "skip",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 69, "{json:#}\n{stderr}");
    let rs = &json["transactions"][0]["recipients"];
    assert_eq!(rs[0]["status"], "delivered", "{json:#}");
    assert_eq!(rs[1]["address"], env.reject_rcpt.as_str());
    assert_eq!(rs[1]["status"], "permanent");
    assert_eq!(rs[1]["command"], "RCPT");
    assert_eq!(rs[1]["code"], 550);
    assert_eq!(rs[1]["enhanced_code"], "5.1.1");
    assert!(
        rs[1]["message"]
            .as_str()
            .unwrap_or("")
            .contains("User unknown"),
        "{json:#}"
    );
    assert!(
        json["transactions"][0]["error"].is_null(),
        "one recipient was delivered: {json:#}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(postfix_one(&env, &t));
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn defer_only_exits_75() {
    let env = Env::get();
    let t = token("send-defer");
    let data = data_file(&env, &t, &env.defer_rcpt);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server_arg(&env),
        "--from",
        "sender@test.example",
        "--to",
        &env.defer_rcpt,
        "--tls",
        "skip",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 75, "{json:#}\n{stderr}");
    let tx = &json["transactions"][0];
    let r = &tx["recipients"][0];
    assert_eq!(r["status"], "transient", "{json:#}");
    assert_eq!(r["command"], "RCPT");
    assert_eq!(r["code"], 450);
    assert_eq!(r["enhanced_code"], "4.2.0");
    assert!(tx["data"].is_null(), "{json:#}");
    assert!(!tx["error"].is_null(), "no recipient accepted: {json:#}");
    assert_eq!(tx["error"]["permanent"], false, "{json:#}");
    assert!(json["error"].is_null(), "{json:#}");
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
fn repeat_over_ipv6() {
    let env = Env::get();
    assert!(
        !env.host6.is_empty(),
        "SMTP_REAL_HOST6 is empty: no IPv6 loopback"
    );
    let t = token("send-repeat");
    let to = env.ok_rcpt("send-repeat");
    let data = data_file(&env, &t, &to);
    let server = format!("[{}]:{}", env.host6, env.postfix_port);
    let (code, json, stderr) = run_send(&[
        "--server",
        &server,
        "--from",
        "",
        "--to",
        &to,
        "--tls",
        "skip",
        "--json",
        "--repeat",
        "3",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    let txs = json["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), 3, "{json:#}");
    assert!(
        txs.iter()
            .all(|tx| tx["recipients"][0]["status"] == "delivered"),
        "{json:#}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let copies = rt.block_on(postfix_copies(&env, &t, 3));
    assert_eq!(copies.len(), 3);
    assert!(copies.iter().all(|c| c.starts_with(b"Return-Path: <>\n")));
}
