//! Usage errors: exit 64, nothing sent, as the contract lists them.

use super::*;

#[tokio::test]
async fn usage_errors_exit_64_and_send_nothing() {
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
    ];

    // The baseline the cases below break: it connects and delivers.
    let run = send(&[&base[..], &["--to", "a@example.net"]].concat()).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(sink.stats().connections, 1);

    let cases: &[(&[&str], &str)] = &[
        (&["--to", "a@example.net\r\nRSET"], "--to"),
        (&["--to", "a@exam\u{7f}ple.net"], "--to"),
        (&["--to", "not-an-address"], "--to"),
        (&["--to", "a@example.net", "--helo", "bad\nname"], "--helo"),
        (&[], "--to"),
        (
            &["--to", "a@example.net", "--tls-fallback"],
            "opportunistic",
        ),
        (
            &["--to", "a@example.net", "--auth-pass", "p"],
            "--auth-pass",
        ),
        (
            &[
                "--to",
                "a@example.net",
                "--auth-user",
                "u",
                "--auth-pass",
                "p",
                "--auth-mech",
                "PLAIN,BOGUS",
            ],
            "--auth-mech",
        ),
        (&["--to", "a@example.net", "--level", "secure"], "--level"),
        (&["--to", "a@example.net", "--repeat", "0"], "--repeat"),
    ];
    for (extra, names) in cases {
        let run = send(&[&base[..], extra].concat()).await;
        assert_eq!(run.status, 64, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{extra:?}");
        assert_eq!(v["error"]["permanent"], true);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(names),
            "{extra:?}: {msg:?} should name {names}"
        );
        assert!(
            run.stderr.contains(names),
            "{extra:?}: stderr {:?} should name {names}",
            run.stderr
        );
    }

    // No --server is MX delivery (tests/send_example/mx.rs); what it refuses is refused
    // before any lookup.
    let run = send(&[
        "--repeat",
        "2",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ])
    .await;
    assert_eq!(run.status, 64);
    assert!(
        run.stderr.contains("--repeat needs --server"),
        "{}",
        run.stderr
    );

    assert_eq!(sink.stats().connections, 1, "no usage error may connect");
    assert_eq!(sink.messages().len(), 1);

    // The default TLS mode is starttls: the sink offers no STARTTLS, so the run fails
    // with a transient tls error and nothing is sent in plaintext.
    let run = send(&[
        "--server",
        &server,
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
        "--json",
    ])
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "tls");
    assert_eq!(v["error"]["permanent"], false);
    assert_eq!(v["error"]["command"], "STARTTLS");
    assert_eq!(v["tls"], serde_json::Value::Null);
    assert_eq!(v["transactions"][0]["recipients"][0]["status"], "transient");
    assert_eq!(sink.stats().connections, 2);
    assert_eq!(sink.messages().len(), 1, "nothing sent without TLS");
}
