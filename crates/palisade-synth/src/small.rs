//! Small random clusters for checking the engine against its direct evaluator. One
//! generator reads its choices from a [`Choose`]: the fuzz target gives [`cluster`] the
//! fuzzer's bytes ([`Bytes`]); the property test (palisade-core) builds each part
//! ([`namespaces`], [`pod`], [`policy`], [`externals`]) from its own proptest-drawn list
//! of numbers ([`Choices`]) and [`assemble`]s them, so that a failing cluster shrinks part
//! by part (a pod or a policy dropped, a choice made simpler) without the others moving. A choice of 0 is always the simplest (fewest pods, policies, rules and
//! labels; the first of a list), and both sources give zeros once they run out, so a
//! shorter or smaller list is a smaller cluster. [`matrix_equals_direct`] is the
//! comparison both run.

use std::net::IpAddr;

use palisade_core::*;

/// Where the choices come from.
pub trait Choose {
    /// The next raw choice.
    fn next(&mut self) -> u64;
    /// A choice in `0..n` (0 is the simplest).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with a chance of `pct` percent (false, from a 0, is the simplest).
    fn chance(&mut self, pct: u64) -> bool {
        99 - self.below(100) < pct
    }
    /// One element of `v` (the first is the simplest).
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// xorshift64, seeded.
pub struct XorShift(pub u64);

impl Choose for XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Choices read from a list (a proptest-drawn `Vec<u64>`); zeros once it runs out.
pub struct Choices<'a>(pub &'a [u64]);

impl Choose for Choices<'_> {
    fn next(&mut self) -> u64 {
        match self.0.split_first() {
            Some((c, rest)) => {
                self.0 = rest;
                *c
            }
            None => 0,
        }
    }
}

/// Choices read from bytes (a fuzzer's input), a byte each; zeros once they run out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Choose for Bytes<'_> {
    fn next(&mut self) -> u64 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b as u64
            }
            None => 0,
        }
    }
}

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const KEYS: [&str; 3] = ["app", "tier", "env"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const PORT_NAMES: [&str; 2] = ["web", "metrics"];
const PORTS: [u16; 6] = [53, 80, 81, 443, 8080, 9090];

fn labels(rng: &mut impl Choose) -> Labels {
    let mut l = Labels::new();
    for k in KEYS {
        if rng.chance(60) {
            l.insert(k.to_string(), rng.pick(&VALUES).to_string());
        }
    }
    l
}

fn selector(rng: &mut impl Choose) -> LabelSelector {
    let mut requirements = Vec::new();
    for _ in 0..rng.below(3) {
        let key = rng.pick(&KEYS).to_string();
        let operator = *rng.pick(&[
            Operator::In,
            Operator::NotIn,
            Operator::Exists,
            Operator::DoesNotExist,
        ]);
        let values = match operator {
            Operator::In | Operator::NotIn => (0..1 + rng.below(2))
                .map(|_| rng.pick(&VALUES).to_string())
                .collect(),
            _ => vec![],
        };
        requirements.push(Requirement {
            key,
            operator,
            values,
        });
    }
    LabelSelector { requirements }
}

fn cidr(rng: &mut impl Choose) -> Cidr {
    let v4 = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.0.0/24",
        "10.1.1.0/24",
        "10.1.0.4/30",
        "0.0.0.0/0",
        "192.168.0.0/16",
        "10.1.0.3/32",
    ];
    let v6 = ["fd00::/8", "fd00::/120", "fd00::4/126", "::/0"];
    if rng.chance(80) {
        rng.pick(&v4).parse().unwrap()
    } else {
        rng.pick(&v6).parse().unwrap()
    }
}

fn ip_block(rng: &mut impl Choose) -> IpBlock {
    let c = cidr(rng);
    let mut except = Vec::new();
    for _ in 0..rng.below(3) {
        let e = cidr(rng);
        // Keep the API rule: except strictly inside cidr.
        if c.covers(&e) && e.prefix > c.prefix {
            except.push(e);
        }
    }
    IpBlock { cidr: c, except }
}

fn peer(rng: &mut impl Choose) -> Peer {
    match rng.below(4) {
        0 => Peer::IpBlock(ip_block(rng)),
        1 => Peer::Pods {
            namespace_selector: None,
            pod_selector: Some(selector(rng)),
        },
        2 => Peer::Pods {
            namespace_selector: Some(selector(rng)),
            pod_selector: None,
        },
        _ => Peer::Pods {
            namespace_selector: Some(selector(rng)),
            pod_selector: Some(selector(rng)),
        },
    }
}

fn port(rng: &mut impl Choose) -> PolicyPort {
    let protocol = *rng.pick(&[Protocol::Tcp, Protocol::Tcp, Protocol::Udp, Protocol::Sctp]);
    let port = match rng.below(5) {
        0 => PortMatch::All,
        1 => PortMatch::Named(rng.pick(&PORT_NAMES).to_string()),
        2 => {
            let lo = *rng.pick(&PORTS);
            PortMatch::Range(lo, lo + rng.below(20) as u16)
        }
        _ => {
            let p = *rng.pick(&PORTS);
            PortMatch::Range(p, p)
        }
    };
    PolicyPort { protocol, port }
}

fn rules(rng: &mut impl Choose) -> Vec<Rule> {
    (0..rng.below(3))
        .map(|_| Rule {
            peers: (0..rng.below(3)).map(|_| peer(rng)).collect(),
            ports: (0..rng.below(3)).map(|_| port(rng)).collect(),
        })
        .collect()
}

/// A small random cluster (3 namespaces, 2 nodes, 3–10 pods, up to 5 policies, up to 5
/// externals, up to 3 ClusterNetworkPolicies) over a few labels, ports and nested CIDRs, so
/// that selectors, ipBlocks and ports often meet. Every choice comes from `rng`.
pub fn cluster(rng: &mut impl Choose) -> Cluster {
    let namespaces = namespaces(rng);
    let pods = (0..3 + rng.below(8)).map(|i| pod(rng, i as usize)).collect();
    let policies = (0..rng.below(6)).map(|i| policy(rng, i as usize)).collect();
    let externals = externals(rng);
    let tiered = (0..rng.below(4))
        .map(|i| cluster_policy(rng, i as usize))
        .collect();
    assemble(namespaces, pods, policies, externals, tiered)
}

/// A cluster of these parts, on the generator's two nodes.
pub fn assemble(
    namespaces: Vec<Namespace>,
    pods: Vec<Pod>,
    policies: Vec<Policy>,
    externals: Vec<External>,
    cluster_policies: Vec<ClusterPolicy>,
) -> Cluster {
    // Node n0 shares an address with pods (hostNetwork pods on it without a nodeName);
    // n1's addresses are external ones.
    let nodes = vec![
        Node {
            name: "n0".into(),
            labels: [("tier".to_string(), "a".to_string())].into_iter().collect(),
            addresses: vec!["10.1.1.8".parse().unwrap()],
        },
        Node {
            name: "n1".into(),
            labels: [("tier".to_string(), "b".to_string())].into_iter().collect(),
            addresses: vec!["192.168.1.7".parse().unwrap(), "fd00::5".parse().unwrap()],
        },
    ];
    Cluster {
        namespaces,
        pods,
        policies,
        externals,
        nodes,
        cluster_policies,
        shadow_policies: Vec::new(),
        shadow_cluster_policies: Vec::new(),
    }
}

/// The three namespaces, with random labels.
pub fn namespaces(rng: &mut impl Choose) -> Vec<Namespace> {
    NAMESPACES
        .iter()
        .map(|n| {
            let mut l = labels(rng);
            l.insert("kubernetes.io/metadata.name".into(), n.to_string());
            Namespace {
                name: n.to_string(),
                labels: l,
                annotations: Labels::new(),
            }
        })
        .collect()
}

/// Pod number `i`: namespace, labels, addresses, named ports, node, hostNetwork.
pub fn pod(rng: &mut impl Choose, i: usize) -> Pod {
    let ns = rng.pick(&NAMESPACES).to_string();
    let mut ips: Vec<IpAddr> = vec![format!("10.1.{}.{}", rng.below(2), 1 + rng.below(8))
        .parse()
        .unwrap()];
    if rng.chance(30) {
        ips.push(format!("fd00::{}", 1 + rng.below(8)).parse().unwrap());
    }
    let mut ports = Vec::new();
    for n in PORT_NAMES {
        if rng.chance(50) {
            ports.push(ContainerPort {
                name: Some(n.to_string()),
                port: *rng.pick(&PORTS),
                protocol: *rng.pick(&[Protocol::Tcp, Protocol::Udp]),
            });
        }
    }
    Pod {
        namespace: ns,
        name: format!("p{i}"),
        labels: labels(rng),
        ips,
        host_network: rng.chance(10),
        ports,
        node: match rng.below(3) {
            0 => None,
            n => Some(format!("n{}", n - 1)),
        },
        workload: None,
        source: None,
    }
}

/// Policy number `i`: namespace, selector, types and up to two rules each way.
pub fn policy(rng: &mut impl Choose, i: usize) -> Policy {
    let ingress = rules(rng);
    let egress = rules(rng);
    let types = PolicyTypes {
        ingress: rng.chance(80),
        egress: rng.chance(50),
    };
    Policy {
        namespace: rng.pick(&NAMESPACES).to_string(),
        name: format!("np{i}"),
        pod_selector: selector(rng),
        types,
        ingress,
        egress,
    }
}

/// ClusterNetworkPolicy number `i`: tier, a priority among three (so that ties happen),
/// subject, and up to two rules each way with every kind of peer, action and port.
pub fn cluster_policy(rng: &mut impl Choose, i: usize) -> ClusterPolicy {
    let tier = *rng.pick(&[Tier::Admin, Tier::Baseline]);
    let priority = rng.below(3) as u16;
    let subject = if rng.chance(50) {
        CnpSubject::Pods {
            namespaces: selector(rng),
            pods: selector(rng),
        }
    } else {
        CnpSubject::Namespaces(selector(rng))
    };
    let ingress = cnp_rules(rng, true);
    let egress = cnp_rules(rng, false);
    ClusterPolicy {
        name: format!("cnp{i}"),
        tier,
        priority,
        subject,
        ingress,
        egress,
    }
}

fn cnp_rules(rng: &mut impl Choose, ingress: bool) -> Vec<CnpRule> {
    (0..rng.below(3))
        .map(|_| CnpRule {
            name: None,
            action: *rng.pick(&[Action::Accept, Action::Deny, Action::Pass]),
            peers: (0..1 + rng.below(2)).map(|_| cnp_peer(rng, ingress)).collect(),
            protocols: (0..rng.below(3)).map(|_| cnp_port(rng)).collect(),
        })
        .collect()
}

fn cnp_peer(rng: &mut impl Choose, ingress: bool) -> CnpPeer {
    let kinds = if ingress { 2 } else { 5 };
    if rng.chance(3) {
        return CnpPeer::Unknown;
    }
    match rng.below(kinds) {
        0 => CnpPeer::Namespaces(selector(rng)),
        1 => CnpPeer::Pods {
            namespaces: selector(rng),
            pods: selector(rng),
        },
        2 => CnpPeer::Networks((0..1 + rng.below(2)).map(|_| cidr(rng)).collect()),
        3 => CnpPeer::Nodes(selector(rng)),
        _ => CnpPeer::DomainNames(vec!["example.com".into()]),
    }
}

fn cnp_port(rng: &mut impl Choose) -> CnpPort {
    let protocol = *rng.pick(&[Protocol::Tcp, Protocol::Tcp, Protocol::Udp, Protocol::Sctp]);
    match rng.below(4) {
        0 => CnpPort::Ports(protocol, None),
        1 => CnpPort::Named(rng.pick(&PORT_NAMES).to_string()),
        2 => {
            let lo = *rng.pick(&PORTS);
            CnpPort::Ports(protocol, Some((lo, lo + rng.below(20) as u16)))
        }
        _ => {
            let p = *rng.pick(&PORTS);
            CnpPort::Ports(protocol, Some((p, p)))
        }
    }
}

/// Some of five external blocks (nested with pod and node addresses).
pub fn externals(rng: &mut impl Choose) -> Vec<External> {
    let mut externals = Vec::new();
    for (i, c) in [
        "8.8.8.8/32",
        "10.1.0.0/24",
        "192.168.1.0/24",
        "fd00::5/128",
        "192.168.1.7/32",
    ]
    .iter()
    .enumerate()
    {
        if rng.chance(50) {
            externals.push(External {
                name: format!("ext{i}"),
                cidr: c.parse().unwrap(),
            });
        }
    }
    externals
}

/// Ports probed: every rule port of the generator and its neighbours, and the ends.
pub fn probe_ports() -> Vec<u16> {
    let mut p: Vec<u16> = PORTS
        .iter()
        .flat_map(|p| [*p - 1, *p, *p + 1, *p + 19, *p + 20])
        .collect();
    p.extend([1, 65535, 30000]);
    p
}

/// Whether the compiled matrices equal the direct evaluator on every ordered endpoint
/// pair (external to external excepted), every protocol and every probe port; the first
/// difference otherwise.
pub fn matrix_equals_direct(c: &Cluster, options: &Options) -> Result<(), String> {
    let compiled = compile(c, options);
    let endpoints: Vec<Endpoint> = (0..c.pods.len())
        .map(Endpoint::Pod)
        .chain(c.externals.iter().map(|e| Endpoint::External(e.cidr.clone())))
        .collect();
    for proto in Protocol::ALL {
        let any = compiled.any_port_matrix(proto);
        // Exactly the union of the per-port-class matrices (which the pairs below check).
        let mut union = bits::BitMatrix::new(compiled.class_count());
        for q in 0..compiled.port_space(proto).classes.len() {
            for (u, r) in union.rows.iter_mut().zip(&compiled.class_matrix(proto, q).rows) {
                u.union_with(r);
            }
        }
        if union.rows != any.rows {
            return Err(format!(
                "{options:?} {proto}: any-port matrix differs from the union over port classes"
            ));
        }
        // The summary's count (node-local pairs added by class) is the pod pairs that the
        // any-port matrix or the node-local rule allows, one by one.
        let pods = c.pods.len();
        let by_pairs = (0..pods)
            .flat_map(|a| (0..pods).map(move |b| (a, b)))
            .filter(|&(a, b)| {
                a != b
                    && (any.get(compiled.endpoint_class[a], compiled.endpoint_class[b])
                        || compiled.node_local(a, b))
            })
            .count() as u64;
        let counted = summarize(c, &compiled).allowed_pairs[proto.index()];
        if counted != by_pairs {
            return Err(format!(
                "{options:?} {proto}: summary counts {counted}, pairs {by_pairs}"
            ));
        }
        for port in probe_ports() {
            let m = compiled.port_matrix(proto, port).expect("1-65535");
            for (a, ea) in endpoints.iter().enumerate() {
                for (b, eb) in endpoints.iter().enumerate() {
                    if a >= c.pods.len() && b >= c.pods.len() {
                        continue; // external to external is not analysed
                    }
                    let want = allowed(c, options, ea, eb, proto, port);
                    let (ca, cb) = (compiled.endpoint_class[a], compiled.endpoint_class[b]);
                    let got = (a == b && a < c.pods.len()) || m.get(ca, cb) || compiled.node_local(a, b);
                    if got != want {
                        return Err(format!(
                            "{options:?} {a}->{b} {port}/{proto}: matrix {got}, direct {want}"
                        ));
                    }
                    if want && a != b && !any.get(ca, cb) && !compiled.node_local(a, b) {
                        return Err(format!("any-port matrix misses {a}->{b} {port}/{proto}"));
                    }
                }
            }
        }
    }
    Ok(())
}
