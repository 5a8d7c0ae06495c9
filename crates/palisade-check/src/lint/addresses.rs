//! ipBlocks: ranges over pod addresses, and "the internet" that is also every private
//! network.

use palisade_core::{Cidr, Peer};

use super::{peer_field, peers, some, Ctx, Finding, EGRESS_WORLD, IPBLOCK_PODS};

const PRIVATE_V4: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const PRIVATE_V6: [&str; 1] = ["fc00::/7"];

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
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
        // Pod addresses inside the block (outside its excepts).
        let covered: Vec<String> = cx
            .selectable()
            .filter(|(_, p)| p.ips.iter().any(|ip| b.contains(*ip)))
            .map(|(_, p)| p.key())
            .collect();
        if !covered.is_empty() && !world {
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
