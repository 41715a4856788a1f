//! The `send` example against its contract (`examples/SEND.md`): the built binary is run
//! against the in-process sink, and its JSON result, exit status and what the sink received
//! are checked. The quickstart and submit examples are run here too.

#[path = "send_example/auth.rs"]
mod auth;
#[path = "send_example/connections.rs"]
mod connections;
#[path = "dns_support/mod.rs"]
mod dns_support;
#[path = "send_example/mta.rs"]
mod mta;
#[path = "send_example/mx.rs"]
mod mx;
#[path = "pool_support/mod.rs"]
mod pool_support;
#[path = "send_example/pooled.rs"]
mod pooled;
#[path = "../examples/support/sink.rs"]
mod sink;
#[path = "socks5_proxy/mod.rs"]
mod socks5_proxy;

// Kept apart so that this file stays readable.
#[path = "send_example/bdat.rs"]
mod bdat;
#[path = "send_example/dsn.rs"]
mod dsn;
#[path = "send_example/escaping.rs"]
mod escaping;
#[path = "send_example/failures.rs"]
mod failures;
#[path = "send_example/help.rs"]
mod help;
#[path = "send_example/lmtp.rs"]
mod lmtp;
#[path = "send_example/script.rs"]
mod script;
#[path = "send_example/submit.rs"]
mod submit;
#[path = "send_example/usage.rs"]
mod usage;
#[path = "send_example/window.rs"]
mod window;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use serde_json::Value;
use sink::{Sink, SinkConfig};
use tokio::io::AsyncWriteExt;

/// `target/<profile>/examples/<name>`, brought up to date once per test run.
///
/// `cargo test` builds the examples, but `cargo test --test send_example` does not and
/// would run a stale binary. So cargo is asked once, with this test's target directory and
/// profile; when everything is fresh that is a no-op.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test executable path");
    // <target dir>/<profile>/deps/send_example-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile directory");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile name");
    BUILT.get_or_init(|| {
        let profile = match profile {
            "debug" => "dev",
            "release" => "release",
            other => other,
        };
        let out = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "send",
                "--example",
                "quickstart",
                "--example",
                "submit",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build --example send/quickstart/submit failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// What one run of `send` produced.
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

async fn send_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = tokio::process::Command::new(example("send"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn send");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).await.expect("write stdin");
    }
    let out = child.wait_with_output().await.expect("wait for send");
    Run {
        status: out.status.code().expect("exit status"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn send(args: &[&str]) -> Run {
    send_with_stdin(args, None).await
}

/// `--server <sink> --tls skip --json` followed by `extra`.
async fn send_to(sink: &Sink, extra: &[&str]) -> Run {
    let server = sink.addr().to_string();
    let mut args = vec!["--server", &server, "--tls", "skip", "--json"];
    args.extend_from_slice(extra);
    send(&args).await
}

fn recipients(tx: &Value) -> &Vec<Value> {
    tx["recipients"].as_array().expect("recipients array")
}

#[tokio::test]
async fn all_delivered_exits_0() {
    let sink = Sink::start().await.unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "a@example.net",
            "--to",
            "b@example.net",
        ],
    )
    .await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["server"], sink.addr().to_string());
    assert_eq!(v["greeting"]["code"], 220);
    assert_eq!(v["greeting"]["message"], "sink.test ESMTP courier sink");
    let caps: Vec<&str> = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        caps,
        [
            "PIPELINING",
            "SIZE 10240000",
            "8BITMIME",
            "ENHANCEDSTATUSCODES"
        ]
    );
    assert!(v["tls"].is_null() && v["auth"].is_null() && v["error"].is_null());
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert!(tx["error"].is_null());
    assert_eq!(tx["data"]["code"], 250);
    assert_eq!(tx["data"]["enhanced_code"], "2.0.0");
    assert_eq!(tx["data"]["message"], "Ok: queued as S1");
    let rcpts = recipients(tx);
    assert_eq!(rcpts.len(), 2);
    for (r, addr) in rcpts.iter().zip(["a@example.net", "b@example.net"]) {
        assert_eq!(r["address"], addr);
        assert_eq!(r["status"], "delivered");
        assert_eq!(r["command"], "DATA");
        assert_eq!(r["code"], 250);
        assert_eq!(r["enhanced_code"], "2.0.0");
        assert_eq!(r["message"], "Ok: queued as S1");
    }
    // The keys come in the contract's order.
    let pos = |k: &str| run.stdout.find(&format!("\"{k}\"")).unwrap();
    assert!(pos("server") < pos("greeting") && pos("greeting") < pos("capabilities"));
    assert!(pos("tls") < pos("auth") && pos("auth") < pos("transactions"));

    let got = sink.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.helo, "localhost");
    assert_eq!(m.mail_from, "me@example.org");
    assert_eq!(m.rcpt_to, ["a@example.net", "b@example.net"]);
    // The generated message, and SIZE= counting exactly its octets (RFC 1870).
    let text = String::from_utf8(m.data.clone()).unwrap();
    for header in [
        "Date: ",
        "Message-ID: <",
        "From: <me@example.org>",
        "To: <a@example.net>",
        "Subject: ",
    ] {
        assert!(text.contains(header), "{header:?} missing in {text:?}");
    }
    assert_eq!(m.mail_params, format!("SIZE={}", m.data.len()));
}

#[tokio::test]
async fn refused_recipient_exits_69_and_the_other_is_delivered() {
    let sink = Sink::start().await.unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "ok@example.net",
            "--to",
            "reject.me@example.net",
            "--helo",
            "client.example",
        ],
    )
    .await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert!(v["error"].is_null());
    let tx = &v["transactions"][0];
    assert!(tx["error"].is_null(), "one recipient was delivered");
    assert_eq!(tx["data"]["code"], 250);
    let rcpts = recipients(tx);
    assert_eq!(rcpts[0]["status"], "delivered");
    assert_eq!(rcpts[0]["command"], "DATA");
    let refused = &rcpts[1];
    assert_eq!(refused["address"], "reject.me@example.net");
    assert_eq!(refused["status"], "permanent");
    assert_eq!(refused["command"], "RCPT");
    assert_eq!(refused["code"], 550);
    assert_eq!(refused["enhanced_code"], "5.1.1");
    assert_eq!(refused["message"], "<reject.me@example.net>: no such user");

    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["ok@example.net"]);
    assert_eq!(got[0].helo, "client.example");
}

#[tokio::test]
async fn deferred_only_exits_75() {
    let sink = Sink::start().await.unwrap();
    let run = send_to(
        &sink,
        &["--from", "me@example.org", "--to", "defer@example.net"],
    )
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    let tx = &v["transactions"][0];
    assert!(
        tx["data"].is_null(),
        "no data is sent without an accepted recipient"
    );
    assert_eq!(tx["error"]["kind"], "reply");
    assert_eq!(tx["error"]["permanent"], false);
    assert_eq!(tx["error"]["command"], "RCPT");
    assert_eq!(tx["error"]["code"], 450);
    let r = &recipients(tx)[0];
    assert_eq!(r["status"], "transient");
    assert_eq!(r["command"], "RCPT");
    assert_eq!(r["code"], 450);
    assert_eq!(r["enhanced_code"], "4.2.0");
    assert!(sink.messages().is_empty());

    // A deferred recipient beside a delivered one is still only a transient failure.
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "defer@example.net",
            "--to",
            "ok@example.net",
        ],
    )
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    assert_eq!(
        recipients(&run.json()["transactions"][0])[1]["status"],
        "delivered"
    );
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn enhanced_codes_only_when_advertised() {
    let config = SinkConfig::default().ehlo_keywords(["PIPELINING", "SIZE 10240000"]);
    let sink = Sink::start_with(config).await.unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "ok@example.net",
            "--to",
            "reject@example.net",
        ],
    )
    .await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(
        v["capabilities"],
        serde_json::json!(["PIPELINING", "SIZE 10240000"])
    );
    let rcpts = recipients(&v["transactions"][0]);
    assert_eq!(rcpts[0]["status"], "delivered");
    assert!(rcpts[0]["enhanced_code"].is_null());
    assert_eq!(rcpts[1]["code"], 550);
    assert!(rcpts[1]["enhanced_code"].is_null());
    assert_eq!(rcpts[1]["message"], "<reject@example.net>: no such user");
}

#[tokio::test]
async fn extension_flags_declare_or_refuse_before_sending() {
    // The default sink offers 8BITMIME, not SMTPUTF8 or REQUIRETLS.
    let sink = Sink::start().await.unwrap();
    let base = ["--from", "me@example.org", "--to", "a@example.net"];

    // --8bitmime is declared on MAIL; --no-chunking changes nothing (DATA is used).
    let run = send_to(
        &sink,
        &[&base[..], &["--8bitmime", "--no-chunking"]].concat(),
    )
    .await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let got = sink.take_messages();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].mail_params.contains("BODY=8BITMIME"),
        "{:?}",
        got[0].mail_params
    );
    assert!(!got[0].mail_params.contains("SMTPUTF8"));

    for (flag, ext) in [("--smtputf8", "SMTPUTF8"), ("--requiretls", "REQUIRETLS")] {
        let run = send_to(&sink, &[&base[..], &[flag]].concat()).await;
        assert_eq!(run.status, 69, "{flag}: stderr: {}", run.stderr);
        let v = run.json();
        let tx = &v["transactions"][0];
        assert_eq!(tx["error"]["kind"], "extension", "{flag}");
        assert_eq!(tx["error"]["permanent"], true);
        assert!(tx["error"]["message"].as_str().unwrap().contains(ext));
        assert_eq!(recipients(tx)[0]["status"], "permanent");
    }
    assert!(
        sink.messages().is_empty(),
        "nothing sent for a missing extension"
    );

    // A sink without 8BITMIME: --8bitmime is refused before MAIL.
    let plain = Sink::start_with(SinkConfig::default().ehlo_keywords(["PIPELINING"]))
        .await
        .unwrap();
    let run = send_to(&plain, &[&base[..], &["--8bitmime"]].concat()).await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    assert_eq!(run.json()["transactions"][0]["error"]["kind"], "extension");
    assert!(plain.messages().is_empty());
}

#[tokio::test]
async fn repeat_sends_over_one_connection() {
    let sink = Sink::start().await.unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "a@example.net",
            "--repeat",
            "3",
        ],
    )
    .await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let v = run.json();
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 3);
    for (i, tx) in txs.iter().enumerate() {
        assert_eq!(tx["data"]["message"], format!("Ok: queued as S{}", i + 1));
        assert_eq!(recipients(tx)[0]["status"], "delivered");
    }
    assert_eq!(sink.messages().len(), 3);
    assert_eq!(sink.stats().connections, 1);
}

#[tokio::test]
async fn repeat_resets_after_a_failed_transaction() {
    let sink = Sink::start().await.unwrap();
    let run = send_to(
        &sink,
        &[
            "-v",
            "--from",
            "me@example.org",
            "--to",
            "defer@example.net",
            "--repeat",
            "2",
        ],
    )
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    assert_eq!(run.json()["transactions"].as_array().unwrap().len(), 2);
    let client: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("C: "))
        .collect();
    let want = [
        "C: EHLO localhost",
        "C: MAIL FROM:<me@example.org> SIZE=",
        "C: RCPT TO:<defer@example.net>",
        "C: DATA",
        "C: RSET",
        "C: MAIL FROM:<me@example.org> SIZE=",
        "C: RCPT TO:<defer@example.net>",
        "C: DATA",
        "C: QUIT",
    ];
    assert_eq!(client.len(), want.len(), "transcript:\n{}", run.stderr);
    for (line, want) in client.iter().zip(want) {
        assert!(
            line.starts_with(want),
            "{line:?} is not {want:?}; transcript:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.lines().any(|l| l.starts_with("S: 450 4.2.0 ")),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn data_file_is_normalised_and_unstuffed() {
    let sink = Sink::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("send-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("message.eml");
    std::fs::write(
        &file,
        b"Subject: dots\n\nfirst\n.leading dot\n..two dots\n.\nlast without newline",
    )
    .unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "a@example.net",
            "--data",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    let want: &[u8] = b"Subject: dots\r\n\r\nfirst\r\n.leading dot\r\n..two dots\r\n.\r\nlast without newline\r\n";
    assert_eq!(
        String::from_utf8_lossy(&got[0].data),
        String::from_utf8_lossy(want)
    );
    assert_eq!(got[0].mail_params, format!("SIZE={}", want.len()));
}

#[tokio::test]
async fn data_from_stdin() {
    let sink = Sink::start().await.unwrap();
    let server = sink.addr().to_string();
    let args = [
        "--server",
        &server,
        "--tls",
        "skip",
        "--from",
        "",
        "--to",
        "a@example.net",
        "--data",
        "-",
    ];
    let run = send_with_stdin(&args, Some(b"Subject: from stdin\r\n\r\nbody\r\n")).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail_from, "", "--from \"\" is the null reverse-path");
    assert_eq!(got[0].data, b"Subject: from stdin\r\n\r\nbody\r\n");
    // Without --json: the short summary.
    assert!(
        run.stdout
            .contains("delivered a@example.net DATA 250 2.0.0"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn auth_not_offered_is_a_permanent_auth_error_before_mail() {
    // A server that offers no AUTH (the sink), asked for credentials: the run fails with
    // kind auth, permanent, and no MAIL is sent. Twin: without credentials it delivers.
    let sink = Sink::start().await.unwrap();
    let server = sink.addr().to_string();
    let base = [
        "--server",
        server.as_str(),
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ];
    let run = send(&base).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(sink.messages().len(), 1);

    let run = send(&[&base[..], &["--auth-user", "u", "--auth-pass", "p"]].concat()).await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "auth");
    assert_eq!(v["error"]["permanent"], true);
    assert_eq!(v["auth"], serde_json::Value::Null);
    assert_eq!(v["transactions"][0]["recipients"][0]["status"], "permanent");
    assert_eq!(sink.messages().len(), 1, "no MAIL after a failed AUTH");
}

#[tokio::test]
async fn no_pipelining_sends_in_lock_step() {
    let sink = Sink::start().await.unwrap();
    let args = [
        "-v",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
        "--to",
        "reject@example.net",
    ];
    let lockstep = send_to(&sink, &[&args[..], &["--no-pipelining"]].concat()).await;
    let pipelined = send_to(&sink, &args).await;
    for run in [&lockstep, &pipelined] {
        assert_eq!(run.status, 69, "stderr: {}", run.stderr);
        let rcpts = recipients(&run.json()["transactions"][0]).clone();
        assert_eq!(rcpts[0]["status"], "delivered");
        assert_eq!(rcpts[1]["code"], 550);
    }
    // The line after MAIL: its reply when in lock step, the first RCPT when pipelined.
    let after_mail = |stderr: &str| -> String {
        let mut lines = stderr.lines().skip_while(|l| !l.starts_with("C: MAIL"));
        lines.next();
        lines.next().unwrap_or_default().to_owned()
    };
    assert!(
        after_mail(&lockstep.stderr).starts_with("S: 250"),
        "{}",
        lockstep.stderr
    );
    assert!(
        after_mail(&pipelined.stderr).starts_with("C: RCPT"),
        "{}",
        pipelined.stderr
    );
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn sink_answers_odd_input_and_keeps_serving() {
    use tokio::io::AsyncReadExt;
    let sink = Sink::start().await.unwrap();
    let mut raw = tokio::net::TcpStream::connect(sink.addr()).await.unwrap();
    raw.write_all(
        b"\xff\xfe\r\nMAIL FROM:<a@b>\r\nEHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c\rd@e>\r\nDATA\r\n",
    )
    .await
    .unwrap();
    raw.write_all(&vec![b'x'; 10_000]).await.unwrap();
    let mut replies = Vec::new();
    raw.read_to_end(&mut replies).await.unwrap();
    let replies = String::from_utf8_lossy(&replies);
    let codes: Vec<&str> = replies.lines().filter_map(|l| l.get(..4)).collect();
    // Greeting, unknown command, MAIL before EHLO, the EHLO reply (5 lines), MAIL, a RCPT
    // with a control character, DATA without a recipient, then the over-long line closes it.
    assert_eq!(
        codes,
        [
            "220 ", "502 ", "503 ", "250-", "250-", "250-", "250-", "250 ", "250 ", "501 ", "554 ",
            "500 "
        ],
        "{replies}"
    );
    // The twin: the same sink still delivers.
    let run = send_to(
        &sink,
        &["--from", "me@example.org", "--to", "a@example.net"],
    )
    .await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn quickstart_runs() {
    let out = tokio::process::Command::new(example("quickstart"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("friend@example.net: delivered"), "{stdout}");
    assert!(
        stdout.contains("reject@example.net: refused permanently"),
        "{stdout}"
    );
}
