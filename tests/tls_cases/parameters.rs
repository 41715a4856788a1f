//! TLS versions, SNI, client certificates and bad local settings.

use super::*;

/// A TLS 1.2-only server: TLS 1.2 is reported, with its cipher suite and no exporter.
#[tokio::test]
async fn tls12_server() {
    let setup = TlsSetup {
        tls12_only: true,
        ..TlsSetup::good()
    };
    let server = Server::start(vec![starttls_server(setup)]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let server_tls = logs[0].server_tls();
    assert_eq!(server_tls.version, "TLSv1_2");
    assert_eq!(report.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(
        report.cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(report.cipher.as_deref(), Some(server_tls.cipher.as_str()));
    assert!(report.verified);
    assert_eq!(
        report.tls_exporter, None,
        "RFC 9266 tls-exporter is for TLS 1.3"
    );
}

/// `min_version(Tls13)` refuses a TLS 1.2-only server. Twin: the same setting against a
/// server with TLS 1.3.
#[tokio::test]
async fn min_version_tls13() {
    let tls = tls_config(TlsMode::RequiredStartTls).min_version(TlsVersion::Tls13);
    let setup = TlsSetup {
        tls12_only: true,
        ..TlsSetup::good()
    };
    let server = Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).starttls(setup)]).await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_one_conn(&logs, &lines(&[EHLO, "STARTTLS"], &[]), &[]);
    assert!(matches!(logs[0].handshake, Some(Err(_))));

    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls).await);
    assert_eq!(
        client.tls_report().unwrap().version.as_deref(),
        Some("TLSv1.3")
    );
    deliver_and_quit(client).await;
    server.finish().await;
}

/// SNI follows `server_name`, not the host dialled; without `server_name` it is the host
/// dialled, which is also the name verified.
#[tokio::test]
async fn sni_follows_the_name_to_verify() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(client.tls_report().unwrap().verified);
    deliver_and_quit(client).await;
    assert_eq!(server.finish().await[0].sni.as_deref(), Some(MX));

    // No server_name: dial "localhost"; the certificate (for MX) does not match it.
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let tls = TlsConfig::new(TlsMode::RequiredStartTls)
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        .with_verification(CertVerification::None);
    let client = expect_ok(Client::connect(("localhost", server.port()), config().tls(tls)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    assert_eq!(server.finish().await[0].sni.as_deref(), Some("localhost"));
    assert!(!report.verified);
    assert_eq!(
        report.verify_error.as_deref(),
        Some(
            "certificate not valid for the server name: asked for localhost, \
             the certificate is valid for mx.test.example"
        )
    );
}

/// A configured client certificate is presented; without one, none is.
#[tokio::test]
async fn client_certificate_presented_when_configured() {
    let setup = TlsSetup {
        client_auth: true,
        ..TlsSetup::good()
    };
    let tls = tls_config(TlsMode::RequiredStartTls)
        .client_auth_pem(
            PKI.client.cert_pem.as_bytes(),
            PKI.client.key_pem.as_bytes(),
        )
        .unwrap();
    let server = Server::start(vec![starttls_server(setup)]).await;
    deliver_and_quit(expect_ok(connect(&server, &tls).await)).await;
    let logs = server.finish().await;
    assert_eq!(logs[0].server_tls().client_certs, PKI.client.chain);

    let server = Server::start(vec![starttls_server(setup)]).await;
    deliver_and_quit(expect_ok(
        connect(&server, &tls_config(TlsMode::RequiredStartTls)).await,
    ))
    .await;
    let logs = server.finish().await;
    assert!(logs[0].server_tls().client_certs.is_empty());
}

/// Bad local settings are permanent, and found before anything is sent.
#[tokio::test]
async fn bad_configuration_is_permanent() {
    let err = TlsConfig::new(TlsMode::RequiredStartTls)
        .add_roots_pem(b"not pem")
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::Config(_))), "{err:?}");
    assert!(err.is_permanent());

    let server = Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS)]).await;
    let tls = tls_config(TlsMode::RequiredStartTls).server_name("not a name!");
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Config(_))), "{err:?}");
    assert!(err.is_permanent());
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
}
