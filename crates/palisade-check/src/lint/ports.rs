//! Ports: named ports nobody declares, SCTP.

use palisade_core::{Peer, PortMatch, Protocol};

use super::{rule_field, Ctx, Finding, NAMED_PORT_UNDECLARED, SCTP};

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    for (pi, policy) in c.policies.iter().enumerate() {
        for (ingress, rules) in [(true, &policy.ingress), (false, &policy.egress)] {
            for (ri, rule) in rules.iter().enumerate() {
                for (xi, port) in rule.ports.iter().enumerate() {
                    let field = rule_field(ingress, ri).key("ports").index(xi);
                    if port.protocol == Protocol::Sctp {
                        out.push(Finding::new(
                            SCTP,
                            cx.policy_object(pi),
                            field.clone(),
                            "SCTP rule: make sure the CNI enforces SCTP (and that the sctp module is loaded on the nodes)",
                        ));
                    }
                    let PortMatch::Named(name) = &port.port else {
                        continue;
                    };
                    // The pods the name resolves on: the selected pods for ingress, the
                    // destinations for egress.
                    let targets: Vec<usize> = if ingress {
                        cx.pods.subject_pods(policy)
                    } else if rule.peers.is_empty() {
                        cx.selectable().map(|(i, _)| i).collect()
                    } else {
                        let mut t: Vec<usize> = rule
                            .peers
                            .iter()
                            .flat_map(|peer| match peer {
                                Peer::Pods {
                                    namespace_selector,
                                    pod_selector,
                                } => cx.pods.peer_pods(
                                    &policy.namespace,
                                    namespace_selector.as_ref(),
                                    pod_selector.as_ref(),
                                ),
                                Peer::IpBlock(b) => cx
                                    .selectable()
                                    .filter(|(_, p)| p.ips.iter().any(|ip| b.contains(*ip)))
                                    .map(|(i, _)| i)
                                    .collect(),
                            })
                            .collect();
                        t.sort_unstable();
                        t.dedup();
                        t
                    };
                    if targets.is_empty() {
                        continue; // a selector selecting nothing is reported on its own
                    }
                    if targets
                        .iter()
                        .any(|&i| c.pods[i].named_port(name, port.protocol).is_some())
                    {
                        continue;
                    }
                    out.push(
                        Finding::new(
                            NAMED_PORT_UNDECLARED,
                            cx.policy_object(pi),
                            field,
                            format!(
                                "named port `{name}` ({}) is declared by none of the {} {} pod(s): this port item matches nothing",
                                port.protocol,
                                targets.len(),
                                if ingress { "selected" } else { "destination" }
                            ),
                        )
                        .fix(format!("name the container port `{name}` in the pod template, or use the port number")),
                    );
                }
            }
        }
    }
}
