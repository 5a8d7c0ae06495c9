//! ipBlocks: ranges over pod addresses, and "the internet" that is also every private
//! network.

use palisade_core::{Cidr, Peer};

use super::{peer_field, peers, some, Ctx, Finding, EGRESS_WORLD, IPBLOCK_PODS};

const PRIVATE_V4: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const PRIVATE_V6: [&str; 1] = ["fc00::/7"];

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    // Selectable pods' addresses, sorted per family: a block's pods are one range query.
    let mut by_address: [Vec<(u128, usize)>; 2] = Default::default();
    for (i, p) in cx.selectable() {
        for ip in &p.ips {
            let (f, n) = palisade_core::ip::ip_to_num(*ip);
            by_address[(f == palisade_core::ip::Family::V6) as usize].push((n, i));
        }
    }
    for v in &mut by_address {
        v.sort_unstable();
    }
    for (pi, ingress, ri, xi, peer) in peers(c) {
        let Peer::IpBlock(b) = peer else { continue };
        let field = peer_field(ingress, ri, xi).key("ipBlock");
        let world = b.cidr.prefix == 0;
        if world && !ingress {
            let private: &[&str] = if b.cidr.family == palisade_core::ip::Family::V4 {
                &PRIVATE_V4
            } else {
                &PRIVATE_V6
            };
            let missing: Vec<&str> = private
                .iter()
                .copied()
                .filter(|p| {
                    let p: Cidr = p.parse().expect("constant");
                    !b.except.iter().any(|e| e.covers(&p))
                })
                .collect();
            if !missing.is_empty() {
                out.push(
                    Finding::new(
                        EGRESS_WORLD,
                        cx.policy_object(pi),
                        field.clone(),
                        format!(
                            "egress to {} also allows the private ranges {} (pods, nodes, internal services)",
                            b.cidr,
                            missing.join(", ")
                        ),
                    )
                    .fix(palisade_load::emit::yaml(&serde_json::json!({
                        "ipBlock": {"cidr": b.cidr.to_string(), "except": private}
                    }))),
                );
            }
        }
        if world {
            continue;
        }
        // Pod addresses inside the block (outside its excepts), each pod once, in order.
        let (lo, hi) = b.cidr.range();
        let list = &by_address[(b.cidr.family == palisade_core::ip::Family::V6) as usize];
        let start = list.partition_point(|(n, _)| *n < lo);
        let mut inside: Vec<usize> = list[start..]
            .iter()
            .take_while(|(n, _)| *n <= hi)
            .filter(|(n, _)| b.contains(palisade_core::ip::num_to_ip(b.cidr.family, *n)))
            .map(|(_, i)| *i)
            .collect();
        inside.sort_unstable();
        inside.dedup();
        let covered: Vec<String> = inside.iter().map(|&i| c.pods[i].key()).collect();
        if !covered.is_empty() {
            out.push(
                Finding::new(
                    IPBLOCK_PODS,
                    cx.policy_object(pi),
                    field,
                    format!(
                        "ipBlock {} covers the addresses of {} pod(s) ({}): whether it matches their traffic depends on the CNI, and pod addresses change; select pods with podSelector/namespaceSelector instead",
                        b.cidr,
                        covered.len(),
                        some(&covered)
                    ),
                )
                .fix("except the pod network from the block, and allow pods by selector"),
            );
        }
    }
}
