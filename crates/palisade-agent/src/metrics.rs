//! The agent's Prometheus metrics (prometheus-client: OpenMetrics text, label values
//! escaped by the library), with build info and the process's CPU, memory, file
//! descriptors and start time; and its health (`/healthz`: the main loop goes round) and
//! readiness (`/readyz`: a state is enforced and the source is in sync). Served by
//! [`crate::server`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the change-to-enforcement histogram.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0];

/// The labels of a logged flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    /// `allowed`, `denied` or `audit`.
    pub verdict: Escaped,
    /// The deciding policy (`namespace/name` for a NetworkPolicy, the name of a
    /// ClusterNetworkPolicy), or `default-deny`.
    pub policy: Escaped,
    /// Its tier: `Admin`, `NetworkPolicy` or `Baseline` (empty when nothing decided).
    pub tier: Escaped,
}

/// A label value escaped as the exposition format requires (`\\`, `\"`, `\n`):
/// prometheus-client 0.24 writes label values as they are.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Escaped(pub String);

impl EncodeLabelValue for Escaped {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The agent's metrics and health state. The metric handles are cheap clones sharing
/// their values with the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    /// Pods in the current state (`palisade_pods`).
    pub pods: Gauge,
    /// Policies in the current state (`palisade_policies`).
    pub policies: Gauge,
    /// Policies staged in shadow mode, of either kind (`palisade_staged_policies`).
    pub staged: Gauge,
    /// Rules in the table (`palisade_rules`).
    pub rules: Gauge,
    /// Set and map elements in the table (`palisade_elements`).
    pub elements: Gauge,
    /// States applied (`palisade_reconciles_total`).
    pub reconciles: Counter,
    /// States the kernel refused (`palisade_reconcile_errors_total`).
    pub reconcile_errors: Counter,
    /// Invalid inputs ignored (`palisade_invalid_inputs_total`).
    pub invalid_inputs: Counter,
    /// 1 when a state has been applied and the source is in sync (`palisade_ready`).
    ready: Gauge,
    latency: Histogram,
    flows: Family<FlowLabels, Counter>,
    registry: Registry,
    /// Why not ready, for `/readyz`.
    pub reason: Mutex<String>,
    /// Last time the main loop went round (for `/healthz`).
    heartbeat: Mutex<Instant>,
}

/// Build information (`palisade_build_info`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let pods = gauge(&mut registry, "palisade_pods", "Pods known");
        let policies = gauge(&mut registry, "palisade_policies", "NetworkPolicies known");
        let staged = gauge(
            &mut registry,
            "palisade_staged_policies",
            "Policies staged in shadow mode: not enforced, connections they would change logged",
        );
        let rules = gauge(&mut registry, "palisade_rules", "nftables rules programmed");
        let elements = gauge(
            &mut registry,
            "palisade_set_elements",
            "Set and map elements programmed",
        );
        let reconciles = counter(
            &mut registry,
            "palisade_reconciles",
            "States applied or attempted",
        );
        let reconcile_errors = counter(
            &mut registry,
            "palisade_reconcile_errors",
            "States the kernel refused",
        );
        let invalid_inputs = counter(
            &mut registry,
            "palisade_invalid_inputs",
            "Inputs rejected by validation (rules kept)",
        );
        let ready = gauge(
            &mut registry,
            "palisade_ready",
            "1 when the source is in sync and its state is enforced",
        );
        let latency = Histogram::new(BUCKETS);
        registry.register(
            "palisade_change_to_enforcement_seconds",
            "Time from a change seen to rules applied",
            latency.clone(),
        );
        let flows = Family::<FlowLabels, Counter>::default();
        registry.register(
            "palisade_flows",
            "Logged flows by verdict and policy",
            flows.clone(),
        );
        registry.register(
            "palisade_build",
            "The agent's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            }),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics {
            pods,
            policies,
            staged,
            rules,
            elements,
            reconciles,
            reconcile_errors,
            invalid_inputs,
            ready,
            latency,
            flows,
            registry,
            reason: Mutex::new("no state applied yet".into()),
            heartbeat: Mutex::new(Instant::now()),
        }
    }
}

impl Metrics {
    /// Records one change-to-enforcement latency.
    pub fn observe_latency(&self, d: Duration) {
        self.latency.observe(d.as_secs_f64());
    }

    /// Counts one logged flow.
    pub fn flow(&self, verdict: &str, tier: &str, policy: &str) {
        self.flows
            .get_or_create(&FlowLabels {
                verdict: Escaped(verdict.to_string()),
                policy: Escaped(policy.to_string()),
                tier: Escaped(tier.to_string()),
            })
            .inc();
    }

    /// Sets readiness, with the reason given by `/readyz`.
    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.ready.set(ready as i64);
        *self.reason.lock().expect("reason lock") = reason.to_string();
    }

    /// A state has been applied and the source is in sync.
    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// Records that the loop is alive (for `/healthz`).
    pub fn beat(&self) {
        *self.heartbeat.lock().expect("heartbeat lock") = Instant::now();
    }

    /// Healthy: the main loop went round in the last 30 seconds.
    pub fn healthy(&self) -> bool {
        self.heartbeat.lock().expect("heartbeat lock").elapsed() < Duration::from_secs(30)
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        prometheus_client::encoding::text::encode(&mut o, &self.registry).expect("writing to a String");
        o
    }
}

/// The standard `process_*` metrics of this process, read from /proc at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let Ok(stat) = me.stat() else {
            return Ok(());
        };
        let ticks = procfs::ticks_per_second() as f64;
        let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                (stat.rss * procfs::page_size()) as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.vsize as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                procfs::boot_time_secs().unwrap_or(0) as f64 + stat.starttime as f64 / ticks,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                me.fd_count().unwrap_or(0) as f64,
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_holds_the_agents_figures_escaped() {
        let m = Metrics::default();
        m.policies.set(3);
        m.observe_latency(Duration::from_millis(30));
        m.flow("denied", "NetworkPolicy", "default-deny");
        m.flow("allowed", "NetworkPolicy", "shop/say \"hi\"");
        m.flow("denied", "Admin", "lockdown");
        m.flow("shadow-denied", "NetworkPolicy", "shop/lockdown");
        m.flow("shadow-denied", "NetworkPolicy", "shop/lockdown");
        m.staged.set(1);
        m.set_ready(true, "");
        let text = m.render();
        // Lines written by hand from the OpenMetrics text format.
        for line in [
            "palisade_policies 3",
            "palisade_ready 1",
            "palisade_change_to_enforcement_seconds_count 1",
            "palisade_change_to_enforcement_seconds_bucket{le=\"0.05\"} 1",
            "palisade_change_to_enforcement_seconds_bucket{le=\"0.025\"} 0",
            "palisade_flows_total{verdict=\"denied\",policy=\"default-deny\",tier=\"NetworkPolicy\"} 1",
            "palisade_flows_total{verdict=\"denied\",policy=\"lockdown\",tier=\"Admin\"} 1",
            // Shadow verdicts are counted per staged policy.
            "palisade_flows_total{verdict=\"shadow-denied\",policy=\"shop/lockdown\",tier=\"NetworkPolicy\"} 2",
            "palisade_staged_policies 1",
            "# HELP palisade_pods Pods known.\n",
            // A quote in a policy name is escaped, not replaced.
            "palisade_flows_total{verdict=\"allowed\",policy=\"shop/say \\\"hi\\\"\",tier=\"NetworkPolicy\"} 1",
            "palisade_build_info{version=\"",
            "# TYPE process_cpu_seconds counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
