//! `palisade explain`: one connection, the verdict and the reasoning.

use clap::{Args, ValueEnum};
use palisade_core::explain::{CnpTrace, DecidedBy, DirectionTrace, PolicyTrace, Subject};
use palisade_core::{explain, Cluster, Endpoint, Explanation, Options, Tier};
use serde::Serialize;

use crate::analyze::parse_port;
use crate::inputs::{self, parse_cidr_or_ip, Failure, InputArgs};
use crate::text::Colour;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[value(alias = "table")]
    Text,
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade explain examples/shop --from shop/frontend --to shop/database --port 5432\n  palisade explain --cluster --from 'shop/*' --to shop/database --port 5432 --exit-code\n  palisade explain examples/shop --from monitoring/prometheus --to 10.0.0.8 --port 53/UDP -o json"
)]
pub struct ExplainArgs {
    /// Source: `NAMESPACE/POD`, `POD` (in -n), an IP or a CIDR; a pattern with `*`
    /// (`shop/*`, `*/web-*`) lists the verdict of every matching pair instead.
    #[arg(long)]
    pub from: String,
    /// Destination: as --from.
    #[arg(long)]
    pub to: String,
    /// `80/TCP`, `53/UDP` (TCP when omitted).
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub port: String,
    /// Output format (`text` and `table` name the same human-readable form everywhere).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    /// Exit 1 when the connection is denied (for a list: when one is), as `kubectl auth
    /// can-i` and `git diff --exit-code`; without it explain exits 0 whatever the verdict.
    #[arg(long = "exit-code")]
    pub exit_code: bool,
    /// A list (patterns in --from/--to) without its header row.
    #[arg(long = "no-headers")]
    pub no_headers: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Finds an endpoint: a pod by name or by IP, else an address block.
pub fn resolve(cluster: &Cluster, default_ns: &str, s: &str) -> anyhow::Result<Endpoint> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        if let Some(i) = cluster.pods.iter().position(|p| p.ips.contains(&ip)) {
            return Ok(Endpoint::Pod(i));
        }
        return Ok(Endpoint::External(palisade_core::Cidr::host(ip)));
    }
    if s.contains('/') && s.chars().next().is_some_and(|c| c.is_ascii_digit() || c == ':') {
        if let Ok(c) = parse_cidr_or_ip(s) {
            return Ok(Endpoint::External(c));
        }
    }
    let (ns, name) = s.split_once('/').unwrap_or((default_ns, s));
    cluster
        .pods
        .iter()
        .position(|p| p.namespace == ns && p.name == name)
        .map(Endpoint::Pod)
        .ok_or_else(|| {
            let known: Vec<String> = cluster.pods.iter().take(20).map(|p| p.key()).collect();
            anyhow::anyhow!("no pod {ns}/{name} in the input (pods: {})", known.join(", "))
        })
}

pub fn run(args: &ExplainArgs) -> Result<(String, bool), Failure> {
    let loaded = inputs::load(&args.input)?;
    if args.from.contains('*') || args.to.contains('*') {
        return explain_list(&loaded.cluster, args);
    }
    explain_loaded(&loaded.cluster, args)
}

/// The most pairs a pattern list explains (each is a full explanation).
const MAX_LIST: usize = 10_000;

/// Pods a `--from`/`--to` value names: a pattern (`ns/*`, `*/web-*`, `POD*` in -n), or
/// the one endpoint [`resolve`] finds.
fn endpoints(c: &Cluster, default_ns: &str, s: &str) -> Result<Vec<Endpoint>, Failure> {
    if !s.contains('*') {
        return Ok(vec![resolve(c, default_ns, s)?]);
    }
    let (ns, pod) = s.split_once('/').unwrap_or((default_ns, s));
    let glob = palisade_core::scope::glob;
    let found: Vec<Endpoint> = (0..c.pods.len())
        .filter(|&i| glob(ns, &c.pods[i].namespace) && glob(pod, &c.pods[i].name))
        .map(Endpoint::Pod)
        .collect();
    if found.is_empty() {
        return Err(anyhow::anyhow!("no pod matches {s} in the input").into());
    }
    Ok(found)
}

/// One line per pair: the verdict and the policies (or tier) that decided it.
fn explain_list(c: &Cluster, args: &ExplainArgs) -> Result<(String, bool), Failure> {
    let ns = &args.input.model.namespace;
    let (from, to) = (endpoints(c, ns, &args.from)?, endpoints(c, ns, &args.to)?);
    // Refused before any pair is built: two patterns over a large cluster name 10¹⁰ pairs.
    let most = from.len().saturating_mul(to.len());
    if most > MAX_LIST {
        return Err(Failure::Usage(format!(
            "{} × {} pairs is too many to explain one by one (at most {MAX_LIST}): narrow --from/--to, or use analyze --port with --from/--to",
            from.len(),
            to.len()
        )));
    }
    let pairs: Vec<(&Endpoint, &Endpoint)> = from
        .iter()
        .flat_map(|a| to.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
        .collect();
    let (port, proto) = parse_port(&args.port)?;
    let options = args.input.options();
    let mut rows = Vec::new();
    let mut all_allowed = true;
    for (a, b) in pairs {
        let e = explain(c, &options, a, b, proto, port);
        all_allowed &= e.allowed;
        rows.push(ListRowJson {
            allowed: e.allowed,
            decided_by: palisade_check::diff::deciding_policies(c, &e),
            from: name(c, a),
            to: name(c, b),
        });
    }
    let out = match args.output {
        Format::Json => serde_json::to_string_pretty(&rows).expect("json") + "\n",
        Format::Text => {
            let colour = crate::text::Colour::for_stdout();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let policies = if r.decided_by.is_empty() {
                        "(not isolated)".to_string()
                    } else {
                        r.decided_by.join(", ")
                    };
                    let v = if r.allowed {
                        colour.allowed("ALLOWED")
                    } else {
                        colour.denied("DENIED")
                    };
                    vec![
                        r.from.clone(),
                        r.to.clone(),
                        format!("{port}/{proto}"),
                        v,
                        policies,
                    ]
                })
                .collect();
            crate::text::table(
                &["FROM", "TO", "PORT", "VERDICT", "DECIDED BY"],
                &cells,
                args.no_headers,
            )
        }
    };
    Ok((out, all_allowed || !args.exit_code))
}

/// One pair of an explained list (`-o json`).
#[derive(Serialize)]
struct ListRowJson {
    allowed: bool,
    decided_by: Vec<String>,
    from: String,
    to: String,
}

/// Explains on an already loaded cluster.
pub fn explain_loaded(c: &Cluster, args: &ExplainArgs) -> Result<(String, bool), Failure> {
    let from = resolve(c, &args.input.model.namespace, &args.from)?;
    let to = resolve(c, &args.input.model.namespace, &args.to)?;
    let (port, proto) = parse_port(&args.port)?;
    let options = args.input.options();
    let e = explain(c, &options, &from, &to, proto, port);
    let out = match args.output {
        Format::Text => text(c, &options, &from, &to, &e, &crate::text::Colour::for_stdout()),
        Format::Json => serde_json::to_string_pretty(&to_json(c, &from, &to, &e)).expect("json") + "\n",
    };
    Ok((out, e.allowed || !args.exit_code))
}

pub fn name(c: &Cluster, e: &Endpoint) -> String {
    match e {
        Endpoint::Pod(i) => c.pods[*i].key(),
        Endpoint::External(cidr) if cidr.prefix == cidr.family.bits() => cidr.network_ip().to_string(),
        Endpoint::External(cidr) => cidr.to_string(),
    }
}

fn verdict(b: bool, colour: &Colour) -> String {
    if b {
        colour.allowed("ALLOWED")
    } else {
        colour.denied("DENIED")
    }
}

pub fn text(
    c: &Cluster,
    options: &Options,
    from: &Endpoint,
    to: &Endpoint,
    e: &Explanation,
    colour: &Colour,
) -> String {
    let mut out = format!(
        "{} -> {} on {}/{}: {}\n",
        name(c, from),
        name(c, to),
        e.port,
        e.protocol,
        verdict(e.allowed, colour)
    );
    if e.self_traffic {
        out.push_str("  a pod may always connect to itself\n");
        return out;
    }
    let mode = match options.ipblock_pods {
        palisade_core::IpBlockPods::Match => "match",
        palisade_core::IpBlockPods::Ignore => "ignore",
    };
    out.push_str(&format!("  (ipBlock matches pod IPs: {mode})\n"));
    direction(
        &mut out,
        c,
        "Egress from",
        &name(c, from),
        false,
        &e.egress,
        colour,
    );
    direction(&mut out, c, "Ingress to", &name(c, to), true, &e.ingress, colour);
    let node_local = e.egress.node_local.as_ref().or(e.ingress.node_local.as_ref());
    let why = match (e.egress.allowed, e.ingress.allowed) {
        (true, true) if node_local.is_some() => format!(
            "node-local traffic (node {}) is always allowed",
            node_local.expect("checked")
        ),
        (true, true) => "both the source's egress and the destination's ingress allow it".to_string(),
        (false, true) => "the source's egress policies deny it".to_string(),
        (true, false) => "the destination's ingress policies deny it".to_string(),
        (false, false) => "both the source's egress and the destination's ingress deny it".to_string(),
    };
    out.push_str(&format!("\nVerdict: {}: {why}\n", verdict(e.allowed, colour)));
    out
}

fn direction(
    out: &mut String,
    c: &Cluster,
    title: &str,
    who: &str,
    ingress: bool,
    d: &DirectionTrace,
    colour: &Colour,
) {
    let peer_field = if ingress { "from" } else { "to" };
    out.push_str(&format!("\n{title} {who}: {}\n", verdict(d.allowed, colour)));
    match &d.subject {
        Subject::NotAPod => out.push_str("  not a pod: no policy applies\n"),
        Subject::HostNetwork => out.push_str("  hostNetwork pod: policies never select it (node traffic)\n"),
        Subject::Pod { isolated: false } => out.push_str(
            "  no policy selects it for this direction, so it is not isolated: everything is allowed\n",
        ),
        Subject::Pod { isolated: true } => {
            out.push_str(&format!(
                "  isolated by {} polic{}; allowed only if one of their rules matches\n",
                d.policies.len(),
                if d.policies.len() == 1 { "y" } else { "ies" }
            ));
        }
    }
    tier(out, c, "Admin", &d.admin, ingress);
    if let DecidedBy::ClusterPolicy(Tier::Admin, ..) = d.decided_by {
        out.push_str(&format!(
            "  {}; NetworkPolicies and the Baseline tier are not read\n",
            decided(c, d.decided_by, ingress)
        ));
    }
    if let Some(node) = &d.node_local {
        out.push_str(&format!(
            "  the other end is its own node {node}: traffic between a pod and its node is always allowed
"
        ));
    }
    for p in &d.policies {
        policy(out, c, p, peer_field);
    }
    for (pi, why) in &d.not_selecting {
        out.push_str(&format!(
            "  - {} does not select it: {why}\n",
            c.policies[*pi].key()
        ));
    }
    tier(out, c, "Baseline", &d.baseline, ingress);
    if let DecidedBy::ClusterPolicy(Tier::Baseline, ..) = d.decided_by {
        out.push_str(&format!("  {}\n", decided(c, d.decided_by, ingress)));
    }
}

/// What decided a direction, when a ClusterNetworkPolicy did.
fn decided(c: &Cluster, by: DecidedBy, ingress: bool) -> String {
    match by {
        DecidedBy::ClusterPolicy(tier, ci, ri, action) => {
            let cnp = &c.cluster_policies[ci];
            let label = cnp.rules(ingress)[ri]
                .name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!(
                "decided by {} ClusterNetworkPolicy {} rule {ri}{label}: {}",
                tier.as_str(),
                cnp.name,
                action.as_str()
            )
        }
        _ => String::new(),
    }
}

/// The ClusterNetworkPolicies of one tier read for this side, each rule read.
fn tier(out: &mut String, c: &Cluster, name: &str, read: &[CnpTrace], ingress: bool) {
    if read.is_empty() {
        return;
    }
    out.push_str(&format!(
        "  {name} tier (ClusterNetworkPolicies selecting it, lowest priority first):\n"
    ));
    for t in read {
        let cnp = &c.cluster_policies[t.policy];
        let hit = t.rules.iter().any(|(_, m)| *m);
        out.push_str(&format!(
            "  {} ClusterNetworkPolicy {} (priority {})\n",
            if hit { "+" } else { "x" },
            cnp.name,
            cnp.priority
        ));
        let rules = cnp.rules(ingress);
        for (ri, matched) in &t.rules {
            let r = &rules[*ri];
            let label = r.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            let not_modelled = r
                .peers
                .iter()
                .any(|p| matches!(p, palisade_core::CnpPeer::DomainNames(_)));
            out.push_str(&format!(
                "    {} rule {ri}{label} {}: {}{}\n",
                if *matched { "+" } else { "x" },
                r.action.as_str(),
                if *matched { "matches" } else { "does not match" },
                if not_modelled {
                    " (domainNames are not modelled: they match nothing here)"
                } else {
                    ""
                }
            ));
        }
    }
}

fn policy(out: &mut String, c: &Cluster, p: &PolicyTrace, peer_field: &str) {
    let pol = &c.policies[p.policy];
    let mark = if p.allows() { "+" } else { "x" };
    out.push_str(&format!(
        "  {mark} policy {} (podSelector: {})\n",
        pol.key(),
        pol.pod_selector
    ));
    if p.rules.is_empty() {
        out.push_str("      no rules for this direction: allows nothing (default deny)\n");
    }
    for r in &p.rules {
        let mark = if r.matched() { "+" } else { "x" };
        out.push_str(&format!("    {mark} rule {}\n", r.index));
        if r.peers.is_empty() {
            out.push_str(&format!("        {peer_field}: (none) any peer matches\n"));
        }
        for po in &r.peers {
            let m = if po.matched { "+" } else { "x" };
            out.push_str(&format!(
                "        {m} {peer_field}[{}]: {}\n",
                po.index, po.reason
            ));
        }
        if r.ports.is_empty() {
            out.push_str("        ports: (none) every port matches\n");
        }
        for po in &r.ports {
            let m = if po.matched { "+" } else { "x" };
            out.push_str(&format!("        {m} ports[{}]: {}\n", po.index, po.reason));
        }
    }
}

/// The JSON shape of an explanation (`explain -o json`, and each failure of `test -o
/// json`). Fields are declared in alphabetical order, the order the output has always had.
#[derive(Serialize)]
pub struct ExplanationJson {
    allowed: bool,
    egress: DirectionJson,
    from: String,
    ingress: DirectionJson,
    port: u16,
    protocol: &'static str,
    #[serde(rename = "self")]
    self_traffic: bool,
    to: String,
}

/// One direction: whether it allows, who is subject, and each policy's reasoning.
#[derive(Serialize)]
struct DirectionJson {
    /// Admin-tier ClusterNetworkPolicies read (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    admin: Vec<CnpJson>,
    allowed: bool,
    /// Baseline-tier ClusterNetworkPolicies read (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    baseline: Vec<CnpJson>,
    /// The ClusterNetworkPolicy rule that decided (absent when another tier did).
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_by: Option<DecidedJson>,
    node_local: Option<String>,
    not_selecting: Vec<NotSelectingJson>,
    policies: Vec<PolicyJson>,
    subject: &'static str,
}

/// A ClusterNetworkPolicy read for one side, and each of its rules read.
#[derive(Serialize)]
struct CnpJson {
    policy: String,
    priority: u16,
    rules: Vec<CnpRuleJson>,
}

#[derive(Serialize)]
struct CnpRuleJson {
    action: &'static str,
    index: usize,
    matched: bool,
}

/// The rule that decided a side.
#[derive(Serialize)]
struct DecidedJson {
    action: &'static str,
    policy: String,
    rule: usize,
    tier: &'static str,
}

/// A policy of the namespace that does not select the pod, and why.
#[derive(Serialize)]
struct NotSelectingJson {
    policy: String,
    reason: String,
}

#[derive(Serialize)]
struct PolicyJson {
    allows: bool,
    policy: String,
    rules: Vec<RuleJson>,
}

#[derive(Serialize)]
struct RuleJson {
    index: usize,
    matched: bool,
    peers: Vec<ItemJson>,
    ports: Vec<ItemJson>,
}

/// A peer or port item of a rule.
#[derive(Serialize)]
struct ItemJson {
    index: usize,
    matched: bool,
    reason: String,
}

pub fn to_json(c: &Cluster, from: &Endpoint, to: &Endpoint, e: &Explanation) -> ExplanationJson {
    ExplanationJson {
        allowed: e.allowed,
        egress: direction_json(c, &e.egress, false),
        from: name(c, from),
        ingress: direction_json(c, &e.ingress, true),
        port: e.port,
        protocol: e.protocol.as_str(),
        self_traffic: e.self_traffic,
        to: name(c, to),
    }
}

fn tier_json(c: &Cluster, read: &[CnpTrace], ingress: bool) -> Vec<CnpJson> {
    read.iter()
        .map(|t| {
            let cnp = &c.cluster_policies[t.policy];
            CnpJson {
                policy: cnp.name.clone(),
                priority: cnp.priority,
                rules: t
                    .rules
                    .iter()
                    .map(|&(index, matched)| CnpRuleJson {
                        action: cnp.rules(ingress)[index].action.as_str(),
                        index,
                        matched,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn direction_json(c: &Cluster, d: &DirectionTrace, ingress: bool) -> DirectionJson {
    let subject = match &d.subject {
        Subject::NotAPod => "not-a-pod",
        Subject::HostNetwork => "host-network",
        Subject::Pod { isolated: true } => "isolated",
        Subject::Pod { isolated: false } => "not-isolated",
    };
    let item = |index: usize, matched: bool, reason: &str| ItemJson {
        index,
        matched,
        reason: reason.to_string(),
    };
    let decided_by = match d.decided_by {
        DecidedBy::ClusterPolicy(tier, ci, ri, action) => Some(DecidedJson {
            action: action.as_str(),
            policy: c.cluster_policies[ci].name.clone(),
            rule: ri,
            tier: tier.as_str(),
        }),
        _ => None,
    };
    DirectionJson {
        admin: tier_json(c, &d.admin, ingress),
        allowed: d.allowed,
        baseline: tier_json(c, &d.baseline, ingress),
        decided_by,
        node_local: d.node_local.clone(),
        not_selecting: d
            .not_selecting
            .iter()
            .map(|(p, why)| NotSelectingJson {
                policy: c.policies[*p].key(),
                reason: why.clone(),
            })
            .collect(),
        policies: d
            .policies
            .iter()
            .map(|p| PolicyJson {
                allows: p.allows(),
                policy: c.policies[p.policy].key(),
                rules: p
                    .rules
                    .iter()
                    .map(|r| RuleJson {
                        index: r.index,
                        matched: r.matched(),
                        peers: r
                            .peers
                            .iter()
                            .map(|x| item(x.index, x.matched, &x.reason))
                            .collect(),
                        ports: r
                            .ports
                            .iter()
                            .map(|x| item(x.index, x.matched, &x.reason))
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        subject,
    }
}
