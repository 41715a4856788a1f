//! AUTH through the tokio driver against scripted servers over `tokio::io::duplex`: every
//! mechanism, the refusals, the SCRAM checks, and the rule that no MAIL follows a failed
//! AUTH. Each case names the real server behaviour it reproduces.
//!
//! The scripted server is a small helper of this file (a line reader and writer); the SCRAM
//! server side is computed here with the `sasl` crate's primitives, so a client that sends
//! a wrong proof is refused as a real server would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sasl::common::Password;
use sasl::common::scram::{ScramProvider, Sha1, Sha256};
use smtp_courier::auth::{AuthError, AuthOptions, Credentials, Mechanism};
use smtp_courier::proto::CommandKind;
use smtp_courier::{Client, ClientConfig, Envelope, Error};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

/// One end of the pipe, spoken to a line at a time.
struct Server {
    r: BufReader<ReadHalf<DuplexStream>>,
    w: WriteHalf<DuplexStream>,
}

impl Server {
    /// The next line from the client, without CRLF.
    async fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.r.read_line(&mut s).await.unwrap();
        assert!(n > 0, "client closed the connection");
        assert!(s.ends_with("\r\n"), "line without CRLF: {s:?}");
        s.truncate(s.len() - 2);
        s
    }

    async fn expect(&mut self, want: &str) {
        assert_eq!(self.line().await, want);
    }

    async fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).await.unwrap();
    }

    /// Greeting, then EHLO answered with `ehlo` (the lines after the first).
    async fn open(&mut self, ehlo: &str) {
        self.send("220 mx.test.example ESMTP\r\n").await;
        self.expect("EHLO localhost").await;
        self.send(&format!("250-mx.test.example\r\n{ehlo}")).await;
    }

    /// QUIT, the last thing the client sends.
    async fn quit(&mut self) {
        self.expect("QUIT").await;
        self.send("221 2.0.0 bye\r\n").await;
    }

    /// Accepts one message: MAIL, RCPT and DATA pipelined, then the data.
    async fn accept_message(&mut self) {
        assert!(self.line().await.starts_with("MAIL FROM:<a@example.org>"));
        self.expect("RCPT TO:<b@example.net>").await;
        self.expect("DATA").await;
        self.send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
            .await;
        while self.line().await != "." {}
        self.send("250 2.0.0 queued\r\n").await;
    }
}

type Transcript = Arc<Mutex<Vec<String>>>;

/// Runs `server` against a client opened over a pipe; returns the client, the transcript
/// and the server task.
async fn connect<F, Fut>(server: F) -> (Client<DuplexStream>, Transcript, JoinHandle<()>)
where
    F: FnOnce(Server) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let task = tokio::spawn(server(Server {
        r: BufReader::new(r),
        w,
    }));
    let lines: Transcript = Arc::default();
    let sink = lines.clone();
    let config = ClientConfig::default()
        .transcript(move |d, l| sink.lock().unwrap().push(format!("{d:?}: {l}")));
    let client = Client::open(client_io, config).await.unwrap();
    (client, lines, task)
}

async fn finish(client: Client<DuplexStream>, task: JoinHandle<()>) {
    client.quit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

fn envelope() -> Envelope {
    Envelope::new("a@example.org", ["b@example.net"]).unwrap()
}

fn b64(s: impl AsRef<[u8]>) -> String {
    B64.encode(s)
}

fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

fn cleartext_ok() -> AuthOptions {
    AuthOptions::new().allow_cleartext(true)
}

/// These scripted servers speak no TLS: CRAM-MD5 and SCRAM, the mechanisms under test,
/// must be allowed explicitly without verified TLS.
fn challenge_ok() -> AuthOptions {
    AuthOptions::new().allow_unverified_challenge_response(true)
}

fn assert_redacted(lines: &Transcript, secrets: &[&str]) {
    for l in lines.lock().unwrap().iter() {
        for s in secrets {
            assert!(!l.contains(s), "secret {s:?} in transcript line {l:?}");
        }
    }
}

// ---- PLAIN, LOGIN, CRAM-MD5 ----

#[tokio::test]
async fn plain_allowed_cleartext_then_mail() {
    // Postfix + Dovecot on a trusted loopback without TLS, cleartext explicitly allowed.
    let (mut client, lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n").await;
        s.expect(&format!("AUTH PLAIN {}", b64("\0alice\0s3cret")))
            .await;
        s.send("235 2.7.0 Authentication successful\r\n").await;
        s.accept_message().await;
        s.quit().await;
    })
    .await;
    assert_eq!(
        client
            .authenticate(&Credentials::new("alice", "s3cret"), &cleartext_ok())
            .await
            .unwrap(),
        Mechanism::Plain
    );
    let report = client
        .send_bytes(&envelope(), b"Subject: t\r\n\r\nhi\r\n")
        .await
        .unwrap();
    assert!(report.error.is_none());
    finish(client, task).await;
    assert!(
        lines
            .lock()
            .unwrap()
            .contains(&"Client: AUTH PLAIN <redacted>".to_string())
    );
    assert_redacted(&lines, &["s3cret", &b64("\0alice\0s3cret")]);
}

#[tokio::test]
async fn cleartext_refused_without_tls_nothing_sent() {
    // A submission server that offers PLAIN and LOGIN before STARTTLS (a misconfigured
    // Postfix with smtpd_tls_auth_only = no): the client must not send the password.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n").await;
        // Neither AUTH nor MAIL: the next line is QUIT.
        s.quit().await;
    })
    .await;
    let creds = Credentials::new("alice", "s3cret");
    let err = client
        .authenticate(&creds, &AuthOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Auth(AuthError::CleartextRefused {
            mechanism: Mechanism::Plain,
            tls: false
        })
    ));
    assert!(err.is_permanent());
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert!(err.to_string().contains("allow_cleartext"), "{err}");
    // No MAIL after the refusal.
    let send = client.send_bytes(&envelope(), b"x\r\n").await;
    assert!(
        matches!(send, Err(Error::Auth(AuthError::CleartextRefused { .. }))),
        "{send:?}"
    );
    finish(client, task).await;
}

#[tokio::test]
async fn login_prompts() {
    // Microsoft Exchange: LOGIN with "Username:" / "Password:" prompts.
    let (mut client, lines, task) = connect(|mut s| async move {
        s.open("250 AUTH LOGIN\r\n").await;
        s.expect("AUTH LOGIN").await;
        s.send("334 VXNlcm5hbWU6\r\n").await;
        assert_eq!(unb64(&s.line().await), b"alice");
        s.send("334 UGFzc3dvcmQ6\r\n").await;
        assert_eq!(unb64(&s.line().await), b"s3cret");
        s.send("235 2.7.0 Authentication successful\r\n").await;
        s.quit().await;
    })
    .await;
    assert_eq!(
        client
            .authenticate(&Credentials::new("alice", "s3cret"), &cleartext_ok())
            .await
            .unwrap(),
        Mechanism::Login
    );
    finish(client, task).await;
    assert_redacted(&lines, &["s3cret", &b64("s3cret")]);
}

#[tokio::test]
async fn challenge_response_refused_without_tls_nothing_sent() {
    // STARTTLS stripped by a man in the middle, who offers SCRAM and CRAM-MD5 so that it
    // can pick the salt or challenge and crack the answer offline: nothing is sent.
    // Twins: `cram_md5_rfc2195` and the SCRAM tests, allowed explicitly.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH SCRAM-SHA-256 CRAM-MD5\r\n")
            .await;
        // Neither AUTH nor MAIL: the next line is QUIT.
        s.quit().await;
    })
    .await;
    let creds = Credentials::new("alice", "s3cret");
    let err = client
        .authenticate(&creds, &AuthOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth(AuthError::UnverifiedTlsRefused {
                mechanism: Mechanism::ScramSha256,
                tls: false
            })
        ),
        "{err:?}"
    );
    assert!(err.is_auth() && err.is_permanent());
    let only_cram = AuthOptions::new().mechanisms([Mechanism::CramMd5]);
    let err = client.authenticate(&creds, &only_cram).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth(AuthError::UnverifiedTlsRefused {
                mechanism: Mechanism::CramMd5,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(client.send_bytes(&envelope(), b"x\r\n").await.is_err());
    finish(client, task).await;
}

#[tokio::test]
async fn cram_md5_rfc2195() {
    // A server sending the RFC 2195 §2 challenge; CRAM-MD5 allowed without TLS.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH PLAIN CRAM-MD5\r\n").await;
        s.expect("AUTH CRAM-MD5").await;
        s.send(&format!(
            "334 {}\r\n",
            b64("<1896.697170952@postoffice.reston.mci.net>")
        ))
        .await;
        s.expect("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
            .await;
        s.send("235 2.7.0 ok\r\n").await;
        s.quit().await;
    })
    .await;
    let m = client
        .authenticate(
            &Credentials::new("tim", "tanstaaftanstaaf"),
            &challenge_ok(),
        )
        .await
        .unwrap();
    assert_eq!(m, Mechanism::CramMd5);
    finish(client, task).await;
}

// ---- SCRAM ----

/// Where the server puts its final message.
#[derive(Clone, Copy, PartialEq)]
enum Final {
    /// Dovecot behind Postfix: a 334 challenge, answered with an empty line, then 235.
    In334,
    /// RFC 4422 §5 additional data with success: in the 235 itself.
    In235,
    /// A server that does not know the password (or an impostor): a wrong signature.
    BadSignature,
}

fn scram_keys<S: ScramProvider>(
    password: &str,
    salt: &[u8],
    i: u32,
    auth_message: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let salted = S::derive(&Password::Plain(password.into()), salt, i).unwrap();
    let client_key = S::hmac(b"Client Key", &salted).unwrap();
    let stored_key = S::hash(&client_key);
    let client_signature = S::hmac(auth_message, &stored_key).unwrap();
    let proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = S::hmac(b"Server Key", &salted).unwrap();
    (proof, S::hmac(auth_message, &server_key).unwrap())
}

/// A SCRAM server for user "user", password "pencil". `server_first` builds the
/// server-first message from the client nonce; when it returns a nonce that does not
/// extend the client's, or an absurd count, the client must cancel with `*`.
async fn scram_server(
    s: &mut Server,
    mech: &str,
    server_first: impl Fn(&str) -> String,
    fin: Final,
) -> bool {
    let line = s.line().await;
    let ir = line
        .strip_prefix(&format!("AUTH {mech} "))
        .expect("AUTH with initial response");
    let client_first = String::from_utf8(unb64(ir)).unwrap();
    let bare = client_first
        .strip_prefix("n,,")
        .expect("gs2 header n,,")
        .to_string();
    assert!(bare.starts_with("n=user,r="), "{bare}");
    let cnonce = bare.rsplit_once(",r=").unwrap().1.to_string();
    let first = server_first(&cnonce);
    s.send(&format!("334 {}\r\n", b64(&first))).await;
    let answer = s.line().await;
    if answer == "*" {
        s.send("501 5.7.0 Authentication aborted\r\n").await;
        return false;
    }
    let client_final = String::from_utf8(unb64(&answer)).unwrap();
    let (without_proof, proof) = client_final.split_once(",p=").unwrap();
    assert_eq!(without_proof.split(',').next(), Some("c=biws"));
    let auth_message = format!("{bare},{first},{without_proof}");
    let salt = unb64("QSXCR+Q6sek8bf92");
    let (want_proof, signature) = if mech == "SCRAM-SHA-1" {
        scram_keys::<Sha1>("pencil", &salt, 4096, auth_message.as_bytes())
    } else {
        scram_keys::<Sha256>("pencil", &salt, 4096, auth_message.as_bytes())
    };
    if unb64(proof) != want_proof {
        s.send("535 5.7.8 Authentication failed\r\n").await;
        return false;
    }
    let mut v = format!("v={}", b64(&signature));
    match fin {
        Final::In334 => {
            s.send(&format!("334 {}\r\n", b64(&v))).await;
            s.expect("").await;
            s.send("235 2.7.0 Authentication successful\r\n").await;
        }
        Final::In235 => s.send(&format!("235 {}\r\n", b64(&v))).await,
        Final::BadSignature => {
            v.replace_range(2..6, "AAAA");
            s.send(&format!("334 {}\r\n", b64(&v))).await;
            s.expect("*").await;
            s.send("501 5.7.0 Authentication aborted\r\n").await;
            return false;
        }
    }
    true
}

fn good_first(cnonce: &str) -> String {
    format!("r={cnonce}3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
}

#[tokio::test]
async fn scram_sha256_dovecot_final_in_334() {
    // Dovecot SASL behind Postfix: v= arrives as a 334, the client answers an empty line.
    let (mut client, lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH PLAIN SCRAM-SHA-1 SCRAM-SHA-256\r\n")
            .await;
        assert!(scram_server(&mut s, "SCRAM-SHA-256", good_first, Final::In334).await);
        s.accept_message().await;
        s.quit().await;
    })
    .await;
    let m = client
        .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
        .await
        .unwrap();
    assert_eq!(m, Mechanism::ScramSha256);
    assert!(
        client
            .send_bytes(&envelope(), b"x\r\n")
            .await
            .unwrap()
            .error
            .is_none()
    );
    finish(client, task).await;
    assert_redacted(&lines, &["pencil"]);
    let l = lines.lock().unwrap();
    assert!(l.contains(&"Client: AUTH SCRAM-SHA-256 <redacted>".to_string()));
    assert_eq!(
        l.iter().filter(|x| *x == "Client: <redacted>").count(),
        2,
        "{l:?}"
    );
}

#[tokio::test]
async fn scram_sha1_final_in_235() {
    // A server that returns the server-final message with the 235 (RFC 4422 §5).
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH SCRAM-SHA-1\r\n").await;
        assert!(scram_server(&mut s, "SCRAM-SHA-1", good_first, Final::In235).await);
        s.quit().await;
    })
    .await;
    let m = client
        .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
        .await
        .unwrap();
    assert_eq!(m, Mechanism::ScramSha1);
    finish(client, task).await;
}

#[tokio::test]
async fn scram_wrong_password_535() {
    // Positive server, wrong password: the server's own proof check fails (535).
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH SCRAM-SHA-256\r\n").await;
        assert!(!scram_server(&mut s, "SCRAM-SHA-256", good_first, Final::In334).await);
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("user", "pen"), &challenge_ok())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::Refused(reply)) if reply.code().as_u16() == 535),
        "{err:?}"
    );
    assert!(err.is_auth() && err.is_permanent());
    finish(client, task).await;
}

#[tokio::test]
async fn scram_bad_server_signature_cancelled_no_mail() {
    // An impostor that does not know the password: its signature fails, the client sends
    // "*", and no MAIL follows.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH SCRAM-SHA-256\r\n").await;
        assert!(!scram_server(&mut s, "SCRAM-SHA-256", good_first, Final::BadSignature).await);
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Auth(AuthError::ServerSignature)),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(client.is_usable());
    assert!(client.send_bytes(&envelope(), b"x\r\n").await.is_err());
    finish(client, task).await;
}

#[tokio::test]
async fn scram_nonce_not_extending_ours() {
    // A server (or a replaying attacker) whose nonce does not start with ours.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH SCRAM-SHA-256\r\n").await;
        let first = |_: &str| "r=someoneelsesnonce123,s=QSXCR+Q6sek8bf92,i=4096".to_string();
        assert!(!scram_server(&mut s, "SCRAM-SHA-256", first, Final::In334).await);
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Auth(AuthError::NonceMismatch)),
        "{err}"
    );
    assert!(err.is_transient());
    finish(client, task).await;
}

#[tokio::test]
async fn scram_absurd_iteration_counts() {
    // A hostile server asking for 1 iteration (downgrade) or 10^9 (a CPU sink).
    for count in [1u64, 1_000_000_000] {
        let (mut client, _lines, task) = connect(move |mut s| async move {
            s.open("250 AUTH SCRAM-SHA-1\r\n").await;
            let first = move |c: &str| format!("r={c}xyz,s=QSXCR+Q6sek8bf92,i={count}");
            assert!(!scram_server(&mut s, "SCRAM-SHA-1", first, Final::In334).await);
            s.quit().await;
        })
        .await;
        let err = client
            .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Auth(AuthError::IterationCount { count: c }) if c == count),
            "{err}"
        );
        assert!(err.is_transient());
        finish(client, task).await;
    }
}

#[tokio::test]
async fn plus_required_without_binding_no_downgrade() {
    // The server offers SCRAM-SHA-256-PLUS and SCRAM-SHA-256; the caller requires channel
    // binding but the connection has none (no TLS 1.3): fail, never fall back.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n")
            .await;
        s.quit().await;
    })
    .await;
    let opts = AuthOptions::new().require_channel_binding(true);
    let err = client
        .authenticate(&Credentials::new("user", "pencil"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Auth(AuthError::ChannelBindingUnavailable)),
        "{err}"
    );
    assert!(err.is_permanent());
    finish(client, task).await;
}

#[tokio::test]
async fn plus_not_required_uses_non_plus() {
    // Positive twin: without the requirement, the non-PLUS form is used.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n")
            .await;
        assert!(scram_server(&mut s, "SCRAM-SHA-256", good_first, Final::In334).await);
        s.quit().await;
    })
    .await;
    let m = client
        .authenticate(&Credentials::new("user", "pencil"), &challenge_ok())
        .await
        .unwrap();
    assert_eq!(m, Mechanism::ScramSha256);
    finish(client, task).await;
}

// ---- OAuth ----

#[tokio::test]
async fn xoauth2_gmail_success_and_failure() {
    // Gmail: XOAUTH2 with the token as initial response; a bad token gets a JSON error
    // challenge, an empty answer, then 535.
    let (mut client, lines, task) = connect(|mut s| async move {
        s.open("250 AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n").await;
        s.expect(&format!("AUTH XOAUTH2 {}", b64("user=me@gmail.com\x01auth=Bearer expired\x01\x01"))).await;
        s.send(&format!("334 {}\r\n", b64(r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#)))
            .await;
        s.expect("").await;
        s.send("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials\r\n")
            .await;
        s.expect(&format!("AUTH XOAUTH2 {}", b64("user=me@gmail.com\x01auth=Bearer ya29.good\x01\x01"))).await;
        s.send("235 2.7.0 Accepted\r\n").await;
        s.quit().await;
    })
    .await;
    let opts = AuthOptions::new()
        .mechanisms([Mechanism::XOAuth2])
        .allow_cleartext(true);
    let err = client
        .authenticate(&Credentials::bearer_token("me@gmail.com", "expired"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::Refused(_))),
        "{err:?}"
    );
    assert!(err.is_auth() && err.is_permanent());
    assert_eq!(err.enhanced_code(), None, "no ENHANCEDSTATUSCODES offered");
    let m = client
        .authenticate(
            &Credentials::bearer_token("me@gmail.com", "ya29.good"),
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(m, Mechanism::XOAuth2);
    finish(client, task).await;
    assert_redacted(&lines, &["ya29.good", "expired"]);
}

#[tokio::test]
async fn oauthbearer_default_for_token() {
    // Microsoft 365 / any RFC 7628 server: OAUTHBEARER is preferred for a token.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH LOGIN XOAUTH2 OAUTHBEARER\r\n").await;
        s.expect(&format!(
            "AUTH OAUTHBEARER {}",
            b64("n,a=me@example.com,\x01auth=Bearer tok\x01\x01")
        ))
        .await;
        s.send("235 2.7.0 ok\r\n").await;
        s.quit().await;
    })
    .await;
    let m = client
        .authenticate(
            &Credentials::bearer_token("me@example.com", "tok"),
            &cleartext_ok(),
        )
        .await
        .unwrap();
    assert_eq!(m, Mechanism::OAuthBearer);
    finish(client, task).await;
}

// ---- Replies ----

#[tokio::test]
async fn refusal_535_then_retry_on_same_connection() {
    // Postfix + Dovecot: a wrong password gets 535 and the connection stays open.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH PLAIN\r\n").await;
        s.expect(&format!("AUTH PLAIN {}", b64("\0alice\0wrong")))
            .await;
        s.send("535 5.7.8 Error: authentication failed: authentication failure\r\n")
            .await;
        s.expect(&format!("AUTH PLAIN {}", b64("\0alice\0right")))
            .await;
        s.send("235 2.7.0 Authentication successful\r\n").await;
        s.accept_message().await;
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("alice", "wrong"), &cleartext_ok())
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(err.connection_usable());
    assert_eq!(err.code().map(|c| c.as_u16()), Some(535));
    assert!(!err.to_string().contains("wrong"));
    assert!(client.is_usable());
    client
        .authenticate(&Credentials::new("alice", "right"), &cleartext_ok())
        .await
        .unwrap();
    assert!(
        client
            .send_bytes(&envelope(), b"x\r\n")
            .await
            .unwrap()
            .error
            .is_none()
    );
    finish(client, task).await;
}

#[tokio::test]
async fn no_mail_after_535() {
    // Same server; the caller ignores the failure and tries to send: nothing goes out.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250-PIPELINING\r\n250 AUTH PLAIN\r\n").await;
        s.line().await;
        s.send("535 5.7.8 Error: authentication failed\r\n").await;
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("alice", "wrong"), &cleartext_ok())
        .await
        .unwrap_err();
    let send = client.send_bytes(&envelope(), b"x\r\n").await.unwrap_err();
    assert_eq!(send.to_string(), err.to_string());
    assert_eq!(send.command(), Some(CommandKind::Auth));
    finish(client, task).await;
}

#[tokio::test]
async fn temporary_failure_454() {
    // Dovecot's auth service unreachable: Postfix answers 454 4.7.0.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH PLAIN\r\n").await;
        s.line().await;
        s.send("454 4.7.0 Temporary authentication failure\r\n")
            .await;
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("alice", "pw"), &cleartext_ok())
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(err.code().map(|c| c.as_u16()), Some(454));
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert!(err.connection_usable());
    finish(client, task).await;
}

#[tokio::test]
async fn mail_without_auth_gets_530() {
    // A submission server that requires AUTH: MAIL gets 530 5.7.0, permanent.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 AUTH PLAIN\r\n").await;
        assert!(s.line().await.starts_with("MAIL FROM:"));
        s.send("530 5.7.0 Authentication required\r\n").await;
        s.quit().await;
    })
    .await;
    let report = client.send_bytes(&envelope(), b"x\r\n").await.unwrap();
    let err = report.error.unwrap();
    assert!(err.is_permanent());
    assert_eq!(err.command(), Some(CommandKind::Mail));
    // A refused MAIL is not an authentication failure, even with a 530.
    assert!(!err.is_auth());
    finish(client, task).await;
}

#[tokio::test]
async fn auth_not_offered() {
    // An MX that offers no AUTH at all: refused before anything is sent.
    let (mut client, _lines, task) = connect(|mut s| async move {
        s.open("250 PIPELINING\r\n").await;
        s.quit().await;
    })
    .await;
    let err = client
        .authenticate(&Credentials::new("a", "b"), &cleartext_ok())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(AuthError::NotOffered)));
    assert!(err.is_permanent());
    finish(client, task).await;
}
