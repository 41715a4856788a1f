//! `--help` lists every flag of the contract (`examples/SEND.md`) under its heading, and
//! none of them is "not available": every feature the contract names has landed (DSN was
//! the last, tested in dsn.rs).

use super::*;

/// Every flag of the contract, MX delivery's included.
const CONTRACT_FLAGS: &[&str] = &[
    // Connection
    "--server",
    "--from",
    "--to",
    "--helo",
    "--timeout",
    "--socks5",
    "--socks5-user",
    "--socks5-pass",
    "--max-per-connection",
    // MX delivery
    "--resolver",
    "--mx-port",
    // TLS
    "--tls",
    "--tls-verify",
    "--tls-ignore-errors",
    "--tls-ca",
    "--tls-name",
    "--tls-fallback",
    "--level",
    // AUTH
    "--auth-user",
    "--auth-pass",
    "--auth-mech",
    "--allow-cleartext-auth",
    // Message
    "--data",
    "--8bitmime",
    "--smtputf8",
    "--requiretls",
    "--binarymime",
    "--repeat",
    "--window",
    "--chunk-size",
    "--no-pipelining",
    "--no-chunking",
    // DSN
    "--dsn-notify",
    "--dsn-ret",
    "--dsn-envid",
    "--dsn-orcpt",
    // LMTP
    "--lmtp",
    // Output
    "--json",
    "-v",
];

#[tokio::test]
async fn help_lists_every_contract_flag_and_none_is_unavailable() {
    let help = send(&["--help"]).await;
    assert_eq!(help.status, 0, "stderr: {}", help.stderr);
    // Whole words, so that `--tls` is not found inside `--tls-name`.
    let words: Vec<&str> = help
        .stdout
        .split_whitespace()
        .map(|w| w.trim_end_matches(','))
        .collect();
    for flag in CONTRACT_FLAGS {
        assert!(
            words.contains(flag),
            "{flag} missing from --help:\n{}",
            help.stdout
        );
    }
    for heading in [
        "Connection:",
        "TLS:",
        "AUTH:",
        "Message:",
        "DSN:",
        "LMTP:",
        "Output:",
    ] {
        assert!(
            help.stdout.contains(heading),
            "{heading} missing from --help"
        );
    }
    assert!(
        !help.stdout.to_ascii_lowercase().contains("not available"),
        "{}",
        help.stdout
    );

    // The twin: a flag outside the contract is refused by the parser, exit 64.
    let run = send(&[
        "--json",
        "--dsn-bogus",
        "--from",
        "a@b.example",
        "--to",
        "c@d.example",
    ])
    .await;
    assert_eq!(run.status, 64, "stderr: {}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "usage");
}
