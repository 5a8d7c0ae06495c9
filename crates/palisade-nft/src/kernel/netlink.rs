//! Just enough nfnetlink to talk to the kernel without the `nft` program: message and
//! attribute encoding, and one transaction (a batch) with its acknowledgements. Used for
//! the flow log's socket and requests (its messages come from netlink-packet-netfilter) and
//! by element updates (nf_tables set elements).

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_ACK: u16 = 4;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;

/// Netlink attributes being written: type, length, value, padded to 4 bytes.
#[derive(Default)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    pub fn new() -> Self {
        Attrs(Vec::new())
    }

    pub fn bytes(mut self, kind: u16, value: &[u8]) -> Self {
        self.0.extend(((4 + value.len()) as u16).to_ne_bytes());
        self.0.extend(kind.to_ne_bytes());
        self.0.extend(value);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    /// A NUL-terminated string.
    pub fn string(self, kind: u16, value: &str) -> Self {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.bytes(kind, &v)
    }

    pub fn u32_be(self, kind: u16, value: u32) -> Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    pub fn nested(self, kind: u16, inner: Attrs) -> Self {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// One nfnetlink message: header, `nfgenmsg` (family, version 0, big-endian `res_id`), attributes.
pub fn message(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: Attrs) -> Vec<u8> {
    let body = attrs.into_bytes();
    let len = 16 + 4 + body.len();
    let mut m = Vec::with_capacity(len);
    m.extend((len as u32).to_ne_bytes());
    m.extend(kind.to_ne_bytes());
    m.extend(flags.to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend([family, 0]);
    m.extend(res_id.to_be_bytes());
    m.extend(body);
    m
}

/// A bound NETLINK_NETFILTER socket of the calling thread's network namespace.
pub fn open_socket() -> std::io::Result<Socket> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind(&SocketAddr::new(0, 0))?;
    Ok(sock)
}

/// The error code of an `NLMSG_ERROR` message (0 for an acknowledgement), with its sequence.
fn error_of(msg: &[u8]) -> Option<(u32, i32)> {
    if msg.len() >= 20 + 16 && u16::from_ne_bytes([msg[4], msg[5]]) == NLMSG_ERROR {
        let err = i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
        // The original header follows: its sequence number names the request.
        let seq = u32::from_ne_bytes([msg[28], msg[29], msg[30], msg[31]]);
        return Some((seq, err));
    }
    None
}

/// Sends one request and waits for its acknowledgement.
pub fn request(sock: &mut Socket, msg: &[u8]) -> std::io::Result<()> {
    sock.send(msg, 0)?;
    let mut buf = Vec::with_capacity(1 << 16);
    sock.recv(&mut buf, 0)?;
    match error_of(&buf) {
        Some((_, err)) if err != 0 => Err(std::io::Error::from_raw_os_error(-err)),
        _ => Ok(()),
    }
}

/// Sends `msgs` (nf_tables messages with sequence numbers `first_seq..`, each asking for
/// an acknowledgement) as one transaction: the kernel applies all of them or none.
pub fn transaction(sock: &mut Socket, msgs: &[Vec<u8>], first_seq: u32) -> std::io::Result<()> {
    let mut batch = message(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        first_seq.wrapping_sub(1),
        0,
        NFNL_SUBSYS_NFTABLES,
        Attrs::new(),
    );
    for m in msgs {
        batch.extend(m);
    }
    batch.extend(message(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        first_seq.wrapping_add(msgs.len() as u32),
        0,
        NFNL_SUBSYS_NFTABLES,
        Attrs::new(),
    ));
    sock.set_non_blocking(false)?;
    // The kernel owes one acknowledgement per message, or an error that ends the transaction.
    setsockopt(&*sock, sockopt::ReceiveTimeout, &TimeVal::new(5, 0))?;
    sock.send(&batch, 0)?;
    let mut acked = 0usize;
    let mut buf = Vec::with_capacity(1 << 16);
    while acked < msgs.len() {
        buf.clear();
        sock.recv(&mut buf, 0)?;
        let mut rest = &buf[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len < 16 || len > rest.len() {
                break;
            }
            if let Some((seq, err)) = error_of(&rest[..len]) {
                if err != 0 {
                    let i = seq.wrapping_sub(first_seq);
                    let e = std::io::Error::from_raw_os_error(-err);
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("message {i} of the transaction: {e}"),
                    ));
                }
                acked += 1;
            }
            rest = &rest[(len + 3) & !3..];
        }
    }
    Ok(())
}
