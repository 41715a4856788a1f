//! How `send` gets its connections: through a SOCKS5 proxy (`--socks5`, with and without
//! RFC 1929 credentials, in --server and MX mode), and several connections for one
//! `--repeat` (`--max-per-connection`, LIMITS MAILMAX).

use serde_json::json;
use tokio::net::TcpStream;

use super::dns_support::{DnsServer, Zone};
use super::mta::{Mta, same_port};
use super::socks5_proxy::{Behaviour, Proxy};
use super::*;

const EHLO: &str = "250-mta.test\r\n250 8BITMIME\r\n";

/// The CONNECT request for `name:port` by name (RFC 1928 §4, ATYP 3).
fn connect_by_name(name: &str, port: u16) -> Vec<u8> {
    let mut r = vec![5, 1, 0, 3, name.len() as u8];
    r.extend_from_slice(name.as_bytes());
    r.extend_from_slice(&port.to_be_bytes());
    r
}

async fn via_proxy(proxy: &Proxy, extra: &[&str]) -> Run {
    let at = proxy.addr.to_string();
    let mut args = vec![
        "--server",
        "mx.example.test:25",
        "--socks5",
        &at,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ];
    args.extend_from_slice(extra);
    send(&args).await
}

#[tokio::test]
async fn socks5_without_auth_carries_the_session_and_the_proxy_resolves_the_name() {
    let sink = Sink::start().await.unwrap();
    let upstream = TcpStream::connect(sink.addr()).await.unwrap();
    let proxy = Proxy::start(Behaviour::open(upstream)).await;
    let run = via_proxy(&proxy, &[]).await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    let v = run.json();
    assert_eq!(v["server"], "mx.example.test:25");
    assert_eq!(v["greeting"]["code"], 220);
    assert_eq!(recipients(&v["transactions"][0])[0]["status"], "delivered");
    let seen = proxy.finish().await;
    // One method offered: no authentication.
    assert_eq!(seen.greeting, [5, 1, 0]);
    assert_eq!(seen.auth, None);
    assert_eq!(
        seen.request.as_deref(),
        Some(&connect_by_name("mx.example.test", 25)[..])
    );
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn socks5_with_username_and_password() {
    let sink = Sink::start().await.unwrap();
    let upstream = TcpStream::connect(sink.addr()).await.unwrap();
    let proxy = Proxy::start(Behaviour::with_auth("proxyuser", "s3cret", upstream)).await;
    let run = via_proxy(
        &proxy,
        &["--socks5-user", "proxyuser", "--socks5-pass", "s3cret"],
    )
    .await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    let seen = proxy.finish().await;
    // No authentication and username/password offered; RFC 1929 §2 framing.
    assert_eq!(seen.greeting, [5, 2, 0, 2]);
    let mut auth = vec![1, 9];
    auth.extend_from_slice(b"proxyuser");
    auth.push(6);
    auth.extend_from_slice(b"s3cret");
    assert_eq!(seen.auth, Some(auth));
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn socks5_refusal_is_kind_io_with_the_socks_reply() {
    let proxy = Proxy::start(Behaviour::refusing(5)).await;
    let run = via_proxy(&proxy, &[]).await;
    assert_eq!(run.status, 75, "stderr {}", run.stderr);
    let v = run.json();
    let e = &v["error"];
    assert_eq!(e["kind"], "io");
    assert_eq!(e["permanent"], false);
    assert_eq!(e["command"], Value::Null);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("socks5 proxy: connection refused by destination host (reply 5)"),
        "{msg}"
    );
    assert_eq!(v["greeting"], Value::Null);
    let r = &recipients(&v["transactions"][0])[0];
    assert_eq!(r["status"], "transient");
    assert_eq!(r["message"], msg);
    let _ = proxy.finish().await;
}

#[tokio::test]
async fn socks5_credentials_need_each_other_and_the_proxy() {
    let sink = Sink::start().await.unwrap();
    for (extra, want) in [
        (&["--socks5-user", "u"][..], "--socks5-user needs --socks5"),
        (&["--socks5-pass", "p"][..], "--socks5-pass needs --socks5"),
        (
            &["--socks5", "127.0.0.1:1", "--socks5-user", "u"][..],
            "--socks5-user needs --socks5-pass",
        ),
    ] {
        let run = send_to(
            &sink,
            &[
                &["--from", "me@example.org", "--to", "a@example.net"][..],
                extra,
            ]
            .concat(),
        )
        .await;
        assert_eq!(run.status, 64, "{extra:?}");
        assert_eq!(run.json()["error"]["message"], want);
    }
    assert_eq!(sink.stats().connections, 0);
}

#[tokio::test]
async fn socks5_in_mx_mode_connects_to_the_mx_address() {
    let (port, mut listeners) = same_port(&["127.0.0.3"]).await;
    let mx = Mta::serve(listeners.pop().unwrap(), "220 mx.via.test ESMTP\r\n", EHLO);
    let dns = DnsServer::start(
        Zone::new()
            .mx("via.test", &[(10, "mx.via.test")])
            .a("mx.via.test", &["127.0.0.3"]),
    )
    .await;
    let upstream = TcpStream::connect(mx.addr).await.unwrap();
    let proxy = Proxy::start(Behaviour::open(upstream)).await;
    let (resolver, at, p) = (
        dns.addr.to_string(),
        proxy.addr.to_string(),
        port.to_string(),
    );
    let run = send(&[
        "--resolver",
        &resolver,
        "--mx-port",
        &p,
        "--socks5",
        &at,
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@via.test",
    ])
    .await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    assert_eq!(tx["host"], "mx.via.test");
    assert_eq!(tx["address"], format!("127.0.0.3:{port}"));
    let seen = proxy.finish().await;
    // The MX address the library chose, as ATYP 1 (the proxy does not resolve it).
    let mut request = vec![5, 1, 0, 1, 127, 0, 0, 3];
    request.extend_from_slice(&port.to_be_bytes());
    assert_eq!(seen.request, Some(request));
    assert_eq!(mx.mails_per_connection(), [1]);
}

async fn repeat(mta: &Mta, extra: &[&str]) -> Run {
    let server = mta.addr.to_string();
    let mut args = vec![
        "--server",
        &server,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ];
    args.extend_from_slice(extra);
    send(&args).await
}

fn all_delivered(v: &Value, n: usize) {
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), n, "{v}");
    for tx in txs {
        assert_eq!(recipients(tx)[0]["status"], "delivered", "{tx}");
    }
}

#[tokio::test]
async fn max_per_connection_opens_a_new_connection_after_n_transactions() {
    let mta = Mta::start(EHLO).await;
    let run = repeat(&mta, &["--repeat", "5", "--max-per-connection", "2"]).await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    all_delivered(&run.json(), 5);
    assert_eq!(mta.mails_per_connection(), [2, 2, 1]);
    // Each connection ends with QUIT.
    for conn in mta.connections() {
        assert_eq!(conn.last().map(String::as_str), Some("QUIT"), "{conn:?}");
    }

    // The twin: 0 (and no flag) is one connection for everything.
    for extra in [&["--max-per-connection", "0"][..], &[]] {
        let mta = Mta::start(EHLO).await;
        let run = repeat(&mta, &[&["--repeat", "5"][..], extra].concat()).await;
        assert_eq!(run.status, 0);
        all_delivered(&run.json(), 5);
        assert_eq!(mta.mails_per_connection(), [5], "{extra:?}");
    }
}

#[tokio::test]
async fn limits_mailmax_also_ends_a_connection() {
    let ehlo = "250-mta.test\r\n250 LIMITS MAILMAX=3\r\n";
    let mta = Mta::start(ehlo).await;
    let run = repeat(&mta, &["--repeat", "5"]).await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    let v = run.json();
    all_delivered(&v, 5);
    assert_eq!(v["capabilities"], json!(["LIMITS MAILMAX=3"]));
    assert_eq!(mta.mails_per_connection(), [3, 2]);
    // The smaller of the two limits wins.
    let mta = Mta::start(ehlo).await;
    let run = repeat(&mta, &["--repeat", "5", "--max-per-connection", "2"]).await;
    assert_eq!(run.status, 0);
    assert_eq!(mta.mails_per_connection(), [2, 2, 1]);
}
