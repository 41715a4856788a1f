//! `examples/submit.rs`: its command line, and its refusal to go on without TLS. A real
//! submission needs a TLS server with a certificate the platform trusts, so it is not run
//! here.

use super::*;

/// Runs `submit` with `args`, and `SMTP_PASSWORD` set to `password` (or unset).
async fn submit(args: &[&str], password: Option<&str>) -> Run {
    let mut cmd = tokio::process::Command::new(example("submit"));
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("SMTP_PASSWORD")
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("SMTP_PASSWORD", p);
    }
    let out = cmd.output().await.expect("run submit");
    Run {
        status: out.status.code().expect("exit status"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn submit_help_lists_its_flags() {
    let run = submit(&["--help"], None).await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    for flag in [
        "--server",
        "--implicit",
        "--user",
        "--password",
        "--from",
        "--to",
        "--subject",
        "--text",
        "SMTP_PASSWORD",
    ] {
        assert!(run.stdout.contains(flag), "{flag} missing: {}", run.stdout);
    }
}

#[tokio::test]
async fn submit_never_goes_on_without_tls() {
    // The sink offers no STARTTLS: submit must stop after EHLO with a transient TLS error,
    // before AUTH (the password) or MAIL.
    let sink = Sink::start().await.unwrap();
    let server = sink.addr().to_string();
    let base = [
        "--server",
        server.as_str(),
        "--user",
        "me",
        "--from",
        "me@example.org",
        "--to",
        "you@example.net",
        "--subject",
        "hello",
    ];
    let run = submit(&base, Some("secret")).await;
    assert_eq!(
        run.status, 75,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains("STARTTLS"), "{}", run.stderr);
    // The twin: the server was reached (greeting, EHLO), and nothing was sent.
    assert_eq!(sink.stats().connections, 1);
    assert!(sink.messages().is_empty());

    // Usage errors, before connecting: no password, a malformed recipient, a control
    // character in the subject.
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&[], None, "SMTP_PASSWORD"),
        (&["--to", "not-an-address"], Some("secret"), "--to"),
        (
            &["--subject", "a\r\nBcc: x@example.net"],
            Some("secret"),
            "--subject",
        ),
    ];
    for (extra, password, names) in cases {
        let run = submit(&[&base[..], extra].concat(), *password).await;
        assert_eq!(run.status, 64, "{extra:?}: stderr: {}", run.stderr);
        assert!(run.stderr.contains(names), "{extra:?}: {}", run.stderr);
    }
    assert_eq!(sink.stats().connections, 1, "no usage error may connect");
}
