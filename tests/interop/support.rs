//! Helpers for the interop suite: the servers' environment (written by
//! `tests/interop/start.sh` into `env.sh`, exported by `tests/interop/run.sh`), unique
//! message tokens, reading what the servers stored, a stream that records write
//! boundaries, and Postfix log lookups.

#![allow(dead_code)] // Each helper is used by some tests, not necessarily all of them.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_courier::proto::{CommandKind, Direction, Timeouts};
use smtp_courier::{Client, ClientConfig, RecipientStatus, TransactionReport, connect_tcp};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[path = "support_delivery.rs"]
mod delivery;
pub use delivery::*;

/// Where the servers are, as exported by `tests/interop/run.sh`.
#[derive(Clone, Debug)]
pub struct Env {
    pub state_dir: PathBuf,
    pub host: String,
    /// Empty when start.sh found no IPv6 loopback.
    pub host6: String,
    pub domain: String,
    pub reject_rcpt: String,
    pub defer_rcpt: String,
    pub size_limit: u64,
    pub postfix_port: u16,
    pub postfix_maildir: PathBuf,
    pub postfix_log: PathBuf,
    pub postfix_config_dir: PathBuf,
    pub aiosmtpd_port: u16,
    pub aiosmtpd_maildir: PathBuf,
    pub sink_port: u16,
    // For the TLS and AUTH tests (ports 2587/2465, STARTTLS on 2525/2526).
    pub submission_port: u16,
    pub submissions_port: u16,
    pub ca_file: PathBuf,
    pub tls_server_name: String,
    pub user: String,
    pub password: String,
    // Postfix extras for BDAT/DSN/limits: the hold recipient (all ports) and the port
    // with `smtpd_recipient_limit` (see README "What runs").
    pub postfix_hold_rcpt: String,
    pub postfix_limits_port: u16,
    pub postfix_rcpt_limit: usize,
    // Dovecot LMTP (RFC 2033).
    pub lmtp_port: u16,
    /// Delivered: 250 at RCPT and after the data.
    pub lmtp_rcpt1: String,
    pub lmtp_rcpt2: String,
    /// Over quota: 250 at RCPT, `552 5.2.2` after the data.
    pub lmtp_full_rcpt: String,
    /// Over quota, temporary: 250 at RCPT, `452 4.2.2` after the data.
    pub lmtp_tempfull_rcpt: String,
    /// No such user: `550 5.1.1` at RCPT.
    pub lmtp_unknown_rcpt: String,
    /// Each user's maildir is `<base>/<local part>/Maildir`.
    pub lmtp_maildir_base: PathBuf,
    pub lmtp_log: PathBuf,
}

const HOW: &str = "the interop tests need the real servers: run `bash tests/interop/run.sh` \
                   (or start tests/interop/start.sh and source /tmp/smtpc-interop/env.sh)";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) => v,
        Err(_) => panic!("environment variable {name} is not set: {HOW}"),
    }
}

fn num<T: std::str::FromStr>(name: &str) -> T {
    let v = var(name);
    v.parse()
        .unwrap_or_else(|_| panic!("environment variable {name}={v:?} is not a number: {HOW}"))
}

impl Env {
    /// Reads the environment; panics (never skips) when it is missing.
    pub fn get() -> Self {
        let env = Self {
            state_dir: var("SMTP_REAL_STATE_DIR").into(),
            host: var("SMTP_REAL_HOST"),
            host6: var("SMTP_REAL_HOST6"),
            domain: var("SMTP_REAL_DOMAIN"),
            reject_rcpt: var("SMTP_REAL_REJECT_RCPT"),
            defer_rcpt: var("SMTP_REAL_DEFER_RCPT"),
            size_limit: num("SMTP_REAL_MESSAGE_SIZE_LIMIT"),
            postfix_port: num("SMTP_REAL_POSTFIX_SMTP_PORT"),
            postfix_maildir: var("SMTP_REAL_POSTFIX_MAILDIR").into(),
            postfix_log: var("SMTP_REAL_POSTFIX_LOG").into(),
            postfix_config_dir: var("SMTP_REAL_POSTFIX_CONFIG_DIR").into(),
            aiosmtpd_port: num("SMTP_REAL_AIOSMTPD_PORT"),
            aiosmtpd_maildir: var("SMTP_REAL_AIOSMTPD_MAILDIR").into(),
            sink_port: num("SMTP_REAL_SINK_PORT"),
            submission_port: num("SMTP_REAL_POSTFIX_SUBMISSION_PORT"),
            submissions_port: num("SMTP_REAL_POSTFIX_SUBMISSIONS_PORT"),
            ca_file: var("SMTP_REAL_CA_FILE").into(),
            tls_server_name: var("SMTP_REAL_TLS_SERVER_NAME"),
            user: var("SMTP_REAL_USER"),
            password: var("SMTP_REAL_PASSWORD"),
            postfix_hold_rcpt: var("SMTP_REAL_POSTFIX_HOLD_RCPT"),
            postfix_limits_port: num("SMTP_REAL_POSTFIX_LIMITS_PORT"),
            postfix_rcpt_limit: num("SMTP_REAL_POSTFIX_RCPT_LIMIT"),
            lmtp_port: num("SMTP_REAL_LMTP_PORT"),
            lmtp_rcpt1: var("SMTP_REAL_LMTP_RCPT1"),
            lmtp_rcpt2: var("SMTP_REAL_LMTP_RCPT2"),
            lmtp_full_rcpt: var("SMTP_REAL_LMTP_FULL_RCPT"),
            lmtp_tempfull_rcpt: var("SMTP_REAL_LMTP_TEMPFULL_RCPT"),
            lmtp_unknown_rcpt: var("SMTP_REAL_LMTP_UNKNOWN_RCPT"),
            lmtp_maildir_base: var("SMTP_REAL_LMTP_MAILDIR_BASE").into(),
            lmtp_log: var("SMTP_REAL_LMTP_LOG").into(),
        };
        assert!(
            env.state_dir.join("env.sh").is_file(),
            "{}/env.sh is missing: {HOW}",
            env.state_dir.display()
        );
        env
    }

    /// An address at the test domain that Postfix accepts and delivers.
    pub fn ok_rcpt(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    /// The maildir (with `new/`, `cur/`, `tmp/`) of an LMTP user, by address.
    pub fn lmtp_maildir(&self, rcpt: &str) -> PathBuf {
        let local = rcpt.split('@').next().unwrap_or(rcpt);
        self.lmtp_maildir_base.join(local).join("Maildir")
    }
}

/// A token unique to this test run and call: it goes into Message-ID and Subject so the
/// test finds its own message among everything the servers stored.
pub fn token(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{label}.{}.{nanos}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A message with CRLF headers naming `token`, then `body` as given (not normalised).
pub fn message(token: &str, to: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "Message-ID: <{token}@client.test.example>\r\n\
         Date: Sat, 21 Nov 2026 12:00:00 +0000\r\n\
         From: <sender@test.example>\r\n\
         To: <{to}>\r\n\
         Subject: interop {token}\r\n\
         \r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// What a correct client puts on the wire for `data` (before dot-stuffing): every CRLF,
/// bare CR and bare LF becomes CRLF, and a missing final CRLF is added. Written
/// independently of the library's encoder.
pub fn crlf_normalised(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut i = 0;
    while i < data.len() {
        match (data[i], data.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            (b'\r' | b'\n', _) => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// CRLF to LF, as Postfix's maildir delivery stores messages.
pub fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// Client settings for the suite: a recognisable EHLO name and short deadlines, so a
/// hang fails the test instead of stalling the run.
pub fn config() -> ClientConfig {
    ClientConfig::new("client.test.example")
        .expect("valid EHLO name")
        .timeouts(Timeouts::all(Duration::from_secs(30)))
}

/// Connects to `host:port` and opens the session (greeting + EHLO).
pub async fn connect(host: &str, port: u16) -> Client<TcpStream> {
    let addr = format!("{}:{port}", bracket(host));
    let tcp = connect_tcp(addr.as_str(), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
    Client::open(tcp, config())
        .await
        .unwrap_or_else(|e| panic!("connect/EHLO to {addr} failed: {e}"))
}

/// Connects through a [`Recorder`] (to see write boundaries and bytes on the wire).
pub async fn connect_recorded(
    host: &str,
    port: u16,
    config: ClientConfig,
) -> (Client<Recorder>, Writes) {
    let addr = format!("{}:{port}", bracket(host));
    let tcp = TcpStream::connect(addr.as_str())
        .await
        .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let (rec, writes) = Recorder::new(tcp);
    let client = Client::open(rec, config)
        .await
        .unwrap_or_else(|e| panic!("greeting/EHLO at {addr} failed: {e}"));
    (client, writes)
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The bytes of each `poll_write` call that wrote something, in order.
pub type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

/// A TCP stream that records the boundaries of the client's writes: with PIPELINING,
/// MAIL, RCPT and DATA must leave in one write.
pub struct Recorder {
    inner: TcpStream,
    writes: Writes,
}

impl Recorder {
    pub fn new(inner: TcpStream) -> (Self, Writes) {
        let writes = Writes::default();
        (
            Self {
                inner,
                writes: writes.clone(),
            },
            writes,
        )
    }

    pub fn local_port(&self) -> u16 {
        self.inner.local_addr().expect("local address").port()
    }
}

impl AsyncRead for Recorder {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &res
            && *n > 0
        {
            self.writes.lock().unwrap().push(buf[..*n].to_vec());
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Everything written so far, as one byte string.
pub fn wire(writes: &Writes) -> Vec<u8> {
    writes.lock().unwrap().concat()
}

/// The writes so far, each as text (lossy), for assertions and failure messages.
pub fn write_texts(writes: &Writes) -> Vec<String> {
    writes
        .lock()
        .unwrap()
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// The message data a client wrote: from the write after `DATA\r\n` up to and including
/// the terminating `\r\n.\r\n`. Panics if there is no terminated data section.
pub fn data_section(wire: &[u8]) -> &[u8] {
    let start = find(wire, b"DATA\r\n").expect("no DATA command on the wire") + 6;
    let rest = &wire[start..];
    let end = find(rest, b"\r\n.\r\n").expect("no end-of-data on the wire") + 5;
    &rest[..end]
}

/// Asserts that `data` has no CR without LF and no LF without CR: what SMTP smuggling
/// (bare `\n.\n`, `\r.\r`) would need.
pub fn assert_no_bare_line_endings(data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(
                data.get(i + 1),
                Some(&b'\n'),
                "bare CR on the wire at octet {i}"
            ),
            b'\n' => assert!(
                i > 0 && data[i - 1] == b'\r',
                "bare LF on the wire at octet {i}"
            ),
            _ => {}
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Every file in `dir` whose contents include `token`.
fn files_with(dir: &Path, token: &str, suffix: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(suffix) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path)
            && find(&bytes, token.as_bytes()).is_some()
        {
            found.push((path, bytes));
        }
    }
    found.sort();
    found
}

/// Waits (up to 10 s) until Postfix has delivered `n` copies of the message carrying
/// `token`, then a little longer to catch any extra copy; returns every copy found.
pub async fn postfix_copies(env: &Env, token: &str, n: usize) -> Vec<Vec<u8>> {
    let dir = env.postfix_maildir.join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = files_with(&dir, token, "");
        if found.len() >= n {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "only {} of {n} copies of {token} arrived in {} within 10 s (log: {})",
                found.len(),
                dir.display(),
                env.postfix_log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A duplicate would come from the same queue run; give it a moment to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    files_with(&dir, token, "")
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// Exactly one copy of the message with `token` in the Postfix maildir.
pub async fn postfix_one(env: &Env, token: &str) -> Vec<u8> {
    let mut copies = postfix_copies(env, token, 1).await;
    assert_eq!(
        copies.len(),
        1,
        "expected exactly one copy of {token} in the Postfix maildir"
    );
    copies.remove(0)
}

/// How many stored Postfix messages mention `token` right now (no waiting).
pub fn postfix_count_now(env: &Env, token: &str) -> usize {
    files_with(&env.postfix_maildir.join("new"), token, "").len()
}

/// Waits (up to 10 s) until the LMTP user `rcpt` has `n` messages carrying `token`,
/// then a little longer to catch an extra copy; returns every copy found. Dovecot saves
/// before it answers 250, so the wait is normally zero.
pub async fn lmtp_copies(env: &Env, rcpt: &str, token: &str, n: usize) -> Vec<Vec<u8>> {
    let dir = env.lmtp_maildir(rcpt).join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_with(&dir, token, "").len() < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} copies of {token} in {} within 10 s (log: {})",
            dir.display(),
            env.lmtp_log.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    files_with(&dir, token, "")
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// Exactly one copy of the message with `token` in the LMTP user's maildir.
pub async fn lmtp_one(env: &Env, rcpt: &str, token: &str) -> Vec<u8> {
    let mut copies = lmtp_copies(env, rcpt, token, 1).await;
    assert_eq!(copies.len(), 1, "expected one copy of {token} for {rcpt}");
    copies.remove(0)
}

/// How many messages of the LMTP user `rcpt` mention `token` right now (no waiting).
pub fn lmtp_count_now(env: &Env, rcpt: &str, token: &str) -> usize {
    files_with(&env.lmtp_maildir(rcpt).join("new"), token, "").len()
}

/// A Postfix maildir file split into the headers Postfix prepended at delivery
/// (Return-Path, X-Original-To, Delivered-To, Received, each with its continuation
/// lines) and the message as received. Works for Dovecot's LMTP copies too (it prepends
/// Return-Path and Received).
pub fn split_postfix_headers(stored: &[u8]) -> (String, &[u8]) {
    const ADDED: [&str; 4] = [
        "Return-Path:",
        "X-Original-To:",
        "Delivered-To:",
        "Received:",
    ];
    let mut pos = 0;
    let mut in_added = false;
    while pos < stored.len() {
        let end = stored[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(stored.len(), |i| pos + i + 1);
        let line = &stored[pos..end];
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        let added = ADDED
            .iter()
            .any(|h| line.len() >= h.len() && line[..h.len()].eq_ignore_ascii_case(h.as_bytes()));
        if added || (continuation && in_added) {
            in_added = true;
            pos = end;
        } else {
            break;
        }
    }
    (
        String::from_utf8_lossy(&stored[..pos]).into_owned(),
        &stored[pos..],
    )
}

/// Waits (up to 10 s) for aiosmtpd's `.json` of the message carrying `token` and returns
/// the `.eml` bytes and the envelope metadata. Panics unless exactly one message matches.
pub async fn aiosmtpd_one(env: &Env, token: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = &env.aiosmtpd_maildir;
    let deadline = Instant::now() + Duration::from_secs(10);
    let emls = loop {
        let emls = files_with(dir, token, ".eml");
        // The .json is renamed into place after the .eml: wait for it too.
        if !emls.is_empty() && emls.iter().all(|(p, _)| p.with_extension("json").is_file()) {
            break emls;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {token} stored by aiosmtpd in {} within 10 s",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        emls.len(),
        1,
        "expected exactly one aiosmtpd message with {token}"
    );
    let (path, eml) = emls.into_iter().next().unwrap();
    let json = std::fs::read(path.with_extension("json")).expect("aiosmtpd .json");
    (
        eml,
        serde_json::from_slice(&json).expect("aiosmtpd .json is JSON"),
    )
}

/// How many aiosmtpd messages mention `token` right now (no waiting).
pub fn aiosmtpd_count_now(env: &Env, token: &str) -> usize {
    files_with(&env.aiosmtpd_maildir, token, ".eml").len()
}

/// Waits (up to 10 s) for the Postfix smtpd log line `disconnect from unknown[HOST]:PORT ...`
/// of the session from client port `port`, and returns its command counters
/// (`ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5`).
///
/// Client ports are reused over a run, so only the disconnect after the latest
/// `connect from` for that port counts: that connect is this session's, logged when
/// Postfix accepted it.
pub async fn postfix_disconnect_stats(env: &Env, host: &str, port: u16) -> String {
    let needle = format!("disconnect from unknown[{host}]:{port} ");
    let connect = format!("connect from unknown[{host}]:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&env.postfix_log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| l.contains(&connect) && !l.contains("disconnect"))
            .unwrap_or(0);
        if let Some(line) = lines[start..].iter().find(|l| l.contains(&needle)) {
            let i = line.find(&needle).unwrap() + needle.len();
            return line[i..].trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no `{needle}` in {} within 10 s",
            env.postfix_log.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The Postfix log lines of the smtpd session from client port `port`, by its process
/// id (smtpd logs `postfix/smtpd[PID]: connect from unknown[HOST]:PORT`).
pub fn postfix_session_log(env: &Env, host: &str, port: u16) -> Vec<String> {
    let log = std::fs::read_to_string(&env.postfix_log).unwrap_or_default();
    let needle = format!("connect from unknown[{host}]:{port}");
    // The latest session from that port: client ports are reused over a run.
    let Some(start) = log
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.contains(&needle) && !l.contains("disconnect"))
    else {
        return Vec::new();
    };
    let first = log.lines().nth(start).unwrap();
    let tag = first
        .split_whitespace()
        .find(|w| w.starts_with("postfix/") && w.ends_with("]:"))
        .unwrap_or("")
        .to_owned();
    let done = format!("disconnect from unknown[{host}]:{port}");
    let mut out = Vec::new();
    for l in log.lines().skip(start) {
        if l.contains(&tag) {
            out.push(l.to_owned());
            if l.contains(&done) {
                break;
            }
        }
    }
    out
}

/// `assert_eq!` for byte strings that prints them as escaped text, with the offset of
/// the first difference, instead of two arrays of numbers.
#[track_caller]
pub fn assert_bytes_eq(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    let show = |b: &[u8]| {
        let from = at.saturating_sub(80);
        let to = (at + 80).min(b.len());
        format!("…{}…", b[from..to].escape_ascii())
    };
    panic!(
        "{what}: bytes differ at octet {at} (actual {} octets, expected {})\n  actual:   {}\n  expected: {}",
        actual.len(),
        expected.len(),
        show(actual),
        show(expected)
    );
}

// ---- Test messages and report assertions shared by the server modules

/// A body with every dot case of RFC 5321 §4.5.2 and a 990-octet line.
pub fn dots_and_long_line(token: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"first line\r\n");
    b.extend_from_slice(b".leading dot\r\n");
    b.extend_from_slice(b"..two leading dots\r\n");
    b.extend_from_slice(b".\r\n"); // a lone dot: the terminator, unless stuffed
    b.extend_from_slice(b". dot space\r\n");
    b.extend_from_slice(b"middle . dot\r\n");
    b.extend_from_slice(b"\r\n.\r\n\r\n");
    let long: Vec<u8> = (0..990).map(|i| b"0123456789abcdefghij"[i % 20]).collect();
    b.extend_from_slice(&long);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(format!("last line {token}\r\n.").as_bytes()); // ends in a dot, no CRLF
    b
}

/// A body with 8-bit content: UTF-8 text and octets that are not UTF-8.
pub fn eight_bit(token: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice("Grüße aus Köln, 日本語, emoji 📬\r\n".as_bytes());
    b.extend_from_slice(b"latin-1 caf\xe9 \xa9 \xff\xfe\x80\r\n");
    b.extend_from_slice(format!("end {token}\r\n").as_bytes());
    b
}

/// The smuggling sequences (CVE-2023-51764/5/6): bare `\n.\n`, `\r.\r`, `\n.\r\n`,
/// `\r\n.\n`, `\r\n.\r`, plus bare LF lines. Each must arrive as content with CRLF line
/// endings and never end the data early; the text after each must arrive too.
pub fn smuggling(token: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"unix line\nanother unix line\n");
    b.extend_from_slice(b"before LF.LF\n.\nafter LF.LF\r\n");
    b.extend_from_slice(b"before CR.CR\r.\rafter CR.CR\r\n");
    b.extend_from_slice(b"before LF.CRLF\n.\r\nafter LF.CRLF\r\n");
    b.extend_from_slice(b"before CRLF.LF\r\n.\nafter CRLF.LF\r\n");
    b.extend_from_slice(b"before CRLF.CR\r\n.\rafter CRLF.CR\r\n");
    b.extend_from_slice(b"MAIL FROM:<smuggled@test.example>\n");
    b.extend_from_slice(format!("last line {token}").as_bytes()); // no final line ending
    b
}

pub fn rcpt_status(report: &TransactionReport) -> Vec<RecipientStatus> {
    report.recipients.iter().map(|r| r.status()).collect()
}

/// Asserts the recipient was refused at RCPT with this code and enhanced code.
pub fn assert_refused(
    report: &TransactionReport,
    i: usize,
    code: u16,
    enhanced: &str,
    status: RecipientStatus,
) {
    let r = &report.recipients[i];
    assert_eq!(r.status(), status, "{}: {:?}", r.address, r.result);
    assert_eq!(
        r.command(),
        Some(CommandKind::Rcpt),
        "{}: {:?}",
        r.address,
        r.result
    );
    let reply = r
        .reply()
        .unwrap_or_else(|| panic!("{}: no reply: {:?}", r.address, r.result));
    assert_eq!(reply.code().as_u16(), code, "{}: {:?}", r.address, r.result);
    assert_eq!(
        reply.enhanced_code().map(|c| c.to_string()).as_deref(),
        Some(enhanced),
        "{}: {:?}",
        r.address,
        r.result
    );
}

pub fn assert_delivered(report: &TransactionReport) {
    assert!(report.all_delivered(), "not all delivered: {report:#?}");
    assert!(report.error.is_none(), "{report:#?}");
    let data = report.data.as_ref().expect("a reply to the data");
    assert_eq!(data.code().as_u16(), 250, "{report:#?}");
}

/// Postfix's stored copy, split into its added headers and the message as received.
pub async fn postfix_stored(env: &Env, token: &str) -> (String, Vec<u8>) {
    let stored = postfix_one(env, token).await;
    let (added, message) = split_postfix_headers(&stored);
    (added, message.to_vec())
}

/// A message of just over `limit` octets: many 1000-octet lines.
pub fn oversized(token: &str, to: &str, limit: u64) -> Vec<u8> {
    let mut m = message(token, to, b"");
    let line = [b"x".repeat(998), b"\r\n".to_vec()].concat();
    while (m.len() as u64) <= limit + 10_000 {
        m.extend_from_slice(&line);
    }
    m
}

/// The writes of a session, as text, and the index of the one that starts with MAIL.
pub fn mail_write(writes: &Writes) -> (Vec<String>, usize) {
    let texts = write_texts(writes);
    let i = texts
        .iter()
        .position(|w| w.starts_with("MAIL FROM:"))
        .unwrap_or_else(|| panic!("no write starts with MAIL: {texts:?}"));
    (texts, i)
}

/// Collects the server's side of the transcript.
pub fn server_lines() -> (smtp_courier::ClientConfig, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let config = config().transcript(move |dir, line| {
        if dir == Direction::Server {
            l.lock().unwrap().push(line.to_owned());
        }
    });
    (config, lines)
}
