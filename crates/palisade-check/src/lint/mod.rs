//! `palisade lint`: findings about a cluster's policies, each from a rule with a stable
//! id, a severity, the object (and field) it is about, a message and a fix. Every
//! judgement about what is allowed comes from the engine (compiled matrices, the direct
//! evaluator, selector matching); the rules only decide what is worth saying.

mod addresses;
mod coverage;
mod flows;
pub use flows::is_metrics;
mod hygiene;
mod ports;
mod redundancy;
mod selectors;
mod tiers;

use std::fmt;
use std::net::IpAddr;

use palisade_core::{compile, Cluster, Compiled, ObjectRef, Options, Pod};
use palisade_load::path::FieldPath;
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely a mistake.
    Warning,
    /// Breaks traffic or isolation.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A lint rule: stable id and name, default severity, what it catches and why it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id (`PAL001`).
    pub id: &'static str,
    /// Stable name (`missing-default-deny`).
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// What it catches, in one line.
    pub summary: &'static str,
    /// The failure mode it guards against.
    pub why: &'static str,
}

macro_rules! rules {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident, $summary:literal, $why:literal;)*) => {
        $(#[doc = $summary] pub const $konst: Rule = Rule { id: $id, name: $name, severity: Severity::$sev, summary: $summary, why: $why };)*
        /// Every rule, in id order.
        pub const RULES: &[Rule] = &[$($konst),*];
    };
}

rules! {
    INVALID = "PAL000", "invalid-manifest", Error,
        "The manifests do not pass API-server validation",
        "The API server rejects the object, so none of its policy is applied.";
    NO_DEFAULT_DENY_INGRESS = "PAL001", "no-default-deny-ingress", Warning,
        "A namespace with pods has no policy isolating all its pods for ingress",
        "Pods stay open to every source until some policy selects them: zero trust starts with a default deny.";
    NO_DEFAULT_DENY_EGRESS = "PAL002", "no-default-deny-egress", Warning,
        "A namespace with pods has no policy isolating all its pods for egress",
        "Without egress isolation a compromised pod can reach anything, inside or outside the cluster.";
    DNS_BLOCKED = "PAL003", "dns-egress-blocked", Error,
        "Egress-isolated pods cannot reach cluster DNS on UDP 53",
        "The invisible DNS failure: every name lookup times out and the application blames the network.";
    DNS_TCP_BLOCKED = "PAL004", "dns-tcp-blocked", Warning,
        "Egress-isolated pods reach cluster DNS on UDP 53 but not on TCP 53",
        "Large DNS answers fall back to TCP; lookups fail intermittently.";
    UNKNOWN_NAMESPACE_LABEL = "PAL005", "unknown-namespace-label", Warning,
        "A namespaceSelector uses a label that no namespace carries",
        "`name: kube-system` instead of `kubernetes.io/metadata.name: kube-system` selects nothing and silently allows nothing.";
    PEER_SELECTS_NOTHING = "PAL006", "peer-selects-nothing", Warning,
        "A from/to item selects no pod",
        "A typo in a label makes a rule allow nothing; the traffic it was written for is denied.";
    POLICY_SELECTS_NOTHING = "PAL007", "policy-selects-nothing", Warning,
        "A policy's podSelector selects no pod",
        "The policy protects nothing: often a label mismatch with the workload.";
    AND_OR = "PAL008", "and-or-confusion", Warning,
        "A namespaceSelector and a podSelector in separate from/to items",
        "Two items are ORed: every pod of those namespaces is allowed, not just the selected pods in them.";
    IPBLOCK_PODS = "PAL009", "ipblock-covers-pods", Warning,
        "An ipBlock covers pod IPs",
        "Whether ipBlock matches pod traffic is implementation-defined (Calico: yes, Cilium: no); pod IPs also change.";
    EGRESS_WORLD = "PAL010", "egress-world-without-private-except", Warning,
        "Egress to 0.0.0.0/0 (or ::/0) without excepting private ranges",
        "Meant as 'the internet', it also allows every private address: other pods, nodes, the cloud metadata network.";
    NAMED_PORT_UNDECLARED = "PAL011", "named-port-undeclared", Warning,
        "A named port that no pod it applies to declares",
        "A named port resolves on the destination pod; if no pod declares it the rule allows nothing.";
    ENDPORT_NAMED = "PAL012", "endport-on-named-port", Error,
        "endPort with a named port",
        "Invalid: the API server rejects it.";
    SCTP = "PAL013", "sctp-rule", Info,
        "A rule uses SCTP",
        "SCTP support depends on the CNI and kernel modules; check that the dataplane enforces it.";
    REDUNDANT_RULE = "PAL014", "redundant-rule", Info,
        "A rule allows nothing that other rules do not already allow",
        "Dead rules hide the real intent and survive the removal of the rules that shadow them.";
    REDUNDANT_POLICY = "PAL015", "redundant-policy", Warning,
        "A policy changes nothing: removing it leaves every connection as it is",
        "A policy that changes nothing is either dead or not doing what its author thinks.";
    POD_NO_LABELS = "PAL016", "pod-without-labels", Warning,
        "A pod (or workload template) has no labels",
        "Unlabelled pods can only be selected namespace-wide: no policy can single them out.";
    POD_MISSING_LABELS = "PAL017", "pod-missing-policy-labels", Info,
        "A pod carries none of the label keys its namespace's policies select on",
        "Label hygiene: the pod falls through every targeted policy and gets only namespace-wide rules.";
    HALF_OPEN = "PAL018", "half-open-flow", Warning,
        "One side allows a connection that the other side denies",
        "Egress allowed but ingress denied (or the reverse) shows up as timeouts, not as a clear refusal.";
    MONITORING_BLIND = "PAL019", "monitoring-blind", Error,
        "The monitoring namespace lost access to metrics ports it reached in the baseline",
        "Prometheus goes blind: scrapes time out after a policy rollout and alerts stop firing.";
    TIER_RULE_SHADOWED = "PAL020", "cluster-policy-rule-shadowed", Warning,
        "A ClusterNetworkPolicy rule never decides: earlier rules of its tier decide everything it matches",
        "A shadowed Deny protects nothing and a shadowed Accept allows nothing; the author's intent is lost.";
    TIER_TIE = "PAL021", "cluster-policy-priority-tie", Warning,
        "Two ClusterNetworkPolicies of one tier share a priority and disagree",
        "The API leaves the order of equal priorities to the implementation: the verdict can differ between clusters.";
    NP_UNDER_ADMIN = "PAL022", "networkpolicy-overridden-by-admin", Warning,
        "A NetworkPolicy rule that never takes effect: the Admin tier decides all it allows first",
        "The namespace owner's surprise: the rule looks right and nothing it allows gets through (or it all does anyway).";
    BASELINE_UNREACHED = "PAL023", "baseline-never-reached", Info,
        "A Baseline ClusterNetworkPolicy whose pods NetworkPolicies all isolate",
        "NetworkPolicy decides for isolated pods before the Baseline tier: the guardrail never applies.";
    PASS_TO_NOTHING = "PAL024", "pass-to-nothing", Info,
        "A Pass with nothing below it: the default allows",
        "Pass reads like a restriction but hands over to the default allow; Accept says what happens.";
    DOMAIN_NAMES = "PAL025", "domain-names-unchecked", Warning,
        "A ClusterNetworkPolicy rule with domainNames peers",
        "Names resolve at run time: nothing offline (nor Palisade's nftables dataplane) can tell what they match.";
    TIER_SUBJECT_EMPTY = "PAL026", "cluster-policy-selects-nothing", Warning,
        "A ClusterNetworkPolicy's subject selects no pod",
        "A typo in a label makes a cluster-wide guardrail apply to nothing.";
}

/// One finding. (Its JSON and SARIF shapes are the CLI's.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// The rule's name.
    pub name: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The object the finding is about; `None` for input problems found before an object
    /// could be named.
    pub object: Option<ObjectRef>,
    /// Field inside the object (`spec.egress[0].to[1]`), the root for the object itself.
    pub field: FieldPath,
    /// What is wrong, in words.
    pub message: String,
    /// What to change, often a YAML snippet.
    pub fix: Option<String>,
}

impl Finding {
    /// A finding of `rule` about `object` at `field`.
    pub fn new(
        rule: Rule,
        object: impl Into<Option<ObjectRef>>,
        field: FieldPath,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.id,
            name: rule.name,
            severity: rule.severity,
            object: object.into(),
            field,
            message: message.into(),
            fix: None,
        }
    }

    /// Adds what to change.
    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    /// The object as text: `Kind namespace/name`, empty when unknown.
    pub fn object_text(&self) -> String {
        self.object.as_ref().map(ObjectRef::to_string).unwrap_or_default()
    }
}

/// What lint needs besides the cluster.
#[derive(Clone, Debug)]
pub struct LintOptions {
    /// Options of the semantics.
    pub engine: Options,
    /// The previous manifests, for rules that compare (`monitoring-blind`).
    pub baseline: Option<Cluster>,
    /// The namespace whose pods scrape metrics.
    pub monitoring_namespace: String,
    /// Where cluster DNS runs: namespace and pod labels.
    pub dns_namespace: String,
    /// The DNS pods' labels.
    pub dns_labels: Vec<(String, String)>,
    /// The address of a stand-in DNS pod when the manifests have none.
    pub dns_stand_in_ip: IpAddr,
    /// Namespaces the coverage rules leave alone (the platform's own).
    pub skip_namespaces: Vec<String>,
    /// Redundancy is checked by recompiling once per rule: skipped above this many rules.
    pub max_redundancy_rules: usize,
    /// And stopped, with a note, once it has spent this many word operations
    /// (`REDUNDANCY_BUDGET` in the redundancy checks by default).
    pub redundancy_budget: f64,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            engine: Options::default(),
            baseline: None,
            monitoring_namespace: "monitoring".into(),
            dns_namespace: "kube-system".into(),
            dns_labels: vec![("k8s-app".into(), "kube-dns".into())],
            dns_stand_in_ip: "10.244.255.253".parse().expect("address"),
            skip_namespaces: vec![
                "kube-system".into(),
                "kube-public".into(),
                "kube-node-lease".into(),
            ],
            max_redundancy_rules: 400,
            redundancy_budget: redundancy::REDUNDANCY_BUDGET,
        }
    }
}

/// What the rules share: the cluster, its compiled form, options.
pub struct Ctx<'a> {
    /// The manifests.
    pub cluster: &'a Cluster,
    /// Their compiled form.
    pub compiled: Compiled,
    /// The options.
    pub opts: &'a LintOptions,
    /// The pods by namespace: what selectors pick, reading only the namespaces they pick.
    pub pods: palisade_core::select::PodIndex<'a>,
    notes: std::cell::RefCell<Vec<String>>,
}

impl Ctx<'_> {
    /// A remark about the run itself (a check skipped), not about the manifests.
    pub fn note(&self, s: String) {
        self.notes.borrow_mut().push(s);
    }

    /// The policy `p` as an object.
    pub fn policy_object(&self, p: usize) -> ObjectRef {
        self.cluster.policies[p].object_ref()
    }

    /// The group a pod belongs to in findings: its workload (`Deployment ns/web`, also for
    /// Pods a workload owns), else the pod.
    pub fn pod_group(&self, pod: &Pod) -> ObjectRef {
        match &pod.workload {
            Some(w) => ObjectRef::new(&w.kind, Some(&pod.namespace), &w.name),
            None => ObjectRef::new("Pod", Some(&pod.namespace), &pod.name),
        }
    }

    /// The object a pod was read from: the Pod itself (also one a workload owns, as
    /// `kubectl get` writes them), or the workload it stands for.
    pub fn pod_object(&self, pod: &Pod) -> ObjectRef {
        pod.source
            .clone()
            .unwrap_or_else(|| ObjectRef::new("Pod", Some(&pod.namespace), &pod.name))
    }

    /// Pods that policies can select (not hostNetwork).
    pub fn selectable(&self) -> impl Iterator<Item = (usize, &Pod)> {
        self.cluster
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.host_network)
    }
}

/// Findings, and remarks about the run.
#[derive(Clone, Debug, Default)]
pub struct LintReport {
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Remarks about the run (checks skipped, limits reached).
    pub notes: Vec<String>,
}

/// Runs every rule.
pub fn lint(cluster: &Cluster, opts: &LintOptions) -> LintReport {
    let cx = Ctx {
        cluster,
        compiled: compile(cluster, &opts.engine),
        opts,
        pods: palisade_core::select::PodIndex::new(cluster),
        notes: Default::default(),
    };
    let mut out = Vec::new();
    coverage::check(&cx, &mut out);
    selectors::check(&cx, &mut out);
    addresses::check(&cx, &mut out);
    ports::check(&cx, &mut out);
    redundancy::check(&cx, &mut out);
    hygiene::check(&cx, &mut out);
    flows::check(&cx, &mut out);
    tiers::check(&cx, &mut out);
    // By severity, rule, then object and field as written (`ns-a/x` before `ns/x`,
    // spec.ingress[10] before spec.ingress[2]): the order lint has always printed.
    out.sort_by_cached_key(|f| {
        (
            std::cmp::Reverse(f.severity),
            f.rule,
            f.object_text(),
            f.field.to_string(),
        )
    });
    LintReport {
        findings: out,
        notes: cx.notes.into_inner(),
    }
}

/// A short list of names: `a, b, c and 4 more`.
pub fn some(names: &[String]) -> String {
    const SHOWN: usize = 3;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!("{} and {} more", names[..SHOWN].join(", "), names.len() - SHOWN)
    }
}

/// Every peer item of every rule: (policy, ingress?, rule, item, peer).
pub fn peers(c: &Cluster) -> impl Iterator<Item = (usize, bool, usize, usize, &palisade_core::Peer)> {
    c.policies.iter().enumerate().flat_map(|(pi, p)| {
        [(true, &p.ingress), (false, &p.egress)]
            .into_iter()
            .flat_map(move |(ingress, rules)| {
                rules.iter().enumerate().flat_map(move |(ri, r)| {
                    r.peers
                        .iter()
                        .enumerate()
                        .map(move |(xi, peer)| (pi, ingress, ri, xi, peer))
                })
            })
    })
}

/// `spec.ingress[0]` / `spec.egress[2]`.
pub fn rule_field(ingress: bool, rule: usize) -> FieldPath {
    FieldPath::root()
        .key("spec")
        .key(if ingress { "ingress" } else { "egress" })
        .index(rule)
}

/// `spec.ingress[0].from[1]` / `spec.egress[2].to[0]`.
pub fn peer_field(ingress: bool, rule: usize, item: usize) -> FieldPath {
    rule_field(ingress, rule)
        .key(if ingress { "from" } else { "to" })
        .index(item)
}

/// A path of keys: `keys(&["spec", "podSelector"])` is `spec.podSelector`.
pub fn keys(path: &[&str]) -> FieldPath {
    path.iter().fold(FieldPath::root(), |p, k| p.key(k))
}

/// A selector as the API writes it (`matchLabels` when it can be), for fixes.
pub fn selector_json(s: &palisade_core::LabelSelector) -> serde_json::Value {
    use palisade_core::Operator;
    use serde_json::{json, Map, Value};
    if s.is_everything() {
        return json!({});
    }
    let simple = s
        .requirements
        .iter()
        .all(|r| r.operator == Operator::In && r.values.len() == 1);
    if simple {
        let labels: Map<String, Value> = s
            .requirements
            .iter()
            .map(|r| (r.key.clone(), Value::String(r.values[0].clone())))
            .collect();
        return json!({ "matchLabels": labels });
    }
    let exprs: Vec<Value> = s
        .requirements
        .iter()
        .map(|r| {
            let mut e = json!({"key": r.key, "operator": r.operator.as_str()});
            if !r.values.is_empty() {
                e["values"] = json!(r.values);
            }
            e
        })
        .collect();
    json!({ "matchExpressions": exprs })
}

#[cfg(test)]
mod index_tests {
    use palisade_core::select::PodIndex;
    use palisade_core::Peer;
    use palisade_synth::small::{self, XorShift};

    /// The index answers as the cluster's own scans do, for every peer and policy of
    /// random clusters (with namespaces known only through their pods and hostNetwork pods).
    #[test]
    fn the_pod_index_picks_what_the_scans_pick() {
        let mut asked = 0;
        for seed in 1..=200u64 {
            let c = small::cluster(&mut XorShift(seed));
            let index = PodIndex::new(&c);
            for p in &c.policies {
                assert_eq!(index.subject_pods(p), c.subject_pods(p), "seed {seed}");
                for r in p.ingress.iter().chain(&p.egress) {
                    for peer in &r.peers {
                        if let Peer::Pods {
                            namespace_selector,
                            pod_selector,
                        } = peer
                        {
                            let (n, s) = (namespace_selector.as_ref(), pod_selector.as_ref());
                            assert_eq!(
                                index.peer_pods(&p.namespace, n, s),
                                c.peer_pods(&p.namespace, n, s),
                                "seed {seed}"
                            );
                            asked += 1;
                        }
                    }
                }
            }
        }
        assert!(asked > 200, "only {asked} peers asked");
    }
}
