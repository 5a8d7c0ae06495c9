//! `palisade lab`: the manifests as network namespaces on this machine, enforced by the
//! dataplane, probed with real packets, compared with the engine.

use std::collections::BTreeMap;
use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use palisade_core::Protocol;
use palisade_lab::{differences, flows::Collector, probe, serve, Plan, Topology};
use serde::Serialize;

use crate::analyze::parse_port;
use crate::dataplane::DataplaneFlags;
use crate::inputs::{self, Failure, InputArgs};
use crate::progress::Progress;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Observed against predicted; exit 1 on any difference.
    #[value(alias = "table")]
    Text,
    /// The observed matrix, in the shape of `analyze --port -o json` (an array for several ports).
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct LabName {
    /// Lab name (lowercase letters and digits); its namespaces are `pal-NAME-…`.
    #[arg(long, default_value = "lab")]
    pub lab: String,
}

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Ports to probe, `80/TCP`, `53/UDP` (repeatable).
    #[arg(long = "port", required = true, value_name = "PORT[/PROTO]")]
    pub ports: Vec<String>,
    /// Output format (`text` and `table` name the same human-readable form everywhere).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    /// Write the flow log seen during the probes here, one JSON line per flow.
    #[arg(long = "flow-log", value_name = "FILE")]
    pub flow_log: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Build the lab and leave it up (listeners run in a background process).
    #[command(
        after_help = "Examples:\n  sudo palisade lab up examples/shop --lab shop\n  sudo palisade lab up ./manifests/ --lab staging --ports 80/TCP,53/UDP"
    )]
    Up {
        #[command(flatten)]
        name: LabName,
        /// Extra listener ports on every pod, `80/TCP,81/UDP`.
        #[arg(long, value_delimiter = ',')]
        ports: Vec<String>,
        /// Leave enforcement to agents (`palisade agent` in each node namespace): the
        /// nodes get an empty table.
        #[arg(long = "no-dataplane")]
        no_dataplane: bool,
        #[command(flatten)]
        flags: DataplaneFlags,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Up, probe every ordered pod pair, down.
    #[command(
        after_help = "Examples:\n  sudo palisade lab run examples/shop --port 5432\n  sudo palisade lab run examples/shop --port 8080/TCP --flow-log flows.jsonl -o json"
    )]
    Run {
        #[command(flatten)]
        name: LabName,
        #[command(flatten)]
        probe: ProbeArgs,
        #[command(flatten)]
        flags: DataplaneFlags,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Probe a lab left up by `lab up` (the manifests give the prediction).
    #[command(
        after_help = "Examples:\n  sudo palisade lab probe examples/shop --lab shop --port 8080\n  sudo palisade lab probe examples/shop --lab shop --port 53/UDP -o json"
    )]
    Probe {
        #[command(flatten)]
        name: LabName,
        #[command(flatten)]
        probe: ProbeArgs,
        #[command(flatten)]
        flags: DataplaneFlags,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Remove a lab: its namespaces, veths and processes.
    #[command(
        after_help = "Examples:\n  sudo palisade lab down --lab shop\n  sudo palisade lab down   # the default lab"
    )]
    Down {
        #[command(flatten)]
        name: LabName,
    },
    /// (internal) the listener daemon of `lab up`.
    #[command(hide = true)]
    Serve {
        #[command(flatten)]
        name: LabName,
    },
}

/// The lab's failures happen in the kernel (namespaces, links, rules, probes): exit 3.
fn lab_err(e: palisade_lab::LabError) -> Failure {
    Failure::Runtime(e.into())
}

/// Loads the manifests and plans the lab (see [`Plan`]).
fn prepare(
    name: &str,
    input: &InputArgs,
    flags: &DataplaneFlags,
    extra: &[(u16, Protocol)],
) -> Result<Plan, Failure> {
    palisade_lab::check_name(name).map_err(lab_err)?;
    let loaded = inputs::load(input)?;
    Plan::new(name, loaded.cluster, &input.options(), &flags.options(), extra).map_err(lab_err)
}

fn ports(list: &[String]) -> Result<Vec<(u16, Protocol)>, Failure> {
    list.iter()
        .map(|p| parse_port(p).map_err(Failure::Other))
        .collect()
}

/// Removes the lab on Ctrl-C (and SIGTERM), then exits.
fn cleanup_on_signal(lab: &str) {
    let lab = lab.to_string();
    let _ = ctrlc::set_handler(move || {
        let _ = palisade_lab::down(&lab);
        eprintln!("interrupted: lab {lab} removed");
        std::process::exit(130);
    });
}

/// The JSON shape of `lab probe -o json` for one port: what every pod reached, by name.
/// Fields are declared in alphabetical order, the order the output has always had.
#[derive(Serialize)]
struct ObservedJson<'a> {
    matrix: BTreeMap<&'a str, BTreeMap<&'a str, bool>>,
    pods: Vec<&'a str>,
    port: u16,
    protocol: &'static str,
}

fn matrix_json<'a>(topo: &'a Topology, port: u16, proto: Protocol, m: &[Vec<bool>]) -> ObservedJson<'a> {
    let names: Vec<&str> = topo.pods.iter().map(|p| p.key.as_str()).collect();
    let matrix = m
        .iter()
        .enumerate()
        .map(|(a, row)| {
            (
                names[a],
                row.iter().enumerate().map(|(b, ok)| (names[b], *ok)).collect(),
            )
        })
        .collect();
    ObservedJson {
        matrix,
        pods: names,
        port,
        protocol: proto.as_str(),
    }
}

/// Probes every port, collecting the flow log; returns the output and whether all agreed.
fn probe_all(p: &Plan, args: &ProbeArgs, group: u16) -> Result<(String, bool), Failure> {
    let n = p.topo.pods.len();
    let _progress = Progress::start(&format!("probing {} ordered pod pairs", n * n.saturating_sub(1)));
    // The flow log is read only when asked for: a node's NFLOG group has one reader.
    let collector = match &args.flow_log {
        Some(_) => Some(Collector::start(&p.topo, group).map_err(lab_err)?),
        None => None,
    };
    let mut results = Vec::new();
    for (port, proto) in ports(&args.ports)? {
        let observed = probe::matrix(&p.topo, port, proto).map_err(lab_err)?;
        results.push((port, proto, observed));
    }
    let records = collector.map(Collector::stop).unwrap_or_default();
    if let Some(path) = &args.flow_log {
        let mut f = std::fs::File::create(path).map_err(|e| Failure::Other(e.into()))?;
        for (node, recs) in records.iter().enumerate() {
            let dec = palisade_nft::Decoder::new(&p.cluster, &p.rulesets[node]);
            for (time, packet) in recs {
                let mut flow = dec.decode(packet, *time);
                flow.node = Some(p.topo.nodes[node].name.clone());
                let line = serde_json::to_string(&flow).expect("flow records serialize");
                writeln!(f, "{line}").map_err(|e| Failure::Other(e.into()))?;
            }
        }
    }
    let mut all_agree = true;
    let mut text = String::new();
    let mut jsons = Vec::new();
    for (port, proto, observed) in &results {
        let word = |ok: bool| if ok { "allowed" } else { "denied" };
        let diffs: Vec<String> = differences(observed, &p.predicted(*port, *proto))
            .iter()
            .map(|d| {
                format!(
                    "  {} -> {}: observed {}, predicted {}",
                    p.topo.pods[d.from].key,
                    p.topo.pods[d.to].key,
                    word(d.observed),
                    word(!d.observed)
                )
            })
            .collect();
        let n = p.topo.pods.len();
        let allowed = observed.iter().flatten().filter(|x| **x).count();
        text.push_str(&format!(
            "{port}/{proto}: {} ordered pairs probed, {allowed} allowed, {} difference(s) from the engine's prediction\n",
            n * n,
            diffs.len()
        ));
        for d in &diffs {
            text.push_str(d);
            text.push('\n');
        }
        all_agree &= diffs.is_empty();
        jsons.push(matrix_json(&p.topo, *port, *proto, observed));
    }
    let out = match args.output {
        Format::Text => text,
        Format::Json if jsons.len() == 1 => serde_json::to_string_pretty(&jsons[0]).expect("json") + "\n",
        Format::Json => serde_json::to_string_pretty(&jsons).expect("json") + "\n",
    };
    Ok((out, all_agree || args.output == Format::Json))
}

/// Runs a lab command; the bool is false when observed and predicted differ.
pub fn run(cmd: &LabCommand) -> Result<(String, bool), Failure> {
    match cmd {
        LabCommand::Run {
            name,
            probe,
            flags,
            input,
        } => {
            let extra = ports(&probe.ports)?;
            let p = prepare(&name.lab, input, flags, &extra)?;
            cleanup_on_signal(&name.lab);
            let progress = Progress::start(&format!(
                "setting up {} pods in network namespaces",
                p.topo.pods.len()
            ));
            palisade_lab::up(&p.topo, &p.rulesets).map_err(lab_err)?;
            progress.finish();
            let result = serve::start(&p.topo)
                .map_err(lab_err)
                .and_then(|_| probe_all(&p, probe, flags.rules.log_group));
            palisade_lab::down(&name.lab).map_err(lab_err)?;
            result
        }
        LabCommand::Up {
            name,
            ports: extra,
            no_dataplane,
            flags,
            input,
        } => {
            let extra = ports(extra)?;
            let p = prepare(&name.lab, input, flags, &extra)?;
            cleanup_on_signal(&name.lab);
            let empty = vec![palisade_nft::Ruleset::default(); p.topo.nodes.len()];
            let rulesets = if *no_dataplane { &empty } else { &p.rulesets };
            let progress = Progress::start(&format!(
                "setting up {} pods in network namespaces",
                p.topo.pods.len()
            ));
            palisade_lab::up(&p.topo, rulesets).map_err(lab_err)?;
            progress.finish();
            let started = (|| -> anyhow::Result<u32> {
                palisade_lab::save_state(&palisade_lab::State {
                    topology: p.topo.clone(),
                    serve_pid: None,
                })?;
                let ready = ready_path(&name.lab);
                let _ = std::fs::remove_file(&ready);
                let child = std::process::Command::new(std::env::current_exe()?)
                    .args(["lab", "serve", "--lab", &name.lab])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()?;
                let pid = child.id();
                palisade_lab::save_state(&palisade_lab::State {
                    topology: p.topo.clone(),
                    serve_pid: Some(pid),
                })?;
                for _ in 0..500 {
                    if ready.exists() {
                        return Ok(pid);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                anyhow::bail!("the listener daemon did not start")
            })();
            match started {
                Ok(pid) => Ok((
                    format!(
                        "lab {} up: {} pods on {} node(s), listeners in process {pid}; `palisade lab down --lab {}` removes it\n",
                        name.lab,
                        p.topo.pods.len(),
                        p.topo.nodes.len(),
                        name.lab
                    ),
                    true,
                )),
                Err(e) => {
                    let _ = palisade_lab::down(&name.lab);
                    Err(Failure::Runtime(e))
                }
            }
        }
        LabCommand::Serve { name } => {
            let state = palisade_lab::load_state(&name.lab).map_err(lab_err)?;
            serve::start(&state.topology).map_err(lab_err)?;
            std::fs::write(ready_path(&name.lab), b"ready").map_err(|e| Failure::Other(e.into()))?;
            loop {
                std::thread::park();
            }
        }
        LabCommand::Probe {
            name,
            probe,
            flags,
            input,
        } => {
            let state = palisade_lab::load_state(&name.lab).map_err(lab_err)?;
            let mut p = prepare(&name.lab, input, flags, &[])?;
            p.topo = state.topology;
            probe_all(&p, probe, flags.rules.log_group)
        }
        LabCommand::Down { name } => {
            let n = palisade_lab::down(&name.lab).map_err(lab_err)?;
            let _ = std::fs::remove_file(ready_path(&name.lab));
            Ok((
                format!("lab {}: removed {n} network namespace(s)\n", name.lab),
                true,
            ))
        }
    }
}

fn ready_path(lab: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/run/palisade-lab/{lab}.ready"))
}
