//! `palisade test SPEC PATH…`: reachability assertions, each failure with the engine's
//! explanation; `--junit FILE` for CI test reports.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use palisade_check::assertions::{self, Assertion, Outcome};
use palisade_core::Cluster;
use palisade_load::{yaml, Diagnostic, ErrorKind};
use serde::Serialize;
use serde_json::Value;

use crate::explain;
use crate::inputs::{self, Failure, InputArgs};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    #[value(alias = "text")]
    Table,
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade test examples/shop.test.yaml examples/shop\n  palisade test reachability.yaml ./manifests/ --junit report.xml\n  palisade test reachability.yaml --cluster ./policies/"
)]
pub struct TestArgs {
    /// The assertions (YAML or JSON).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Output format (`table` and `text` name the same human-readable form everywhere).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
}

/// Reads the spec; problems as diagnostics with file, line and column.
fn read_spec(path: &PathBuf, default_ns: &str) -> Result<Vec<Assertion>, Failure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let (docs, err) = yaml::parse_documents(&text);
    if let Some(e) = err {
        return Err(Failure::Input(vec![Diagnostic {
            file,
            pos: Some(e.pos),
            path: Default::default(),
            object: None,
            kind: if e.limit {
                ErrorKind::Limit
            } else {
                ErrorKind::Syntax
            },
            message: format!("YAML syntax error: {}", e.message),
        }]));
    }
    let value = docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null);
    assertions::parse(&value, default_ns).map_err(|errs| {
        Failure::Input(
            errs.into_iter()
                .map(|e| Diagnostic {
                    file: file.clone(),
                    pos: yaml::locate(&text, 0, &e.path),
                    path: e.path,
                    object: None,
                    kind: e.kind,
                    message: e.message,
                })
                .collect(),
        )
    })
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Why an assertion failed, in words: the first failing pairs with their explanations.
fn failure_text(c: &Cluster, args: &TestArgs, a: &Assertion, o: &Outcome) -> String {
    if let Some(e) = &o.error {
        return format!("{e}\n");
    }
    let mut s = format!(
        "{} of {} pair(s) are {} (expected {}):\n",
        o.failures.len(),
        o.pairs,
        if a.allow { "denied" } else { "allowed" },
        if a.allow { "allow" } else { "deny" }
    );
    for (from, to, e) in o.failures.iter().take(3) {
        s.push_str(&explain::text(
            c,
            &args.input.options(),
            from,
            to,
            e,
            &crate::text::Colour::off(),
        ));
    }
    if o.failures.len() > 3 {
        s.push_str(&format!("… and {} more pair(s)\n", o.failures.len() - 3));
    }
    s
}

pub fn junit(suite: &str, results: &[(Assertion, Outcome, String)]) -> String {
    let failures = results.iter().filter(|(_, o, _)| !o.passed()).count();
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"palisade\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        results.len(),
        xml_escape(suite),
        results.len()
    );
    for (a, o, why) in results {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\"",
            xml_escape(&a.name),
            xml_escape(suite)
        ));
        if o.passed() {
            x.push_str("/>\n");
        } else {
            let message = why.lines().next().unwrap_or("failed");
            x.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(message),
                if o.error.is_some() {
                    "no-match"
                } else {
                    "reachability"
                },
                xml_escape(why)
            ));
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

pub fn run(args: &TestArgs) -> Result<(String, bool), Failure> {
    let spec = read_spec(&args.spec, &args.input.model.namespace)?;
    let loaded = inputs::load(&args.input)?;
    inputs::warn_domain_names(&loaded.cluster);
    let c = &loaded.cluster;
    let options = args.input.options();
    let results: Vec<(Assertion, Outcome, String)> = spec
        .into_iter()
        .map(|a| {
            let o = assertions::check(c, &options, &a);
            let why = if o.passed() {
                String::new()
            } else {
                failure_text(c, args, &a, &o)
            };
            (a, o, why)
        })
        .collect();
    let failed = results.iter().filter(|(_, o, _)| !o.passed()).count();
    if let Some(path) = &args.junit {
        let suite = args.spec.display().to_string();
        std::fs::write(path, junit(&suite, &results))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let out = match args.output {
        Format::Table => {
            let mut s = String::new();
            let colour = crate::text::Colour::for_stdout();
            for (a, o, why) in &results {
                if o.passed() {
                    s.push_str(&format!(
                        "{}  {} ({} pair(s))\n",
                        colour.allowed("PASS"),
                        a.name,
                        o.pairs
                    ));
                } else {
                    s.push_str(&format!("{}  {}\n", colour.denied("FAIL"), a.name));
                    for line in why.lines() {
                        s.push_str(&format!("      {line}\n"));
                    }
                }
            }
            s.push_str(&format!("\n{} passed, {failed} failed\n", results.len() - failed));
            s
        }
        Format::Json => {
            let v = TestJson {
                failed,
                passed: results.len() - failed,
                results: results
                    .iter()
                    .map(|(a, o, _)| ResultJson {
                        error: o.error.as_deref(),
                        expect: if a.allow { "allow" } else { "deny" },
                        failures: o
                            .failures
                            .iter()
                            .map(|(f, t, e)| explain::to_json(c, f, t, e))
                            .collect(),
                        name: &a.name,
                        pairs: o.pairs,
                        passed: o.passed(),
                    })
                    .collect(),
            };
            serde_json::to_string_pretty(&v).expect("json") + "\n"
        }
    };
    Ok((out, failed == 0))
}

// The JSON shape of `test -o json`, fields in alphabetical order (the output's order).

#[derive(Serialize)]
struct TestJson<'a> {
    failed: usize,
    passed: usize,
    results: Vec<ResultJson<'a>>,
}

/// One assertion: what was expected, how many pairs it covered, and each failing pair
/// explained.
#[derive(Serialize)]
struct ResultJson<'a> {
    error: Option<&'a str>,
    expect: &'static str,
    failures: Vec<explain::ExplanationJson>,
    name: &'a str,
    pairs: usize,
    passed: bool,
}
