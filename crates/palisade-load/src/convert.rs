//! Kubernetes objects (k8s-openapi types) to the engine's model, validating every field
//! the way the API server does on the way. Errors go to a sink with their field path;
//! a caller only uses the result when the sink stayed empty.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use palisade_core::{
    Cidr, ContainerPort, IpBlock, LabelSelector, Labels, Operator, Peer, Policy, PolicyPort, PolicyTypes,
    PortMatch, Protocol, Requirement, Rule,
};

use crate::diagnostic::{ErrorKind, FieldError};
use crate::names;
use crate::path::FieldPath;

/// Where conversion collects the problems it finds.
pub type Sink = Vec<FieldError>;

const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

/// Object name, checked as an RFC 1123 subdomain.
pub fn object_name(meta: &meta::ObjectMeta, path: &FieldPath, errs: &mut Sink) -> String {
    let p = path.key("name");
    match meta.name.as_deref() {
        None | Some("") => {
            errs.push(FieldError::required(p, "name or generateName is required"));
            String::new()
        }
        Some(n) => {
            if let Some(e) = names::dns1123_subdomain(n) {
                errs.push(FieldError::invalid(p, n, &e));
            }
            n.to_string()
        }
    }
}

/// The object's namespace (or `default_ns`), checked as an RFC 1123 label.
pub fn object_namespace(
    meta: &meta::ObjectMeta,
    default_ns: &str,
    path: &FieldPath,
    errs: &mut Sink,
) -> String {
    match meta.namespace.as_deref() {
        None | Some("") => default_ns.to_string(),
        Some(ns) => {
            if let Some(e) = names::dns1123_label(ns) {
                errs.push(FieldError::invalid(path.key("namespace"), ns, &e));
            }
            ns.to_string()
        }
    }
}

/// Labels, with keys and values checked.
pub fn labels(map: Option<&BTreeMap<String, String>>, path: &FieldPath, errs: &mut Sink) -> Labels {
    let Some(map) = map else {
        return Labels::new();
    };
    for (k, v) in map {
        if let Some(e) = names::qualified_name(k) {
            errs.push(FieldError::invalid(path.key(k), k, &e));
        }
        if let Some(e) = names::label_value(v) {
            errs.push(FieldError::invalid(path.key(k), v, &e));
        }
    }
    map.clone()
}

/// A Kubernetes label selector in the model's form, its problems (bad operators, values
/// with `Exists`) pushed to `errs` at `path`.
pub fn selector(sel: &meta::LabelSelector, path: &FieldPath, errs: &mut Sink) -> LabelSelector {
    let mut requirements = Vec::new();
    for (k, v) in labels(sel.match_labels.as_ref(), &path.key("matchLabels"), errs) {
        requirements.push(Requirement {
            key: k,
            operator: Operator::In,
            values: vec![v],
        });
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.key("matchExpressions").index(i);
        if let Some(why) = names::qualified_name(&e.key) {
            errs.push(FieldError::invalid(p.key("key"), &e.key, &why));
        }
        let values = e.values.clone().unwrap_or_default();
        let operator = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                errs.push(FieldError::invalid(
                    p.key("operator"),
                    other,
                    "not a valid selector operator",
                ));
                continue;
            }
        };
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(FieldError::required(
                p.key("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                errs.push(FieldError::forbidden(
                    p.key("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ))
            }
            _ => {}
        }
        for (j, v) in values.iter().enumerate() {
            if let Some(why) = names::label_value(v) {
                errs.push(FieldError::invalid(p.key("values").index(j), v, &why));
            }
        }
        requirements.push(Requirement {
            key: e.key.clone(),
            operator,
            values,
        });
    }
    LabelSelector { requirements }
}

fn protocol(p: Option<&str>, path: &FieldPath, errs: &mut Sink) -> Protocol {
    match p {
        None => Protocol::Tcp,
        Some("TCP") => Protocol::Tcp,
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        Some(other) => {
            errs.push(FieldError::unsupported(path.clone(), other, &PROTOCOLS));
            Protocol::Tcp
        }
    }
}

fn port_number(n: i64, path: &FieldPath, errs: &mut Sink) -> u16 {
    if (1..=65535).contains(&n) {
        n as u16
    } else {
        errs.push(FieldError::invalid_int(
            path.clone(),
            n,
            "must be between 1 and 65535, inclusive",
        ));
        1
    }
}

fn policy_port(p: &net::NetworkPolicyPort, path: &FieldPath, errs: &mut Sink) -> PolicyPort {
    let protocol = protocol(p.protocol.as_deref(), &path.key("protocol"), errs);
    let port = match (&p.port, p.end_port) {
        (None, None) => PortMatch::All,
        (None, Some(_)) => {
            errs.push(FieldError::required(
                path.key("port"),
                "must be specified when endPort is specified",
            ));
            PortMatch::All
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(why) = names::port_name(name) {
                errs.push(FieldError::invalid(path.key("port"), name, &why));
            }
            if end.is_some() {
                errs.push(FieldError {
                    kind: ErrorKind::EndPortWithNamedPort,
                    ..FieldError::forbidden(
                        path.key("endPort"),
                        "may not be specified when `port` is non-numeric",
                    )
                });
            }
            PortMatch::Named(name.clone())
        }
        (Some(IntOrString::Int(n)), end) => {
            let lo = port_number(*n as i64, &path.key("port"), errs);
            let hi = match end {
                None => lo,
                Some(e) => {
                    let hi = port_number(e as i64, &path.key("endPort"), errs);
                    if e < *n {
                        errs.push(FieldError::invalid_int(
                            path.key("endPort"),
                            e as i64,
                            "must be greater than or equal to `port`",
                        ));
                    }
                    hi.max(lo)
                }
            };
            PortMatch::Range(lo, hi)
        }
    };
    PolicyPort { protocol, port }
}

/// Warnings the API server gives for a policy's CIDRs: IPv4 parts with leading zeros.
pub fn cidr_remarks(spec: Option<&net::NetworkPolicySpec>) -> Sink {
    let mut out = Sink::new();
    let Some(spec) = spec else {
        return out;
    };
    let rules = spec
        .ingress
        .iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, r)| {
            r.from
                .iter()
                .flatten()
                .enumerate()
                .map(move |(j, p)| ("ingress", i, "from", j, p))
        })
        .chain(spec.egress.iter().flatten().enumerate().flat_map(|(i, r)| {
            r.to.iter()
                .flatten()
                .enumerate()
                .map(move |(j, p)| ("egress", i, "to", j, p))
        }));
    for (dir, i, side, j, peer) in rules {
        let Some(b) = &peer.ip_block else { continue };
        let bp = FieldPath::root()
            .key("spec")
            .key(dir)
            .index(i)
            .key(side)
            .index(j)
            .key("ipBlock");
        let texts = std::iter::once((bp.key("cidr"), &b.cidr)).chain(
            b.except
                .iter()
                .flatten()
                .enumerate()
                .map(|(k, e)| (bp.key("except").index(k), e)),
        );
        for (path, text) in texts {
            if palisade_core::ip::has_leading_zeros(text) {
                out.push(FieldError {
                    path,
                    kind: ErrorKind::Invalid,
                    message: format!(
                        "\"{text}\": IPv4 parts with leading zeros are read as decimal; the API server warns about them and may refuse them in later releases"
                    ),
                });
            }
        }
    }
    out
}

fn cidr(text: &str, path: &FieldPath, errs: &mut Sink) -> Option<Cidr> {
    match text.parse::<Cidr>() {
        Ok(c) => Some(c),
        Err(_) => {
            errs.push(FieldError::invalid(
                path.clone(),
                text,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
            None
        }
    }
}

fn peer(p: &net::NetworkPolicyPeer, path: &FieldPath, errs: &mut Sink) -> Option<Peer> {
    let set = [
        p.pod_selector.is_some(),
        p.namespace_selector.is_some(),
        p.ip_block.is_some(),
    ];
    if set.iter().all(|s| !s) {
        errs.push(FieldError::required(path.clone(), "must specify a peer"));
        return None;
    }
    if let Some(b) = &p.ip_block {
        if set[0] || set[1] {
            errs.push(FieldError::forbidden(
                path.clone(),
                "may not specify more than 1 peer",
            ));
            return None;
        }
        let bp = path.key("ipBlock");
        if b.cidr.is_empty() {
            errs.push(FieldError::required(bp.key("cidr"), ""));
            return None;
        }
        let c = cidr(&b.cidr, &bp.key("cidr"), errs)?;
        let mut except = Vec::new();
        for (i, e) in b.except.iter().flatten().enumerate() {
            let ep = bp.key("except").index(i);
            if let Some(ec) = cidr(e, &ep, errs) {
                if !c.covers(&ec) || ec.prefix <= c.prefix {
                    errs.push(FieldError::invalid(ep, e, "must be a strict subset of `cidr`"));
                } else {
                    except.push(ec);
                }
            }
        }
        return Some(Peer::IpBlock(IpBlock { cidr: c, except }));
    }
    Some(Peer::Pods {
        namespace_selector: p
            .namespace_selector
            .as_ref()
            .map(|s| selector(s, &path.key("namespaceSelector"), errs)),
        pod_selector: p
            .pod_selector
            .as_ref()
            .map(|s| selector(s, &path.key("podSelector"), errs)),
    })
}

fn rule(
    peers: Option<&Vec<net::NetworkPolicyPeer>>,
    peers_key: &str,
    ports: Option<&Vec<net::NetworkPolicyPort>>,
    path: &FieldPath,
    errs: &mut Sink,
) -> Rule {
    Rule {
        peers: peers
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, p)| peer(p, &path.key(peers_key).index(i), errs))
            .collect(),
        ports: ports
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| policy_port(p, &path.key("ports").index(i), errs))
            .collect(),
    }
}

/// A NetworkPolicy's spec.
pub fn network_policy(
    namespace: String,
    name: String,
    spec: Option<&net::NetworkPolicySpec>,
    errs: &mut Sink,
) -> Policy {
    let path = FieldPath::root().key("spec");
    let default_spec = net::NetworkPolicySpec::default();
    let spec = spec.unwrap_or(&default_spec);
    let pod_selector = spec
        .pod_selector
        .as_ref()
        .map(|s| selector(s, &path.key("podSelector"), errs))
        .unwrap_or_default();
    let ingress: Vec<Rule> = spec
        .ingress
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            rule(
                r.from.as_ref(),
                "from",
                r.ports.as_ref(),
                &path.key("ingress").index(i),
                errs,
            )
        })
        .collect();
    let egress: Vec<Rule> = spec
        .egress
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            rule(
                r.to.as_ref(),
                "to",
                r.ports.as_ref(),
                &path.key("egress").index(i),
                errs,
            )
        })
        .collect();
    let types = match spec.policy_types.as_deref() {
        None | Some([]) => PolicyTypes {
            ingress: true,
            egress: !egress.is_empty(),
        },
        Some(list) => {
            let tp = path.key("policyTypes");
            if list.len() > 2 {
                errs.push(FieldError::invalid(
                    tp.clone(),
                    list.join(","),
                    "may not specify more than two policyTypes",
                ));
            }
            let mut t = PolicyTypes::default();
            for (i, v) in list.iter().enumerate() {
                match v.as_str() {
                    "Ingress" => t.ingress = true,
                    "Egress" => t.egress = true,
                    other => errs.push(FieldError::unsupported(
                        tp.index(i),
                        other,
                        &["Ingress", "Egress"],
                    )),
                }
            }
            t
        }
    };
    Policy {
        namespace,
        name,
        pod_selector,
        types,
        ingress,
        egress,
    }
}

/// What a pod spec contributes: named ports, hostNetwork, node.
pub(crate) struct PodParts {
    pub ports: Vec<ContainerPort>,
    pub host_network: bool,
    pub node: Option<String>,
}

pub(crate) fn pod_spec(spec: Option<&PodSpec>, path: &FieldPath, errs: &mut Sink) -> PodParts {
    let Some(spec) = spec else {
        return PodParts {
            ports: Vec::new(),
            host_network: false,
            node: None,
        };
    };
    let mut ports = Vec::new();
    let mut containers = |list: &[Container], key: &str, only_sidecars: bool| {
        for (ci, c) in list.iter().enumerate() {
            if only_sidecars && c.restart_policy.as_deref() != Some("Always") {
                continue;
            }
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                // Paths are only built when something is wrong: this runs for every pod.
                let pp = || path.key(key).index(ci).key("ports").index(pi);
                let port = match u16::try_from(p.container_port) {
                    Ok(n) if n > 0 => n,
                    _ => port_number(p.container_port as i64, &pp().key("containerPort"), errs),
                };
                let protocol = match p.protocol.as_deref() {
                    None | Some("TCP") => Protocol::Tcp,
                    Some("UDP") => Protocol::Udp,
                    Some("SCTP") => Protocol::Sctp,
                    other => protocol(other, &pp().key("protocol"), errs),
                };
                if let Some(n) = &p.name {
                    if let Some(why) = names::port_name(n) {
                        errs.push(FieldError::invalid(pp().key("name"), n, &why));
                    }
                }
                ports.push(ContainerPort {
                    name: p.name.clone(),
                    port,
                    protocol,
                });
            }
        }
    };
    containers(&spec.containers, "containers", false);
    // Sidecar init containers (restartPolicy: Always) keep running and serve ports too.
    if let Some(init) = &spec.init_containers {
        containers(init, "initContainers", true);
    }
    PodParts {
        ports,
        host_network: spec.host_network.unwrap_or(false),
        node: spec.node_name.clone(),
    }
}

/// `status.podIP` / `status.podIPs`.
/// A Node's `status.addresses` that are IP addresses (`Hostname` entries are names).
/// An `InternalIP`/`ExternalIP` entry that is not an address is an error.
pub fn node_addresses(
    status: Option<&k8s_openapi::api::core::v1::NodeStatus>,
    errs: &mut Sink,
) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    let path = FieldPath::root().key("status").key("addresses");
    for (i, a) in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        match a.address.parse::<IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) if a.type_ == "InternalIP" || a.type_ == "ExternalIP" => errs.push(FieldError::invalid(
                path.index(i).key("address"),
                &a.address,
                "must be a valid IP address",
            )),
            Err(_) => {}
        }
    }
    ips
}

pub(crate) fn pod_ips(
    status: Option<&k8s_openapi::api::core::v1::PodStatus>,
    errs: &mut Sink,
) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    let Some(status) = status else {
        return ips;
    };
    let path = FieldPath::root().key("status");
    let mut add = |text: &str, p: FieldPath| match text.parse::<IpAddr>() {
        Ok(ip) => {
            if !ips.contains(&ip) {
                ips.push(ip)
            }
        }
        Err(_) => errs.push(FieldError::invalid(p, text, "must be a valid IP address")),
    };
    if let Some(ip) = &status.pod_ip {
        add(ip, path.key("podIP"));
    }
    for (i, ip) in status.pod_ips.iter().flatten().enumerate() {
        add(&ip.ip, path.key("podIPs").index(i).key("ip"));
    }
    ips
}
