//! Loopback benchmark of smtp-courier against lettre, mail-send and a hand-written
//! pipelined-BDAT floor client, every one sending the same messages to the same sink.
//! See README.md beside this file and BENCHMARKS.md at the repository root.
//!
//! ```sh
//! cd benches/peers && cargo run --release -- [--quick] [--filter TERM,TERM] [flags]
//! ```
//!
//! This process only orchestrates: for every cell it starts a sink child (`peers sink`)
//! and a client child (`peers client` / `peers idle`), both pinned to one core, checks the
//! sink's count against the client's, and prints the tables when all cells have run.

mod client;
mod floor;
mod msg;
mod peers;
mod report;
mod sink;
mod sys;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use peers::Kind;
use report::{Group, Measured, Outcome};

const USAGE: &str = "usage: peers [--quick] [--filter TERM,TERM..] [--sections tput,rtt,idle]
  [--messages N] [--seconds S] [--runs R] [--rtt-ms MS] [--rtt-messages N] [--idle N]
  [--cpu C] [--sink-cpu C] [--no-pin]
A cell runs when its label (e.g. tput/lettre/100KiB/10rcpt/8conn/tls, rtt/floor/1KiB/1rcpt,
idle/mail-send/plain) contains every TERM; the floor row of a selected group always runs.";

struct Opts {
    messages: usize,
    seconds: f64,
    runs: usize,
    rtt: Duration,
    rtt_messages: usize,
    idle: usize,
    filter: Vec<String>,
    sections: Vec<String>,
    cpu: Option<(usize, usize)>,
    cert_dir: PathBuf,
}

fn opts(args: &[String]) -> Result<Opts, String> {
    let a = msg::parse_kv(args)?;
    if a.contains_key("help") {
        return Err(String::new());
    }
    let quick = a.contains_key("quick");
    let cpu: usize = msg::get(&a, "cpu", 0)?;
    let split = |s: String| -> Vec<String> {
        s.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Opts {
        messages: msg::get(&a, "messages", if quick { 300 } else { 2000 })?,
        seconds: msg::get(&a, "seconds", if quick { 5.0 } else { 10.0 })?,
        runs: msg::get(&a, "runs", if quick { 1 } else { 3 })?.max(1),
        rtt: Duration::from_secs_f64(msg::get(&a, "rtt-ms", 5.0)? / 1e3),
        rtt_messages: msg::get(&a, "rtt-messages", if quick { 50 } else { 200 })?,
        idle: msg::get(&a, "idle", if quick { 100 } else { 1000 })?,
        filter: split(msg::get(&a, "filter", String::new())?),
        sections: split(msg::get(&a, "sections", "tput,rtt,idle".to_owned())?),
        cpu: (!a.contains_key("no-pin")).then_some((cpu, msg::get(&a, "sink-cpu", cpu)?)),
        cert_dir: std::env::temp_dir().join(format!("smtp-courier-peers-{}", std::process::id())),
    })
}

/// One cell to run.
struct Spec {
    section: &'static str,
    kind: Kind,
    group: Group,
    delay: Duration,
    messages: usize,
}

impl Spec {
    fn label(&self) -> String {
        let g = &self.group;
        let tls = if g.tls { "tls" } else { "plain" };
        match self.section {
            "idle" => format!("idle/{}/{tls}", self.kind.name()),
            s => format!(
                "{s}/{}/{}KiB/{}rcpt/{}conn/{tls}",
                self.kind.name(),
                g.size / 1024,
                g.rcpts,
                g.conns
            ),
        }
    }
}

fn selected(o: &Opts, s: &Spec) -> bool {
    let label = s.label();
    o.filter.iter().all(|t| label.contains(t.as_str()))
}

fn exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| e.to_string())
}

fn pin_args(cmd: &mut Command, cpu: Option<usize>) {
    if let Some(c) = cpu {
        cmd.args(["--cpu", &c.to_string()]);
    }
}

/// Waits for `child`, killing it after `limit`.
fn wait_output(mut child: Child, limit: Duration) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => {
                let mut out = String::new();
                if let Some(mut s) = child.stdout.take() {
                    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
                }
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!("client exited with {status}"))
                };
            }
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("client killed after {limit:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// `key=value` fields of the line starting with `tag`.
fn fields(out: &str, tag: &str) -> Option<std::collections::HashMap<String, u128>> {
    let line = out.lines().find(|l| l.starts_with(tag))?;
    Some(
        line.split_ascii_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect(),
    )
}

fn run_once(o: &Opts, s: &Spec) -> Result<Outcome, String> {
    let g = &s.group;
    let mut sink = Command::new(exe()?);
    sink.arg("sink")
        .args([
            "--size",
            &g.size.to_string(),
            "--rcpts",
            &g.rcpts.to_string(),
        ])
        .args(["--delay-us", &s.delay.as_micros().to_string()]);
    let mut client = Command::new(exe()?);
    client
        .arg(if s.section == "idle" {
            "idle"
        } else {
            "client"
        })
        .args(["--peer", s.kind.name(), "--size", &g.size.to_string()])
        .args([
            "--rcpts",
            &g.rcpts.to_string(),
            "--conns",
            &g.conns.to_string(),
        ])
        .args([
            "--messages",
            &s.messages.to_string(),
            "--seconds",
            &o.seconds.to_string(),
        ]);
    if g.tls {
        let dir = o.cert_dir.to_string_lossy().into_owned();
        sink.args(["--cert", &dir]);
        client.args(["--cert", &dir]);
    }
    pin_args(&mut sink, o.cpu.map(|c| c.1));
    pin_args(&mut client, o.cpu.map(|c| c.0));
    let mut sink = sink
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sink: {e}"))?;
    let mut sink_out = BufReader::new(sink.stdout.take().ok_or("sink stdout")?);
    let mut line = String::new();
    sink_out.read_line(&mut line).map_err(|e| e.to_string())?;
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .ok_or_else(|| format!("sink said {line:?}"))?;
    let child = client
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("client: {e}"))?;
    let limit = Duration::from_secs_f64(o.seconds) + Duration::from_secs(120);
    let out = wait_output(child, limit);
    drop(sink.stdin.take()); // the sink reports and exits
    let mut rest = String::new();
    sink_out
        .read_to_string(&mut rest)
        .map_err(|e| e.to_string())?;
    let _ = sink.wait();
    let out = out?;
    let st = fields(&rest, "STATS").ok_or("the sink printed no STATS")?;
    let stat = |k: &str| st.get(k).copied().unwrap_or(0);
    if s.section == "idle" {
        let f = fields(&out, "IDLE").ok_or("the client printed no IDLE")?;
        let n = f.get("n").copied().unwrap_or(0);
        if stat("connections") != n + 1 {
            return Err(format!(
                "sink saw {} connections, expected {}",
                stat("connections"),
                n + 1
            ));
        }
        let delta = f.get("rss_delta_bytes").copied().unwrap_or(0);
        return Ok(Outcome::Idle(delta as f64 / n.max(1) as f64));
    }
    let f = fields(&out, "RESULT").ok_or("the client printed no RESULT")?;
    let get = |k: &str| f.get(k).copied().unwrap_or(0);
    // Every message the client counts must have reached the sink whole and right.
    let delivered = get("sent") + get("warm");
    let (ok, extra) = (stat("ok"), stat("extra_crlf"));
    if stat("bad") != 0 || ok != delivered || stat("connections") != g.conns as u128 {
        return Err(format!("client delivered {delivered}, sink: {st:?}"));
    }
    if stat("recipients") != ok * g.rcpts as u128 || (extra != 0 && extra != ok) {
        return Err(format!("inconsistent sink counters: {st:?}"));
    }
    Ok(Outcome::Measured(Measured {
        sent: usize::try_from(get("sent")).unwrap_or(0),
        elapsed: Duration::from_nanos(u64::try_from(get("elapsed_ns")).unwrap_or(0)),
        cpu: Duration::from_nanos(u64::try_from(get("cpu_ns")).unwrap_or(0)),
        max_rss_kib: u64::try_from(get("maxrss_kib")).unwrap_or(0),
        extra_crlf: extra != 0,
    }))
}

/// The median of `--runs` runs by rate; the first failure ends the cell.
fn run(o: &Opts, s: &Spec) -> Outcome {
    if !s.kind.available() {
        return Outcome::NotYet;
    }
    let runs = if s.section == "idle" { 1 } else { o.runs };
    let mut done = Vec::new();
    for _ in 0..runs {
        match run_once(o, s) {
            Ok(Outcome::Measured(m)) => done.push(m),
            Ok(other) => return other,
            Err(e) => {
                eprintln!("  {}: FAILED: {e}", s.label());
                return Outcome::Failed(e);
            }
        }
    }
    done.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let m = done[done.len() / 2];
    eprintln!(
        "  {}: {} msgs in {:.3} s = {:.0}/s",
        s.label(),
        m.sent,
        m.elapsed.as_secs_f64(),
        m.rate()
    );
    Outcome::Measured(m)
}

/// Runs the selected kinds of one group; the floor whenever anything else runs.
fn run_group(
    o: &Opts,
    section: &'static str,
    group: Group,
    delay: Duration,
    messages: usize,
    kinds: &[Kind],
    all: &mut Vec<(String, Outcome)>,
) -> Vec<(Kind, Outcome)> {
    let specs: Vec<Spec> = kinds
        .iter()
        .map(|&kind| Spec {
            section,
            kind,
            group,
            delay,
            messages,
        })
        .collect();
    if !specs.iter().any(|s| selected(o, s)) {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for s in specs
        .iter()
        .filter(|s| s.kind == Kind::Floor || selected(o, s))
    {
        let outcome = run(o, s);
        all.push((s.label(), outcome.clone()));
        rows.push((s.kind, outcome));
    }
    rows
}

fn write_cert(dir: &Path) -> Result<(), String> {
    let ck = rcgen::generate_simple_self_signed(vec![msg::HOST.to_owned(), "localhost".to_owned()])
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).map_err(|e| e.to_string())
}

fn orchestrate(o: &Opts) -> Result<bool, String> {
    write_cert(&o.cert_dir)?;
    if let Some((c, s)) = o.cpu {
        eprintln!(
            "client pinned to CPU {c}, sink to CPU {s} (of {})",
            sys::cpus()
        );
    }
    let mut all = Vec::new();
    if o.sections.iter().any(|s| s == "tput") {
        let mut rows = Vec::new();
        for tls in [false, true] {
            for size in [1024, 100 * 1024] {
                for rcpts in [1, 10] {
                    for conns in [1, 8] {
                        let g = Group {
                            tls,
                            size,
                            rcpts,
                            conns,
                        };
                        let r = run_group(
                            o,
                            "tput",
                            g,
                            Duration::ZERO,
                            o.messages,
                            &Kind::ALL,
                            &mut all,
                        );
                        rows.extend(r.into_iter().map(|(k, out)| (g, k, out)));
                    }
                }
            }
        }
        report::throughput(&rows);
    }
    if o.sections.iter().any(|s| s == "rtt") {
        let mut rows = Vec::new();
        for rcpts in [1, 10] {
            let g = Group {
                tls: false,
                size: 1024,
                rcpts,
                conns: 1,
            };
            let r = run_group(o, "rtt", g, o.rtt, o.rtt_messages, &Kind::ALL, &mut all);
            rows.extend(r.into_iter().map(|(k, out)| (g, k, out)));
        }
        report::round_trips(&rows, o.rtt);
    }
    if o.sections.iter().any(|s| s == "idle") {
        let mut rows = Vec::new();
        for tls in [false, true] {
            for kind in Kind::ALL.into_iter().filter(|k| k.idles()) {
                let s = Spec {
                    section: "idle",
                    kind,
                    group: Group {
                        tls,
                        size: 1024,
                        rcpts: 1,
                        conns: o.idle,
                    },
                    delay: Duration::ZERO,
                    messages: 0,
                };
                if selected(o, &s) {
                    let outcome = run(o, &s);
                    all.push((s.label(), outcome.clone()));
                    rows.push((tls, kind, outcome));
                }
            }
        }
        report::idle(&rows, o.idle);
    }
    let _ = std::fs::remove_dir_all(&o.cert_dir);
    Ok(!report::notes(all.iter().map(|(l, o)| (l.clone(), o))))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let child = |f: fn(&std::collections::HashMap<String, String>) -> Result<(), String>| {
        let result = msg::parse_kv(&args[1..]).and_then(|a| {
            if let Some(cpu) = a.get("cpu") {
                sys::pin_to(cpu.parse().map_err(|_| "--cpu: not a number")?)?;
            }
            f(&a)
        });
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "{} {}: {e}",
                    args[0],
                    args.get(2).map_or("", |s| s.as_str())
                );
                ExitCode::FAILURE
            }
        }
    };
    match args.first().map(String::as_str) {
        Some("sink") => return child(sink::main),
        Some("client") => return child(client::main),
        Some("idle") => return child(client::idle),
        _ => {}
    }
    let o = match opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    match orchestrate(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some cells failed; see above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
