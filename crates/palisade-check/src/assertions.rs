//! `palisade test`: reachability assertions checked with the engine's direct evaluator.
//!
//! A spec is a list (or `{tests: [...]}`) of
//! `{name?, from: PEER, to: PEER, port: 8080/TCP, expect: allow|deny}` where a peer is
//! `{namespace, name}` (one pod), `{namespace, pod: SELECTOR}` (every pod it selects —
//! `{app: web}` as matchLabels, or a full `{matchLabels, matchExpressions}`),
//! `{namespace}` (every pod of it), or `{ip}` / `{cidr}` (addresses outside the pods).
//! Every pair must meet the expectation; a peer that selects no pod is a failure, not a
//! vacuous pass.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use palisade_core::{explain, Cidr, Cluster, Endpoint, Explanation, LabelSelector, Options, Protocol};
use palisade_load::convert;
use palisade_load::diagnostic::FieldError;
use palisade_load::path::FieldPath;
use serde_json::Value;

/// Who is at one end of an assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSpec {
    /// Pods of a namespace: one by name, those a selector picks, or all.
    Pods {
        /// The namespace.
        namespace: String,
        /// One pod by name.
        name: Option<String>,
        /// The pods a selector picks.
        selector: Option<LabelSelector>,
    },
    /// Addresses outside the pod network.
    Block(Cidr),
}

/// One reachability assertion of a test spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    /// Its name, as reported.
    pub name: String,
    /// The sources.
    pub from: PeerSpec,
    /// The destinations.
    pub to: PeerSpec,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port.
    pub port: u16,
    /// Expect allowed (else denied) for every pair.
    pub allow: bool,
    /// Where it is in the spec (`tests[3]`).
    pub path: FieldPath,
}

/// The verdict of one assertion.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Pairs checked.
    pub pairs: usize,
    /// Pairs that broke the expectation, with the engine's explanation.
    pub failures: Vec<(Endpoint, Endpoint, Explanation)>,
    /// Why the assertion could not be checked (a peer selecting nothing).
    pub error: Option<String>,
}

impl Outcome {
    /// Whether every pair met the expectation.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.error.is_none()
    }
}

/// `8080`, `8080/TCP`, `53/udp`.
pub fn parse_port(v: &Value) -> Result<(u16, Protocol), String> {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err("must be a port number or PORT/PROTOCOL".into()),
    };
    let (num, proto) = s.split_once('/').unwrap_or((&s, "TCP"));
    let port: u16 = num
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{num:?} is not a port number (1-65535)"))?;
    let protocol = match proto.trim().to_ascii_uppercase().as_str() {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        other => return Err(format!("{other:?} is not TCP, UDP or SCTP")),
    };
    Ok((port, protocol))
}

fn peer(v: &Value, path: &FieldPath, default_ns: &str, errs: &mut Vec<FieldError>) -> Option<PeerSpec> {
    let Some(map) = v.as_object() else {
        errs.push(FieldError::invalid(path.clone(), v, "must be a mapping"));
        return None;
    };
    for k in map.keys() {
        if !["namespace", "name", "pod", "ip", "cidr"].contains(&k.as_str()) {
            errs.push(FieldError::invalid(
                path.key(k),
                k,
                "unknown field (namespace, name, pod, ip, cidr)",
            ));
        }
    }
    let text = |k: &str| {
        map.get(k)
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
    };
    if let Some(block) = text("ip").or_else(|| text("cidr")) {
        let key = if map.contains_key("ip") { "ip" } else { "cidr" };
        if map.len() > 1 {
            errs.push(FieldError::invalid(
                path.key(key),
                &block,
                "an address peer takes no other field",
            ));
        }
        let parsed = block
            .parse::<std::net::IpAddr>()
            .map(Cidr::host)
            .or_else(|_| block.parse::<Cidr>());
        return match parsed {
            Ok(c) => Some(PeerSpec::Block(c)),
            Err(e) => {
                errs.push(FieldError::invalid(path.key(key), &block, &e.to_string()));
                None
            }
        };
    }
    let namespace = text("namespace").unwrap_or_else(|| default_ns.to_string());
    let name = text("name");
    let selector = match map.get("pod") {
        None => None,
        Some(sel) => {
            let sp = path.key("pod");
            let is_full = sel
                .as_object()
                .is_some_and(|m| m.contains_key("matchLabels") || m.contains_key("matchExpressions"));
            let parsed: Result<meta::LabelSelector, _> = if is_full {
                serde_json::from_value(sel.clone())
            } else {
                serde_json::from_value::<BTreeMap<String, String>>(sel.clone()).map(|m| meta::LabelSelector {
                    match_labels: Some(m),
                    match_expressions: None,
                })
            };
            match parsed {
                Ok(s) => Some(convert::selector(&s, &sp, errs)),
                Err(e) => {
                    errs.push(FieldError::invalid(
                        sp,
                        sel,
                        &format!("not a label selector: {e}"),
                    ));
                    None
                }
            }
        }
    };
    if name.is_some() && selector.is_some() {
        errs.push(FieldError::invalid(
            path.key("pod"),
            "pod",
            "give either name or pod, not both",
        ));
    }
    Some(PeerSpec::Pods {
        namespace,
        name,
        selector,
    })
}

/// Reads a spec (already parsed from YAML or JSON); every problem at once.
pub fn parse(spec: &Value, default_ns: &str) -> Result<Vec<Assertion>, Vec<FieldError>> {
    let (list, base) = match spec {
        Value::Array(a) => (a, FieldPath::root()),
        Value::Object(m) => match m.get("tests") {
            Some(Value::Array(a)) => (a, FieldPath::root().key("tests")),
            _ => {
                return Err(vec![FieldError::required(
                    FieldPath::root().key("tests"),
                    "a spec is a list of assertions, or a mapping with `tests:`",
                )])
            }
        },
        _ => {
            return Err(vec![FieldError::invalid(
                FieldPath::root(),
                spec,
                "a spec is a list of assertions, or a mapping with `tests:`",
            )])
        }
    };
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = base.index(i);
        let Some(m) = item.as_object() else {
            errs.push(FieldError::invalid(path, item, "an assertion is a mapping"));
            continue;
        };
        for k in m.keys() {
            if !["name", "from", "to", "port", "expect"].contains(&k.as_str()) {
                errs.push(FieldError::invalid(
                    path.key(k),
                    k,
                    "unknown field (name, from, to, port, expect)",
                ));
            }
        }
        let mut field = |k: &str| {
            let v = m.get(k);
            if v.is_none() {
                errs.push(FieldError::required(path.key(k), "required"));
            }
            v
        };
        let (from, to, port, expect) = (field("from"), field("to"), field("port"), field("expect"));
        let from = from.and_then(|v| peer(v, &path.key("from"), default_ns, &mut errs));
        let to = to.and_then(|v| peer(v, &path.key("to"), default_ns, &mut errs));
        let port = port.and_then(|v| {
            parse_port(v)
                .map_err(|e| errs.push(FieldError::invalid(path.key("port"), v, &e)))
                .ok()
        });
        let allow = expect.and_then(|v| match v.as_str() {
            Some("allow") => Some(true),
            Some("deny") => Some(false),
            _ => {
                errs.push(FieldError::unsupported(
                    path.key("expect"),
                    &v.to_string(),
                    &["allow", "deny"],
                ));
                None
            }
        });
        if let (Some(from), Some(to), Some((port, protocol)), Some(allow)) = (from, to, port, allow) {
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "{} -> {} {port}/{protocol}: {}",
                        describe(&from),
                        describe(&to),
                        if allow { "allow" } else { "deny" }
                    )
                });
            out.push(Assertion {
                name,
                from,
                to,
                protocol,
                port,
                allow,
                path,
            });
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// `shop/frontend`, `shop/{app=web}`, `shop/*`, `10.0.0.0/8`.
pub fn describe(p: &PeerSpec) -> String {
    match p {
        PeerSpec::Block(c) => c.to_string(),
        PeerSpec::Pods {
            namespace,
            name: Some(n),
            ..
        } => format!("{namespace}/{n}"),
        PeerSpec::Pods {
            namespace,
            selector: Some(s),
            ..
        } => format!("{namespace}/{{{s}}}"),
        PeerSpec::Pods { namespace, .. } => format!("{namespace}/*"),
    }
}

/// The endpoints a peer stands for.
pub fn endpoints(cluster: &Cluster, p: &PeerSpec) -> Vec<Endpoint> {
    match p {
        PeerSpec::Block(c) => vec![Endpoint::External(c.clone())],
        PeerSpec::Pods {
            namespace,
            name,
            selector,
        } => cluster
            .pods
            .iter()
            .enumerate()
            .filter(|(_, pod)| {
                pod.namespace == *namespace
                    && name.as_ref().is_none_or(|n| pod.name == *n)
                    && selector.as_ref().is_none_or(|s| s.matches(&pod.labels))
            })
            .map(|(i, _)| Endpoint::Pod(i))
            .collect(),
    }
}

/// Checks one assertion on every pair of its peers.
pub fn check(cluster: &Cluster, options: &Options, a: &Assertion) -> Outcome {
    let (from, to) = (endpoints(cluster, &a.from), endpoints(cluster, &a.to));
    let empty = [(&from, &a.from, "from"), (&to, &a.to, "to")]
        .into_iter()
        .find(|(e, _, _)| e.is_empty())
        .map(|(_, p, side)| format!("{side}: {} matches no pod", describe(p)));
    let mut out = Outcome {
        pairs: 0,
        failures: Vec::new(),
        error: empty,
    };
    for f in &from {
        for t in &to {
            if matches!((f, t), (Endpoint::External(_), Endpoint::External(_))) {
                continue;
            }
            out.pairs += 1;
            let e = explain(cluster, options, f, t, a.protocol, a.port);
            if e.allowed != a.allow {
                out.failures.push((f.clone(), t.clone(), e));
            }
        }
    }
    if out.pairs == 0 && out.error.is_none() {
        out.error = Some("both ends are addresses: nothing to check".into());
    }
    out
}
