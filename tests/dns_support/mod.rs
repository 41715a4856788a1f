//! A scripted DNS server on loopback for routing tests: UDP and TCP on one ephemeral port
//! of 127.0.0.1, answering from a [`Zone`] built with hickory-proto's message types.
//!
//! Names without an entry for the type asked answer NODATA if the name has another entry,
//! NXDOMAIN otherwise. Every query is logged with its transport, so tests can check that a
//! truncated answer was asked again over TCP, or that nothing was looked up.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How a (name, type) is answered.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// These records, authoritatively.
    Records(Vec<RData>),
    /// An error RCODE with an empty answer.
    Rcode(ResponseCode),
    /// No answer at all, over UDP or TCP.
    Silent,
    /// Over UDP an empty answer with TC set; over TCP these records.
    TruncatedUdp(Vec<RData>),
}

/// The server's data.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    entries: HashMap<(String, RecordType), Behaviour>,
    /// name → (target, whether the server puts the target's records in the same answer).
    cnames: HashMap<String, (String, bool)>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{}.", key(s))).expect("test name")
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, owner: &str, rtype: RecordType, b: Behaviour) -> Self {
        self.entries.insert((key(owner), rtype), b);
        self
    }

    pub fn mx(self, owner: &str, records: &[(u16, &str)]) -> Self {
        let rdata = records
            .iter()
            .map(|(p, x)| {
                let exchange = if *x == "." { Name::root() } else { name(x) };
                RData::MX(MX::new(*p, exchange))
            })
            .collect();
        self.set(owner, RecordType::MX, Behaviour::Records(rdata))
    }

    pub fn a(self, owner: &str, addresses: &[&str]) -> Self {
        let rdata = addresses
            .iter()
            .map(|a| RData::A(A(a.parse().expect("test address"))))
            .collect();
        self.set(owner, RecordType::A, Behaviour::Records(rdata))
    }

    pub fn aaaa(self, owner: &str, addresses: &[&str]) -> Self {
        let rdata = addresses
            .iter()
            .map(|a| RData::AAAA(AAAA(a.parse().expect("test address"))))
            .collect();
        self.set(owner, RecordType::AAAA, Behaviour::Records(rdata))
    }

    /// `owner` is an alias of `target`. With `chase`, the server follows the chain inside
    /// its own data and answers with every CNAME and the target's records, as an
    /// authoritative server for both does; without, it answers with the CNAME alone and
    /// the resolver must ask again for the target.
    pub fn cname(mut self, owner: &str, target: &str, chase: bool) -> Self {
        self.cnames.insert(key(owner), (key(target), chase));
        self
    }

    fn exists(&self, owner: &str) -> bool {
        self.cnames.contains_key(owner) || self.entries.keys().any(|(n, _)| n == owner)
    }
}

/// A query as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub tcp: bool,
    pub name: String,
    pub rtype: RecordType,
}

pub struct DnsServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What to send back for one query: `None` for silence.
fn respond(zone: &Zone, req: &Message, tcp: bool) -> Option<Message> {
    let query = req.queries.first()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.clone());
    let rtype = query.query_type;
    let mut owner = key(&query.name.to_ascii());
    // Follow aliases as far as the zone says to.
    for _ in 0..8 {
        let Some((target, chase)) = zone.cnames.get(&owner).cloned() else {
            break;
        };
        let rdata = RData::CNAME(CNAME(name(&target)));
        resp.add_answer(Record::from_rdata(name(&owner), 300, rdata));
        if !chase {
            return Some(resp);
        }
        owner = target;
    }
    match zone.entries.get(&(owner.clone(), rtype)) {
        Some(Behaviour::Records(rdata)) => {
            for d in rdata {
                resp.add_answer(Record::from_rdata(name(&owner), 300, d.clone()));
            }
        }
        Some(Behaviour::Rcode(code)) => resp.metadata.response_code = *code,
        Some(Behaviour::Silent) => return None,
        Some(Behaviour::TruncatedUdp(rdata)) => {
            if tcp {
                for d in rdata {
                    resp.add_answer(Record::from_rdata(name(&owner), 300, d.clone()));
                }
            } else {
                resp.metadata.truncation = true;
            }
        }
        None if zone.exists(&owner) || !resp.answers.is_empty() => {}
        None => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(resp)
}

fn log_query(log: &Mutex<Vec<Seen>>, req: &Message, tcp: bool) {
    if let Some(q) = req.queries.first() {
        log.lock().unwrap().push(Seen {
            tcp,
            name: key(&q.name.to_ascii()),
            rtype: q.query_type,
        });
    }
}

async fn serve_tcp(mut stream: TcpStream, zone: Arc<Zone>, log: Arc<Mutex<Vec<Seen>>>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(req) = Message::from_vec(&buf) else {
            return;
        };
        log_query(&log, &req, true);
        if let Some(resp) = respond(&zone, &req, true) {
            let bytes = resp.to_vec().expect("encode response");
            let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&bytes);
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

impl DnsServer {
    pub async fn start(zone: Zone) -> Self {
        // One port for both transports: bind UDP first, then TCP on the same port.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = udp.local_addr().expect("udp addr");
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("udp addr");
        let zone = Arc::new(zone);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (z, l) = (zone.clone(), log.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                log_query(&l, &req, false);
                if let Some(resp) = respond(&z, &req, false) {
                    let _ = udp.send_to(&resp.to_vec().expect("encode"), peer).await;
                }
            }
        });
        let (z, l) = (zone, log.clone());
        let tcp_task = tokio::spawn(async move {
            while let Ok((stream, _)) = tcp.accept().await {
                tokio::spawn(serve_tcp(stream, z.clone(), l.clone()));
            }
        });
        Self {
            addr,
            log,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// Every query so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// Whether `name` was asked for `rtype` (over either transport).
    pub fn asked(&self, name: &str, rtype: RecordType) -> bool {
        self.seen()
            .iter()
            .any(|s| s.name == key(name) && s.rtype == rtype)
    }
}
