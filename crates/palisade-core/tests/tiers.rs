//! ClusterNetworkPolicy tiers in the direct evaluator (`explain`), each case derived by
//! hand from the v1alpha2 API text (kubernetes-sigs/network-policy-api,
//! apis/v1alpha2/clusternetworkpolicy_types.go), quoted above each test.

use palisade_core::explain::DecidedBy;
use palisade_core::*;

fn pod(ns: &str, name: &str, app: &str, ip: &str) -> Pod {
    Pod {
        namespace: ns.into(),
        name: name.into(),
        labels: Labels::from([("app".into(), app.into())]),
        ips: vec![ip.parse().unwrap()],
        host_network: false,
        ports: vec![ContainerPort {
            name: Some("web".into()),
            port: 80,
            protocol: Protocol::Tcp,
        }],
        node: None,
        workload: None,
        source: None,
    }
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        name: name.into(),
        labels: Labels::from([("kubernetes.io/metadata.name".into(), name.into())]),
        annotations: Labels::new(),
    }
}

fn sel(k: &str, v: &str) -> LabelSelector {
    LabelSelector::from_labels([(k, v)])
}

fn ns_sel(ns: &str) -> LabelSelector {
    sel("kubernetes.io/metadata.name", ns)
}

/// A CNP whose subject is namespace `subject_ns`, with ingress rules.
fn cnp(
    name: &str,
    tier: Tier,
    priority: u16,
    subject_ns: &str,
    ingress: Vec<CnpRule>,
    egress: Vec<CnpRule>,
) -> ClusterPolicy {
    ClusterPolicy {
        name: name.into(),
        tier,
        priority,
        subject: CnpSubject::Namespaces(ns_sel(subject_ns)),
        ingress,
        egress,
    }
}

fn rule(action: Action, peers: Vec<CnpPeer>) -> CnpRule {
    CnpRule {
        name: None,
        action,
        peers,
        protocols: vec![],
    }
}

fn from_ns(ns: &str) -> CnpPeer {
    CnpPeer::Namespaces(ns_sel(ns))
}

/// NetworkPolicy in `ns` selecting every pod for ingress, allowing from namespace `from`.
fn np_allow_from(ns: &str, from: &str) -> Policy {
    Policy {
        namespace: ns.into(),
        name: format!("allow-from-{from}"),
        pod_selector: LabelSelector::everything(),
        types: PolicyTypes {
            ingress: true,
            egress: false,
        },
        ingress: vec![Rule {
            peers: vec![Peer::Pods {
                namespace_selector: Some(ns_sel(from)),
                pod_selector: None,
            }],
            ports: vec![],
        }],
        egress: vec![],
    }
}

/// Pods: x/a (0), y/b (1), z/c (2).
fn cluster(policies: Vec<Policy>, cnps: Vec<ClusterPolicy>) -> Cluster {
    Cluster {
        namespaces: vec![namespace("x"), namespace("y"), namespace("z")],
        pods: vec![
            pod("x", "a", "a", "10.0.0.1"),
            pod("y", "b", "b", "10.0.0.2"),
            pod("z", "c", "c", "10.0.0.3"),
        ],
        policies,
        cluster_policies: cnps,
        ..Cluster::default()
    }
}

fn check(c: &Cluster, from: usize, to: usize, port: u16) -> Explanation {
    explain(
        c,
        &Options::default(),
        &Endpoint::Pod(from),
        &Endpoint::Pod(to),
        Protocol::Tcp,
        port,
    )
}

/// "If Admin tier has made a final decision (Accept or Deny) on a connection, then no
/// further evaluation is done." An Admin Deny wins over a NetworkPolicy that allows.
#[test]
fn admin_deny_overrides_a_networkpolicy_allow() {
    let c = cluster(
        vec![np_allow_from("y", "x")],
        vec![cnp(
            "deny-x",
            Tier::Admin,
            10,
            "y",
            vec![rule(Action::Deny, vec![from_ns("x")])],
            vec![],
        )],
    );
    let e = check(&c, 0, 1, 80);
    assert!(!e.allowed);
    assert_eq!(
        e.ingress.decided_by,
        DecidedBy::ClusterPolicy(Tier::Admin, 0, 0, Action::Deny)
    );
    // z is not matched by the rule: NetworkPolicy decides (and denies: only x is allowed).
    let e = check(&c, 2, 1, 80);
    assert!(!e.allowed);
    assert_eq!(e.ingress.decided_by, DecidedBy::NetworkPolicy);
}

/// "Pass: Skips all further ClusterNetworkPolicy rules in the current tier for the
/// selected traffic, and passes evaluation to the next tier." A Pass before a Deny in the
/// Admin tier hands over to NetworkPolicy, which allows.
#[test]
fn admin_pass_hands_over_to_networkpolicy() {
    let c = cluster(
        vec![np_allow_from("y", "x")],
        vec![
            cnp(
                "pass-x",
                Tier::Admin,
                5,
                "y",
                vec![rule(Action::Pass, vec![from_ns("x")])],
                vec![],
            ),
            cnp(
                "deny-all",
                Tier::Admin,
                10,
                "y",
                vec![rule(
                    Action::Deny,
                    vec![CnpPeer::Namespaces(LabelSelector::everything())],
                )],
                vec![],
            ),
        ],
    );
    let e = check(&c, 0, 1, 80);
    assert!(e.allowed);
    assert_eq!(e.ingress.decided_by, DecidedBy::NetworkPolicy);
    // The Deny at priority 10 was never read for x.
    assert_eq!(e.ingress.admin.len(), 1);
    // z does not match the Pass: the Deny decides.
    assert!(!check(&c, 2, 1, 80).allowed);
}

/// "v1.NetworkPolicy always makes a final decision for selected pods. Further evaluation
/// only happens for Pods not selected by a v1.NetworkPolicy." A Baseline Accept cannot
/// open what a NetworkPolicy isolates; a Baseline Deny closes a pod no NetworkPolicy
/// isolates.
#[test]
fn baseline_only_for_pods_networkpolicy_does_not_isolate() {
    let c = cluster(
        vec![np_allow_from("y", "x")],
        vec![
            cnp(
                "accept-z",
                Tier::Baseline,
                1,
                "y",
                vec![rule(Action::Accept, vec![from_ns("z")])],
                vec![],
            ),
            cnp(
                "deny-to-x",
                Tier::Baseline,
                1,
                "x",
                vec![rule(Action::Deny, vec![from_ns("y")])],
                vec![],
            ),
        ],
    );
    let e = check(&c, 2, 1, 80);
    assert!(!e.allowed, "y is isolated by its NetworkPolicy");
    assert_eq!(e.ingress.decided_by, DecidedBy::NetworkPolicy);
    assert!(e.ingress.baseline.is_empty(), "the Baseline tier is not read");
    let e = check(&c, 1, 0, 80);
    assert!(!e.allowed, "x has no NetworkPolicy: the Baseline Deny decides");
    assert_eq!(
        e.ingress.decided_by,
        DecidedBy::ClusterPolicy(Tier::Baseline, 1, 0, Action::Deny)
    );
    // "If a given connection wasn't allowed or denied by any of the tiers, the default
    // kubernetes policy is applied, which says that all pods can communicate with each
    // other."
    let e = check(&c, 1, 2, 80);
    assert!(e.allowed);
    assert_eq!(e.ingress.decided_by, DecidedBy::Default);
}

/// "Policies with lower priority values have higher precedence, and are checked before
/// policies with higher priority values in the same tier." and "a rule that appears at
/// the top of the ingress rules would take the highest precedence."
#[test]
fn priority_then_rule_order() {
    let everyone = || CnpPeer::Namespaces(LabelSelector::everything());
    let c = cluster(
        vec![],
        vec![
            cnp(
                "b-deny",
                Tier::Admin,
                20,
                "y",
                vec![rule(Action::Deny, vec![everyone()])],
                vec![],
            ),
            cnp(
                "a-accept-x",
                Tier::Admin,
                10,
                "y",
                vec![
                    rule(Action::Accept, vec![from_ns("x")]),
                    rule(Action::Deny, vec![everyone()]),
                ],
                vec![],
            ),
        ],
    );
    let e = check(&c, 0, 1, 80);
    assert!(e.allowed);
    assert_eq!(
        e.ingress.decided_by,
        DecidedBy::ClusterPolicy(Tier::Admin, 1, 0, Action::Accept)
    );
    let e = check(&c, 2, 1, 80);
    assert!(!e.allowed);
    assert_eq!(
        e.ingress.decided_by,
        DecidedBy::ClusterPolicy(Tier::Admin, 1, 1, Action::Deny)
    );
}

/// Egress Accept: "No further egress ClusterNetworkPolicy or NetworkPolicy rules will be
/// processed but any ingress rules at the destination do apply."
#[test]
fn egress_accept_still_needs_ingress_at_the_destination() {
    let c = cluster(
        vec![np_allow_from("y", "z")],
        vec![cnp(
            "x-out",
            Tier::Admin,
            1,
            "x",
            vec![],
            vec![rule(Action::Accept, vec![from_ns("y")])],
        )],
    );
    let e = check(&c, 0, 1, 80);
    assert!(e.egress.allowed);
    assert!(!e.ingress.allowed, "y's NetworkPolicy admits only z");
    assert!(!e.allowed);
}

/// Networks: "note that cluster-internal traffic will be checked against the rule as well.
/// So if you Accept or Deny traffic to "0.0.0.0/0", that will allow or deny all IPv4
/// pod-to-pod traffic as well."
#[test]
fn networks_match_pod_addresses() {
    let c = cluster(
        vec![],
        vec![cnp(
            "no-egress",
            Tier::Admin,
            1,
            "x",
            vec![],
            vec![rule(
                Action::Deny,
                vec![CnpPeer::Networks(vec!["0.0.0.0/0".parse().unwrap()])],
            )],
        )],
    );
    assert!(!check(&c, 0, 1, 80).allowed);
    let out = explain(
        &c,
        &Options::default(),
        &Endpoint::Pod(0),
        &Endpoint::External("8.8.8.8/32".parse().unwrap()),
        Protocol::Udp,
        53,
    );
    assert!(!out.allowed);
}

/// Protocols: "If unspecified, protocol-specific attributes will not be used to match
/// traffic." and destinationNamedPort "selects a destination port on a pod based on the
/// ContainerPort name".
#[test]
fn protocols_and_named_ports() {
    let mut r = rule(Action::Deny, vec![from_ns("x")]);
    r.protocols = vec![CnpPort::Named("web".into())];
    let mut r2 = rule(Action::Deny, vec![from_ns("x")]);
    r2.protocols = vec![CnpPort::Ports(Protocol::Tcp, Some((8000, 8080)))];
    let c = cluster(
        vec![],
        vec![cnp("ports", Tier::Admin, 1, "y", vec![r, r2], vec![])],
    );
    assert!(!check(&c, 0, 1, 80).allowed, "web is 80/TCP on y/b");
    assert!(check(&c, 0, 1, 81).allowed);
    assert!(!check(&c, 0, 1, 8080).allowed);
    assert!(check(&c, 0, 1, 8081).allowed);
}

/// Unknown peer: "For "Accept" rules, "fail closed" means: "treat the rule as matching no
/// traffic". For "Deny" and "Pass" rules, "fail closed" means: "treat the rule as a 'Deny
/// all' rule"."
#[test]
fn a_peer_palisade_does_not_know_fails_closed() {
    let c = cluster(
        vec![],
        vec![cnp(
            "unknown-accept",
            Tier::Admin,
            1,
            "y",
            vec![rule(Action::Accept, vec![CnpPeer::Unknown])],
            vec![],
        )],
    );
    assert!(check(&c, 0, 1, 80).allowed, "matches nothing: the default allows");
    let c = cluster(
        vec![np_allow_from("y", "x")],
        vec![cnp(
            "unknown-pass",
            Tier::Admin,
            1,
            "y",
            vec![rule(Action::Pass, vec![CnpPeer::Unknown])],
            vec![],
        )],
    );
    let e = check(&c, 0, 1, 80);
    assert!(
        !e.allowed,
        "a Pass that fails closed denies all, even what the NetworkPolicy allows"
    );
    assert_eq!(
        e.ingress.decided_by,
        DecidedBy::ClusterPolicy(Tier::Admin, 0, 0, Action::Deny)
    );
}

/// "Note that host-networked pods are not included in subject selection." and a pod
/// talking to itself is not subject to ClusterNetworkPolicy.
#[test]
fn host_network_pods_and_self_traffic_are_not_subject() {
    let mut c = cluster(
        vec![],
        vec![cnp(
            "deny-all-into-x",
            Tier::Admin,
            1,
            "x",
            vec![rule(
                Action::Deny,
                vec![CnpPeer::Namespaces(LabelSelector::everything())],
            )],
            vec![],
        )],
    );
    assert!(check(&c, 0, 0, 80).allowed, "self traffic");
    c.pods[0].host_network = true;
    let e = check(&c, 1, 0, 80);
    assert!(e.allowed);
    assert_eq!(e.ingress.decided_by, DecidedBy::Default);
}

/// The compiled form, on a case the random clusters rarely draw: "destinationNamedPort …
/// matches traffic on the named port of the destination pod" and ranges that cover every
/// other TCP port. With all three as Deny rules, x/a reaches y/b on no TCP port at all
/// (80 is `web` on y/b), but on every UDP port. The any-port matrix must not let the
/// named port's class stand for its numeric group (it would see port 80 with no rule).
#[test]
fn a_named_port_deny_leaves_no_tcp_port_open_in_the_any_port_matrix() {
    let mut web = rule(Action::Deny, vec![from_ns("x")]);
    web.protocols = vec![CnpPort::Named("web".into())];
    let mut below = rule(Action::Deny, vec![from_ns("x")]);
    below.protocols = vec![CnpPort::Ports(Protocol::Tcp, Some((1, 79)))];
    let mut above = rule(Action::Deny, vec![from_ns("x")]);
    above.protocols = vec![CnpPort::Ports(Protocol::Tcp, Some((81, 65535)))];
    let c = cluster(
        vec![],
        vec![cnp(
            "tcp",
            Tier::Baseline,
            1,
            "y",
            vec![web, below, above],
            vec![],
        )],
    );
    for port in [1, 79, 80, 81, 65535] {
        assert!(!check(&c, 0, 1, port).allowed, "{port}");
    }
    let compiled = compile(&c, &Options::default());
    let (a, b) = (compiled.pod_class(0), compiled.pod_class(1));
    assert!(!compiled.any_port_matrix(Protocol::Tcp).get(a, b));
    assert!(compiled.any_port_matrix(Protocol::Udp).get(a, b));
    assert!(
        compiled.any_port_matrix(Protocol::Tcp).get(b, a),
        "y/b is not the subject"
    );
}

/// Palisade's decision (README, "ClusterNetworkPolicy"), not an API sentence: traffic
/// between a pod and its own node stays allowed, before the Admin tier, once a policy of
/// any tier applies to the pod (NetworkPolicy: "traffic to and from the node where a Pod is
/// running is always allowed"; kubelet probes and node-local agents keep working). An
/// Admin Deny of all egress to 0.0.0.0/0 from x therefore still lets x/a reach the
/// host-network pod of its own node, but not the one of another node; the compiled form
/// agrees through its node ties.
#[test]
fn a_pod_and_its_own_node_stay_allowed_under_an_admin_deny() {
    let deny_all = rule(
        Action::Deny,
        vec![CnpPeer::Networks(vec!["0.0.0.0/0".parse().unwrap()])],
    );
    let mut c = cluster(
        vec![],
        vec![cnp("lockdown", Tier::Admin, 1, "x", vec![], vec![deny_all])],
    );
    c.pods[0].node = Some("n0".into());
    for (name, node, ip) in [("h0", "n0", "10.9.0.1"), ("h1", "n1", "10.9.0.2")] {
        let mut h = pod("z", name, "host", ip);
        h.host_network = true;
        h.node = Some(node.into());
        c.pods.push(h);
    }
    let own = check(&c, 0, 3, 10250);
    assert!(own.allowed);
    assert_eq!(own.egress.decided_by, DecidedBy::NodeLocal);
    assert!(!check(&c, 0, 4, 10250).allowed, "another node's address");
    assert!(!check(&c, 0, 1, 80).allowed, "a pod address is inside 0.0.0.0/0");
    let compiled = compile(&c, &Options::default());
    assert!(compiled.node_local(0, 3));
    assert!(!compiled.node_local(0, 4));
    let m = compiled.port_matrix(Protocol::Tcp, 10250).unwrap();
    assert!(!m.get(compiled.pod_class(0), compiled.pod_class(4)));
}
