//! The SARIF 2.1.0 shapes `lint -o sarif` writes: one run of one tool, every rule
//! described, one result per finding. Serialize-only; fields are declared in the
//! alphabetical order of their JSON names, the order the output has always had.

use palisade_check::lint::{Rule, Severity};
use serde::Serialize;

/// The whole document.
#[derive(Serialize)]
pub struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<'a>; 1],
    version: &'static str,
}

impl<'a> Log<'a> {
    /// A log of one run of palisade with these rules and results.
    pub fn new(rules: &[Rule], results: Vec<ResultObject<'a>>) -> Log<'a> {
        Log {
            schema: "https://json.schemastore.org/sarif-2.1.0.json",
            runs: [Run {
                results,
                tool: Tool {
                    driver: Driver {
                        information_uri: "https://github.com/palisade-dev/palisade",
                        name: "palisade",
                        rules: rules.iter().map(RuleDescriptor::of).collect(),
                        version: env!("CARGO_PKG_VERSION"),
                    },
                },
            }],
            version: "2.1.0",
        }
    }
}

#[derive(Serialize)]
struct Run<'a> {
    results: Vec<ResultObject<'a>>,
    tool: Tool,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    information_uri: &'static str,
    name: &'static str,
    rules: Vec<RuleDescriptor>,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor {
    default_configuration: Configuration,
    full_description: Text,
    help: Text,
    id: &'static str,
    name: &'static str,
    short_description: Text,
}

impl RuleDescriptor {
    fn of(r: &Rule) -> RuleDescriptor {
        RuleDescriptor {
            default_configuration: Configuration {
                level: level(r.severity),
            },
            full_description: Text { text: r.why.into() },
            help: Text {
                text: format!("{} {}", r.summary, r.why),
            },
            id: r.id,
            name: r.name,
            short_description: Text {
                text: r.summary.into(),
            },
        }
    }
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

/// A message or description.
#[derive(Serialize)]
pub struct Text {
    pub text: String,
}

/// One finding. `locations` only when the finding is placed in a file.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultObject<'a> {
    pub level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<[Location<'a>; 1]>,
    pub message: Text,
    pub rule_id: &'static str,
    pub rule_index: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location<'a> {
    pub logical_locations: [LogicalLocation; 1],
    pub physical_location: PhysicalLocation<'a>,
}

/// `Kind namespace/name:field`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogicalLocation {
    pub fully_qualified_name: String,
}

/// The file, and the line and column when known (`region` only with a line).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation<'a> {
    pub artifact_location: ArtifactLocation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

#[derive(Serialize)]
pub struct ArtifactLocation<'a> {
    pub uri: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<usize>,
}

/// SARIF's level for a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}
