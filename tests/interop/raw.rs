//! Hand-written sessions over a plain `TcpStream` (no library code), to pin down what the
//! real servers do on their own, and Postfix hold-queue inspection (`postcat`,
//! `postsuper`) for the envelope a client sent: DSN parameters are in no log.

#![allow(dead_code)] // Each helper is used by some tests, not necessarily all of them.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::Env;

/// One reply: its code and each line's text after `NNN-` / `NNN `.
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The first line's text (after the code and separator).
    pub fn text(&self) -> &str {
        &self.lines[0]
    }

    /// The text of the EHLO/LHLO keyword lines (all lines after the first), upper-cased.
    pub fn keywords(&self) -> Vec<String> {
        self.lines[1..]
            .iter()
            .map(|l| l.to_ascii_uppercase())
            .collect()
    }

    /// `NNN text` of the first line, for assertions.
    pub fn first(&self) -> String {
        format!("{} {}", self.code, self.lines[0])
    }
}

/// A raw client session: bytes out as given, replies parsed just enough to assert on.
pub struct Raw {
    reader: BufReader<TcpStream>,
    what: String,
}

const WAIT: Duration = Duration::from_secs(15);

impl Raw {
    /// Connects and reads the greeting, which must be 220.
    pub async fn connect(host: &str, port: u16) -> Self {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tcp = TcpStream::connect(addr.as_str())
            .await
            .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let mut raw = Self {
            reader: BufReader::new(tcp),
            what: addr,
        };
        let greeting = raw.reply().await;
        assert_eq!(greeting.code, 220, "{}: greeting {greeting:?}", raw.what);
        raw
    }

    pub fn local_port(&self) -> u16 {
        self.reader
            .get_ref()
            .local_addr()
            .expect("local address")
            .port()
    }

    /// Writes `bytes` exactly as given.
    pub async fn send(&mut self, bytes: &[u8]) {
        let w = self.reader.get_mut();
        w.write_all(bytes).await.expect("write to the server");
        w.flush().await.expect("flush");
    }

    /// Reads one (possibly multiline) reply; panics on a malformed line, EOF or 15 s
    /// of silence.
    pub async fn reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut line))
                .await
                .unwrap_or_else(|_| {
                    panic!("{}: no reply within {WAIT:?} (so far {lines:?})", self.what)
                })
                .expect("read from the server");
            assert!(n > 0, "{}: connection closed (so far {lines:?})", self.what);
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let code: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("{}: not a reply line: {text:?}", self.what));
            let sep = text.as_bytes().get(3).copied();
            lines.push(text.get(4..).unwrap_or("").to_owned());
            if sep != Some(b'-') {
                return Reply { code, lines };
            }
        }
    }

    /// Sends `line` + CRLF and reads one reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends `line` + CRLF; the reply must start with `expected` (e.g. `"250 2.1.5"`).
    pub async fn expect(&mut self, line: &str, expected: &str) -> Reply {
        let r = self.cmd(line).await;
        assert_reply(&r, expected, line);
        r
    }

    /// Reads one reply, which must start with `expected`.
    pub async fn expect_reply(&mut self, expected: &str, what: &str) -> Reply {
        let r = self.reply().await;
        assert_reply(&r, expected, what);
        r
    }

    /// QUIT, expecting 221.
    pub async fn quit(mut self) {
        self.expect("QUIT", "221").await;
    }
}

#[track_caller]
pub fn assert_reply(r: &Reply, expected: &str, what: &str) {
    assert!(
        r.first().starts_with(expected),
        "{what}: expected a reply starting {expected:?}, got {r:?}"
    );
}

/// The queue id in Postfix's `250 2.0.0 Ok: queued as ID` (after DATA or BDAT LAST).
pub fn queue_id(r: &Reply) -> String {
    let text = r.text();
    let i = text
        .find("queued as ")
        .unwrap_or_else(|| panic!("no queue id in {r:?}"));
    text[i + "queued as ".len()..]
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no queue id in {r:?}"))
        .to_owned()
}

// ---- The Postfix hold queue (messages for SMTP_REAL_POSTFIX_HOLD_RCPT)

/// Postfix's `notify_flags` bits (its dsn_mask.h): RFC 3461 §4.1 NOTIFY.
pub const NOTIFY_NEVER: u32 = 1;
pub const NOTIFY_SUCCESS: u32 = 2;
pub const NOTIFY_FAILURE: u32 = 4;
pub const NOTIFY_DELAY: u32 = 8;
/// Postfix's `ret_flags`: RFC 3461 §4.3 RET.
pub const RET_FULL: u32 = 1;
pub const RET_HDRS: u32 = 2;

/// One recipient record of a queue file, with the DSN attributes that precede it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRcpt {
    pub address: String,
    /// `None` when the client sent no NOTIFY.
    pub notify_flags: Option<u32>,
    /// ORCPT as stored: `rfc822;` + the xtext-*decoded* address. Postfix synthesises
    /// `rfc822;<address>` when the client sent none.
    pub orcpt: Option<String>,
}

/// The envelope records of a queue file (`postcat -e`), parsed.
#[derive(Clone, Debug)]
pub struct HeldEnvelope {
    /// The whole `postcat -e` output, for failure messages and other attributes.
    pub text: String,
    /// Which queue it is in (`hold` for the hold recipient).
    pub queue: String,
    pub sender: String,
    /// ENVID (RFC 3461 §4.4), xtext-decoded.
    pub envelope_id: Option<String>,
    pub ret_flags: Option<u32>,
    /// From BODY=: `8bit` or `7bit`; `None` without BODY.
    pub encoding: Option<String>,
    /// The SMTPUTF8 flag (6th field of `message_size`): 0 without SMTPUTF8.
    pub smtputf8: u32,
    pub recipients: Vec<HeldRcpt>,
}

impl HeldEnvelope {
    fn parse(text: String) -> Self {
        let mut env = Self {
            queue: String::new(),
            sender: String::new(),
            envelope_id: None,
            ret_flags: None,
            encoding: None,
            smtputf8: 0,
            recipients: Vec::new(),
            text: String::new(),
        };
        let (mut notify, mut orcpt) = (None, None);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("*** ENVELOPE RECORDS ") {
                env.queue = rest.split('/').next().unwrap_or("").to_owned();
            } else if let Some(v) = line.strip_prefix("message_size:") {
                env.smtputf8 = v
                    .split_whitespace()
                    .nth(5)
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("sender: ") {
                env.sender = v.to_owned();
            } else if let Some(attr) = line.strip_prefix("named_attribute: ") {
                let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
                match name {
                    "envelope_id" => env.envelope_id = Some(value.to_owned()),
                    "ret_flags" => env.ret_flags = value.parse().ok(),
                    "encoding" => env.encoding = Some(value.to_owned()),
                    "notify_flags" => notify = value.parse().ok(),
                    "dsn_orig_rcpt" => orcpt = Some(value.to_owned()),
                    _ => {}
                }
            } else if let Some(v) = line.strip_prefix("recipient: ") {
                env.recipients.push(HeldRcpt {
                    address: v.to_owned(),
                    notify_flags: notify.take(),
                    orcpt: orcpt.take(),
                });
            }
        }
        env.text = text;
        env
    }
}

fn postfix_tool(env: &Env, tool: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(format!("/usr/sbin/{tool}"))
        .arg("-c")
        .arg(&env.postfix_config_dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e} (the interop suite runs as root)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The envelope of queued message `id` (`postcat -e -q ID`), waiting up to 10 s for it
/// to reach the hold queue. Postfix answers after cleanup wrote the file, so normally at once.
pub async fn postfix_held_envelope(env: &Env, id: &str) -> HeldEnvelope {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out, err) = postfix_tool(env, "postcat", &["-e", "-q", id]);
        if ok && out.contains("*** ENVELOPE RECORDS hold/") {
            return HeldEnvelope::parse(out);
        }
        assert!(
            Instant::now() < deadline,
            "queue file {id} not in the hold queue within 10 s: {out}{err}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Deletes held message `id` (`postsuper -d ID hold`), so the hold queue stays small.
pub fn postfix_delete_held(env: &Env, id: &str) {
    let (ok, out, err) = postfix_tool(env, "postsuper", &["-d", id, "hold"]);
    assert!(
        ok && err.contains("Deleted: 1 message"),
        "postsuper -d {id} hold: {out}{err}"
    );
}
