//! The v1alpha1 kinds ClusterNetworkPolicy replaced, still found in clusters and in other
//! tools' manifests: `AdminNetworkPolicy` (the Admin tier, `Allow`/`Deny`/`Pass`, `ports`)
//! and `BaselineAdminNetworkPolicy` (the singleton `default` of the Baseline tier,
//! `Allow`/`Deny`), read into the same model (`Allow` is `Accept`). Field names as in
//! kubernetes-sigs/network-policy-api `apis/v1alpha1`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use palisade_core::{ClusterPolicy, CnpPort, Protocol, Tier};
use serde::Deserialize;

use crate::cnp::{self, Peer, Subject};
use crate::convert::Sink;
use crate::diagnostic::FieldError;
use crate::path::FieldPath;

/// An AdminNetworkPolicy or a BaselineAdminNetworkPolicy (the latter has no priority).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicy {
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
    /// 0–1000 (AdminNetworkPolicy only).
    pub priority: Option<i64>,
    /// The pods it applies to.
    pub subject: Option<Subject>,
    /// Ingress rules.
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules.
    pub egress: Option<Vec<Rule>>,
}

/// A v1alpha1 rule: `ports` instead of `protocols`, `Allow` instead of `Accept`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// At most 100 characters.
    pub name: Option<String>,
    /// `Allow`, `Deny` or `Pass` (no `Pass` in the Baseline kind).
    pub action: Option<String>,
    /// Ingress peers.
    pub from: Option<Vec<Peer>>,
    /// Egress peers.
    pub to: Option<Vec<Peer>>,
    /// Port matches.
    pub ports: Option<Vec<PortItem>>,
}

/// Exactly one of `portNumber`, `namedPort`, `portRange`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortItem {
    /// A protocol and port.
    pub port_number: Option<PortNumber>,
    /// A container port name on the destination pod.
    pub named_port: Option<String>,
    /// A protocol and an inclusive range.
    pub port_range: Option<PortRange>,
}

/// `portNumber`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortNumber {
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
    /// 1–65535.
    pub port: Option<i64>,
}

/// `portRange`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
    /// First port.
    pub start: Option<i64>,
    /// Last port, above `start`.
    pub end: Option<i64>,
}

/// Converts either kind (`tier` says which) into the model.
pub fn convert(anp: &AdminNetworkPolicy, tier: Tier, errs: &mut Sink) -> ClusterPolicy {
    let sp = FieldPath::root().key("spec");
    let spec = anp.spec.clone().unwrap_or_default();
    let (priority, actions): (Option<i64>, &[&str]) = match tier {
        Tier::Admin => (spec.priority, &["Allow", "Deny", "Pass"]),
        Tier::Baseline => {
            if spec.priority.is_some() {
                errs.push(FieldError::forbidden(
                    sp.key("priority"),
                    "BaselineAdminNetworkPolicy has no priority",
                ));
            }
            (Some(0), &["Allow", "Deny"])
        }
    };
    if tier == Tier::Baseline && anp.metadata.name.as_deref().is_some_and(|n| n != "default") {
        errs.push(FieldError::invalid(
            FieldPath::root().key("metadata").key("name"),
            anp.metadata.name.as_deref().unwrap_or(""),
            "only one object named default is allowed",
        ));
    }
    let mut ports: Vec<(bool, usize, Vec<CnpPort>)> = Vec::new();
    let rules = |rs: &Option<Vec<Rule>>,
                 ingress: bool,
                 errs: &mut Sink,
                 ports: &mut Vec<(bool, usize, Vec<CnpPort>)>| {
        let field = if ingress { "ingress" } else { "egress" };
        rs.as_ref().map(|rs| {
            rs.iter()
                .enumerate()
                .map(|(i, r)| {
                    let rp = sp.key(field).index(i);
                    let action = match r.action.as_deref() {
                        Some("Allow") => Some("Accept".to_string()),
                        Some(a) if actions.contains(&a) => Some(a.to_string()),
                        Some(other) => {
                            errs.push(FieldError::unsupported(rp.key("action"), other, actions));
                            Some("Deny".to_string())
                        }
                        None => None,
                    };
                    ports.push((ingress, i, port_items(r.ports.as_deref(), &rp.key("ports"), errs)));
                    cnp::Rule {
                        name: r.name.clone(),
                        action,
                        from: r.from.clone(),
                        to: r.to.clone(),
                        protocols: None,
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let ingress = rules(&spec.ingress, true, errs, &mut ports);
    let egress = rules(&spec.egress, false, errs, &mut ports);
    let as_v2 = cnp::ClusterNetworkPolicy {
        api_version: None,
        kind: None,
        metadata: anp.metadata.clone(),
        spec: anp.spec.as_ref().map(|_| cnp::Spec {
            tier: Some(tier.as_str().to_string()),
            priority,
            subject: spec.subject.clone(),
            ingress,
            egress,
        }),
    };
    let mut out = cnp::convert(&as_v2, errs);
    for (ingress, i, p) in ports {
        let rules = if ingress {
            &mut out.ingress
        } else {
            &mut out.egress
        };
        if let Some(r) = rules.get_mut(i) {
            r.protocols = p;
        }
    }
    out
}

fn protocol(p: Option<&str>, path: &FieldPath, errs: &mut Sink) -> Protocol {
    match p {
        None | Some("TCP") => Protocol::Tcp,
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        Some(other) => {
            errs.push(FieldError::unsupported(
                path.clone(),
                other,
                &["SCTP", "TCP", "UDP"],
            ));
            Protocol::Tcp
        }
    }
}

fn port_items(items: Option<&[PortItem]>, path: &FieldPath, errs: &mut Sink) -> Vec<CnpPort> {
    let mut out = Vec::new();
    for (i, it) in items.unwrap_or_default().iter().enumerate() {
        let p = path.index(i);
        let set = [
            ("portNumber", it.port_number.is_some()),
            ("namedPort", it.named_port.is_some()),
            ("portRange", it.port_range.is_some()),
        ];
        if !cnp::exactly_one(&set, &p, errs) {
            continue;
        }
        if let Some(pn) = &it.port_number {
            let proto = protocol(pn.protocol.as_deref(), &p.key("portNumber").key("protocol"), errs);
            if let Some(n) = cnp::port_number(pn.port, &p.key("portNumber").key("port"), errs) {
                out.push(CnpPort::Ports(proto, Some((n, n))));
            }
        } else if let Some(name) = &it.named_port {
            out.push(CnpPort::Named(name.clone()));
        } else if let Some(r) = &it.port_range {
            let rp = p.key("portRange");
            let proto = protocol(r.protocol.as_deref(), &rp.key("protocol"), errs);
            if let Some(range) = cnp::port_range(r.start, r.end, &rp, errs) {
                out.push(CnpPort::Ports(proto, Some(range)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::{Action, CnpPeer};

    fn read(yaml: &str, tier: Tier) -> (ClusterPolicy, Vec<String>) {
        let (docs, err) = crate::yaml::parse_documents(yaml);
        assert!(err.is_none(), "{err:?}");
        let anp: AdminNetworkPolicy = serde_json::from_value(docs.into_iter().next().unwrap().value).unwrap();
        let mut errs = Sink::new();
        let c = convert(&anp, tier, &mut errs);
        (
            c,
            errs.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
        )
    }

    /// v1alpha1 "Allow" is v1alpha2 "Accept"; `ports` become `protocols`.
    #[test]
    fn an_admin_network_policy_in_the_model() {
        let (c, errs) = read(
            r#"
metadata: {name: allow-monitoring}
spec:
  priority: 9
  subject: {namespaces: {}}
  ingress:
  - action: Allow
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{portNumber: {protocol: TCP, port: 9090}}, {portRange: {protocol: UDP, start: 5000, end: 5100}}, {namedPort: metrics}]
  egress:
  - action: Pass
    to: [{networks: [10.0.0.0/8]}]
"#,
            Tier::Admin,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((c.tier, c.priority), (Tier::Admin, 9));
        assert_eq!(c.ingress[0].action, Action::Accept);
        assert_eq!(
            c.ingress[0].protocols,
            vec![
                CnpPort::Ports(Protocol::Tcp, Some((9090, 9090))),
                CnpPort::Ports(Protocol::Udp, Some((5000, 5100))),
                CnpPort::Named("metrics".into())
            ]
        );
        assert_eq!(c.egress[0].action, Action::Pass);
        assert!(matches!(c.egress[0].peers[0], CnpPeer::Networks(_)));
    }

    /// The Baseline kind: the singleton `default`, Allow or Deny only, no priority.
    #[test]
    fn a_baseline_admin_network_policy_and_its_rules() {
        let (c, errs) = read(
            "metadata: {name: default}\nspec: {subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}\n",
            Tier::Baseline,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((c.tier, c.ingress[0].action), (Tier::Baseline, Action::Deny));
        let (_, errs) = read(
            "metadata: {name: other}\nspec: {priority: 3, subject: {namespaces: {}}, egress: [{action: Pass, to: [{namespaces: {}}], ports: [{portRange: {start: 9, end: 2}}]}]}\n",
            Tier::Baseline,
        );
        let expect = [
            "metadata.name: Invalid value: \"other\": only one object named default is allowed",
            "spec.priority: Forbidden: BaselineAdminNetworkPolicy has no priority",
            "spec.egress[0].action: Unsupported value: \"Pass\": supported values: \"Allow\", \"Deny\"",
            "spec.egress[0].ports[0].portRange: Invalid value: \"9-2\": Start port must be less than End port",
        ];
        for e in expect {
            assert!(errs.iter().any(|x| x == e), "missing {e:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }
}
