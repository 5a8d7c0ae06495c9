//! The flow log's kernel side: NFLOG packets of the `inet palisade` table, read from an
//! nfnetlink_log socket of the current network namespace (named and judged by
//! [`crate::flow::Decoder`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    config_request, ConfigCmd, ConfigMode, ConfigNla, PacketNla, Timeout, ULogMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::Socket;
use palisade_core::Protocol;

pub use crate::flow::Packet;
use crate::kernel::netlink;

/// How much of each packet the kernel copies to us: enough for the IP and transport headers.
const COPY_RANGE: u32 = 256;

/// A socket bound to one NFLOG group in the current network namespace.
pub struct FlowLog {
    sock: Socket,
    buf: Vec<u8>,
    pending: Vec<Packet>,
}

/// One configuration request for `group`, serialized.
fn config(group: u16, nlas: Vec<ConfigNla>) -> Vec<u8> {
    let msg = config_request(NetfilterProtoFamily::Unspec, group, nlas);
    let mut bytes = vec![0; msg.buffer_len()];
    msg.serialize(&mut bytes);
    bytes
}

impl FlowLog {
    /// Binds NFLOG `group` (in the calling thread's network namespace).
    pub fn open(group: u16) -> std::io::Result<FlowLog> {
        let mut sock = netlink::open_socket()?;
        let _ = sock.set_rx_buf_sz(4 << 20);
        netlink::request(&mut sock, &config(group, vec![ConfigNla::Cmd(ConfigCmd::Bind)]))?;
        netlink::request(
            &mut sock,
            &config(group, vec![ConfigNla::Mode(ConfigMode::new_packet(COPY_RANGE))]),
        )?;
        // Deliver every packet at once (the kernel batches 100 or waits a second by default).
        netlink::request(
            &mut sock,
            &config(
                group,
                vec![ConfigNla::QThresh(1), ConfigNla::Timeout(Timeout::new(1))],
            ),
        )?;
        sock.set_non_blocking(true)?;
        Ok(FlowLog {
            sock,
            buf: Vec::with_capacity(1 << 16),
            pending: Vec::new(),
        })
    }

    /// Waits up to `timeout` for packets; returns what arrived (possibly nothing).
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

/// The NFLOG packets among the netlink messages in `b` (others, and what does not parse,
/// are skipped).
fn parse_messages(mut b: &[u8], out: &mut Vec<Packet>) {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            return;
        }
        if let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(&b[..len]) {
            if let NetlinkPayload::InnerMessage(NetfilterMessage {
                inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
                ..
            }) = msg.payload
            {
                out.extend(packet_of(nlas));
            }
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
}

fn packet_of(nlas: Vec<PacketNla>) -> Option<Packet> {
    let (mut prefix, mut mark, mut payload) = (String::new(), 0u32, None);
    for nla in nlas {
        match nla {
            PacketNla::Prefix(p) => prefix = p.to_string_lossy().trim().to_string(),
            PacketNla::Mark(m) => mark = m,
            PacketNla::Payload(p) => payload = Some(p),
            _ => {}
        }
    }
    let payload = payload?;
    let (src, dst, proto, l4) = parse_ip(&payload)?;
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

/// Addresses, protocol number and transport header of an IPv4 or IPv6 packet. The
/// payload is raw IP, which no kept crate of this stack decodes; four fixed offsets.
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
        // IPv4 TCP 10.0.0.1:40000 -> 10.0.0.2:80, prefix "D:i:0 ", mark 3, encoded by
        // netlink-packet-netfilter as the kernel would send it.
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip.extend([0x9c, 0x40, 0, 80]);
        ip.extend([0u8; 16]);
        let nlas = vec![
            PacketNla::Prefix(std::ffi::CString::new("D:i:0 ").unwrap()),
            PacketNla::Mark(3),
            PacketNla::Payload(ip),
        ];
        let mut msg = NetlinkMessage::from(NetfilterMessage::new(
            netlink_packet_netfilter::NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 100),
            ULogMessage::Packet(nlas),
        ));
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        // Two messages in one read, as the kernel batches them.
        let twice = [bytes.clone(), bytes].concat();
        let mut out = Vec::new();
        parse_messages(&twice, &mut out);
        let want = Packet {
            prefix: "D:i:0".into(),
            mark: 3,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            protocol: Some(Protocol::Tcp),
            port: Some(80),
        };
        assert_eq!(out, vec![want.clone(), want]);
    }
}
