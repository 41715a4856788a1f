//! The contract's flags whose features have not landed yet: each exists (clap accepts it
//! and its value) and answers a usage error, exit 64, naming it, with nothing sent.

use super::*;

#[tokio::test]
async fn flags_not_landed_yet_are_usage_errors_naming_the_flag() {
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

    // The baseline: the same command line without the flag delivers.
    let run = send(&base).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(sink.stats().connections, 1);

    let cases: &[(&[&str], &str)] = &[
        (&["--dsn-notify", "SUCCESS,FAILURE"], "--dsn-notify"),
        (&["--dsn-notify", "NEVER"], "--dsn-notify"),
        (&["--dsn-ret", "FULL"], "--dsn-ret"),
        (&["--dsn-ret", "HDRS"], "--dsn-ret"),
        (&["--dsn-envid", "QQ314159"], "--dsn-envid"),
        (&["--dsn-orcpt"], "--dsn-orcpt"),
    ];
    for (extra, flag) in cases {
        let run = send(&[&base[..], extra].concat()).await;
        assert_eq!(run.status, 64, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{extra:?}");
        assert_eq!(v["error"]["permanent"], true, "{extra:?}");
        let msg = v["error"]["message"].as_str().unwrap();
        // The flag itself, not a clap complaint about an unknown argument.
        assert_eq!(msg, format!("{flag} is not available yet"), "{extra:?}");
        assert!(
            run.stderr
                .contains(&format!("send: {flag} is not available yet")),
            "{extra:?}: stderr {:?}",
            run.stderr
        );
        assert_eq!(v["transactions"], serde_json::json!([]), "{extra:?}");
    }
    assert_eq!(sink.stats().connections, 1, "no usage error may connect");
    assert_eq!(sink.messages().len(), 1);

    // Every flag is listed in --help, under the contract's headings: those still to
    // land, and those that have (tested in bdat.rs, window.rs, lmtp.rs, mx.rs and
    // connections.rs).
    let help = send(&["--help"]).await;
    assert_eq!(help.status, 0);
    let landed = [
        "--binarymime",
        "--window",
        "--chunk-size",
        "--lmtp",
        "--socks5",
        "--socks5-user",
        "--socks5-pass",
        "--max-per-connection",
        "--resolver",
        "--mx-port",
    ];
    for flag in cases.iter().map(|(_, f)| *f).chain(landed) {
        assert!(help.stdout.contains(flag), "{flag} missing from --help");
    }
    for heading in ["DSN:", "LMTP:"] {
        assert!(
            help.stdout.contains(heading),
            "{heading} missing from --help"
        );
    }
}
