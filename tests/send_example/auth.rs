//! `send` with `--auth-user`: the contract's `auth` error kind for AUTH refused by the
//! server (with the reply's code, enhanced code and text), for an exchange the client gave
//! up, and for credentials that cannot be used without verified TLS.

use super::*;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A one-connection server: sends `replies[0]` (the greeting), then answers each line read
/// with the next reply; once the replies run out it reads on until the client closes.
/// Returns its address and, when done, the lines it read.
async fn scripted(replies: &'static [&'static str]) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut replies = replies.iter();
        let mut seen = Vec::new();
        loop {
            if let Some(r) = replies.next() {
                write
                    .write_all(format!("{}\r\n", r.replace('\n', "\r\n")).as_bytes())
                    .await
                    .unwrap();
            }
            let mut line = String::new();
            match read.read_line(&mut line).await {
                Ok(0) | Err(_) => return seen,
                Ok(_) => seen.push(line.trim_end().to_owned()),
            }
        }
    });
    (addr, task)
}

const EHLO_AUTH: &str = "250-mx.test\n250-ENHANCEDSTATUSCODES\n250 AUTH PLAIN";

/// `send` with credentials to `server`, TLS as `tls` says.
async fn send_auth(server: &str, tls: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "--server",
        server,
        "--tls",
        tls,
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
        "--auth-user",
        "u",
        "--auth-pass",
        "p",
    ];
    args.extend_from_slice(extra);
    send(&args).await
}

/// The top-level error and the recipient's line carry the refusal of AUTH.
fn assert_auth_error(v: &Value, permanent: bool, code: Option<u16>, enhanced: Option<&str>) {
    let e = &v["error"];
    assert_eq!(e["kind"], "auth", "{v:#}");
    assert_eq!(e["permanent"], permanent, "{v:#}");
    assert_eq!(e["command"], "AUTH", "{v:#}");
    assert_eq!(e["code"], serde_json::json!(code), "{v:#}");
    assert_eq!(e["enhanced_code"], serde_json::json!(enhanced), "{v:#}");
    assert_eq!(v["auth"], Value::Null);
    let r = &recipients(&v["transactions"][0])[0];
    let status = if permanent { "permanent" } else { "transient" };
    assert_eq!(r["status"], status, "{v:#}");
    assert_eq!(r["command"], "AUTH");
    assert_eq!(r["code"], serde_json::json!(code));
    assert_eq!(r["message"], e["message"]);
}

/// A 535 to AUTH: kind `auth` (not `reply`), permanent, with the reply's code, enhanced
/// code and text; no MAIL. A 454: the same, transient. Twin: the same server accepting
/// with 235 delivers.
#[tokio::test]
async fn auth_refused_by_the_server_is_kind_auth() {
    for (refusal, permanent, exit, enhanced) in [
        ("535 5.7.8 bad credentials", true, 69, "5.7.8"),
        (
            "454 4.7.0 temporary authentication failure",
            false,
            75,
            "4.7.0",
        ),
    ] {
        let replies: &'static [&'static str] = Box::leak(Box::new([
            "220 mx.test ESMTP",
            EHLO_AUTH,
            refusal,
            "221 2.0.0 bye",
        ]));
        let (server, task) = scripted(replies).await;
        let run = send_auth(&server, "skip", &["--allow-cleartext-auth"]).await;
        assert_eq!(run.status, exit, "stderr: {}", run.stderr);
        let v = run.json();
        let code = refusal[..3].parse().ok();
        assert_auth_error(&v, permanent, code, Some(enhanced));
        let text = &refusal[10..];
        assert_eq!(v["error"]["message"], text);
        let lines = task.await.unwrap();
        assert!(lines[1].starts_with("AUTH PLAIN "), "{lines:?}");
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "no MAIL after a refused AUTH: {lines:?}"
        );
    }
    let (server, task) = scripted(&[
        "220 mx.test ESMTP",
        EHLO_AUTH,
        "235 2.7.0 ok",
        "250 2.1.0 ok",
        "250 2.1.5 ok",
        "354 go",
        "250 2.0.0 queued",
        "221 2.0.0 bye",
    ])
    .await;
    let run = send_auth(&server, "skip", &["--allow-cleartext-auth"]).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.json()["auth"]["mechanism"], "PLAIN");
    let lines = task.await.unwrap();
    assert!(
        lines.iter().any(|l| l.starts_with("MAIL FROM:")),
        "{lines:?}"
    );
}

/// A server that answers the cancel (`*`) with yet another challenge: an authentication
/// failure the client detected, kind `auth`, transient, no reply code; not `protocol`.
#[tokio::test]
async fn endless_challenge_is_kind_auth() {
    // PLAIN sends everything in its initial response: a challenge after it is cancelled.
    let (server, task) = scripted(&["220 mx.test ESMTP", EHLO_AUTH, "334 ", "334 "]).await;
    let run = send_auth(&server, "skip", &["--allow-cleartext-auth"]).await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    assert_auth_error(&v, false, None, None);
    let lines = task.await.unwrap();
    assert_eq!(lines.get(2).map(String::as_str), Some("*"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("MAIL")), "{lines:?}");
}

/// `--tls opportunistic` with credentials, and a server that offers no STARTTLS (a man in
/// the middle may have stripped it): no AUTH goes out without verified TLS, not even
/// CRAM-MD5 or SCRAM, which fails the run with kind `auth`, permanent, before MAIL, as the
/// contract says. Twin: `--allow-cleartext-auth` lets the exchange happen.
#[tokio::test]
async fn no_auth_without_verified_tls() {
    let ehlo = "250-mx.test\n250-ENHANCEDSTATUSCODES\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN";
    let replies: &'static [&'static str] =
        Box::leak(Box::new(["220 mx.test ESMTP", ehlo, "221 2.0.0 bye"]));
    let (server, task) = scripted(replies).await;
    let run = send_auth(&server, "opportunistic", &[]).await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert_auth_error(&v, true, None, None);
    assert_eq!(v["tls"], Value::Null);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("SCRAM-SHA-256"), "{message}");
    let lines = task.await.unwrap();
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("AUTH") || l.starts_with("MAIL")),
        "{lines:?}"
    );

    let replies: &'static [&'static str] = Box::leak(Box::new([
        "220 mx.test ESMTP",
        ehlo,
        "535 5.7.8 no",
        "221 2.0.0 bye",
    ]));
    let (server, task) = scripted(replies).await;
    let run = send_auth(&server, "opportunistic", &["--allow-cleartext-auth"]).await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    assert_eq!(run.json()["error"]["code"], 535);
    let lines = task.await.unwrap();
    assert!(lines[1].starts_with("AUTH SCRAM-SHA-256 "), "{lines:?}");
}
