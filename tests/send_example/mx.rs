//! MX mode (SEND-CONTRACT-MX.md, SEND.md "MX delivery"): no `--server`, a scripted DNS
//! server on loopback (`--resolver`) and scripted MX hosts on 127.0.0.2 and 127.0.0.3
//! sharing one port (`--mx-port`).

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use serde_json::json;

use super::dns_support::{Behaviour, DnsServer, Zone};
use super::mta::{Mta, same_port};
use super::*;

const EHLO: &str = "250-mx.test\r\n250 8BITMIME\r\n";

fn zone() -> Zone {
    Zone::new()
        .mx("pref.test", &[(20, "mx2.pref.test"), (10, "mx1.pref.test")])
        .a("mx1.pref.test", &["127.0.0.2"])
        .a("mx2.pref.test", &["127.0.0.3"])
        .mx("two.test", &[(10, "mx2.pref.test")])
        .mx("nullmx.test", &[(0, ".")])
        .set(
            "servfail.test",
            RecordType::MX,
            Behaviour::Rcode(ResponseCode::ServFail),
        )
}

/// The DNS server, and MX hosts on 127.0.0.2 (greeting `first`) and 127.0.0.3 (a 220).
struct World {
    dns: DnsServer,
    port: u16,
    mx1: Mta,
    mx2: Mta,
}

async fn world(first: &'static str) -> World {
    let dns = DnsServer::start(zone()).await;
    let (port, mut listeners) = same_port(&["127.0.0.2", "127.0.0.3"]).await;
    let l2 = listeners.pop().unwrap();
    let l1 = listeners.pop().unwrap();
    World {
        dns,
        port,
        mx1: Mta::serve(l1, first, EHLO),
        mx2: Mta::serve(l2, "220 mx2.pref.test ESMTP\r\n", EHLO),
    }
}

impl World {
    /// `send` in MX mode against this world, `--json`, followed by `extra`.
    async fn send(&self, extra: &[&str]) -> Run {
        let resolver = self.dns.addr.to_string();
        let port = self.port.to_string();
        let mut args = vec![
            "--resolver",
            &resolver,
            "--mx-port",
            &port,
            "--timeout",
            "5",
            "--json",
            "--from",
            "me@example.org",
        ];
        args.extend_from_slice(extra);
        send(&args).await
    }

    fn at(&self, ip: &str) -> String {
        format!("{ip}:{}", self.port)
    }

    fn contacted(&self) -> usize {
        self.mx1.connections().len() + self.mx2.connections().len()
    }
}

#[tokio::test]
async fn delivered_through_the_second_host_after_the_first_refuses() {
    let w = world("554 mx1.pref.test no service\r\n").await;
    let run = w
        .send(&["--to", "a@pref.test", "--to", "b@Pref.Test"])
        .await;
    assert_eq!(run.status, 0, "stdout {} stderr {}", run.stdout, run.stderr);
    let v = run.json();
    // The connection fields move into each transaction.
    assert_eq!(v["server"], Value::Null);
    assert_eq!(v["greeting"], Value::Null);
    assert_eq!(v["capabilities"], json!([]));
    assert_eq!(v["tls"], Value::Null);
    assert_eq!(v["auth"], Value::Null);
    assert_eq!(v["error"], Value::Null);
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "one domain: {v}");
    let tx = &txs[0];
    let keys: Vec<&str> = tx.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "domain",
        "host",
        "address",
        "attempts",
        "greeting",
        "capabilities",
        "tls",
    ] {
        assert!(keys.contains(&key), "{key} missing: {tx}");
    }
    assert_eq!(tx["domain"], "pref.test");
    assert_eq!(tx["host"], "mx2.pref.test");
    assert_eq!(tx["address"], w.at("127.0.0.3"));
    assert_eq!(
        tx["attempts"],
        json!([{
            "host": "mx1.pref.test",
            "address": w.at("127.0.0.2"),
            "error": {"kind": "reply", "permanent": true, "command": null, "code": 554,
                      "enhanced_code": null, "message": "mx1.pref.test no service"}
        }])
    );
    assert_eq!(
        tx["greeting"],
        json!({"code": 220, "message": "mx2.pref.test ESMTP"})
    );
    assert_eq!(tx["capabilities"], json!(["8BITMIME"]));
    // `--level may` by default, and this host offers no STARTTLS.
    assert_eq!(tx["tls"], Value::Null);
    let rcpts = recipients(tx);
    assert_eq!(rcpts.len(), 2);
    assert_eq!(rcpts[0]["address"], "a@pref.test");
    assert_eq!(rcpts[1]["address"], "b@Pref.Test");
    for r in rcpts {
        assert_eq!(r["status"], "delivered", "{r}");
        assert_eq!(r["command"], "DATA");
        assert_eq!(r["code"], 250);
    }
    assert_eq!(tx["data"]["message"], "queued as Q1");
    assert_eq!(tx["error"], Value::Null);

    // The first host got QUIT after its 554 greeting, and nothing else.
    assert_eq!(w.mx1.connections(), vec![vec!["QUIT".to_owned()]]);
    let conns = w.mx2.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0],
        [
            "EHLO localhost",
            "MAIL FROM:<me@example.org>",
            "RCPT TO:<a@pref.test>",
            "RCPT TO:<b@Pref.Test>",
            "DATA",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn null_mx_is_permanent_and_nothing_is_contacted() {
    let w = world("220 mx1.pref.test ESMTP\r\n").await;
    let run = w.send(&["--to", "b@nullmx.test"]).await;
    assert_eq!(run.status, 69, "stderr {}", run.stderr);
    let v = run.json();
    let msg = "nullmx.test: null MX (RFC 7505)";
    let dns_error = json!({"kind": "dns", "permanent": true, "command": null, "code": null,
                           "enhanced_code": null, "message": msg});
    assert_eq!(
        v["transactions"],
        json!([{
            "domain": "nullmx.test", "host": null, "address": null, "attempts": [],
            "greeting": null, "capabilities": [], "tls": null,
            "recipients": [{"address": "b@nullmx.test", "status": "permanent", "command": null,
                            "code": null, "enhanced_code": null, "message": msg}],
            "data": null,
            "error": dns_error
        }])
    );
    assert_eq!(v["error"], Value::Null);
    assert_eq!(w.contacted(), 0);
    assert!(!w.dns.asked("nullmx.test", RecordType::A));
    assert!(!w.dns.asked("nullmx.test", RecordType::AAAA));
}

#[tokio::test]
async fn nxdomain_is_permanent() {
    let w = world("220 mx1.pref.test ESMTP\r\n").await;
    let run = w.send(&["--to", "c@nowhere.test"]).await;
    assert_eq!(run.status, 69, "stderr {}", run.stderr);
    let v = run.json();
    let tx = &v["transactions"][0];
    assert_eq!(tx["domain"], "nowhere.test");
    assert_eq!(tx["host"], Value::Null);
    assert_eq!(tx["attempts"], json!([]));
    assert_eq!(tx["error"]["kind"], "dns");
    assert_eq!(tx["error"]["permanent"], true);
    assert_eq!(
        tx["error"]["message"],
        "nowhere.test: no such domain (NXDOMAIN)"
    );
    assert_eq!(recipients(tx)[0]["status"], "permanent");
    assert_eq!(w.contacted(), 0);
}

#[tokio::test]
async fn servfail_is_transient() {
    let w = world("220 mx1.pref.test ESMTP\r\n").await;
    let run = w.send(&["--to", "d@servfail.test"]).await;
    assert_eq!(run.status, 75, "stderr {}", run.stderr);
    let v = run.json();
    let tx = &v["transactions"][0];
    assert_eq!(tx["domain"], "servfail.test");
    assert_eq!(tx["error"]["kind"], "dns");
    assert_eq!(tx["error"]["permanent"], false);
    assert_eq!(
        tx["error"]["message"],
        "servfail.test: server failure (SERVFAIL)"
    );
    let r = &recipients(tx)[0];
    assert_eq!(r["status"], "transient");
    assert_eq!(r["command"], Value::Null);
    assert_eq!(r["code"], Value::Null);
    assert_eq!(w.contacted(), 0);
}

#[tokio::test]
async fn one_entry_per_domain_in_the_order_of_to() {
    let w = world("220 mx1.pref.test ESMTP\r\n").await;
    let run = w
        .send(&[
            "--to",
            "a@two.test",
            "--to",
            "b@nullmx.test",
            "--to",
            "c@TWO.test",
        ])
        .await;
    // One domain delivered, one permanent failure.
    assert_eq!(run.status, 69, "stderr {}", run.stderr);
    let v = run.json();
    let txs = v["transactions"].as_array().unwrap();
    let domains: Vec<&Value> = txs.iter().map(|t| &t["domain"]).collect();
    assert_eq!(domains, [&json!("two.test"), &json!("nullmx.test")]);
    let two: Vec<(&Value, &Value)> = recipients(&txs[0])
        .iter()
        .map(|r| (&r["address"], &r["status"]))
        .collect();
    assert_eq!(
        two,
        [
            (&json!("a@two.test"), &json!("delivered")),
            (&json!("c@TWO.test"), &json!("delivered"))
        ]
    );
    assert_eq!(txs[0]["host"], "mx2.pref.test");
    assert_eq!(txs[0]["attempts"], json!([]));
    assert_eq!(recipients(&txs[1])[0]["status"], "permanent");
    // two.test's recipients went in one transaction, in --to order.
    let conns = w.mx2.connections();
    assert_eq!(conns.len(), 1);
    let rcpts: Vec<&str> = conns[0]
        .iter()
        .filter(|l| l.starts_with("RCPT"))
        .map(String::as_str)
        .collect();
    assert_eq!(rcpts, ["RCPT TO:<a@two.test>", "RCPT TO:<c@TWO.test>"]);
    assert!(w.mx1.connections().is_empty());
}

#[tokio::test]
async fn usage_errors_in_mx_mode_send_nothing() {
    let w = world("220 mx1.pref.test ESMTP\r\n").await;
    // The baseline: MX mode delivers with these flags alone.
    let run = w.send(&["--to", "a@two.test"]).await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    assert_eq!(w.mx2.connections().len(), 1);
    let queries = w.dns.seen().len();

    let cases: &[(&[&str], &str)] = &[
        (&["--tls", "implicit"], "--tls implicit needs --server"),
        (&["--tls-name", "mx.test"], "--tls-name needs --server"),
        (
            &["--auth-user", "u", "--auth-pass", "p"],
            "--auth-user needs --server",
        ),
        (&["--auth-pass", "p"], "--auth-pass needs --server"),
        (&["--auth-mech", "PLAIN"], "--auth-mech needs --server"),
        (
            &["--allow-cleartext-auth"],
            "--allow-cleartext-auth needs --server",
        ),
        (&["--repeat", "2"], "--repeat needs --server"),
        (
            &["--to", "x@[127.0.0.3]"],
            "an address literal needs --server",
        ),
        (&["--to", "x@bad_label.test"], "no A-label form"),
    ];
    for (extra, want) in cases {
        let run = w.send(&[&["--to", "a@two.test"][..], extra].concat()).await;
        assert_eq!(run.status, 64, "{extra:?}: stdout {}", run.stdout);
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{extra:?}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{extra:?}: {msg}");
        assert_eq!(v["server"], Value::Null, "{extra:?}");
        assert_eq!(v["transactions"], json!([]), "{extra:?}");
    }
    // --resolver and --mx-port are MX mode's own.
    let sink = Sink::start().await.unwrap();
    for extra in [["--resolver", "127.0.0.1:53"], ["--mx-port", "2525"]] {
        let run = send_to(
            &sink,
            &[
                &["--from", "me@example.org", "--to", "a@example.net"][..],
                &extra,
            ]
            .concat(),
        )
        .await;
        assert_eq!(run.status, 64, "{extra:?}");
        let msg = run.json()["error"]["message"].as_str().unwrap().to_owned();
        assert_eq!(
            msg,
            format!("{} is for MX delivery: not with --server", extra[0])
        );
    }
    assert_eq!(sink.stats().connections, 0);
    assert_eq!(w.mx2.connections().len(), 1, "no usage error may connect");
    assert!(w.mx1.connections().is_empty());
    assert_eq!(w.dns.seen().len(), queries, "no usage error may ask DNS");
}

#[tokio::test]
async fn verbose_names_domain_host_and_address_before_each_connection() {
    let w = world("554 mx1.pref.test no service\r\n").await;
    let run = w.send(&["-v", "--to", "a@pref.test"]).await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    let first = format!(
        "* domain pref.test, host mx1.pref.test, address {}",
        w.at("127.0.0.2")
    );
    let second = format!(
        "* domain pref.test, host mx2.pref.test, address {}",
        w.at("127.0.0.3")
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = |want: &str| lines.iter().position(|l| *l == want);
    let (Some(a), Some(b)) = (at(&first), at(&second)) else {
        panic!("no connection lines in {:?}", run.stderr);
    };
    // Each line comes before its connection's transcript.
    assert_eq!(lines.get(a + 1), Some(&"S: 554 mx1.pref.test no service"));
    assert_eq!(lines.get(b + 1), Some(&"S: 220 mx2.pref.test ESMTP"));
    assert!(a < b);
}
