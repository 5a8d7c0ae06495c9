//! `palisade analyze`: the connectivity of every pod pair, in several formats.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use clap::{Args, ValueEnum};
use palisade_core::compile::NodeTie;
use palisade_core::{compile, summarize, Cluster, Compiled, Protocol};
use serde::Serialize;

use crate::inputs::{self, Failure, InputArgs};
use crate::text;
use palisade_core::report::{ranges_text, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[value(alias = "text")]
    Table,
    Json,
    Yaml,
    Csv,
    Dot,
    Md,
    /// Counts over the whole matrix, as JSON.
    Summary,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade analyze examples/shop\n  palisade analyze examples/shop --from monitoring --to 'shop/*' --port 9090\n  palisade analyze --cluster --from-labels app=web -o json\n  kubectl get pods,netpol -A -o yaml | palisade analyze - -o summary"
)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Only this port: a matrix of allowed/denied (`80/TCP`, `53/UDP`; TCP when omitted).
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub port: Option<String>,
    /// Output format; `summary` is a view of counts over the whole matrix (JSON), not a
    /// listing: it takes neither --port nor --from/--to. (`table` and `text` name the same
    /// human-readable form in every command.)
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    /// With `-o summary`: add phase timings and the peak memory of this process.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    /// Tables, grids and CSV without their header row (and the table's closing count line).
    #[arg(long = "no-headers")]
    pub no_headers: bool,
}

pub fn parse_port(s: &str) -> anyhow::Result<(u16, Protocol)> {
    let (p, proto) = match s.split_once('/') {
        Some((p, proto)) => (p, proto.parse::<Protocol>().map_err(anyhow::Error::msg)?),
        None => (s, Protocol::Tcp),
    };
    let port: u16 = p
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow::anyhow!("invalid port {p:?}: expected 1-65535"))?;
    Ok((port, proto))
}

/// Runs the analysis and writes its output to `out` (errors writing it, such as a closed
/// pipe, end the output quietly).
pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let text = match analysis(args, out)? {
        Some(t) => t,
        None => return Ok(()),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// The output as text, or `None` when it was streamed to `out` already.
fn analysis(args: &AnalyzeArgs, out: &mut dyn Write) -> Result<Option<String>, Failure> {
    let filter = args.filter.pair_filter()?;
    if args.output == Format::Summary && args.port.is_some() {
        return Err(Failure::Usage(
            "-o summary counts the whole matrix: it takes no --port (use -o table or json with --port)"
                .into(),
        ));
    }
    if args.output == Format::Summary && !filter.is_all() {
        return Err(Failure::Usage(
            "-o summary counts the whole matrix: it takes no --from/--to (use -o table or json)".into(),
        ));
    }
    let t0 = Instant::now();
    let loaded = inputs::load(&args.input)?;
    inputs::warn_domain_names(&loaded.cluster);
    let t1 = Instant::now();
    let cluster = &loaded.cluster;
    let progress = crate::progress::Progress::start(&format!(
        "compiling {} pods and {} policies",
        cluster.pods.len(),
        cluster.policies.len() + cluster.cluster_policies.len()
    ));
    let compiled = compile(cluster, &args.input.options());
    progress.finish();
    let t2 = Instant::now();
    if args.output == Format::Summary {
        let progress = crate::progress::Progress::start(&format!(
            "counting pairs over {} equivalence classes",
            compiled.class_count()
        ));
        let mut v = summary(&loaded, &compiled);
        progress.finish();
        if args.stats {
            let t3 = Instant::now();
            let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
            v.stats = Some(Stats {
                compile_ms: ms(t1, t2),
                load_ms: ms(t0, t1),
                matrix_ms: ms(t2, t3),
                peak_rss_mib: peak_rss_mib(),
                total_ms: ms(t0, t3),
                yaml_parse_ms: loaded.parse_time.as_secs_f64() * 1000.0,
            });
        }
        return Ok(Some(serde_json::to_string_pretty(&v).expect("json") + "\n"));
    }
    let scope = filter.scope(cluster);
    crate::filter::warn_unmatched(&scope);
    let colour = text::Colour::for_stdout();
    match &args.port {
        Some(p) => {
            let (port, proto) = parse_port(p)?;
            let how = crate::port_view::PortView {
                port,
                proto,
                format: args.output,
                scope,
                no_headers: args.no_headers,
                colour: &colour,
            };
            let _ = crate::port_view::write(out, cluster, &compiled, &how);
            Ok(None)
        }
        None => {
            let progress = crate::progress::Progress::start(&format!(
                "the matrix of {} equivalence classes",
                compiled.class_count()
            ));
            let report = Report::build_scoped(cluster, &compiled, scope).map_err(anyhow::Error::from)?;
            progress.finish();
            let view = View {
                format: args.output,
                no_headers: args.no_headers,
                colour,
            };
            Ok(Some(render(cluster, &compiled, &report, &view)))
        }
    }
}

/// How the pair-by-pair view is written.
struct View {
    format: Format,
    no_headers: bool,
    colour: text::Colour,
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn summary<'a>(loaded: &'a palisade_load::Loaded, compiled: &Compiled) -> SummaryJson<'a> {
    let s = summarize(&loaded.cluster, compiled);
    SummaryJson {
        allowed_pairs: ByProtocol {
            sctp: s.allowed_pairs[2],
            tcp: s.allowed_pairs[0],
            udp: s.allowed_pairs[1],
        },
        classes: s.classes,
        cluster_policies: (!loaded.cluster.cluster_policies.is_empty()).then(|| TiersJson {
            admin: TierJson {
                policies: s.tiers[0].0,
                pods_selected: s.tiers[0].1,
            },
            baseline: TierJson {
                policies: s.tiers[1].0,
                pods_selected: s.tiers[1].1,
            },
        }),
        isolated: Isolated {
            egress: s.isolated_egress,
            ingress: s.isolated_ingress,
        },
        namespaces: s.namespaces,
        pods: s.pods,
        policies: s.policies,
        skipped: &loaded.skipped,
        stats: None,
        total_pairs: s.total_pairs,
        workloads: loaded.workloads,
    }
}

// The JSON shapes of `analyze`. Fields are declared in alphabetical order: the order
// `-o json` has always written them in.

/// `-o summary`: counts over the whole matrix.
#[derive(Serialize)]
struct SummaryJson<'a> {
    allowed_pairs: ByProtocol<u64>,
    classes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_policies: Option<TiersJson>,
    isolated: Isolated,
    namespaces: usize,
    pods: usize,
    policies: usize,
    skipped: &'a BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
    total_pairs: u64,
    workloads: usize,
}

/// ClusterNetworkPolicies per tier, in `-o summary` (absent when there are none).
#[derive(Serialize)]
struct TiersJson {
    admin: TierJson,
    baseline: TierJson,
}

/// One tier: its policies and the pods they select.
#[derive(Serialize)]
struct TierJson {
    policies: usize,
    pods_selected: usize,
}

/// One value per protocol, keyed by the protocol's name.
#[derive(Serialize)]
struct ByProtocol<T> {
    #[serde(rename = "SCTP")]
    sctp: T,
    #[serde(rename = "TCP")]
    tcp: T,
    #[serde(rename = "UDP")]
    udp: T,
}

impl<T> ByProtocol<T> {
    fn from_fn(mut f: impl FnMut(Protocol) -> T) -> Self {
        ByProtocol {
            sctp: f(Protocol::Sctp),
            tcp: f(Protocol::Tcp),
            udp: f(Protocol::Udp),
        }
    }
}

/// Pods isolated per direction.
#[derive(Serialize)]
struct Isolated {
    egress: usize,
    ingress: usize,
}

/// `--stats`: phase timings in milliseconds and the peak memory.
#[derive(Serialize)]
struct Stats {
    compile_ms: f64,
    load_ms: f64,
    matrix_ms: f64,
    peak_rss_mib: Option<f64>,
    total_ms: f64,
    yaml_parse_ms: f64,
}

/// `-o json|yaml`: the pods, the external blocks and every pair allowed on some port.
#[derive(Serialize)]
struct MatrixJson<'a> {
    connections: Vec<ConnectionJson<'a>>,
    externals: Vec<ExternalJson<'a>>,
    pods: Vec<PodJson>,
}

#[derive(Serialize)]
struct PodJson {
    class: usize,
    ips: Vec<String>,
    name: String,
    /// `Kind/name`.
    workload: Option<String>,
}

#[derive(Serialize)]
struct ExternalJson<'a> {
    cidr: String,
    name: &'a str,
}

/// The ports allowed from one endpoint to another (`80`, `8000-8080`), per protocol.
#[derive(Serialize)]
struct ConnectionJson<'a> {
    #[serde(flatten)]
    ports: ByProtocol<Vec<String>>,
    from: &'a str,
    to: &'a str,
}

/// Display units: pods of one workload in one class, or one external block.
pub struct Unit {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) members: Vec<usize>,
}

/// The display units of the endpoints `keep` keeps (one side of the report's scope).
pub(crate) fn units(report: &Report, keep: impl Fn(usize) -> bool) -> Vec<Unit> {
    // Members of a unit are judged alike: same class, and the same tie to a node.
    type UnitKey = (Option<String>, String, usize, Option<NodeTie>);
    let mut map: BTreeMap<UnitKey, Vec<usize>> = BTreeMap::new();
    for (i, e) in report.endpoints.iter().enumerate().filter(|(i, _)| keep(*i)) {
        map.entry((e.namespace.clone(), e.group.clone(), e.class, e.node))
            .or_default()
            .push(i);
    }
    let mut out: Vec<Unit> = Vec::new();
    let mut count: BTreeMap<(Option<String>, String), usize> = BTreeMap::new();
    for (ns, g, _, _) in map.keys() {
        *count.entry((ns.clone(), g.clone())).or_default() += 1;
    }
    for ((ns, group, _, _), members) in map {
        let mut name = match &ns {
            Some(ns) => format!("{ns}/{group}"),
            None => format!("external:{group}"),
        };
        if members.len() > 1 {
            name.push_str(&format!(" ({} pods)", members.len()));
        }
        if count[&(ns.clone(), group.clone())] > 1 {
            name.push_str(&format!(" [{}]", report.endpoints[members[0]].name));
        }
        out.push(Unit {
            name,
            namespace: ns,
            members,
        });
    }
    out
}

pub(crate) fn unit_ports(report: &Report, from: &Unit, to: &Unit) -> Option<[String; 3]> {
    let a = from.members[0];
    // Between two pods of one unit, look at two different pods (self is always allowed).
    let b = *to.members.iter().find(|&&b| b != a)?;
    Some(Protocol::ALL.map(|p| ranges_text(report.ranges(a, b, p))))
}

/// The units on each side of the report's scope.
fn both_sides(report: &Report) -> (Vec<Unit>, Vec<Unit>) {
    (
        units(report, |i| report.is_source(i)),
        units(report, |i| report.is_destination(i)),
    )
}

/// Rows FROM, TO, TCP, UDP, SCTP; destinations of a namespace that all get the same
/// ports collapse into `namespace/*`.
fn grouped_rows(report: &Report) -> Vec<Vec<String>> {
    let (from_units, units) = both_sides(report);
    let mut rows = Vec::new();
    for from in &from_units {
        let mut by_ns: BTreeMap<Option<String>, Vec<(&Unit, [String; 3])>> = BTreeMap::new();
        for to in &units {
            if from.namespace.is_none() && to.namespace.is_none() {
                continue;
            }
            if let Some(ports) = unit_ports(report, from, to) {
                by_ns.entry(to.namespace.clone()).or_default().push((to, ports));
            }
        }
        let none = || ["-".to_string(), "-".to_string(), "-".to_string()];
        for (ns, dests) in by_ns {
            let same = dests.windows(2).all(|w| w[0].1 == w[1].1);
            let whole_ns = units.iter().filter(|u| u.namespace == ns).count() == dests.len();
            match &ns {
                Some(ns) if same && dests.len() > 1 && whole_ns => {
                    let [t, u, s] = dests[0].1.clone();
                    rows.push(vec![from.name.clone(), format!("{ns}/*"), t, u, s]);
                }
                _ => {
                    // Destinations that get something, one row each; the denied rest in one row.
                    let mut denied: Vec<&Unit> = Vec::new();
                    for (to, ports) in dests {
                        if ports == none() {
                            denied.push(to);
                            continue;
                        }
                        let [t, u, s] = ports;
                        rows.push(vec![from.name.clone(), to.name.clone(), t, u, s]);
                    }
                    if !denied.is_empty() {
                        let what = match (&ns, denied.len()) {
                            (_, 1) => denied[0].name.clone(),
                            (Some(ns), n) => format!("{ns}/({n} others)"),
                            (None, n) => format!("({n} external blocks)"),
                        };
                        let [t, u, s] = none();
                        rows.push(vec![from.name.clone(), what, t, u, s]);
                    }
                }
            }
        }
    }
    rows
}

/// The grouped table of `analyze -o table`.
pub fn full_table(cluster: &Cluster, compiled: &Compiled) -> anyhow::Result<String> {
    let report = Report::build(cluster, compiled)?;
    let view = View {
        format: Format::Table,
        no_headers: false,
        colour: text::Colour::off(),
    };
    Ok(render(cluster, compiled, &report, &view))
}

/// Port cells coloured: none allowed red, some green.
fn colour_ports(rows: &mut [Vec<String>], colour: &text::Colour) {
    for r in rows {
        for cell in r.iter_mut().skip(2) {
            *cell = if cell == "-" {
                colour.denied(cell)
            } else {
                colour.allowed(cell)
            };
        }
    }
}

fn render(cluster: &Cluster, compiled: &Compiled, report: &Report, view: &View) -> String {
    let header = ["FROM", "TO", "TCP", "UDP", "SCTP"];
    match view.format {
        Format::Table => {
            let mut rows = grouped_rows(report);
            colour_ports(&mut rows, &view.colour);
            let mut out = text::table(&header, &rows, view.no_headers);
            if view.no_headers {
                return out;
            }
            out.push_str(&format!(
                "\n{} pods, {} policies, {} equivalence classes; ports allowed for new connections (- none)\n",
                cluster.pods.len(),
                cluster.policies.len(),
                compiled.class_count()
            ));
            out
        }
        Format::Md => text::markdown(&header, &grouped_rows(report)),
        Format::Csv => {
            let mut out = if view.no_headers {
                String::new()
            } else {
                String::from("from,to,protocol,ports\n")
            };
            for (a, b) in report.pairs().filter(|(a, b)| a != b) {
                for p in Protocol::ALL {
                    let r = report.ranges(a, b, p);
                    if !r.is_empty() {
                        out.push_str(&format!(
                            "{},{},{p},{}\n",
                            text::csv_field(&report.endpoints[a].name),
                            text::csv_field(&report.endpoints[b].name),
                            text::csv_field(&ranges_text(r))
                        ));
                    }
                }
            }
            out
        }
        Format::Dot => {
            let (from_units, units) = both_sides(report);
            let mut out = String::from("digraph palisade {\n  rankdir=LR;\n  node [shape=box];\n");
            for from in &from_units {
                for to in &units {
                    if from.members == to.members || (from.namespace.is_none() && to.namespace.is_none()) {
                        continue;
                    }
                    if let Some(ports) = unit_ports(report, from, to) {
                        let label: Vec<String> = Protocol::ALL
                            .iter()
                            .zip(&ports)
                            .filter(|(_, r)| r.as_str() != "-")
                            .map(|(p, r)| format!("{p} {r}"))
                            .collect();
                        if !label.is_empty() {
                            out.push_str(&format!(
                                "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
                                from.name,
                                to.name,
                                label.join("\\n")
                            ));
                        }
                    }
                }
            }
            out + "}\n"
        }
        Format::Json | Format::Yaml | Format::Summary => {
            let connections = report
                .pairs()
                .filter(|(a, b)| a != b)
                .map(|(a, b)| ConnectionJson {
                    ports: ByProtocol::from_fn(|p| {
                        report
                            .ranges(a, b, p)
                            .iter()
                            .map(|(lo, hi)| palisade_core::port_range_text(*lo, *hi))
                            .collect()
                    }),
                    from: &report.endpoints[a].name,
                    to: &report.endpoints[b].name,
                })
                .filter(|c| !(c.ports.sctp.is_empty() && c.ports.tcp.is_empty() && c.ports.udp.is_empty()))
                .collect();
            let v = MatrixJson {
                connections,
                externals: cluster
                    .externals
                    .iter()
                    .map(|e| ExternalJson {
                        cidr: e.cidr.to_string(),
                        name: &e.name,
                    })
                    .collect(),
                pods: cluster
                    .pods
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| report.is_source(*i) || report.is_destination(*i))
                    .map(|(i, p)| PodJson {
                        class: compiled.pod_class(i),
                        ips: p.ips.iter().map(|i| i.to_string()).collect(),
                        name: p.key(),
                        workload: p.workload.as_ref().map(ToString::to_string),
                    })
                    .collect(),
            };
            if view.format == Format::Yaml {
                palisade_load::emit::yaml(&v)
            } else {
                serde_json::to_string_pretty(&v).expect("json") + "\n"
            }
        }
    }
}
