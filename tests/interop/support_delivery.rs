//! Connections the delivery tests open, and Postfix's record of queued mail. A child of
//! `support`, re-exported from it.

#![allow(dead_code)] // Each helper is used by some tests, not necessarily all of them.

use super::*;

/// One connection a [`Recording`] connector opened (or failed to open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// `host:port` as the library asked for it.
    pub target: String,
    /// The client's local port, when the connection was made: finds the session in
    /// the Postfix log (`postfix_disconnect_stats`).
    pub local_port: Option<u16>,
}

/// A TCP connector that records every connection it is asked for, so a test sees which
/// addresses the delivery code dialled (or that it dialled none) and each session's
/// local port.
#[derive(Clone, Default)]
pub struct Recording {
    tcp: smtp_courier::connect::TcpConnector,
    log: Arc<Mutex<Vec<Opened>>>,
}

impl Recording {
    /// Every connection so far, in order.
    pub fn opened(&self) -> Vec<Opened> {
        self.log.lock().unwrap().clone()
    }
}

impl smtp_courier::connect::Connector for Recording {
    type Stream = TcpStream;

    fn connect<'a>(
        &'a self,
        target: &'a smtp_courier::connect::Target,
    ) -> smtp_courier::connect::ConnectFuture<'a, TcpStream> {
        Box::pin(async move {
            let result = self.tcp.connect(target).await;
            let local_port = result
                .as_ref()
                .ok()
                .and_then(|s| s.local_addr().ok())
                .map(|a| a.port());
            self.log.lock().unwrap().push(Opened {
                target: target.to_string(),
                local_port,
            });
            result
        })
    }
}

/// Waits (up to 10 s) for Postfix's `QUEUEID: client=unknown[HOST]:PORT...` line of the
/// message queued as `queue_id` and returns the client port and the rest of the line
/// after `client=` (with `sasl_method=…, sasl_username=…` for submission).
pub async fn postfix_queued_client(env: &Env, queue_id: &str) -> (u16, String) {
    let needle = format!(" {queue_id}: client=");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&env.postfix_log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(&needle)) {
            let rest = &line[line.find(&needle).unwrap() + needle.len()..];
            let port = rest
                .split(']')
                .nth(1)
                .and_then(|p| p.strip_prefix(':'))
                .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no client port in {line:?}"));
            return (port, rest.to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "no `{needle}` in {} within 10 s",
            env.postfix_log.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The queue id in a Postfix reply `250 2.0.0 Ok: [N bytes ]queued as ID`.
pub fn queued_as(reply: &smtp_courier::proto::Reply) -> String {
    let text = reply.message();
    text.split("queued as ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no queue id in {text:?}"))
        .to_owned()
}

/// Exactly one stored copy of each message, by token, in `tokens` order: waits (up to
/// 10 s) until all have arrived, then once (300 ms) for duplicates, where
/// [`postfix_one`] per message would wait that long for each.
pub async fn postfix_each_once(env: &Env, tokens: &[&str]) -> Vec<Vec<u8>> {
    let dir = env.postfix_maildir.join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let missing: Vec<&&str> = tokens
            .iter()
            .filter(|t| files_with(&dir, t, "").is_empty())
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing:?} not in {} within 10 s (log: {})",
            dir.display(),
            env.postfix_log.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokens
        .iter()
        .map(|t| {
            let mut copies = files_with(&dir, t, "");
            assert_eq!(copies.len(), 1, "expected exactly one copy of {t}");
            copies.remove(0).1
        })
        .collect()
}
