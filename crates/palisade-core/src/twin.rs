//! Twins: endpoints that every policy judges alike, so that a change to one can be copied
//! from the other without recompiling (the dataplane's incremental path).
//!
//! - A pod's *twin* is an existing pod with the same namespace, labels, hostNetwork flag,
//!   container ports, node (and node it is, for hostNetwork pods) and address families, whose addresses fall inside and outside
//!   exactly the same ipBlock ranges and excepts. Selectors cannot tell them apart, named
//!   ports resolve alike, ipBlocks match alike: they share an equivalence class.
//! - An address's *address twin* is a non-pod address with the same ipBlock signature:
//!   what an address means to the policies once the pod that held it is gone.

use std::net::IpAddr;

use crate::ip::{ip_to_num, num_to_ip, Family};
use crate::model::{Cluster, Peer, Pod};

/// Every ipBlock of every policy rule (CIDRs and excepts), the only things that look at
/// addresses.
fn blocks(cluster: &Cluster) -> impl Iterator<Item = &crate::IpBlock> {
    cluster
        .policies
        .iter()
        .flat_map(|p| p.ingress.iter().chain(&p.egress))
        .flat_map(|r| &r.peers)
        .filter_map(|peer| match peer {
            Peer::IpBlock(b) => Some(b),
            _ => None,
        })
}

/// Every `networks` CIDR of every ClusterNetworkPolicy rule.
fn networks(cluster: &Cluster) -> impl Iterator<Item = &crate::Cidr> {
    cluster
        .cluster_policies
        .iter()
        .flat_map(|c| c.ingress.iter().chain(&c.egress))
        .flat_map(|r| &r.peers)
        .flat_map(|peer| match peer {
            crate::CnpPeer::Networks(cidrs) => cidrs.as_slice(),
            _ => &[],
        })
}

/// Whether every ipBlock CIDR and except, and every ClusterNetworkPolicy `networks` CIDR,
/// contains `a` exactly when it contains `b`.
pub fn same_address_signature(cluster: &Cluster, a: IpAddr, b: IpAddr) -> bool {
    Family::of(a) == Family::of(b)
        && blocks(cluster).all(|blk| {
            blk.cidr.contains(a) == blk.cidr.contains(b)
                && blk.except.iter().all(|e| e.contains(a) == e.contains(b))
        })
        && networks(cluster).all(|c| c.contains(a) == c.contains(b))
}

/// Addresses of `pod` paired with the twin's address of the same family, in order; `None`
/// when the families differ.
pub fn paired_ips(a: &Pod, b: &Pod) -> Option<Vec<(IpAddr, IpAddr)>> {
    let fam = |p: &Pod, f: Family| -> Vec<IpAddr> {
        p.ips.iter().copied().filter(|ip| Family::of(*ip) == f).collect()
    };
    let mut out = Vec::new();
    for f in [Family::V4, Family::V6] {
        let (x, y) = (fam(a, f), fam(b, f));
        if x.len() != y.len() {
            return None;
        }
        out.extend(x.into_iter().zip(y));
    }
    Some(out)
}

/// An existing pod that every policy judges exactly like `pod` (see the module doc), if any.
pub fn twin(cluster: &Cluster, pod: &Pod) -> Option<usize> {
    cluster.pods.iter().position(|t| {
        t.namespace == pod.namespace
            && t.host_network == pod.host_network
            && t.labels == pod.labels
            && t.ports == pod.ports
            && t.node == pod.node
            && crate::nodes::pod_as_node_direct(cluster, t) == crate::nodes::pod_as_node_direct(cluster, pod)
            && paired_ips(t, pod)
                .is_some_and(|pairs| pairs.iter().all(|(a, b)| same_address_signature(cluster, *a, *b)))
    })
}

/// A non-pod address that every policy judges like `ip` would be once no pod holds it:
/// a nearby address with the same ipBlock signature that is not `taken` by a pod.
pub fn address_twin(cluster: &Cluster, ip: IpAddr, taken: impl Fn(&IpAddr) -> bool) -> Option<IpAddr> {
    let (family, n) = ip_to_num(ip);
    let max = match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    };
    (1..=1024u128)
        .flat_map(|d| [n.checked_add(d), n.checked_sub(d)])
        .flatten()
        .filter(|c| *c <= max)
        .map(|c| num_to_ip(family, c))
        .find(|c| !taken(c) && same_address_signature(cluster, ip, *c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Namespace, Policy, PolicyTypes, Rule};
    use std::collections::HashSet;

    fn pod(name: &str, ip: &str) -> Pod {
        Pod {
            namespace: "x".into(),
            name: name.into(),
            labels: [("app".to_string(), "a".to_string())].into(),
            ips: vec![ip.parse().unwrap()],
            host_network: false,
            ports: Vec::new(),
            node: None,
            workload: None,
            source: None,
        }
    }

    fn cluster_with_block(cidr: &str, except: &[&str]) -> Cluster {
        let rule = Rule {
            peers: vec![Peer::IpBlock(crate::IpBlock {
                cidr: cidr.parse().unwrap(),
                except: except.iter().map(|e| e.parse().unwrap()).collect(),
            })],
            ports: Vec::new(),
        };
        Cluster {
            namespaces: vec![Namespace {
                name: "x".into(),
                labels: Default::default(),
                annotations: Default::default(),
            }],
            pods: vec![pod("a", "10.0.0.5")],
            policies: vec![Policy {
                namespace: "x".into(),
                name: "p".into(),
                pod_selector: Default::default(),
                types: PolicyTypes {
                    ingress: false,
                    egress: true,
                },
                ingress: Vec::new(),
                egress: vec![rule],
            }],
            externals: Vec::new(),
            nodes: Vec::new(),
            cluster_policies: Vec::new(),
            shadow_policies: Vec::new(),
            shadow_cluster_policies: Vec::new(),
        }
    }

    #[test]
    fn twins_need_the_same_labels_and_ipblock_signature() {
        let c = cluster_with_block("10.0.0.0/24", &["10.0.0.128/25"]);
        assert_eq!(twin(&c, &pod("b", "10.0.0.6")), Some(0));
        // Inside the except: the ipBlock treats it differently.
        assert_eq!(twin(&c, &pod("b", "10.0.0.200")), None);
        let mut other = pod("b", "10.0.0.6");
        other.labels.insert("tier".into(), "x".into());
        assert_eq!(twin(&c, &other), None);
        let mut v6 = pod("b", "fd00::6");
        v6.ips.push("10.0.0.7".parse().unwrap());
        assert_eq!(twin(&c, &v6), None, "families differ");
    }

    #[test]
    fn address_twin_is_a_free_address_on_the_same_side_of_every_block() {
        let c = cluster_with_block("10.0.0.0/24", &["10.0.0.8/29"]);
        let taken: HashSet<IpAddr> = ["10.0.0.6", "10.0.0.4"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // 10.0.0.6 and 10.0.0.4 are taken; 10.0.0.7 is free and, like .5, outside the except.
        let got = address_twin(&c, "10.0.0.5".parse().unwrap(), |a| taken.contains(a)).unwrap();
        assert_eq!(got, "10.0.0.7".parse::<IpAddr>().unwrap());
        let edge = address_twin(&c, "10.0.0.0".parse().unwrap(), |a| taken.contains(a)).unwrap();
        assert_eq!(edge, "10.0.0.1".parse::<IpAddr>().unwrap());
        let out = address_twin(&c, "10.0.1.0".parse().unwrap(), |a| taken.contains(a)).unwrap();
        assert!(!c.policies[0].egress[0]
            .peers
            .iter()
            .any(|p| matches!(p, Peer::IpBlock(b) if b.contains(out))));
    }
}
