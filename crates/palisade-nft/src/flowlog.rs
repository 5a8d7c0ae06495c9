//! The flow log's kernel side: NFLOG packets of the `inet palisade` table, read from an
//! nfnetlink_log socket of the current network namespace (named and judged by
//! [`crate::flow::Decoder`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_sys::Socket;
use palisade_core::Protocol;

pub use crate::flow::Packet;
use crate::netlink::{self, Attrs, NLM_F_ACK, NLM_F_REQUEST};

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

/// A socket bound to one NFLOG group in the current network namespace.
pub struct FlowLog {
    sock: Socket,
    buf: Vec<u8>,
    pending: Vec<Packet>,
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
    pub fn read(&mut self, timeout: Duration) -> std::io::Result<Vec<Packet>> {
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

fn parse_messages(mut b: &[u8], out: &mut Vec<Packet>) {
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

fn parse_packet(mut a: &[u8]) -> Option<Packet> {
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
    Some(Packet {
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
            vec![Packet {
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
