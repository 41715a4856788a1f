//! Required STARTTLS: every way it can fail, each with its positive twin, and response injection.

use super::*;

/// A server with a valid certificate: STARTTLS, EHLO again over TLS, the message over TLS.
#[tokio::test]
async fn required_starttls_with_valid_certificate() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.tls_report().cloned().expect("a TLS report");
    assert!(client.get_ref().is_tls());
    assert!(client.session().is_tls_verified());
    assert!(!report.implicit);
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&logs, &plain, &tls);
    assert_verified_tls13(&report, &logs[0]);
    assert_eq!(logs[0].sni.as_deref(), Some(MX));
}

/// A server that does not offer STARTTLS (a stripped EHLO, as a downgrading middlebox
/// produces): nothing but EHLO may be sent. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_not_offered() {
    let server = Server::start(vec![Script::greeting().ehlo(AFTER_TLS)]).await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
}

/// An old server that refuses EHLO and accepts HELO: no extensions, so no STARTTLS.
#[tokio::test]
async fn required_starttls_helo_only_server() {
    let server = Server::start(vec![
        Script::greeting()
            .reply("502 5.5.1 command not implemented")
            .reply("250 mx.test.example"),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "HELO client.test"], &[]),
        &[],
    );
}

/// STARTTLS refused: 454 (Postfix without keys), a 3yz and a 250 (broken servers) are all
/// refusals; nothing else is sent in the clear.
#[tokio::test]
async fn required_starttls_refused() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).reply(refusal)]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
        let code = refusal[..3].parse::<u16>().unwrap();
        match &err {
            Error::Tls(TlsError::Refused(reply)) => assert_eq!(reply.code().as_u16(), code),
            other => panic!("{refusal}: {other:?}"),
        }
        assert!(err.is_transient(), "{refusal}");
        assert_eq!(err.code().map(|c| c.as_u16()), Some(code));
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );
    }
}

/// The server refuses the EHLO sent after the handshake: refused like any EHLO, so a 5yz
/// is permanent (a retry would be refused again) and a 4yz transient; no MAIL.
/// Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_ehlo_refused_after_tls() {
    for (refusal, permanent) in [("554 5.7.0 go away", true), ("451 4.3.0 try later", false)] {
        let script = Script::greeting()
            .ehlo(WITH_STARTTLS)
            .starttls(TlsSetup::good())
            .reply(refusal);
        let server = Server::start(vec![script]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
        let code = refusal[..3].parse::<u16>().unwrap();
        match &err {
            Error::Reply {
                command: CommandKind::Ehlo,
                reply,
            } => assert_eq!(reply.code().as_u16(), code),
            other => panic!("{refusal}: {other:?}"),
        }
        assert_eq!(err.is_permanent(), permanent, "{refusal}");
        assert_eq!(err.command(), Some(CommandKind::Ehlo));
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &lines(&[EHLO], &[]),
        );
    }
}

/// A server that advertises STARTTLS but answers the ClientHello with plaintext: a failed
/// handshake, and no reconnection. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_handshake_fails() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

/// A server that reads the ClientHello and never answers: the handshake deadline ends it.
/// Twin: the same short deadline with a server that answers.
#[tokio::test]
async fn required_starttls_handshake_never_completes() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .stall(),
    ])
    .await;
    let tls = tls_config(TlsMode::RequiredStartTls);
    let err = expect_err(connect_with(&server, &tls, impatient_config()).await);
    assert!(
        matches!(err, Error::Tls(TlsError::HandshakeTimeout)),
        "{err:?}"
    );
    assert!(err.is_transient() && err.is_timeout());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
    assert!(logs[0].stalled_bytes > 0, "the ClientHello was sent");

    // Twin: the same deadline is enough for a server that answers.
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect_with(&server, &tls, impatient_config()).await);
    deliver_and_quit(client).await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&server.finish().await, &plain, &tls);
}

/// PKIX enforced: each bad certificate aborts the handshake with its reason, and nothing
/// is sent. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_bad_certificates_rejected() {
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![
            Script::greeting()
                .ehlo(WITH_STARTTLS)
                .starttls(TlsSetup::with(cert)),
        ])
        .await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
        match &err {
            Error::Tls(TlsError::Verification(w)) => assert_eq!(w, why),
            other => panic!("{why}: {other:?}"),
        }
        assert!(err.is_transient(), "{why}");
        let logs = server.finish().await;
        assert_one_conn(&logs, &lines(&[EHLO, "STARTTLS"], &[]), &[]);
        assert!(
            matches!(logs[0].handshake, Some(Err(_))),
            "{why}: server side {:?}",
            logs[0].handshake
        );
    }
}

/// "Ignore verification errors": each bad certificate completes the session, and the
/// report says it was not verified and why.
#[tokio::test]
async fn required_starttls_bad_certificates_ignored() {
    let tls = tls_config(TlsMode::RequiredStartTls).ignore_verification_errors(true);
    assert_eq!(tls.verification(), CertVerification::Pkix);
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![starttls_server(TlsSetup::with(cert))]).await;
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        assert!(!client.session().is_tls_verified(), "{why}");
        deliver_and_quit(client).await;
        let (plain, lines_tls) = starttls_lines();
        let logs = server.finish().await;
        assert_one_conn(&logs, &plain, &lines_tls);
        assert!(!report.verified, "{why}");
        assert_eq!(report.verify_error.as_deref(), Some(why));
        assert_eq!(report.version.as_deref(), Some("TLSv1.3"));
        assert_eq!(report.peer_certificates, cert(&PKI).chain, "{why}");
        assert!(!report.fallback);
    }
}

/// Verification not required: it still runs and is reported, for bad certificates and
/// for the good one.
#[tokio::test]
async fn verification_none_still_runs_and_reports() {
    let tls = tls_config(TlsMode::RequiredStartTls).with_verification(CertVerification::None);
    assert!(!tls.enforces_verification());
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![starttls_server(TlsSetup::with(cert))]).await;
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        deliver_and_quit(client).await;
        let (plain, lines_tls) = starttls_lines();
        assert_one_conn(&server.finish().await, &plain, &lines_tls);
        assert!(!report.verified, "{why}");
        assert_eq!(report.verify_error.as_deref(), Some(why));
    }
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_verified_tls13(&report, &logs[0]);
}

/// Ignoring verification errors never skips the handshake signature: a server that shows
/// a certificate without holding its key fails, whatever the verification setting.
/// Twin: the same certificate with its own key completes.
#[tokio::test]
async fn handshake_signature_checked_even_when_ignoring_errors() {
    let settings = [
        tls_config(TlsMode::RequiredStartTls).ignore_verification_errors(true),
        tls_config(TlsMode::RequiredStartTls).with_verification(CertVerification::None),
        tls_config(TlsMode::RequiredStartTls),
    ];
    for tls in &settings {
        let setup = TlsSetup {
            wrong_key: true,
            ..TlsSetup::good()
        };
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).starttls(setup)]).await;
        let err = expect_err(connect(&server, tls).await);
        assert!(
            matches!(err, Error::Tls(TlsError::Handshake(_))),
            "{tls:?}: {err:?}"
        );
        assert!(err.is_transient());
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );

        let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
        let client = expect_ok(connect(&server, tls).await);
        assert!(client.tls_report().unwrap().verified);
        deliver_and_quit(client).await;
        server.finish().await;
    }
}

/// Response injection (CVE-2021-38371 style): the 220 to STARTTLS arrives with more bytes
/// in the same packet, a whole reply or part of one. The connection is dropped before any
/// handshake. Twin: `required_starttls_with_valid_certificate` (220 alone).
#[tokio::test]
async fn starttls_220_followed_by_injected_bytes() {
    let injections: [&[u8]; 2] = [b"220 ready\r\n250 2.1.0 injected\r\n", b"220 ready\r\n25"];
    let modes = [
        tls_config(TlsMode::RequiredStartTls),
        tls_config(TlsMode::Opportunistic).fallback(true),
    ];
    for tls in &modes {
        for bytes in injections {
            let server = Server::start(vec![
                Script::greeting().ehlo(WITH_STARTTLS).reply_raw(bytes),
            ])
            .await;
            let err = expect_err(connect(&server, tls).await);
            assert!(
                matches!(
                    err,
                    Error::Protocol {
                        error: ProtocolError::DataAfterStartTls,
                        ..
                    }
                ),
                "{tls:?}: {err:?}"
            );
            assert!(err.is_transient());
            // No ClientHello, no fallback reconnection.
            assert_one_conn(
                &server.finish().await,
                &lines(&[EHLO, "STARTTLS"], &[]),
                &[],
            );
        }
    }
}

/// The session is unusable after a failed required establish, and the injected-bytes
/// connection is closed at once, even while the caller still holds the client.
#[tokio::test]
async fn failed_establish_leaves_nothing_to_send_in_the_clear() {
    let cases = [
        Script::greeting().ehlo(AFTER_TLS),
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available"),
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply_raw(b"220 ready\r\n250 injected\r\n"),
    ];
    for script in cases {
        let server = Server::start(vec![script]).await;
        let tcp = connect_tcp(server.addr, Duration::from_secs(5))
            .await
            .unwrap();
        let quick = config().timeouts(Timeouts::all(Duration::from_secs(1)));
        let mut client = Client::new(MaybeTls::Plain(tcp), quick);
        let tls = tls_config(TlsMode::RequiredStartTls);
        let err = client
            .establish(&TcpConnector::new(), &Target::from(server.addr), &tls)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Tls(_) | Error::Protocol { .. }),
            "{err:?}"
        );
        assert!(!client.is_usable(), "{err:?}");
        let attempt = client.send_bytes(&envelope(), MSG).await;
        assert!(
            attempt.is_err(),
            "{err:?}: a transaction started: {attempt:?}"
        );
        let injected = matches!(err, Error::Protocol { .. });
        if injected {
            // Dropped by the client, not by our drop below.
            let logs = server.finish().await;
            assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
            assert!(logs[0].trailing.is_empty());
            drop(client);
        } else {
            drop(client);
            let logs = server.finish().await;
            assert!(
                logs[0].trailing.is_empty(),
                "sent in the clear: {:?}",
                String::from_utf8_lossy(&logs[0].trailing)
            );
            assert!(!logs[0].plain.iter().any(|l| l.starts_with("MAIL")));
        }
    }
}

/// Capabilities learned before TLS are discarded: the SIZE limit of the plaintext EHLO
/// (10) would refuse the message, the post-TLS one (100000) accepts it and is declared.
#[tokio::test]
async fn capabilities_come_from_the_post_tls_ehlo() {
    let script = Script::greeting()
        .ehlo(&["SIZE 10", "STARTTLS", "SMTPUTF8"])
        .starttls(TlsSetup::good())
        .ehlo(&["PIPELINING", "SIZE 100000"])
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let caps = client.capabilities().unwrap();
    assert_eq!(caps.size(), Some(Some(100000)));
    assert!(caps.pipelining());
    assert!(!caps.starttls(), "STARTTLS was only offered before TLS");
    assert!(!caps.smtputf8(), "SMTPUTF8 was only offered before TLS");
    deliver_and_quit(client).await;
    let mut tx = TX.to_vec();
    tx[0] = "MAIL FROM:<a@example.org> SIZE=18";
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO], &tx),
    );

    // Twin: the post-TLS limit is the one enforced, so 10 octets refuses the message and
    // nothing but EHLO and QUIT goes over TLS.
    let script = Script::greeting()
        .ehlo(&["SIZE 100000", "STARTTLS"])
        .starttls(TlsSetup::good())
        .ehlo(&["PIPELINING", "SIZE 10"])
        .quit();
    let server = Server::start(vec![script]).await;
    let mut client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.send_bytes(&envelope(), MSG).await.unwrap();
    assert!(
        matches!(
            report.error,
            Some(Error::TooLarge {
                size: 18,
                limit: 10
            })
        ),
        "{report:?}"
    );
    client.quit().await.unwrap();
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO, "QUIT"], &[]),
    );
}

/// A certificate from an authority that is not trusted (not self-signed): the error says
/// who issued it and to whom. Twin: `required_starttls_with_valid_certificate` (the same
/// certificate, its CA trusted).
#[tokio::test]
async fn untrusted_issuer_is_named() {
    // Trust only the self-signed leaf, not the test CA that issued the good certificate.
    let tls = TlsConfig::new(TlsMode::RequiredStartTls)
        .platform_roots(false)
        .add_roots_pem(PKI.self_signed.cert_pem.as_bytes())
        .unwrap()
        .server_name(MX);
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .starttls(TlsSetup::good()),
    ])
    .await;
    let err = expect_err(connect(&server, &tls).await);
    let why = "certificate not issued by a trusted authority: \
               issuer \"CN=smtp-courier test CA\", subject \"CN=mx.test.example\"";
    match &err {
        Error::Tls(TlsError::Verification(w)) => assert_eq!(w, why),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("tls: certificate verification failed: {why}")
    );
    server.finish().await;

    // Not enforced: the same text in the report.
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls.ignore_verification_errors(true)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    server.finish().await;
    assert_eq!(report.verify_error.as_deref(), Some(why));
}
