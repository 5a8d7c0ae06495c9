//! The flow log: NFLOG records of the `inet palisade` table, read from an nfnetlink_log
//! socket of the current network namespace and decoded into flows with pod identity,
//! verdict, and the policy and rule that decided.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netlink_sys::Socket;
use palisade_core::{Cluster, Protocol};
use serde_json::{json, Value};

use crate::netlink::{self, Attrs, NLM_F_ACK, NLM_F_REQUEST};
use crate::ruleset::{LogMeaning, Ruleset};

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_TIMEOUT: u16 = 4;
const NFULA_CFG_QTHRESH: u16 = 5;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULA_MARK: u16 = 2;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;

/// One logged packet, as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub prefix: String,
    pub mark: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
}

/// A socket bound to one NFLOG group in the current network namespace.
pub struct FlowLog {
    sock: Socket,
    buf: Vec<u8>,
    pending: Vec<Record>,
}

impl FlowLog {
    /// Binds NFLOG `group` (in the calling thread's network namespace).
    pub fn open(group: u16) -> std::io::Result<FlowLog> {
        let mut sock = netlink::open_socket()?;
        let _ = sock.set_rx_buf_sz(4 << 20);
        let kind = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
        let config =
            |seq: u32, attrs: Attrs| netlink::message(kind, NLM_F_REQUEST | NLM_F_ACK, seq, 0, group, attrs);
        netlink::request(
            &mut sock,
            &config(1, Attrs::new().bytes(NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND])),
        )?;
        let mut mode = 256u32.to_be_bytes().to_vec();
        mode.extend([NFULNL_COPY_PACKET, 0]);
        netlink::request(&mut sock, &config(2, Attrs::new().bytes(NFULA_CFG_MODE, &mode)))?;
        // Deliver every packet at once (the kernel batches 100 or waits a second by default).
        netlink::request(
            &mut sock,
            &config(
                3,
                Attrs::new()
                    .u32_be(NFULA_CFG_QTHRESH, 1)
                    .u32_be(NFULA_CFG_TIMEOUT, 1),
            ),
        )?;
        sock.set_non_blocking(true)?;
        Ok(FlowLog {
            sock,
            buf: Vec::with_capacity(1 << 16),
            pending: Vec::new(),
        })
    }

    /// Waits up to `timeout` for records; returns what arrived (possibly nothing).
    pub fn read(&mut self, timeout: Duration) -> std::io::Result<Vec<Record>> {
        let deadline = Instant::now() + timeout;
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {
                    let buf = std::mem::take(&mut self.buf);
                    parse_messages(&buf, &mut self.pending);
                    self.buf = buf;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.pending.is_empty() || Instant::now() >= deadline {
                return Ok(std::mem::take(&mut self.pending));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn parse_messages(mut b: &[u8], out: &mut Vec<Record>) {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            return;
        }
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET && len >= 20 {
            if let Some(r) = parse_packet(&b[20..len]) {
                out.push(r);
            }
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
}

fn parse_packet(mut a: &[u8]) -> Option<Record> {
    let (mut prefix, mut mark, mut payload) = (String::new(), 0u32, None);
    while a.len() >= 4 {
        let len = u16::from_ne_bytes([a[0], a[1]]) as usize;
        let t = u16::from_ne_bytes([a[2], a[3]]) & 0x3fff;
        if len < 4 || len > a.len() {
            break;
        }
        let v = &a[4..len];
        match t {
            NFULA_PREFIX => {
                prefix = String::from_utf8_lossy(v)
                    .trim_end_matches('\0')
                    .trim()
                    .to_string()
            }
            NFULA_MARK if v.len() >= 4 => mark = u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            NFULA_PAYLOAD => payload = Some(v),
            _ => {}
        }
        a = &a[len.next_multiple_of(4).min(a.len())..];
    }
    let (src, dst, proto, l4) = parse_ip(payload?)?;
    let protocol = match proto {
        6 => Some(Protocol::Tcp),
        17 => Some(Protocol::Udp),
        132 => Some(Protocol::Sctp),
        _ => None,
    };
    let port = (protocol.is_some() && l4.len() >= 4).then(|| u16::from_be_bytes([l4[2], l4[3]]));
    Some(Record {
        prefix,
        mark,
        src,
        dst,
        protocol,
        port,
    })
}

fn parse_ip(p: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match p.first()? >> 4 {
        4 if p.len() >= 20 => {
            let ihl = ((p[0] & 0xf) as usize) * 4;
            let src = IpAddr::from([p[12], p[13], p[14], p[15]]);
            let dst = IpAddr::from([p[16], p[17], p[18], p[19]]);
            Some((src, dst, p[9], p.get(ihl..).unwrap_or(&[])))
        }
        6 if p.len() >= 40 => {
            let src: [u8; 16] = p[8..24].try_into().ok()?;
            let dst: [u8; 16] = p[24..40].try_into().ok()?;
            Some((IpAddr::from(src), IpAddr::from(dst), p[6], &p[40..]))
        }
        _ => None,
    }
}

/// Turns records into flow-log JSON lines with the cluster's names.
pub struct Decoder<'a> {
    cluster: &'a Cluster,
    ruleset: &'a Ruleset,
}

impl<'a> Decoder<'a> {
    pub fn new(cluster: &'a Cluster, ruleset: &'a Ruleset) -> Self {
        Decoder { cluster, ruleset }
    }

    fn who(&self, ip: IpAddr) -> String {
        self.cluster
            .pods
            .iter()
            .find(|p| p.ips.contains(&ip))
            .map(|p| p.key())
            .unwrap_or_else(|| ip.to_string())
    }

    fn rule(&self, ingress: bool, policy: usize, rule: usize) -> Value {
        json!({
            "direction": if ingress { "ingress" } else { "egress" },
            "policy": self.cluster.policies.get(policy).map(|p| p.key()),
            "rule": rule,
        })
    }

    /// One JSON object per flow: time, source, destination, protocol, port, verdict, and
    /// what decided it.
    pub fn decode(&self, r: &Record) -> Value {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut v = json!({
            "time": time,
            "src": self.who(r.src),
            "dst": self.who(r.dst),
            "src_ip": r.src.to_string(),
            "dst_ip": r.dst.to_string(),
            "protocol": r.protocol.map(|p| p.as_str()),
            "port": r.port,
        });
        let egress = self
            .ruleset
            .marks
            .get(&r.mark)
            .map(|(p, ru)| self.rule(false, *p, *ru));
        match self.ruleset.prefixes.get(&r.prefix) {
            Some(LogMeaning::Deny {
                ingress,
                policies,
                audit,
            }) => {
                v["verdict"] = json!(if *audit { "audit" } else { "denied" });
                v["policy"] = json!("default-deny");
                v["direction"] = json!(if *ingress { "ingress" } else { "egress" });
                v["isolated_by"] = json!(policies
                    .iter()
                    .filter_map(|p| self.cluster.policies.get(*p).map(|p| p.key()))
                    .collect::<Vec<_>>());
            }
            Some(LogMeaning::Rule {
                ingress,
                policy,
                rule,
            }) => {
                v["verdict"] = json!("allowed");
                v["ingress"] = self.rule(*ingress, *policy, *rule);
                if let Some(e) = egress {
                    v["egress"] = e;
                }
            }
            Some(LogMeaning::Open) => {
                v["verdict"] = json!("allowed");
                v["ingress"] = json!("not isolated here");
                if let Some(e) = egress {
                    v["egress"] = e;
                }
            }
            None => {
                v["verdict"] = json!("unknown");
                v["prefix"] = json!(r.prefix);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_nflog_packet_message() {
        // IPv4 TCP 10.0.0.1:40000 -> 10.0.0.2:80, prefix "D:i:0 ", mark 3.
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip.extend([0x9c, 0x40, 0, 80]);
        ip.extend([0u8; 16]);
        let attrs = Attrs::new()
            .string(NFULA_PREFIX, "D:i:0 ")
            .u32_be(NFULA_MARK, 3)
            .bytes(NFULA_PAYLOAD, &ip);
        let msg = netlink::message((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET, 0, 0, 2, 100, attrs);
        let mut out = Vec::new();
        parse_messages(&msg, &mut out);
        assert_eq!(
            out,
            vec![Record {
                prefix: "D:i:0".into(),
                mark: 3,
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                protocol: Some(Protocol::Tcp),
                port: Some(80),
            }]
        );
    }
}
