//! nf_tables set-element messages, encoded by hand: an [`ElementDelta`] as one netlink
//! transaction, and the socket it goes over. netlink-packet-netfilter's nf_tables support
//! is new and its API just changed, so these few messages stay here, tested byte by byte
//! and against the kernel (`tests/apply.rs`, `tests/incremental.rs`).

use std::net::IpAddr;

use palisade_core::ip::{num_to_ip, Family};

use crate::delta::{ElementDelta, ElementOp};
use crate::kernel::netlink::{self, Attrs, NFNL_SUBSYS_NFTABLES, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use crate::ruleset::TABLE;

const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_INET: u8 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
const NFT_JUMP: i32 = -3;
/// nft's own element annotation for an interval open to the top of the address space
/// (so that `nft list` shows it as a range).
const UDATA_INTERVAL_OPEN: [u8; 6] = [1, 4, 1, 0, 0, 0];

fn key_bytes(family: Family, n: u128) -> Vec<u8> {
    match num_to_ip(family, n) {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn key(value: Vec<u8>) -> Attrs {
    Attrs::new().bytes(NFTA_DATA_VALUE, &value)
}

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

/// The kernel's form of an inclusive range in an interval set: a start element and an end
/// element one past it (none when the range reaches the top of the address space).
fn range_elements(list: Attrs, family: Family, (lo, hi): (u128, u128)) -> Attrs {
    let mut start = Attrs::new().nested(NFTA_SET_ELEM_KEY, key(key_bytes(family, lo)));
    if hi == family_max(family) {
        start = start.bytes(NFTA_SET_ELEM_USERDATA, &UDATA_INTERVAL_OPEN);
        return list.nested(NFTA_LIST_ELEM, start);
    }
    let end = Attrs::new()
        .nested(NFTA_SET_ELEM_KEY, key(key_bytes(family, hi + 1)))
        .u32_be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    list.nested(NFTA_LIST_ELEM, start).nested(NFTA_LIST_ELEM, end)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl ElementDelta {
    /// The changes as nf_tables messages with sequence numbers from `first_seq`.
    pub fn messages(&self, first_seq: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (add, name, ops) in self.groups() {
            let mut list = Attrs::new();
            for op in ops {
                list = match op {
                    ElementOp::DelRange { family, range, .. } | ElementOp::AddRange { family, range, .. } => {
                        range_elements(list, *family, *range)
                    }
                    ElementOp::DelEntry { ip, .. } => list.nested(
                        NFTA_LIST_ELEM,
                        Attrs::new().nested(NFTA_SET_ELEM_KEY, key(ip_bytes(*ip))),
                    ),
                    ElementOp::AddEntry { ip, chain, .. } => {
                        let verdict = Attrs::new()
                            .u32_be(NFTA_VERDICT_CODE, NFT_JUMP as u32)
                            .string(NFTA_VERDICT_CHAIN, chain);
                        list.nested(
                            NFTA_LIST_ELEM,
                            Attrs::new().nested(NFTA_SET_ELEM_KEY, key(ip_bytes(*ip))).nested(
                                NFTA_SET_ELEM_DATA,
                                Attrs::new().nested(NFTA_DATA_VERDICT, verdict),
                            ),
                        )
                    }
                };
            }
            let (kind, flags) = if add {
                (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK)
            } else {
                (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK)
            };
            let attrs = Attrs::new()
                .string(NFTA_SET_ELEM_LIST_TABLE, TABLE)
                .string(NFTA_SET_ELEM_LIST_SET, name)
                .nested(NFTA_SET_ELEM_LIST_ELEMENTS, list);
            out.push(netlink::message(
                (NFNL_SUBSYS_NFTABLES << 8) | kind,
                flags,
                first_seq + out.len() as u32,
                NFPROTO_INET,
                0,
                attrs,
            ));
        }
        out
    }

    /// Applies the changes to the table in one netlink transaction: all of them or, on any
    /// error, none.
    pub fn send(&self, sock: &mut NftSocket) -> std::io::Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        let seq = sock.next_seq(self.ops.len() as u32 + 2);
        netlink::transaction(&mut sock.0, &self.messages(seq), seq)
    }

    /// [`ElementDelta::send`] over a socket opened for this change, in the named network
    /// namespace (`/run/netns/NAME`) or the current one for `None`.
    pub fn apply_in(&self, netns: Option<&str>) -> std::io::Result<()> {
        self.send(&mut NftSocket::open_in(netns)?)
    }
}

/// A netlink socket to nf_tables in one network namespace, kept open by whoever updates a
/// table often: opening and closing one per change costs more than the change.
pub struct NftSocket(netlink_sys::Socket, u32);

impl NftSocket {
    /// In the named network namespace (`/run/netns/NAME`, as `ip netns` makes them), or in
    /// the calling thread's for `None`. The socket stays in that namespace for its life.
    pub fn open_in(netns: Option<&str>) -> std::io::Result<NftSocket> {
        let Some(ns) = netns else {
            return Ok(NftSocket(netlink::open_socket()?, 1));
        };
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let f = std::fs::File::open(&path)?;
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)?;
                Ok(NftSocket(netlink::open_socket()?, 1))
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        })
    }

    /// The first of `n` fresh sequence numbers.
    fn next_seq(&mut self, n: u32) -> u32 {
        let first = self.1.wrapping_add(1);
        self.1 = self.1.wrapping_add(n);
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_start_and_end_elements() {
        // [10.0.0.1, 10.0.0.1]: start key 10.0.0.1, end key 10.0.0.2 flagged INTERVAL_END.
        let b = range_elements(Attrs::new(), Family::V4, (0x0a000001, 0x0a000001)).into_bytes();
        let start = [12u8, 0, 1, 0x80, 8, 0, 1, 0, 10, 0, 0, 1];
        assert_eq!(
            &b[4..16],
            &start,
            "first element: nested key with the start address"
        );
        assert!(
            b.windows(4).any(|w| w == [10, 0, 0, 2]),
            "end key is one past the range"
        );
        assert!(
            b.windows(4).any(|w| w == [0, 0, 0, 1]),
            "INTERVAL_END flag, big-endian"
        );
        // A range to the top of the space has no end element.
        let top = range_elements(Attrs::new(), Family::V4, (0xff000000, 0xffffffff)).into_bytes();
        assert!(!top.windows(4).any(|w| w == [0, 0, 0, 1]));
    }
}
