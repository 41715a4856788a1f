//! The client child process (`peers client ...` and `peers idle ...`): one cell of the
//! table in a fresh process, so that its peak RSS and CPU time are its own and the sink's
//! (another process) are not counted.
//!
//! A cell: connect `--conns` sessions, send one warm-up message on each, then send
//! `--messages` messages split across the sessions, all of them concurrently on one
//! current-thread tokio runtime, until done or `--seconds` have passed. Only that part is
//! timed; CPU time is `getrusage(RUSAGE_SELF)` (user + system, every thread of the
//! process) over the same span. Prints one `RESULT` line.
//!
//! Idle: connect one session (warms up lazily built state), read RSS, connect `--conns`
//! more and hold them after EHLO, read RSS again. Prints one `IDLE` line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::peers::{Kind, Session, Trust};
use crate::{msg, sys};

struct Cell {
    kind: Kind,
    port: u16,
    trust: Option<Trust>,
    rcpts: Vec<String>,
    body: Vec<u8>,
    conns: usize,
    messages: usize,
    cap: Duration,
}

fn cell(args: &HashMap<String, String>) -> Result<Cell, String> {
    let kind = args.get("peer").map(String::as_str).unwrap_or_default();
    let kind = Kind::from_name(kind).ok_or_else(|| format!("unknown --peer {kind:?}"))?;
    let trust = match args.get("cert") {
        Some(dir) => {
            let pem = std::fs::read(std::path::Path::new(dir).join("cert.pem"))
                .map_err(|e| format!("{dir}/cert.pem: {e}"))?;
            Some(Trust::new(&pem)?)
        }
        None => None,
    };
    Ok(Cell {
        kind,
        port: msg::get(args, "port", 0)?,
        trust,
        rcpts: msg::recipients(msg::get(args, "rcpts", 1)?),
        body: msg::message(msg::get(args, "size", 1024)?),
        conns: msg::get(args, "conns", 1)?,
        messages: msg::get(args, "messages", 100)?,
        cap: Duration::from_secs_f64(msg::get(args, "seconds", 10.0)?),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

async fn connect(c: &Cell) -> Result<Session, String> {
    Session::connect(c.kind, c.port, c.trust.as_ref(), &c.rcpts, &c.body).await
}

pub(crate) fn main(args: &HashMap<String, String>) -> Result<(), String> {
    let c = cell(args)?;
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mut sessions = Vec::new();
        for i in 0..c.conns {
            let mut s = connect(&c).await.map_err(|e| format!("connect {i}: {e}"))?;
            let far = Instant::now() + Duration::from_secs(3600);
            s.send(&c.rcpts, &c.body, 1, far)
                .await
                .map_err(|e| format!("warm-up {i}: {e}"))?;
            sessions.push(s);
        }
        let before = sys::usage();
        let start = Instant::now();
        let deadline = start + c.cap;
        let mut tasks = Vec::new();
        for (i, mut s) in sessions.into_iter().enumerate() {
            // The first `messages % conns` sessions send one more.
            let share = c.messages / c.conns + usize::from(i < c.messages % c.conns);
            let (rcpts, body) = (c.rcpts.clone(), c.body.clone());
            tasks.push(tokio::task::spawn_local(async move {
                let sent = s.send(&rcpts, &body, share, deadline).await;
                (s, sent)
            }));
        }
        let mut sent = 0;
        let mut done = Vec::new();
        for t in tasks {
            let (s, n) = t.await.map_err(|e| e.to_string())?;
            sent += n?;
            done.push(s);
        }
        let elapsed = start.elapsed();
        let after = sys::usage();
        for s in done {
            s.quit().await.map_err(|e| format!("quit: {e}"))?;
        }
        println!(
            "RESULT sent={sent} warm={} elapsed_ns={} cpu_ns={} maxrss_kib={}",
            c.conns,
            elapsed.as_nanos(),
            (after.cpu.saturating_sub(before.cpu)).as_nanos(),
            sys::usage().max_rss_kib,
        );
        Ok(())
    })
}

pub(crate) fn idle(args: &HashMap<String, String>) -> Result<(), String> {
    let c = cell(args)?;
    sys::raise_nofile();
    let rt = runtime()?;
    rt.block_on(async {
        let first = connect(&c).await?;
        let before = sys::rss_bytes();
        let mut held = Vec::with_capacity(c.conns);
        for i in 0..c.conns {
            held.push(connect(&c).await.map_err(|e| format!("idle {i}: {e}"))?);
        }
        let after = sys::rss_bytes();
        println!(
            "IDLE n={} rss_delta_bytes={}",
            c.conns,
            after.saturating_sub(before)
        );
        // Not QUIT: closing is not measured, and the sink only counts connections here.
        drop((first, held));
        Ok(())
    })
}
