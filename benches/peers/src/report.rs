//! The three tables, as Markdown on standard output.

use std::time::Duration;

use crate::peers::Kind;

/// What one measured cell produced (the median run).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    pub(crate) sent: usize,
    pub(crate) elapsed: Duration,
    pub(crate) cpu: Duration,
    pub(crate) max_rss_kib: u64,
    pub(crate) extra_crlf: bool,
}

impl Measured {
    pub(crate) fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64()
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.sent.max(1) as f64
    }
    fn ms_per_msg(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e3 / self.sent.max(1) as f64
    }
}

/// One row's figures, or why there are none.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Measured(Measured),
    /// Idle memory: bytes of RSS per idle connection.
    Idle(f64),
    NotYet,
    Failed(String),
}

/// The group a throughput row belongs to; its floor row is the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) tls: bool,
    pub(crate) size: usize,
    pub(crate) rcpts: usize,
    pub(crate) conns: usize,
}

pub(crate) fn size_name(size: usize) -> String {
    format!("{} KiB", size / 1024)
}

fn tls_name(tls: bool) -> &'static str {
    if tls { "TLS" } else { "plain" }
}

fn floor_of(rows: &[(Group, Kind, Outcome)], g: Group) -> Option<Measured> {
    rows.iter().find_map(|(rg, k, o)| match o {
        Outcome::Measured(m) if *rg == g && *k == Kind::Floor => Some(*m),
        _ => None,
    })
}

fn not_measured(o: &Outcome) -> String {
    match o {
        Outcome::NotYet => "n/a (not yet)".to_owned(),
        Outcome::Failed(_) => "FAILED".to_owned(),
        _ => "-".to_owned(),
    }
}

pub(crate) fn throughput(rows: &[(Group, Kind, Outcome)]) {
    println!("### Throughput\n");
    println!(
        "| TLS | size | rcpt | conn | client | msg/s | × floor | CPU µs/msg | × floor | peak RSS MiB |"
    );
    println!("|:--|--:|--:|--:|:--|--:|--:|--:|--:|--:|");
    for (g, kind, o) in rows {
        let head = format!(
            "| {} | {} | {} | {} | {} ",
            tls_name(g.tls),
            size_name(g.size),
            g.rcpts,
            g.conns,
            kind.name()
        );
        match (o, floor_of(rows, *g)) {
            (Outcome::Measured(m), floor) => {
                let ratio =
                    |a: f64, b: Option<f64>| b.map_or("-".to_owned(), |b| format!("{:.2}", a / b));
                println!(
                    "{head}| {:.0} | {} | {:.1} | {} | {:.1} |",
                    m.rate(),
                    ratio(m.rate(), floor.map(|f| f.rate())),
                    m.cpu_us(),
                    ratio(m.cpu_us(), floor.map(|f| f.cpu_us())),
                    m.max_rss_kib as f64 / 1024.0
                );
            }
            (o, _) => println!("{head}| {} | | | | |", not_measured(o)),
        }
    }
    println!();
}

pub(crate) fn round_trips(rows: &[(Group, Kind, Outcome)], delay: Duration) {
    println!(
        "### Round trips per message ({} ms reply delay, 1 KiB, 1 connection, plain)\n",
        delay.as_secs_f64() * 1e3
    );
    println!("| rcpt | client | ms/msg | round trips (÷ floor) | ÷ delay |");
    println!("|--:|:--|--:|--:|--:|");
    for (g, kind, o) in rows {
        let head = format!("| {} | {} ", g.rcpts, kind.name());
        match (o, floor_of(rows, *g)) {
            (Outcome::Measured(m), floor) => println!(
                "{head}| {:.2} | {} | {:.2} |",
                m.ms_per_msg(),
                floor.map_or("-".to_owned(), |f| format!(
                    "{:.2}",
                    m.ms_per_msg() / f.ms_per_msg()
                )),
                m.ms_per_msg() / (delay.as_secs_f64() * 1e3),
            ),
            (o, _) => println!("{head}| {} | | |", not_measured(o)),
        }
    }
    println!();
}

pub(crate) fn idle(rows: &[(bool, Kind, Outcome)], n: usize) {
    println!("### Memory per idle connection ({n} connections after EHLO)\n");
    println!("| TLS | client | KiB per connection |");
    println!("|:--|:--|--:|");
    for (tls, kind, o) in rows {
        let v = match o {
            Outcome::Idle(b) => format!("{:.1}", b / 1024.0),
            o => not_measured(o),
        };
        println!("| {} | {} | {v} |", tls_name(*tls), kind.name());
    }
    println!();
}

/// Failures and the extra-CRLF note, after the tables.
pub(crate) fn notes<'a>(outcomes: impl Iterator<Item = (String, &'a Outcome)>) -> bool {
    let mut failed = false;
    let mut crlf: Vec<String> = Vec::new();
    for (label, o) in outcomes {
        match o {
            Outcome::Failed(e) => {
                println!("FAILED {label}: {e}");
                failed = true;
            }
            Outcome::Measured(m) if m.extra_crlf => {
                let client = label.split('/').nth(1).unwrap_or_default().to_owned();
                if !crlf.contains(&client) {
                    crlf.push(client);
                }
            }
            _ => {}
        }
    }
    for c in crlf {
        println!("note: {c} adds an empty line to a message that ends in CRLF (DATA terminator)");
    }
    failed
}
