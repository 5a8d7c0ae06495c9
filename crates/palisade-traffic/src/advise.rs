//! Least-privilege policies from observed traffic ([`advise()`]; the ClusterNetworkPolicy
//! form is [`advise_cluster_wide`]). NetworkPolicies: per namespace a default deny
//! both ways and DNS egress to cluster DNS; per destination workload an ingress policy
//! admitting exactly the sources seen, per source workload an egress policy to exactly the
//! destinations seen, on exactly the ports seen (by name where the destination declares
//! one). Pods are chosen by their workload's stable labels (never `pod-template-hash` and
//! the like), namespaces by `kubernetes.io/metadata.name`, addresses outside the pods by
//! blocks of `cidr_prefix` bits. What that selects beyond what was seen is listed
//! ([`Advice::beyond`]); `strict` generalises nothing (every label, one address per block).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use palisade_check::scaffold::{dns_egress_spec, ScaffoldOptions};
use palisade_core::{Cidr, Cluster, Labels, Protocol};
use serde_json::{json, Map, Value};

use crate::connections::Connections;
use crate::observed::Peer;

/// Labels the controllers add per revision or per pod: never used to select.
const VOLATILE: [&str; 7] = [
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "pod-template-generation",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
];

/// How far advice generalises.
#[derive(Clone, Debug)]
pub struct AdviseOptions {
    /// Addresses outside the pods are allowed by blocks of this many bits (IPv4).
    pub cidr_prefix: u8,
    /// Every label of a pod selects it, and every address is its own block.
    pub strict: bool,
    /// Cluster DNS, and the namespaces left alone (as `scaffold zero-trust`).
    pub scaffold: ScaffoldOptions,
    /// Write the policies staged (`palisade.dev/mode: shadow`): not enforced until the
    /// annotation goes.
    pub shadow: bool,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions {
            cidr_prefix: 32,
            strict: false,
            scaffold: ScaffoldOptions::default(),
            shadow: false,
        }
    }
}

/// One advised NetworkPolicy.
#[derive(Clone, Debug, PartialEq)]
pub struct Advised {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its `spec`.
    pub spec: Value,
    /// Staged (`palisade.dev/mode: shadow`) rather than enforced.
    pub shadow: bool,
    /// A ClusterNetworkPolicy (`namespace` is then empty), else a NetworkPolicy.
    pub cluster_wide: bool,
}

impl Advised {
    /// The object (apiVersion, kind, metadata, spec).
    pub fn object(&self) -> Value {
        let mut metadata = json!({"name": self.name,
                                  "labels": {"app.kubernetes.io/managed-by": "palisade-advise"}});
        if !self.cluster_wide {
            metadata["namespace"] = json!(self.namespace);
        }
        if self.shadow {
            metadata["annotations"] = json!({ palisade_core::MODE_ANNOTATION: "shadow" });
        }
        let (api, kind) = if self.cluster_wide {
            ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
        } else {
            ("networking.k8s.io/v1", "NetworkPolicy")
        };
        json!({
            "apiVersion": api,
            "kind": kind,
            "metadata": metadata,
            "spec": self.spec,
        })
    }
}

/// The advice: the policies, and what they allow beyond what was seen.
#[derive(Clone, Debug, Default)]
pub struct Advice {
    /// Policies by namespace, in order (ClusterNetworkPolicies: one list).
    pub policies: Vec<Advised>,
    /// The namespaces advised for (with pods, not skipped).
    pub namespaces: BTreeSet<String>,
    /// Sentences: what a policy selects that was not seen doing what it allows.
    pub beyond: Vec<String>,
    /// Connections that went through and were advised for.
    pub connections: usize,
    /// Connections only ever denied: not advised (they were not traffic).
    pub denied_only: usize,
    /// Connections left out, with why (between addresses, or inside a namespace left
    /// alone).
    pub left_out: Vec<String>,
}

/// A peer of an advised rule: a group of pods, or a block of addresses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Pods {
        namespace: String,
        labels: Labels,
    },
    /// A block's network address and prefix.
    Block(IpAddr, u8),
}

/// A `ports` item: a number, or the destination's name for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PortItem {
    Number(Protocol, u16),
    Named(Protocol, String),
}

/// A workload as advice sees it: its namespace and the labels that select it.
type Group = (String, Labels);

fn selector_labels(labels: &Labels, strict: bool) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| strict || !VOLATILE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn block(ip: IpAddr, prefix: u8, strict: bool) -> Side {
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = if strict { bits } else { prefix.min(bits) };
    let network = match ip {
        IpAddr::V4(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    Side::Block(network, prefix)
}

fn cidr(network: IpAddr, prefix: u8) -> Cidr {
    Cidr::new(network, prefix).expect("host bits cleared")
}

fn match_labels(labels: &Labels) -> Value {
    json!({"matchLabels": labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>()})
}

/// A `from`/`to` item; `own` is the policy's namespace (same-namespace pods need no
/// namespaceSelector).
fn peer_json(side: &Side, own: &str) -> Value {
    match side {
        Side::Pods { namespace, labels } if namespace == own => json!({"podSelector": match_labels(labels)}),
        Side::Pods { namespace, labels } => json!({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "podSelector": match_labels(labels),
        }),
        Side::Block(ip, prefix) => json!({"ipBlock": {"cidr": cidr(*ip, *prefix).to_string()}}),
    }
}

/// A name Kubernetes takes: lowercase letters, digits and dashes, at most 63 characters.
fn dns_name(base: &str, suffix: &str) -> String {
    let mut s: String = base
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(63 - suffix.len() - 1);
    let s = s.trim_matches('-');
    format!("{}-{suffix}", if s.is_empty() { "pods" } else { s })
}

/// Peers grouped by the ports they were seen on, as written (a number, or the name the
/// destination gives it): peers with the same ports share a rule. `peer_value` writes a
/// peer as the policy kind does.
fn by_ports(
    peers: &BTreeMap<Side, BTreeSet<(Protocol, u16)>>,
    name_of: &dyn Fn(&Side, Protocol, u16) -> Option<String>,
    peer_value: &dyn Fn(&Side) -> Value,
) -> BTreeMap<Vec<PortItem>, Vec<Value>> {
    let mut by_ports: BTreeMap<Vec<PortItem>, Vec<Value>> = BTreeMap::new();
    for (side, ports) in peers {
        let ports: Vec<PortItem> = ports
            .iter()
            .map(|&(proto, port)| match name_of(side, proto, port) {
                Some(name) => PortItem::Named(proto, name),
                None => PortItem::Number(proto, port),
            })
            .collect();
        by_ports.entry(ports).or_default().push(peer_value(side));
    }
    by_ports
}

/// NetworkPolicy rules from peers and their ports.
fn rules(
    peers: &BTreeMap<Side, BTreeSet<(Protocol, u16)>>,
    own: &str,
    key: &str,
    name_of: &dyn Fn(&Side, Protocol, u16) -> Option<String>,
) -> Vec<Value> {
    let by_ports = by_ports(peers, name_of, &|side| peer_json(side, own));
    by_ports
        .into_iter()
        .map(|(ports, peers)| {
            let ports: Vec<Value> = ports
                .into_iter()
                .map(|p| match p {
                    PortItem::Number(proto, n) => json!({"protocol": proto.as_str(), "port": n}),
                    PortItem::Named(proto, name) => json!({"protocol": proto.as_str(), "port": name}),
                })
                .collect();
            json!({ key: peers, "ports": ports })
        })
        .collect()
}

/// Ports per peer of one advised group.
type Peers = BTreeMap<Side, BTreeSet<(Protocol, u16)>>;

/// What the observed connections say, gathered once for either form of advice.
struct Observed<'c> {
    cluster: &'c Cluster,
    /// Per destination group, its sources and ports.
    ingress: BTreeMap<Group, Peers>,
    /// Per source group, its destinations and ports.
    egress: BTreeMap<Group, Peers>,
    /// What was seen, for what the policies allow beyond it: (group, peer) -> pods or
    /// addresses.
    seen_peers: BTreeMap<(Group, Side), BTreeSet<String>>,
    /// A pod of each group.
    rep: BTreeMap<Group, usize>,
    /// Namespaces with selectable pods, but the skipped ones.
    namespaces: BTreeSet<String>,
    /// Selectable pods by namespace.
    in_namespace: HashMap<String, Vec<usize>>,
}

/// Folds the connections that went through into groups and their peers.
fn observe<'c>(
    cluster: &'c Cluster,
    conns: &Connections,
    o: &AdviseOptions,
    advice: &mut Advice,
) -> Observed<'c> {
    let by_name: HashMap<(&str, &str), usize> = cluster
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.namespace.as_str(), p.name.as_str()), i))
        .collect();
    let mut by_ip: HashMap<IpAddr, usize> = HashMap::new();
    for (i, p) in cluster.pods.iter().enumerate().filter(|(_, p)| !p.host_network) {
        for ip in &p.ips {
            by_ip.entry(*ip).or_insert(i);
        }
    }
    let pod_of = |peer: &Peer| match peer {
        Peer::Pod { namespace, name } => by_name.get(&(namespace.as_str(), name.as_str())).copied(),
        Peer::Address(a) => by_ip.get(a).copied(),
    };
    let skipped = |ns: &str| o.scaffold.skip_namespaces.iter().any(|s| s == ns);
    let group = |i: usize| -> Group {
        let p = &cluster.pods[i];
        (p.namespace.clone(), selector_labels(&p.labels, o.strict))
    };
    let mut ob = Observed {
        cluster,
        ingress: BTreeMap::new(),
        egress: BTreeMap::new(),
        seen_peers: BTreeMap::new(),
        rep: BTreeMap::new(),
        namespaces: BTreeSet::new(),
        in_namespace: HashMap::new(),
    };
    for (k, c) in conns.iter() {
        if !c.went_through() {
            advice.denied_only += 1;
            continue;
        }
        let (s, d) = (pod_of(&k.src), pod_of(&k.dst));
        if s.is_none() && d.is_none() {
            advice.left_out.push(format!(
                "{} -> {} {}/{}: neither end is a pod",
                k.src, k.dst, k.port, k.protocol
            ));
            continue;
        }
        advice.connections += 1;
        let side = |pod: Option<usize>, ip: IpAddr| match pod {
            Some(i) => {
                let (namespace, labels) = group(i);
                Side::Pods { namespace, labels }
            }
            None => block(ip, o.cidr_prefix, o.strict),
        };
        let (src_side, dst_side) = (side(s, c.src_ip), side(d, c.dst_ip));
        let name = |pod: Option<usize>, ip: IpAddr| pod.map_or(ip.to_string(), |i| cluster.pods[i].key());
        if let Some(d) = d.filter(|&d| !skipped(&cluster.pods[d].namespace)) {
            let g = group(d);
            ob.rep.entry(g.clone()).or_insert(d);
            ob.ingress
                .entry(g.clone())
                .or_default()
                .entry(src_side.clone())
                .or_default()
                .insert((k.protocol, k.port));
            ob.seen_peers
                .entry((g, src_side.clone()))
                .or_default()
                .insert(name(s, c.src_ip));
        }
        if let Some(s) = s.filter(|&s| !skipped(&cluster.pods[s].namespace) && !cluster.pods[s].host_network)
        {
            let g = group(s);
            ob.rep.entry(g.clone()).or_insert(s);
            ob.egress
                .entry(g.clone())
                .or_default()
                .entry(dst_side.clone())
                .or_default()
                .insert((k.protocol, k.port));
            ob.seen_peers
                .entry((g, dst_side))
                .or_default()
                .insert(name(d, c.dst_ip));
        }
    }
    for (i, p) in cluster.pods.iter().enumerate().filter(|(_, p)| !p.host_network) {
        ob.in_namespace.entry(p.namespace.clone()).or_default().push(i);
        if !skipped(&p.namespace) {
            ob.namespaces.insert(p.namespace.clone());
        }
    }
    ob
}

impl Observed<'_> {
    /// The port's name where the group's pods declare it.
    fn declared(&self, g: &Group, proto: Protocol, port: u16) -> Option<String> {
        let i = *self.rep.get(g)?;
        self.cluster.pods[i]
            .ports
            .iter()
            .find(|p| p.port == port && p.protocol == proto)
            .and_then(|p| p.name.clone())
    }

    /// The port's name where the peer (a group of pods) declares it.
    fn peer_declares(&self, side: &Side, proto: Protocol, port: u16) -> Option<String> {
        let Side::Pods { namespace, labels } = side else {
            return None;
        };
        self.declared(&(namespace.clone(), labels.clone()), proto, port)
    }

    /// The workload's name (or the pod's), to name policies after.
    fn workload_name(&self, g: &Group) -> String {
        let p = &self.cluster.pods[self.rep[g]];
        p.workload.as_ref().map_or(p.name.clone(), |w| w.name.clone())
    }

    /// What `policy` (as named in sentences) for group `g` allows beyond what was seen.
    fn beyond(&self, policy: &str, g: &Group, peers: &Peers) -> Vec<String> {
        beyond(
            self.cluster,
            &self.in_namespace,
            policy,
            g,
            peers,
            &self.seen_peers,
        )
    }
}

/// What to advise for `conns` over the pods of `cluster`: NetworkPolicies.
pub fn advise(cluster: &Cluster, conns: &Connections, o: &AdviseOptions) -> Advice {
    let mut advice = Advice::default();
    let ob = observe(cluster, conns, o, &mut advice);
    advice.namespaces = ob.namespaces.clone();
    for ns in &ob.namespaces {
        let ns = ns.as_str();
        advice.policies.push(Advised {
            namespace: ns.to_string(),
            name: "default-deny".into(),
            spec: json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            shadow: o.shadow,
            cluster_wide: false,
        });
        advice.policies.push(Advised {
            namespace: ns.to_string(),
            name: "allow-dns".into(),
            spec: dns_egress_spec(&o.scaffold.dns_namespace, &o.scaffold.dns_labels),
            shadow: o.shadow,
            cluster_wide: false,
        });
        let mut taken: BTreeSet<String> = ["default-deny".to_string(), "allow-dns".to_string()].into();
        for (dir, map, key) in [("ingress", &ob.ingress, "from"), ("egress", &ob.egress, "to")] {
            for (g, peers) in map.iter().filter(|(g, _)| g.0 == ns) {
                let name = unique(&mut taken, dns_name(&ob.workload_name(g), dir));
                let kind = if dir == "ingress" { "Ingress" } else { "Egress" };
                let own_declares = |_: &Side, proto: Protocol, port: u16| ob.declared(g, proto, port);
                let peer_declares =
                    |side: &Side, proto: Protocol, port: u16| ob.peer_declares(side, proto, port);
                let rules = if dir == "ingress" {
                    rules(peers, ns, key, &own_declares)
                } else {
                    rules(peers, ns, key, &peer_declares)
                };
                let spec = json!({
                    "podSelector": match_labels(&g.1),
                    "policyTypes": [kind],
                    dir: rules,
                });
                advice.beyond.extend(ob.beyond(&format!("{ns}/{name}"), g, peers));
                advice.policies.push(Advised {
                    namespace: ns.to_string(),
                    name,
                    spec,
                    shadow: o.shadow,
                    cluster_wide: false,
                });
            }
        }
    }
    advice
}

/// `base`, or `base-2`, `base-3`, … : the first not in `taken` (then taken).
fn unique(taken: &mut BTreeSet<String>, base: String) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Priorities of the cluster-wide advice: DNS in the Admin tier, the workloads' Accepts
/// and then the default deny in the Baseline tier.
const DNS_PRIORITY: u16 = 10;
const ACCEPT_PRIORITY: u16 = 100;
const DENY_PRIORITY: u16 = 1000;

/// A ClusterNetworkPolicy peer for a side (a group of pods, or a block for `networks`).
fn cnp_peer(side: &Side) -> Value {
    match side {
        Side::Pods { namespace, labels } => json!({"pods": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "podSelector": match_labels(labels),
        }}),
        Side::Block(ip, prefix) => json!({"networks": [cidr(*ip, *prefix).to_string()]}),
    }
}

/// ClusterNetworkPolicy rules from peers and their ports (names come only for pods:
/// ingress peers are pods, and an egress block's port has no destination to name it;
/// `destinationNamedPort` cannot go with `networks` either).
fn cnp_rules(
    peers: &Peers,
    key: &str,
    name_of: &dyn Fn(&Side, Protocol, u16) -> Option<String>,
) -> Vec<Value> {
    let by_ports = by_ports(peers, name_of, &cnp_peer);
    by_ports
        .into_iter()
        .enumerate()
        .map(|(i, (ports, peers))| {
            let protocols: Vec<Value> = ports
                .into_iter()
                .map(|p| match p {
                    PortItem::Number(proto, n) => {
                        json!({ proto.as_str().to_lowercase(): {"destinationPort": {"number": n}} })
                    }
                    PortItem::Named(_, name) => json!({"destinationNamedPort": name}),
                })
                .collect();
            json!({"name": format!("seen-{i}"), "action": "Accept", key: peers, "protocols": protocols})
        })
        .collect()
}

/// What to advise for `conns` over the pods of `cluster`, as ClusterNetworkPolicies:
/// - Admin `advise-allow-dns` (priority 10): egress to cluster DNS, which no
///   NetworkPolicy takes away;
/// - Baseline per workload (priority 100): Accept of exactly what was seen, ingress from
///   its sources, egress to its destinations;
/// - Baseline `advise-default-deny` (priority 1000): ingress from every pod and egress to
///   every pod and address denied, for the namespaces advised.
///
/// The Baseline tier sits below NetworkPolicies: a namespace's owners still decide for the
/// pods their policies isolate. ClusterNetworkPolicy ingress peers are pods only, so
/// ingress from addresses outside the pods is neither allowed nor denied here (said in
/// `left_out`).
pub fn advise_cluster_wide(cluster: &Cluster, conns: &Connections, o: &AdviseOptions) -> Advice {
    let mut advice = Advice::default();
    let ob = observe(cluster, conns, o, &mut advice);
    advice.namespaces = ob.namespaces.clone();
    if ob.namespaces.is_empty() {
        return advice;
    }
    let subject = json!({"namespaces": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ob.namespaces.iter().collect::<Vec<_>>(),
    }]}});
    let cnp = |name: String, tier: &str, priority: u16, mut spec: Value| {
        spec["tier"] = json!(tier);
        spec["priority"] = json!(priority);
        Advised {
            namespace: String::new(),
            name,
            spec,
            shadow: o.shadow,
            cluster_wide: true,
        }
    };
    let mut dns = dns_egress_spec(&o.scaffold.dns_namespace, &o.scaffold.dns_labels);
    let dns_pods = dns["egress"][0]["to"][0].take();
    advice.policies.push(cnp(
        "advise-allow-dns".into(),
        "Admin",
        DNS_PRIORITY,
        json!({
            "subject": subject,
            "egress": [{
                "name": "cluster-dns",
                "action": "Accept",
                "to": [{"pods": dns_pods}],
                "protocols": [
                    {"udp": {"destinationPort": {"number": 53}}},
                    {"tcp": {"destinationPort": {"number": 53}}},
                ],
            }],
        }),
    ));
    let mut taken: BTreeSet<String> =
        ["advise-allow-dns".to_string(), "advise-default-deny".to_string()].into();
    for (dir, map, key) in [("ingress", &ob.ingress, "from"), ("egress", &ob.egress, "to")] {
        for (g, peers) in map {
            let mut peers = peers.clone();
            if dir == "ingress" {
                peers.retain(|side, ports| {
                    let pods = matches!(side, Side::Pods { .. });
                    if let (false, Side::Block(ip, prefix)) = (pods, side) {
                        advice.left_out.push(format!(
                            "ingress from {} to {}/{} on {}: a ClusterNetworkPolicy selects pods only as ingress peers (left open)",
                            cidr(*ip, *prefix),
                            g.0,
                            labels_text(&g.1),
                            ports.iter().map(|(p, n)| format!("{n}/{p}")).collect::<Vec<_>>().join(",")
                        ));
                    }
                    pods
                });
                if peers.is_empty() {
                    continue;
                }
            }
            let base = format!("advise-{}-{}", g.0, ob.workload_name(g));
            let name = unique(&mut taken, dns_name(&base, dir));
            let rules = if dir == "ingress" {
                cnp_rules(&peers, key, &|_, proto, port| ob.declared(g, proto, port))
            } else {
                cnp_rules(&peers, key, &|side, proto, port| {
                    ob.peer_declares(side, proto, port)
                })
            };
            let subject = json!({"pods": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": g.0}},
                "podSelector": match_labels(&g.1),
            }});
            advice.beyond.extend(ob.beyond(&name, g, &peers));
            advice.policies.push(cnp(
                name,
                "Baseline",
                ACCEPT_PRIORITY,
                json!({"subject": subject, dir: rules}),
            ));
        }
    }
    advice.policies.push(cnp(
        "advise-default-deny".into(),
        "Baseline",
        DENY_PRIORITY,
        json!({
            "subject": subject,
            "ingress": [{"name": "all-pods", "action": "Deny", "from": [{"namespaces": {}}]}],
            "egress": [{"name": "everything", "action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}],
        }),
    ));
    advice
}

/// What `policy` (`ns/name`, or a ClusterNetworkPolicy's name) for group `g` admits that
/// was not seen.
fn beyond(
    cluster: &Cluster,
    in_namespace: &HashMap<String, Vec<usize>>,
    policy: &str,
    g: &Group,
    peers: &BTreeMap<Side, BTreeSet<(Protocol, u16)>>,
    seen: &BTreeMap<(Group, Side), BTreeSet<String>>,
) -> Vec<String> {
    let selects = |namespace: &str, labels: &Labels| -> Vec<String> {
        in_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|&i| &cluster.pods[i])
            .filter(|p| labels.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .map(|p| p.key())
            .collect()
    };
    let list = |v: &[String]| {
        let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
        format!("{}{}", shown.join(", "), if v.len() > 5 { ", …" } else { "" })
    };
    let mut out = Vec::new();
    for side in peers.keys() {
        let seen_here = seen.get(&(g.clone(), side.clone())).cloned().unwrap_or_default();
        match side {
            Side::Pods { namespace, labels } => {
                let unseen: Vec<String> = selects(namespace, labels)
                    .into_iter()
                    .filter(|p| !seen_here.contains(p))
                    .collect();
                if !unseen.is_empty() {
                    out.push(format!(
                        "{policy} also allows {} other pod(s) of {} in {namespace}, which were not seen: {}",
                        unseen.len(),
                        labels_text(labels),
                        list(&unseen)
                    ));
                }
            }
            Side::Block(ip, prefix) => {
                let c = cidr(*ip, *prefix);
                let host_bits = u32::from(c.family.bits() - c.prefix).min(127);
                let size: u128 = 1u128 << host_bits;
                let others = size.saturating_sub(seen_here.len() as u128);
                if others > 0 {
                    out.push(format!(
                        "{policy} also allows {others} other address(es) of {c}, which were not seen"
                    ));
                }
            }
        }
    }
    out
}

fn labels_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return "every pod".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
