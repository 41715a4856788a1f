//! Postfix-style security levels.

use super::*;

#[test]
fn levels_map_to_settings() {
    let table = [
        (Level::None, TlsMode::Skip, false, false),
        (Level::May, TlsMode::Opportunistic, false, true),
        (Level::Encrypt, TlsMode::RequiredStartTls, false, false),
        (Level::Verify, TlsMode::RequiredStartTls, true, false),
        (Level::Secure, TlsMode::RequiredStartTls, true, false),
    ];
    for (level, mode, enforced, fallback) in table {
        let tls = TlsConfig::from_level(level);
        assert_eq!(tls.mode(), mode, "{level:?}");
        assert_eq!(tls.fallback_allowed(), fallback, "{level:?}");
        // With no TLS at all, the verification setting means nothing ("-" in the table).
        if level != Level::None {
            let expected = if enforced {
                CertVerification::Pkix
            } else {
                CertVerification::None
            };
            assert_eq!(tls.verification(), expected, "{level:?}");
            assert_eq!(tls.enforces_verification(), enforced, "{level:?}");
        }
        // Credentials turn the fallback of "may" off.
        assert!(!tls.confidential(true).fallback_allowed(), "{level:?}");
    }
}

fn level(level: Level) -> TlsConfig {
    trust_test_ca(TlsConfig::from_level(level))
}

#[tokio::test]
async fn level_none_skips_starttls() {
    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &level(Level::None)).await);
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

#[tokio::test]
async fn level_may_falls_back_and_accepts_untrusted() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available")
            .transaction()
            .quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &level(Level::May)).await);
    assert!(client.tls_report().unwrap().fallback);
    deliver_and_quit(client).await;
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &TX),
        &[],
    );

    let server = Server::start(vec![starttls_server(TlsSetup::with(|p| &p.self_signed))]).await;
    let client = expect_ok(connect(&server, &level(Level::May)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    server.finish().await;
    assert!(!report.verified && !report.fallback);
    assert_eq!(report.verify_error.as_deref(), Some(UNTRUSTED));
}

#[tokio::test]
async fn level_encrypt_requires_tls_but_not_verification() {
    let server = Server::start(vec![starttls_server(TlsSetup::with(|p| &p.self_signed))]).await;
    let client = expect_ok(connect(&server, &level(Level::Encrypt)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    server.finish().await;
    assert!(!report.verified);
    assert_eq!(report.verify_error.as_deref(), Some(UNTRUSTED));

    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).reply("454 4.7.0 no"),
    ])
    .await;
    let err = expect_err(connect(&server, &level(Level::Encrypt)).await);
    assert!(matches!(err, Error::Tls(TlsError::Refused(_))), "{err:?}");
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

#[tokio::test]
async fn levels_verify_and_secure_require_a_valid_certificate() {
    for lvl in [Level::Verify, Level::Secure] {
        let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
        let client = expect_ok(connect(&server, &level(lvl)).await);
        let report = client.tls_report().cloned().unwrap();
        deliver_and_quit(client).await;
        let logs = server.finish().await;
        assert_verified_tls13(&report, &logs[0]);

        for (cert, why) in BAD_CERTS {
            let server = Server::start(vec![
                Script::greeting()
                    .ehlo(WITH_STARTTLS)
                    .starttls(TlsSetup::with(cert)),
            ])
            .await;
            let err = expect_err(connect(&server, &level(lvl)).await);
            assert!(
                matches!(&err, Error::Tls(TlsError::Verification(w)) if w == why),
                "{lvl:?}: {err:?}"
            );
            assert_one_conn(
                &server.finish().await,
                &lines(&[EHLO, "STARTTLS"], &[]),
                &[],
            );
        }
    }
}
