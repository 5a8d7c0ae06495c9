//! ClusterNetworkPolicy in the compiled form. Subjects and `namespaces`/`pods` peers
//! become selector tokens beside the NetworkPolicy ones, so classes respect them;
//! `networks` and `nodes` peers become an address signature that every endpoint is looked
//! up in (pods included, whatever `--ipblock-pods` says, as the API asks); and each policy's
//! rules become [`CompiledRule`]s with their action.

use std::collections::HashMap;
use std::net::IpAddr;

use super::addresses::{ip_signatures_where, IpSignatures};
use super::groups::LabelGroups;
use super::*;
use crate::bits::BitSet;
use crate::ip::Cidr;
use crate::model::{Cluster, IpBlock};
use crate::selector::LabelSelector;
use crate::tiers::{tier_order, Action, CnpPeer, CnpSubject, Tier};

/// A ClusterNetworkPolicy rule over classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierRule {
    /// What the rule does when it matches (a Pass that fails closed is a Deny here).
    pub action: Action,
    /// Its peers as classes and its `protocols` as NetworkPolicy port entries.
    pub rule: CompiledRule,
}

/// A ClusterNetworkPolicy with its subject and rules resolved to classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledClusterPolicy {
    /// Admin or Baseline.
    pub tier: Tier,
    /// The classes its subject picks.
    pub selected: BitSet,
    /// Ingress rules, in written order.
    pub ingress: Vec<TierRule>,
    /// Egress rules, in written order.
    pub egress: Vec<TierRule>,
}

impl CompiledClusterPolicy {
    /// The ingress or the egress rules.
    pub fn rules(&self, ingress: bool) -> &[TierRule] {
        if ingress {
            &self.ingress
        } else {
            &self.egress
        }
    }
}

/// A ClusterNetworkPolicy peer before classes exist.
pub(super) enum CnpRef {
    /// Pods picked by a selector token.
    Token(usize),
    /// Endpoints inside one `networks` CIDR.
    Network(usize),
    /// Endpoints that are an address of the Nodes one selector picks.
    Nodes(usize),
}

/// Subjects and peers of every ClusterNetworkPolicy, as tokens and addresses.
pub(super) struct CnpTokens<'c> {
    /// The selector token of each policy's subject.
    pub(super) subject: Vec<usize>,
    /// Per policy, per direction (ingress, egress), per rule: its peers.
    pub(super) peers: Vec<[Vec<Vec<CnpRef>>; 2]>,
    /// Per policy, per direction, per rule: its `protocols` as port entries.
    pub(super) ports: Vec<[Vec<Vec<PolicyPort>>; 2]>,
    /// The distinct `networks` CIDRs, as ipBlocks without exceptions.
    pub(super) networks: Vec<IpBlock>,
    /// The distinct `nodes` selectors.
    pub(super) node_selectors: Vec<&'c LabelSelector>,
}

impl CnpTokens<'_> {
    /// Every port entry of every rule.
    pub(super) fn all_ports(&self) -> impl Iterator<Item = &PolicyPort> {
        self.ports.iter().flatten().flatten().flatten()
    }
}

/// Adds the tokens of subjects and pod/namespace peers to `token_groups` and gathers the
/// address peers.
pub(super) fn cluster_policy_tokens<'c>(
    cluster: &'c Cluster,
    groups: &LabelGroups<'c>,
    token_groups: &mut Vec<Vec<usize>>,
) -> CnpTokens<'c> {
    let mut memo: HashMap<(&LabelSelector, Option<&LabelSelector>), usize> = HashMap::new();
    let mut token = |namespaces: &'c LabelSelector, pods: Option<&'c LabelSelector>| {
        *memo.entry((namespaces, pods)).or_insert_with(|| {
            let mut gs = Vec::new();
            for ns in cluster.selected_namespaces(Some(namespaces), "") {
                gs.extend(groups.select_in(pods, ns));
            }
            token_groups.push(gs);
            token_groups.len() - 1
        })
    };
    let mut out = CnpTokens {
        subject: Vec::new(),
        peers: Vec::new(),
        ports: Vec::new(),
        networks: Vec::new(),
        node_selectors: Vec::new(),
    };
    let mut network_ids: HashMap<&Cidr, usize> = HashMap::new();
    let mut node_ids: HashMap<&LabelSelector, usize> = HashMap::new();
    for cnp in &cluster.cluster_policies {
        out.subject.push(match &cnp.subject {
            CnpSubject::Namespaces(n) => token(n, None),
            CnpSubject::Pods { namespaces, pods } => token(namespaces, Some(pods)),
        });
        let mut peers: [Vec<Vec<CnpRef>>; 2] = [Vec::new(), Vec::new()];
        let mut ports: [Vec<Vec<PolicyPort>>; 2] = [Vec::new(), Vec::new()];
        for (d, rules) in [&cnp.ingress, &cnp.egress].into_iter().enumerate() {
            for rule in rules {
                let mut refs = Vec::new();
                for peer in &rule.peers {
                    match peer {
                        CnpPeer::Namespaces(n) => refs.push(CnpRef::Token(token(n, None))),
                        CnpPeer::Pods { namespaces, pods } => {
                            refs.push(CnpRef::Token(token(namespaces, Some(pods))))
                        }
                        CnpPeer::Networks(cidrs) => {
                            for c in cidrs {
                                let id = *network_ids.entry(c).or_insert_with(|| {
                                    out.networks.push(IpBlock {
                                        cidr: c.clone(),
                                        except: Vec::new(),
                                    });
                                    out.networks.len() - 1
                                });
                                refs.push(CnpRef::Network(id));
                            }
                        }
                        CnpPeer::Nodes(sel) => {
                            let id = *node_ids.entry(sel).or_insert_with(|| {
                                out.node_selectors.push(sel);
                                out.node_selectors.len() - 1
                            });
                            refs.push(CnpRef::Nodes(id));
                        }
                        CnpPeer::DomainNames(_) | CnpPeer::Unknown => {}
                    }
                }
                peers[d].push(refs);
                ports[d].push(rule.policy_ports());
            }
        }
        out.peers.push(peers);
        out.ports.push(ports);
    }
    out
}

/// Which `networks` CIDRs and `nodes` selectors match each endpoint: endpoints alike in
/// both share one signature.
pub(super) struct CnpAddresses {
    /// The signature of each endpoint.
    pub(super) of_endpoint: Vec<usize>,
    /// Each signature's networks and node selectors.
    pub(super) sigs: Vec<(usize, BitSet)>,
    /// The network sets, by the first half of a signature.
    pub(super) networks: IpSignatures,
}

/// Looks every endpoint up in the `networks` CIDRs (all pods: these match pod addresses
/// whatever `--ipblock-pods` says) and the `nodes` selectors' addresses (host-network pods
/// and single addresses only).
pub(super) fn cnp_addresses(cluster: &Cluster, tokens: &CnpTokens<'_>) -> CnpAddresses {
    let blocks: Vec<&IpBlock> = tokens.networks.iter().collect();
    let networks = ip_signatures_where(cluster, |_| true, &blocks);
    let k = tokens.node_selectors.len();
    let mut node_at: HashMap<IpAddr, BitSet> = HashMap::new();
    for node in &cluster.nodes {
        for (s, sel) in tokens.node_selectors.iter().enumerate() {
            if sel.matches(&node.labels) {
                for a in &node.addresses {
                    node_at.entry(*a).or_insert_with(|| BitSet::new(k)).insert(s);
                }
            }
        }
    }
    let nodes_of = |ips: &mut dyn Iterator<Item = IpAddr>| {
        let mut s = BitSet::new(k);
        for ip in ips {
            if let Some(b) = node_at.get(&ip) {
                s.union_with(b);
            }
        }
        s
    };
    let pods = cluster.pods.len();
    let mut ids: HashMap<(usize, BitSet), usize> = HashMap::new();
    let mut sigs = Vec::new();
    let mut of_endpoint = Vec::with_capacity(networks.of_endpoint.len());
    for (e, &net) in networks.of_endpoint.iter().enumerate() {
        let nodes = if e < pods {
            let pod = &cluster.pods[e];
            if pod.host_network {
                nodes_of(&mut pod.ips.iter().copied())
            } else {
                BitSet::new(k)
            }
        } else {
            let x = &cluster.externals[e - pods].cidr;
            if x.is_host() {
                nodes_of(&mut std::iter::once(x.network_ip()))
            } else {
                BitSet::new(k)
            }
        };
        let next = ids.len();
        let id = *ids.entry((net, nodes.clone())).or_insert_with(|| {
            sigs.push((net, nodes));
            next
        });
        of_endpoint.push(id);
    }
    CnpAddresses {
        of_endpoint,
        sigs,
        networks,
    }
}

/// The classes inside each `networks` CIDR and each `nodes` selector's addresses.
pub(super) fn cnp_address_classes(
    class_sig: &[usize],
    addresses: &CnpAddresses,
    tokens: &CnpTokens<'_>,
) -> (Vec<BitSet>, Vec<BitSet>) {
    let n = class_sig.len();
    let mut networks = vec![BitSet::new(n); tokens.networks.len()];
    let mut nodes = vec![BitSet::new(n); tokens.node_selectors.len()];
    for (c, &sig) in class_sig.iter().enumerate() {
        let (net, node_bits) = &addresses.sigs[sig];
        for b in addresses.networks.blocks[*net].iter() {
            networks[b].insert(c);
        }
        for s in node_bits.iter() {
            nodes[s].insert(c);
        }
    }
    (networks, nodes)
}

/// Every ClusterNetworkPolicy over classes; each class learns the ones selecting it, in
/// the order they are read (Admin by priority and name, then Baseline).
pub(super) fn compile_cluster_policies(
    cluster: &Cluster,
    classes: &mut [Class],
    tokens: &mut CnpTokens<'_>,
    token_classes: &[BitSet],
    address_classes: &(Vec<BitSet>, Vec<BitSet>),
) -> Vec<CompiledClusterPolicy> {
    let n = classes.len();
    let mut out = Vec::with_capacity(cluster.cluster_policies.len());
    for (ci, cnp) in cluster.cluster_policies.iter().enumerate() {
        let mut dirs: [Vec<TierRule>; 2] = [Vec::new(), Vec::new()];
        for (d, rules) in [&cnp.ingress, &cnp.egress].into_iter().enumerate() {
            for (ri, rule) in rules.iter().enumerate() {
                let peers = if rule.fails_closed() {
                    BitSet::full(n)
                } else {
                    let mut s = BitSet::new(n);
                    for r in &tokens.peers[ci][d][ri] {
                        match r {
                            CnpRef::Token(t) => s.union_with(&token_classes[*t]),
                            CnpRef::Network(b) => s.union_with(&address_classes.0[*b]),
                            CnpRef::Nodes(k) => s.union_with(&address_classes.1[*k]),
                        }
                    }
                    s
                };
                dirs[d].push(TierRule {
                    action: rule.effective_action(),
                    rule: CompiledRule {
                        peers,
                        ports: std::mem::take(&mut tokens.ports[ci][d][ri]),
                        numeric: [BitSet::new(0), BitSet::new(0), BitSet::new(0)],
                    },
                });
            }
        }
        let [ingress, egress] = dirs;
        out.push(CompiledClusterPolicy {
            tier: cnp.tier,
            selected: token_classes[tokens.subject[ci]].clone(),
            ingress,
            egress,
        });
    }
    for tier in [Tier::Admin, Tier::Baseline] {
        for ci in tier_order(cluster, tier) {
            for c in out[ci].selected.iter() {
                classes[c].cluster_policies.push(ci);
            }
        }
    }
    out
}
