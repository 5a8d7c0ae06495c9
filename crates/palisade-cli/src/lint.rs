//! `palisade lint PATH…`: findings as a table, JSON or SARIF 2.1.0; exit 1 when one is
//! at or above `--fail-on`. Manifests the API server would reject are findings too
//! (PAL000, PAL012), so code scanning shows them where they are.

use clap::{Args, ValueEnum};
use palisade_check::lint::{self, Finding, LintOptions, LintReport, Severity, ENDPORT_NAMED, INVALID, RULES};
use palisade_core::ObjectRef;
use palisade_load::path::FieldPath;
use palisade_load::{Diagnostic, ErrorKind, Loaded};
use serde::Serialize;

use crate::sarif;

use crate::inputs::{self, Failure, InputArgs};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    #[value(alias = "text")]
    Table,
    Json,
    Sarif,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade lint examples/shop\n  palisade lint ./policies/ --fail-on warning -o sarif > lint.sarif\n  palisade lint --cluster --include-system"
)]
pub struct LintArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (`table` and `text` name the same human-readable form everywhere).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    /// Exit 1 when a finding of this severity or worse exists.
    #[arg(long = "fail-on", value_enum, default_value = "error")]
    pub fail_on: FailOn,
    /// The previous manifests (file or directory, repeatable): enables `monitoring-blind`.
    #[arg(long, value_name = "PATH")]
    pub baseline: Vec<String>,
    /// The namespace whose pods scrape metrics.
    #[arg(long = "monitoring-namespace", default_value = "monitoring")]
    pub monitoring_namespace: String,
    /// Where cluster DNS runs, as NAMESPACE/KEY=VALUE.
    #[arg(long, default_value = "kube-system/k8s-app=kube-dns")]
    pub dns: String,
    /// Also check default deny in kube-system, kube-public and kube-node-lease.
    #[arg(long = "include-system")]
    pub include_system: bool,
    /// Redundancy recompiles once per rule: skipped above this many rules.
    #[arg(long = "max-redundancy-rules", default_value_t = 400)]
    pub max_redundancy_rules: usize,
}

/// A finding with its place in the files.
struct Placed {
    finding: Finding,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
}

fn from_diagnostic(d: Diagnostic) -> Placed {
    let rule = if d.kind == ErrorKind::EndPortWithNamedPort {
        ENDPORT_NAMED
    } else {
        INVALID
    };
    Placed {
        finding: Finding::new(rule, d.object.clone(), d.path.clone(), d.message.clone()),
        file: Some(d.file.clone()),
        line: d.pos.map(|p| p.line),
        column: d.pos.map(|p| p.column),
    }
}

/// Places every finding in the files (each file read once).
fn place(loaded: &Loaded, findings: Vec<Finding>) -> Vec<Placed> {
    // The object itself: its name line rather than the document marker.
    let places: Vec<(&ObjectRef, FieldPath)> = findings
        .iter()
        .filter_map(|f| {
            let field = if f.field.0.is_empty() {
                palisade_check::lint::keys(&["metadata", "name"])
            } else {
                f.field.clone()
            };
            Some((f.object.as_ref()?, field))
        })
        .collect();
    let mut located = loaded.locate_many(&places).into_iter();
    // Findings without an object were placed by the loader (or nowhere).
    let at: Vec<_> = findings
        .iter()
        .map(|f| f.object.as_ref().and_then(|_| located.next().flatten()))
        .collect();
    findings
        .into_iter()
        .zip(at)
        .map(|(finding, at)| Placed {
            file: at.as_ref().map(|(file, _)| file.clone()),
            line: at.as_ref().and_then(|(_, p)| p.map(|p| p.line)),
            column: at.as_ref().and_then(|(_, p)| p.map(|p| p.column)),
            finding,
        })
        .collect()
}

fn options(args: &LintArgs) -> Result<LintOptions, Failure> {
    let mut o = LintOptions {
        engine: args.input.options(),
        monitoring_namespace: args.monitoring_namespace.clone(),
        max_redundancy_rules: args.max_redundancy_rules,
        ..Default::default()
    };
    let (ns, label) = args
        .dns
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--dns: expected NAMESPACE/KEY=VALUE"))?;
    let (k, v) = label
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--dns: expected NAMESPACE/KEY=VALUE"))?;
    o.dns_namespace = ns.into();
    o.dns_labels = vec![(k.into(), v.into())];
    if args.include_system {
        o.skip_namespaces.clear();
    }
    // The stand-in DNS pod takes the last address of the first pod network.
    if let Some(cidr) = args.input.load_options()?.pod_cidrs.first() {
        let (lo, hi) = cidr.range();
        if hi > lo + 2 {
            o.dns_stand_in_ip = palisade_core::ip::num_to_ip(cidr.family, hi - 1);
        }
    }
    if !args.baseline.is_empty() {
        let base = inputs::load_sources(&args.input, &inputs::sources(&args.baseline)?)?;
        o.baseline = Some(base.cluster);
    }
    Ok(o)
}

fn table(placed: &[Placed], notes: &[String]) -> String {
    let colour = crate::text::Colour::for_stdout();
    let mut s = String::new();
    for p in placed {
        let f = &p.finding;
        let at = match (&p.file, p.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (Some(file), None) => format!("{file}: "),
            _ => String::new(),
        };
        let field = if f.field.0.is_empty() {
            String::new()
        } else {
            format!(" {}", f.field)
        };
        s.push_str(&format!(
            "{} {} {}  {at}{}{field}\n  {}\n",
            colour.severity(&f.severity.to_string(), &format!("{:<7}", f.severity)),
            f.rule,
            f.name,
            f.object_text(),
            f.message
        ));
        if let Some(fix) = &f.fix {
            s.push_str("  fix:\n");
            for line in fix.lines() {
                s.push_str(&format!("    {line}\n"));
            }
        }
    }
    let count = |sev| placed.iter().filter(|p| p.finding.severity == sev).count();
    for n in notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!(
        "{} finding(s): {} error(s), {} warning(s), {} info\n",
        placed.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    ));
    s
}

/// The JSON shape of `lint -o json`. Fields are declared in alphabetical order, the
/// order the output has always had.
#[derive(Serialize)]
struct LintJson<'a> {
    findings: Vec<FindingJson<'a>>,
    notes: &'a [String],
}

/// A finding and where it is written.
#[derive(Serialize)]
struct FindingJson<'a> {
    column: Option<usize>,
    /// The field's path as text (`spec.ingress[0].from[1]`), empty for the object itself.
    field: String,
    file: Option<&'a str>,
    fix: Option<&'a str>,
    line: Option<usize>,
    message: &'a str,
    name: &'static str,
    /// `Kind namespace/name`, empty when the object is not known.
    object: String,
    rule: &'static str,
    severity: Severity,
}

fn json_out<'a>(placed: &'a [Placed], notes: &'a [String]) -> LintJson<'a> {
    LintJson {
        findings: placed
            .iter()
            .map(|p| FindingJson {
                column: p.column,
                field: p.finding.field.to_string(),
                file: p.file.as_deref(),
                fix: p.finding.fix.as_deref(),
                line: p.line,
                message: &p.finding.message,
                name: p.finding.name,
                object: p.finding.object_text(),
                rule: p.finding.rule,
                severity: p.finding.severity,
            })
            .collect(),
        notes,
    }
}

/// SARIF 2.1.0: one run, every rule described, one result per finding.
fn sarif(placed: &[Placed]) -> sarif::Log<'_> {
    let results = placed
        .iter()
        .map(|p| {
            let f = &p.finding;
            let mut text = f.message.clone();
            if let Some(fix) = &f.fix {
                text.push_str("\nFix:\n");
                text.push_str(fix);
            }
            let field = if f.field.0.is_empty() {
                String::new()
            } else {
                format!(":{}", f.field)
            };
            sarif::ResultObject {
                level: sarif::level(f.severity),
                locations: p.file.as_deref().map(|file| {
                    [sarif::Location {
                        logical_locations: [sarif::LogicalLocation {
                            fully_qualified_name: format!("{}{field}", f.object_text()),
                        }],
                        physical_location: sarif::PhysicalLocation {
                            artifact_location: sarif::ArtifactLocation { uri: file },
                            region: p.line.map(|line| sarif::Region {
                                start_column: p.column,
                                start_line: Some(line),
                            }),
                        },
                    }]
                }),
                message: sarif::Text { text },
                rule_id: f.rule,
                rule_index: RULES.iter().position(|r| r.id == f.rule).expect("known rule"),
            }
        })
        .collect();
    sarif::Log::new(RULES, results)
}

pub fn run(args: &LintArgs) -> Result<(String, bool), Failure> {
    let report = match inputs::load(&args.input) {
        Ok(loaded) => {
            let progress = crate::progress::Progress::start(&format!(
                "checking {} policies (coverage, DNS, redundancy, tiers)",
                loaded.cluster.policies.len() + loaded.cluster.cluster_policies.len()
            ));
            let LintReport { findings, notes } = lint::lint(&loaded.cluster, &options(args)?);
            progress.finish();
            let placed = place(&loaded, findings);
            (placed, notes)
        }
        Err(Failure::Input(diags)) => (diags.into_iter().map(from_diagnostic).collect(), Vec::new()),
        Err(other) => return Err(other),
    };
    let (placed, notes) = report;
    let threshold = match args.fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    let fails = threshold.is_some_and(|t| placed.iter().any(|p| p.finding.severity >= t));
    let out = match args.output {
        Format::Table => table(&placed, &notes),
        Format::Json => serde_json::to_string_pretty(&json_out(&placed, &notes)).expect("json") + "\n",
        Format::Sarif => serde_json::to_string_pretty(&sarif(&placed)).expect("json") + "\n",
    };
    Ok((out, !fails))
}
