//! Flow records: one logged packet named with the cluster's pods and policies and the
//! verdict that the rules gave it. One type, written by the dataplane's and the agent's
//! flow logs and the lab, and read by `palisade flows`, the agent's metrics and tests.
//! Decoding looks pod addresses up in a hash index and log tags in the ruleset's own
//! record of what they mean; it needs no cluster beyond the names.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use palisade_core::{Cluster, Protocol};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ruleset::{LogMeaning, RuleRef, Ruleset};

/// One packet the kernel logged: its NFLOG prefix and mark, addresses, protocol and
/// destination port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The NFLOG prefix: a [`crate::LogTag`] as text.
    pub prefix: String,
    /// The packet mark (the egress rule that allowed, with `log_allowed`).
    pub mark: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP, UDP or SCTP; `None` for other protocols.
    pub protocol: Option<Protocol>,
    /// Destination port, for TCP, UDP and SCTP.
    pub port: Option<u16>,
}

/// One end of a flow: a pod by namespace and name, or an address no pod has. Written as
/// `namespace/name` or as the address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FlowEnd {
    /// A pod.
    Pod {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An address no pod has.
    Address(IpAddr),
}

impl FlowEnd {
    /// The namespace, for a pod.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            FlowEnd::Pod { namespace, .. } => Some(namespace),
            FlowEnd::Address(_) => None,
        }
    }

    /// The pod's name, for a pod.
    pub fn pod_name(&self) -> Option<&str> {
        match self {
            FlowEnd::Pod { name, .. } => Some(name),
            FlowEnd::Address(_) => None,
        }
    }
}

impl fmt::Display for FlowEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowEnd::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            FlowEnd::Address(ip) => write!(f, "{ip}"),
        }
    }
}

impl Serialize for FlowEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FlowEnd {
    /// Read from a flow log file: an address, or `namespace/name` (names cannot hold `/`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Ok(ip) = text.parse() {
            return Ok(FlowEnd::Address(ip));
        }
        match text.split_once('/') {
            Some((namespace, name)) => Ok(FlowEnd::Pod {
                namespace: namespace.into(),
                name: name.into(),
            }),
            None => Err(serde::de::Error::custom(format!(
                "`{text}` is neither an address nor namespace/name"
            ))),
        }
    }
}

/// What happened to the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A new connection allowed (logged with `log_allowed`).
    Allowed,
    /// A new connection dropped.
    Denied,
    /// Would have been denied; let through in audit mode.
    Audit,
    /// Allowed (or denied) as enforced, and staged policies would deny it if promoted.
    /// Logged beside the connection's own record; traffic is unaffected.
    #[serde(rename = "shadow-denied")]
    ShadowDenied,
    /// Denied (or allowed) as enforced, and staged policies would allow it if promoted.
    #[serde(rename = "shadow-allowed")]
    ShadowAllowed,
    /// The log prefix is not one the rules in force wrote.
    Unknown,
}

impl Verdict {
    /// As written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Audit => "audit",
            Verdict::ShadowDenied => "shadow-denied",
            Verdict::ShadowAllowed => "shadow-allowed",
            Verdict::Unknown => "unknown",
        }
    }
}

/// The direction of a policy rule or a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// At the destination.
    Ingress,
    /// At the source.
    Egress,
}

impl Direction {
    fn of(ingress: bool) -> Direction {
        if ingress {
            Direction::Ingress
        } else {
            Direction::Egress
        }
    }
}

/// The rule that allowed one direction (fields in the order JSON has always shown them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// Ingress or egress.
    pub direction: Direction,
    /// `namespace/name` of the policy.
    pub policy: Option<String>,
    /// The rule's index in the policy's list for that direction.
    pub rule: usize,
    /// `Admin` or `Baseline` for a ClusterNetworkPolicy's rule; absent for a
    /// NetworkPolicy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

impl From<&RuleRef> for RuleRecord {
    fn from(r: &RuleRef) -> Self {
        RuleRecord {
            direction: Direction::of(r.ingress),
            policy: Some(r.policy.key()),
            rule: r.rule,
            tier: r.tier.map(|t| t.as_str().to_string()),
        }
    }
}

/// How ingress was decided for an allowed flow: a rule, or no isolation at the destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IngressRecord {
    /// A rule of a policy.
    Rule(RuleRecord),
    /// The destination is not isolated for ingress.
    Open(NotIsolated),
}

/// The destination does not restrict ingress; written as `"not isolated here"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotIsolated;

const NOT_ISOLATED: &str = "not isolated here";

impl Serialize for NotIsolated {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(NOT_ISOLATED)
    }
}

impl<'de> Deserialize<'de> for NotIsolated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == NOT_ISOLATED {
            Ok(NotIsolated)
        } else {
            Err(serde::de::Error::custom(format!("unexpected `{text}`")))
        }
    }
}

/// One flow-log line. Fields are declared in alphabetical order, the order the log has
/// always had them in (it was written through a sorted JSON map).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// For a denial: the direction that denied; for a shadow verdict: the direction whose
    /// verdict would change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The destination: a pod, or the address.
    pub dst: FlowEnd,
    /// The destination address.
    pub dst_ip: IpAddr,
    /// For an allowed flow logged with its rule: the egress rule that allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<RuleRecord>,
    /// For an allowed flow: how ingress allowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressRecord>,
    /// For a denial: the policies isolating the pod in that direction (`namespace/name`);
    /// for a shadow denial by isolation: those that would isolate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_by: Option<Vec<String>>,
    /// The lab node whose table logged it (lab flow logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// For a denial: `default-deny` (nothing allowed it), or the ClusterNetworkPolicy whose
    /// rule denied. For a shadow verdict: the staged policy that would decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The destination port (TCP, UDP, SCTP).
    pub port: Option<u16>,
    /// For an unknown verdict: the log prefix as the kernel gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The protocol (`null` for others).
    #[serde(with = "protocol_text")]
    pub protocol: Option<Protocol>,
    /// For a denial by a ClusterNetworkPolicy, or a shadow verdict with a rule: the rule's
    /// index in that direction's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// The source: a pod, or the address.
    pub src: FlowEnd,
    /// The source address.
    pub src_ip: IpAddr,
    /// For a denial by a ClusterNetworkPolicy (or a shadow verdict of one): its tier
    /// (`Admin` or `Baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// Allowed, denied or audit.
    pub verdict: Verdict,
}

/// What a denial names as its policy: nothing allowed it.
pub const DEFAULT_DENY: &str = "default-deny";

impl FlowRecord {
    /// The policy the metrics count the flow under: `default-deny` for a denial, else the
    /// ingress rule's policy, else the egress rule's; empty when none.
    pub fn deciding_policy(&self) -> &str {
        let egress = self.egress.as_ref().and_then(|r| r.policy.as_deref());
        let ingress = match &self.ingress {
            Some(IngressRecord::Rule(r)) => r.policy.as_deref(),
            _ => None,
        };
        self.policy.as_deref().or(ingress).or(egress).unwrap_or("")
    }

    /// The tier of [`FlowRecord::deciding_policy`]: `Admin` or `Baseline` for a
    /// ClusterNetworkPolicy, `NetworkPolicy` for a NetworkPolicy (and its default deny);
    /// empty when no policy decided.
    pub fn deciding_tier(&self) -> &str {
        fn of_rule(r: &RuleRecord) -> &str {
            r.tier.as_deref().unwrap_or("NetworkPolicy")
        }
        if self.policy.is_some() {
            return self.tier.as_deref().unwrap_or("NetworkPolicy");
        }
        match (&self.ingress, &self.egress) {
            (Some(IngressRecord::Rule(r)), _) => of_rule(r),
            (_, Some(r)) => of_rule(r),
            _ => "",
        }
    }
}

mod protocol_text {
    use palisade_core::Protocol;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<Protocol>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(p.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Protocol>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            Protocol::ALL
                .into_iter()
                .find(|p| p.as_str() == t)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown protocol `{t}`")))
        })
        .transpose()
    }
}

/// Pod names by address: the first pod (in input order) holding an address names it.
#[derive(Clone, Debug, Default)]
pub struct PodNames {
    by_ip: HashMap<IpAddr, (String, String)>,
}

impl PodNames {
    /// The index of `cluster`'s pods.
    pub fn new(cluster: &Cluster) -> Self {
        let mut by_ip = HashMap::new();
        for p in &cluster.pods {
            for ip in &p.ips {
                by_ip
                    .entry(*ip)
                    .or_insert_with(|| (p.namespace.clone(), p.name.clone()));
            }
        }
        PodNames { by_ip }
    }

    /// The pod holding `ip`, or the bare address.
    pub fn end(&self, ip: IpAddr) -> FlowEnd {
        match self.by_ip.get(&ip) {
            Some((namespace, name)) => FlowEnd::Pod {
                namespace: namespace.clone(),
                name: name.clone(),
            },
            None => FlowEnd::Address(ip),
        }
    }
}

/// Turns packets into flow records: pod names by address, and what the log prefixes and
/// marks of the rules in force mean. Owns what it needs (no borrowed cluster), so the
/// agent can swap it whole when the rules change.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    names: PodNames,
    prefixes: HashMap<String, LogMeaning>,
    marks: HashMap<u32, RuleRef>,
}

impl Decoder {
    /// For the rules `ruleset` rendered from `cluster`.
    pub fn new(cluster: &Cluster, ruleset: &Ruleset) -> Self {
        Decoder {
            names: PodNames::new(cluster),
            // The kernel hands the prefix back as text: index the tags by the text they
            // were written as.
            prefixes: ruleset
                .logs
                .iter()
                .map(|(tag, meaning)| (tag.to_string(), meaning.clone()))
                .collect(),
            marks: ruleset.marks.iter().map(|(m, r)| (*m, r.clone())).collect(),
        }
    }

    /// The flow record of one packet, logged at `time` (seconds since the epoch).
    pub fn decode(&self, p: &Packet, time: f64) -> FlowRecord {
        let mut f = FlowRecord {
            direction: None,
            dst: self.names.end(p.dst),
            dst_ip: p.dst,
            egress: None,
            ingress: None,
            isolated_by: None,
            node: None,
            policy: None,
            port: p.port,
            prefix: None,
            protocol: p.protocol,
            rule: None,
            src: self.names.end(p.src),
            src_ip: p.src,
            tier: None,
            time,
            verdict: Verdict::Unknown,
        };
        let egress = self.marks.get(&p.mark).map(RuleRecord::from);
        match self.prefixes.get(&p.prefix) {
            Some(LogMeaning::Deny {
                ingress,
                policies,
                audit,
            }) => {
                f.verdict = if *audit { Verdict::Audit } else { Verdict::Denied };
                f.policy = Some(DEFAULT_DENY.into());
                f.direction = Some(Direction::of(*ingress));
                f.isolated_by = Some(policies.iter().map(|p| p.key()).collect());
            }
            Some(LogMeaning::Rule(rule)) => {
                f.verdict = Verdict::Allowed;
                f.ingress = Some(IngressRecord::Rule(rule.into()));
                f.egress = egress;
            }
            Some(LogMeaning::Open) => {
                f.verdict = Verdict::Allowed;
                f.ingress = Some(IngressRecord::Open(NotIsolated));
                f.egress = egress;
            }
            Some(LogMeaning::TierDeny { rule, audit }) => {
                f.verdict = if *audit { Verdict::Audit } else { Verdict::Denied };
                f.policy = Some(rule.policy.key());
                f.direction = Some(Direction::of(rule.ingress));
                f.rule = Some(rule.rule);
                f.tier = rule.tier.map(|t| t.as_str().to_string());
            }
            Some(LogMeaning::Shadow(m)) => {
                f.verdict = if m.allowed {
                    Verdict::ShadowAllowed
                } else {
                    Verdict::ShadowDenied
                };
                f.policy = Some(m.policy.key());
                f.direction = Some(Direction::of(m.ingress));
                f.rule = m.rule;
                f.tier = m.tier.map(|t| t.as_str().to_string());
                if !m.isolated_by.is_empty() {
                    f.isolated_by = Some(m.isolated_by.iter().map(|p| p.key()).collect());
                }
            }
            None => f.prefix = Some(p.prefix.clone()),
        }
        f
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::LogTag;
    use palisade_core::ObjectRef;

    fn packet(prefix: &str, mark: u32) -> Packet {
        Packet {
            prefix: prefix.into(),
            mark,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.9".parse().unwrap(),
            protocol: Some(Protocol::Tcp),
            port: Some(80),
        }
    }

    fn decoder() -> Decoder {
        let mut c = Cluster::default();
        c.pods.push(palisade_core::Pod {
            namespace: "shop".into(),
            name: "web".into(),
            labels: Default::default(),
            ips: vec!["10.0.0.1".parse().unwrap()],
            host_network: false,
            ports: Vec::new(),
            node: None,
            workload: None,
            source: None,
        });
        let mut rs = Ruleset::default();
        let np = |n: &str| ObjectRef::new("NetworkPolicy", Some("shop"), n);
        rs.logs.insert(
            LogTag::Denied {
                ingress: true,
                profile: 0,
                audit: false,
            },
            LogMeaning::Deny {
                ingress: true,
                policies: vec![np("deny-all"), np("db")],
                audit: false,
            },
        );
        rs.logs.insert(LogTag::Open, LogMeaning::Open);
        rs.logs.insert(
            LogTag::TierDenied {
                ingress: false,
                policy: 0,
                rule: 2,
                audit: true,
            },
            LogMeaning::TierDeny {
                rule: RuleRef {
                    ingress: false,
                    policy: ObjectRef::new("ClusterNetworkPolicy", None, "lockdown"),
                    rule: 2,
                    tier: Some(palisade_core::Tier::Admin),
                },
                audit: true,
            },
        );
        rs.marks.insert(
            3,
            RuleRef {
                ingress: false,
                policy: np("web-out"),
                rule: 1,
                tier: None,
            },
        );
        Decoder::new(&c, &rs)
    }

    #[test]
    fn a_cluster_network_policy_denial_names_tier_policy_and_rule() {
        // Expected line written by hand from the tag's meaning: egress rule 2 of the Admin
        // ClusterNetworkPolicy `lockdown`, in audit mode.
        let f = decoder().decode(&packet("U:c:e:0:2", 0), 2.0);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"direction":"egress","dst":"10.0.0.9","dst_ip":"10.0.0.9","policy":"lockdown","port":80,"protocol":"TCP","rule":2,"src":"shop/web","src_ip":"10.0.0.1","tier":"Admin","time":2.0,"verdict":"audit"}"#
        );
        assert_eq!((f.deciding_tier(), f.deciding_policy()), ("Admin", "lockdown"));
        let back: FlowRecord = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn a_denial_names_the_pods_and_the_isolating_policies() {
        // Expected line written by hand: keys in alphabetical order, as the log always had.
        let f = decoder().decode(&packet("D:i:0", 0), 1.5);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"direction":"ingress","dst":"10.0.0.9","dst_ip":"10.0.0.9","isolated_by":["shop/deny-all","shop/db"],"policy":"default-deny","port":80,"protocol":"TCP","src":"shop/web","src_ip":"10.0.0.1","time":1.5,"verdict":"denied"}"#
        );
        assert_eq!(f.deciding_policy(), "default-deny");
        let back: FlowRecord = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn an_allowed_flow_names_its_egress_rule_and_open_ingress() {
        let f = decoder().decode(&packet("A:-", 3), 2.0);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"dst":"10.0.0.9","dst_ip":"10.0.0.9","egress":{"direction":"egress","policy":"shop/web-out","rule":1},"ingress":"not isolated here","port":80,"protocol":"TCP","src":"shop/web","src_ip":"10.0.0.1","time":2.0,"verdict":"allowed"}"#
        );
        assert_eq!(f.deciding_policy(), "shop/web-out");
        let back: FlowRecord = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn an_unknown_prefix_is_kept() {
        let f = decoder().decode(&packet("X:9", 0), 0.0);
        assert_eq!(f.verdict, Verdict::Unknown);
        assert_eq!(f.prefix.as_deref(), Some("X:9"));
        assert_eq!(f.deciding_policy(), "");
    }
}
