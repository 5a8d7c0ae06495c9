//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`) as the CRD defines it: the
//! serde types (field names as in kubernetes-sigs/network-policy-api
//! `apis/v1alpha2/clusternetworkpolicy_types.go`) and their conversion into the core's
//! [`ClusterPolicy`], checked as the CRD's OpenAPI schema and CEL rules check it (priority
//! range, at most 25 rules, peers and protocols, exactly one field where one is asked for,
//! `start < end`, CIDRs, domain names), every problem with its field path.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use palisade_core::{
    Action, Cidr, ClusterPolicy, CnpPeer, CnpPort, CnpRule, CnpSubject, LabelSelector, Protocol, Tier,
};
use serde::Deserialize;

use crate::convert::{self, Sink};
use crate::diagnostic::FieldError;
use crate::path::FieldPath;

/// The most rules per direction, peers per rule, protocols per rule, CIDRs and domain names
/// per peer the CRD allows.
const MAX_ITEMS: usize = 25;

/// The object.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicy {
    /// `apiVersion`.
    pub api_version: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: meta::ObjectMeta,
    /// `spec`.
    pub spec: Option<Spec>,
}

/// `spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// `Admin` or `Baseline`.
    pub tier: Option<String>,
    /// 0–1000.
    pub priority: Option<i64>,
    /// The pods it applies to.
    pub subject: Option<Subject>,
    /// Ingress rules.
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules.
    pub egress: Option<Vec<Rule>>,
}

/// `spec.subject`: exactly one field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// Pods of the namespaces it selects.
    pub namespaces: Option<meta::LabelSelector>,
    /// Pods it selects in the namespaces it selects.
    pub pods: Option<NamespacedPod>,
}

/// `namespaceSelector` AND `podSelector`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    /// Empty: every namespace.
    pub namespace_selector: Option<meta::LabelSelector>,
    /// Required; empty: every pod.
    pub pod_selector: Option<meta::LabelSelector>,
}

/// An ingress or egress rule (`from` for ingress, `to` for egress).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// At most 100 characters.
    pub name: Option<String>,
    /// `Accept`, `Deny` or `Pass`.
    pub action: Option<String>,
    /// Ingress peers.
    pub from: Option<Vec<Peer>>,
    /// Egress peers.
    pub to: Option<Vec<Peer>>,
    /// Protocol and port matches.
    pub protocols: Option<Vec<ProtocolMatch>>,
}

/// A peer: exactly one field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Pods of the namespaces it selects.
    pub namespaces: Option<meta::LabelSelector>,
    /// Pods it selects in the namespaces it selects.
    pub pods: Option<NamespacedPod>,
    /// Egress: the addresses of the Nodes it selects.
    pub nodes: Option<meta::LabelSelector>,
    /// Egress: CIDRs.
    pub networks: Option<Vec<String>>,
    /// Egress: domain names.
    pub domain_names: Option<Vec<String>>,
}

/// One entry of `protocols`: exactly one field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolMatch {
    /// TCP, with a destination port.
    pub tcp: Option<PortMatch>,
    /// UDP, with a destination port.
    pub udp: Option<PortMatch>,
    /// SCTP, with a destination port.
    pub sctp: Option<PortMatch>,
    /// A container port name on the destination pod.
    pub destination_named_port: Option<String>,
}

/// `destinationPort`, required.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMatch {
    /// A number or a range.
    pub destination_port: Option<Port>,
}

/// Exactly one of `number` and `range`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// 1–65535.
    pub number: Option<i64>,
    /// `start < end`.
    pub range: Option<PortRange>,
}

/// An inclusive range.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    /// First port.
    pub start: Option<i64>,
    /// Last port.
    pub end: Option<i64>,
}

/// Converts the object, every problem pushed to `errs` with its path.
pub fn convert(cnp: &ClusterNetworkPolicy, errs: &mut Sink) -> ClusterPolicy {
    let name = convert::object_name(&cnp.metadata, &FieldPath::root().key("metadata"), errs);
    let sp = FieldPath::root().key("spec");
    let empty = Spec::default();
    let spec = cnp.spec.as_ref().unwrap_or_else(|| {
        errs.push(FieldError::required(sp.clone(), "spec is required"));
        &empty
    });
    let tier = match spec.tier.as_deref() {
        Some("Admin") => Tier::Admin,
        Some("Baseline") => Tier::Baseline,
        Some(other) => {
            errs.push(FieldError::unsupported(
                sp.key("tier"),
                other,
                &["Admin", "Baseline"],
            ));
            Tier::Admin
        }
        None => {
            errs.push(FieldError::required(sp.key("tier"), "tier is required"));
            Tier::Admin
        }
    };
    let priority = match spec.priority {
        Some(p @ 0..=1000) => p as u16,
        Some(p) => {
            errs.push(FieldError::invalid_int(
                sp.key("priority"),
                p,
                "must be between 0 and 1000",
            ));
            0
        }
        None => {
            errs.push(FieldError::required(sp.key("priority"), "priority is required"));
            0
        }
    };
    let subject = subject(spec.subject.as_ref(), &sp.key("subject"), errs);
    let ingress = rules(spec.ingress.as_deref(), true, &sp.key("ingress"), errs);
    let egress = rules(spec.egress.as_deref(), false, &sp.key("egress"), errs);
    ClusterPolicy {
        name,
        tier,
        priority,
        subject,
        ingress,
        egress,
    }
}

fn too_many(len: usize, path: &FieldPath, errs: &mut Sink) {
    if len > MAX_ITEMS {
        errs.push(FieldError::invalid_int(
            path.clone(),
            len as i64,
            &format!("must have at most {MAX_ITEMS} items"),
        ));
    }
}

/// Complains unless exactly one of the fields `set` (name, present) is present.
pub(crate) fn exactly_one(set: &[(&str, bool)], path: &FieldPath, errs: &mut Sink) -> bool {
    let names: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    let all: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
    match names.len() {
        1 => true,
        0 => {
            errs.push(FieldError::required(
                path.clone(),
                &format!("exactly one of {} must be set", all.join(", ")),
            ));
            false
        }
        _ => {
            errs.push(FieldError::forbidden(
                path.clone(),
                &format!(
                    "only one of {} may be set, got {}",
                    all.join(", "),
                    names.join(" and ")
                ),
            ));
            false
        }
    }
}

fn selector(sel: Option<&meta::LabelSelector>, path: &FieldPath, errs: &mut Sink) -> LabelSelector {
    sel.map(|s| convert::selector(s, path, errs))
        .unwrap_or_else(LabelSelector::everything)
}

fn namespaced_pod(np: &NamespacedPod, path: &FieldPath, errs: &mut Sink) -> (LabelSelector, LabelSelector) {
    if np.pod_selector.is_none() {
        errs.push(FieldError::required(
            path.key("podSelector"),
            "podSelector is required",
        ));
    }
    (
        selector(
            np.namespace_selector.as_ref(),
            &path.key("namespaceSelector"),
            errs,
        ),
        selector(np.pod_selector.as_ref(), &path.key("podSelector"), errs),
    )
}

fn subject(s: Option<&Subject>, path: &FieldPath, errs: &mut Sink) -> CnpSubject {
    let Some(s) = s else {
        errs.push(FieldError::required(path.clone(), "subject is required"));
        return CnpSubject::Namespaces(LabelSelector::everything());
    };
    exactly_one(
        &[("namespaces", s.namespaces.is_some()), ("pods", s.pods.is_some())],
        path,
        errs,
    );
    match (&s.namespaces, &s.pods) {
        (_, Some(p)) => {
            let (namespaces, pods) = namespaced_pod(p, &path.key("pods"), errs);
            CnpSubject::Pods { namespaces, pods }
        }
        (Some(n), None) => CnpSubject::Namespaces(convert::selector(n, &path.key("namespaces"), errs)),
        (None, None) => CnpSubject::Namespaces(LabelSelector::everything()),
    }
}

fn rules(rs: Option<&[Rule]>, ingress: bool, path: &FieldPath, errs: &mut Sink) -> Vec<CnpRule> {
    let rs = rs.unwrap_or_default();
    too_many(rs.len(), path, errs);
    rs.iter()
        .enumerate()
        .map(|(i, r)| rule(r, ingress, &path.index(i), errs))
        .collect()
}

fn rule(r: &Rule, ingress: bool, path: &FieldPath, errs: &mut Sink) -> CnpRule {
    if let Some(n) = &r.name {
        if n.chars().count() > 100 {
            errs.push(FieldError::invalid(
                path.key("name"),
                n,
                "must be no more than 100 characters",
            ));
        }
    }
    let action = match r.action.as_deref() {
        Some("Accept") => Action::Accept,
        Some("Deny") => Action::Deny,
        Some("Pass") => Action::Pass,
        Some(other) => {
            errs.push(FieldError::unsupported(
                path.key("action"),
                other,
                &["Accept", "Deny", "Pass"],
            ));
            Action::Deny
        }
        None => {
            errs.push(FieldError::required(path.key("action"), "action is required"));
            Action::Deny
        }
    };
    let (field, list, other) = if ingress {
        ("from", &r.from, &r.to)
    } else {
        ("to", &r.to, &r.from)
    };
    if other.is_some() {
        let wrong = if ingress { "to" } else { "from" };
        errs.push(FieldError::forbidden(
            path.key(wrong),
            &format!(
                "{} rules have `{field}`, not `{wrong}`",
                if ingress { "ingress" } else { "egress" }
            ),
        ));
    }
    let pp = path.key(field);
    let peers: Vec<CnpPeer> = match list {
        None => {
            errs.push(FieldError::required(pp.clone(), &format!("{field} is required")));
            Vec::new()
        }
        Some(v) if v.is_empty() => {
            errs.push(FieldError::required(pp.clone(), "must have at least 1 item"));
            Vec::new()
        }
        Some(v) => {
            too_many(v.len(), &pp, errs);
            v.iter()
                .enumerate()
                .map(|(i, p)| peer(p, ingress, &pp.index(i), errs))
                .collect()
        }
    };
    let protocols = protocols(r.protocols.as_deref(), &path.key("protocols"), errs);
    // The CRD's rule: named ports only towards pods.
    let named = protocols.iter().any(|p| matches!(p, CnpPort::Named(_)));
    let non_pod = peers.iter().any(|p| {
        matches!(
            p,
            CnpPeer::Networks(_) | CnpPeer::Nodes(_) | CnpPeer::DomainNames(_)
        )
    });
    if named && non_pod {
        errs.push(FieldError::forbidden(
            path.key("protocols"),
            "destinationNamedPort cannot be used with networks, nodes or domainNames peers",
        ));
    }
    CnpRule {
        name: r.name.clone().filter(|n| !n.is_empty()),
        action,
        peers,
        protocols,
    }
}

fn peer(p: &Peer, ingress: bool, path: &FieldPath, errs: &mut Sink) -> CnpPeer {
    let fields = [
        ("namespaces", p.namespaces.is_some()),
        ("pods", p.pods.is_some()),
        ("nodes", p.nodes.is_some()),
        ("networks", p.networks.is_some()),
        ("domainNames", p.domain_names.is_some()),
    ];
    let set = fields.iter().filter(|(_, s)| *s).count();
    if set == 0 {
        // No field this version knows (an unknown field, dropped under --validate=warn):
        // the API says to fail closed.
        return CnpPeer::Unknown;
    }
    if set > 1 {
        exactly_one(&fields, path, errs);
    }
    if ingress {
        for (f, s) in &fields[2..] {
            if *s {
                errs.push(FieldError::forbidden(
                    path.key(f),
                    "ingress peers are namespaces or pods",
                ));
            }
        }
    }
    if let Some(n) = &p.namespaces {
        return CnpPeer::Namespaces(convert::selector(n, &path.key("namespaces"), errs));
    }
    if let Some(np) = &p.pods {
        let (namespaces, pods) = namespaced_pod(np, &path.key("pods"), errs);
        return CnpPeer::Pods { namespaces, pods };
    }
    if let Some(n) = &p.nodes {
        return CnpPeer::Nodes(convert::selector(n, &path.key("nodes"), errs));
    }
    if let Some(nets) = &p.networks {
        let np = path.key("networks");
        if nets.is_empty() {
            errs.push(FieldError::required(np.clone(), "must have at least 1 item"));
        }
        too_many(nets.len(), &np, errs);
        let cidrs = nets
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.parse::<Cidr>() {
                Ok(c) => Some(c),
                Err(_) => {
                    errs.push(FieldError::invalid(
                        np.index(i),
                        c,
                        "Invalid CIDR format provided",
                    ));
                    None
                }
            })
            .collect();
        return CnpPeer::Networks(cidrs);
    }
    let names = p.domain_names.clone().unwrap_or_default();
    let dp = path.key("domainNames");
    if names.is_empty() {
        errs.push(FieldError::required(dp.clone(), "must have at least 1 item"));
    }
    too_many(names.len(), &dp, errs);
    for (i, n) in names.iter().enumerate() {
        if !domain_name(n) {
            errs.push(FieldError::invalid(
                dp.index(i),
                n,
                "must be a domain name, optionally starting with `*.`",
            ));
        }
    }
    CnpPeer::DomainNames(names)
}

/// The CRD's pattern: labels of letters, digits, `-` and `_`, not starting or ending with
/// `-`/`_`, at least two labels, an optional leading `*.` and trailing `.`.
fn domain_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        })
}

fn protocols(ps: Option<&[ProtocolMatch]>, path: &FieldPath, errs: &mut Sink) -> Vec<CnpPort> {
    let Some(ps) = ps else {
        return Vec::new();
    };
    if ps.is_empty() {
        errs.push(FieldError::required(path.clone(), "must have at least 1 item"));
    }
    too_many(ps.len(), path, errs);
    let mut out = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        let pp = path.index(i);
        let fields = [
            ("tcp", p.tcp.is_some()),
            ("udp", p.udp.is_some()),
            ("sctp", p.sctp.is_some()),
            ("destinationNamedPort", p.destination_named_port.is_some()),
        ];
        if !exactly_one(&fields, &pp, errs) {
            continue;
        }
        if let Some(name) = &p.destination_named_port {
            out.push(CnpPort::Named(name.clone()));
            continue;
        }
        let (proto, field, m) = match (&p.tcp, &p.udp, &p.sctp) {
            (Some(m), _, _) => (Protocol::Tcp, "tcp", m),
            (_, Some(m), _) => (Protocol::Udp, "udp", m),
            (_, _, Some(m)) => (Protocol::Sctp, "sctp", m),
            _ => continue,
        };
        let mp = pp.key(field).key("destinationPort");
        let Some(port) = &m.destination_port else {
            errs.push(FieldError::required(mp, "destinationPort is required"));
            continue;
        };
        if let Some(range) = port_of(port, &mp, errs) {
            out.push(CnpPort::Ports(proto, Some(range)));
        }
    }
    out
}

pub(crate) fn port_number(n: Option<i64>, path: &FieldPath, errs: &mut Sink) -> Option<u16> {
    match n {
        Some(n @ 1..=65535) => Some(n as u16),
        Some(n) => {
            errs.push(FieldError::invalid_int(
                path.clone(),
                n,
                "must be between 1 and 65535, inclusive",
            ));
            None
        }
        None => {
            errs.push(FieldError::required(path.clone(), "a port is required"));
            None
        }
    }
}

fn port_of(port: &Port, path: &FieldPath, errs: &mut Sink) -> Option<(u16, u16)> {
    if !exactly_one(
        &[("number", port.number.is_some()), ("range", port.range.is_some())],
        path,
        errs,
    ) {
        return None;
    }
    if let Some(n) = port.number {
        let n = port_number(Some(n), &path.key("number"), errs)?;
        return Some((n, n));
    }
    let r = port.range.as_ref()?;
    port_range(r.start, r.end, &path.key("range"), errs)
}

/// An inclusive range whose `start` and `end` are ports and `start < end` (the CEL rule of
/// both API versions).
pub(crate) fn port_range(
    start: Option<i64>,
    end: Option<i64>,
    path: &FieldPath,
    errs: &mut Sink,
) -> Option<(u16, u16)> {
    let start = port_number(start, &path.key("start"), errs);
    let end = port_number(end, &path.key("end"), errs);
    let (start, end) = (start?, end?);
    if start >= end {
        errs.push(FieldError::invalid(
            path.clone(),
            format!("{start}-{end}"),
            "Start port must be less than End port",
        ));
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> (ClusterPolicy, Vec<String>) {
        let (docs, err) = crate::yaml::parse_documents(yaml);
        assert!(err.is_none(), "{err:?}");
        let v = docs.into_iter().next().unwrap().value;
        let cnp: ClusterNetworkPolicy = serde_json::from_value(v).unwrap();
        let mut errs = Sink::new();
        let c = convert(&cnp, &mut errs);
        (
            c,
            errs.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
        )
    }

    #[test]
    fn a_valid_policy_in_the_model() {
        let (c, errs) = read(
            r#"
metadata: {name: deny-db}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {matchLabels: {team: pay}}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - name: monitoring
    action: Accept
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    protocols: [{tcp: {destinationPort: {range: {start: 9000, end: 9100}}}}, {destinationNamedPort: metrics}]
  - action: Deny
    from: [{namespaces: {}}]
  egress:
  - action: Pass
    to: [{networks: [10.0.0.1/8, "fd00::/8"]}, {nodes: {}}]
"#,
        );
        assert_eq!(errs, Vec::<String>::new());
        assert_eq!(
            (c.name.as_str(), c.tier, c.priority),
            ("deny-db", Tier::Admin, 10)
        );
        assert!(matches!(c.subject, CnpSubject::Pods { .. }));
        assert_eq!(c.ingress.len(), 2);
        assert_eq!(c.ingress[0].name.as_deref(), Some("monitoring"));
        assert_eq!(
            c.ingress[0].protocols,
            vec![
                CnpPort::Ports(Protocol::Tcp, Some((9000, 9100))),
                CnpPort::Named("metrics".into())
            ]
        );
        // The CRD accepts host bits in a CIDR (CEL isCIDR); they are cleared.
        assert_eq!(
            c.egress[0].peers[0],
            CnpPeer::Networks(vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()])
        );
        assert_eq!(c.egress[0].peers[1], CnpPeer::Nodes(LabelSelector::everything()));
    }

    /// Each rule of the CRD (schema and CEL), found at its field.
    #[test]
    fn what_the_crd_refuses() {
        let (_, errs) = read(
            r#"
metadata: {name: bad}
spec:
  tier: Middle
  priority: 1001
  subject: {namespaces: {}, pods: {podSelector: {}}}
  ingress:
  - action: Allow
    from: [{networks: [10.0.0.0/8]}]
  - action: Deny
    from: []
  egress:
  - action: Accept
    to: [{namespaces: {}, nodes: {}}, {networks: [10.0.0.0/33]}, {domainNames: ["-bad.example.com", "*.kubernetes.io"]}]
    protocols: [{tcp: {destinationPort: {range: {start: 90, end: 80}}}}, {udp: {destinationPort: {number: 0}}}, {tcp: {}, udp: {}}]
  - action: Deny
    to: [{networks: [10.0.0.0/8]}]
    protocols: [{destinationNamedPort: web}]
"#,
        );
        let expect = [
            "spec.tier: Unsupported value: \"Middle\": supported values: \"Admin\", \"Baseline\"",
            "spec.priority: Invalid value: 1001: must be between 0 and 1000",
            "spec.subject: Forbidden: only one of namespaces, pods may be set, got namespaces and pods",
            "spec.ingress[0].action: Unsupported value: \"Allow\": supported values: \"Accept\", \"Deny\", \"Pass\"",
            "spec.ingress[0].from[0].networks: Forbidden: ingress peers are namespaces or pods",
            "spec.ingress[1].from: Required value: must have at least 1 item",
            "spec.egress[0].to[0]: Forbidden: only one of namespaces, pods, nodes, networks, domainNames may be set, got namespaces and nodes",
            "spec.egress[0].to[1].networks[0]: Invalid value: \"10.0.0.0/33\": Invalid CIDR format provided",
            "spec.egress[0].to[2].domainNames[0]: Invalid value: \"-bad.example.com\": must be a domain name, optionally starting with `*.`",
            "spec.egress[0].protocols[0].tcp.destinationPort.range: Invalid value: \"90-80\": Start port must be less than End port",
            "spec.egress[0].protocols[1].udp.destinationPort.number: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.egress[0].protocols[2]: Forbidden: only one of tcp, udp, sctp, destinationNamedPort may be set, got tcp and udp",
            "spec.egress[1].protocols: Forbidden: destinationNamedPort cannot be used with networks, nodes or domainNames peers",
        ];
        for e in expect {
            assert!(errs.iter().any(|x| x == e), "missing {e:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    /// "If an implementation sees no fields are set then it can infer that the deployed CRD
    /// is of an incompatible version with an unknown field. In that case it should fail
    /// closed."
    #[test]
    fn a_peer_with_no_known_field_fails_closed() {
        let (c, errs) = read(
            "metadata: {name: x}\nspec: {tier: Baseline, priority: 0, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{}]}]}\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(c.ingress[0].peers, vec![CnpPeer::Unknown]);
    }
}
