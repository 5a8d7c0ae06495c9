//! Prometheus metrics, `/healthz` and `/readyz` over a small HTTP/1.1 server (one thread
//! per connection; scrapes are rare and tiny).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the change-to-enforcement histogram.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0];

pub struct Metrics {
    pub pods: Gauge,
    pub policies: Gauge,
    pub rules: Gauge,
    pub elements: Gauge,
    pub reconciles: Counter,
    pub reconcile_errors: Counter,
    pub invalid_inputs: Counter,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    flows: Mutex<BTreeMap<(String, String), u64>>,
    /// A state has been applied and the source is in sync.
    pub ready: AtomicBool,
    /// Why not ready, for `/readyz`.
    pub reason: Mutex<String>,
    /// Last time the main loop went round (for `/healthz`).
    heartbeat: Mutex<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            pods: Gauge::default(),
            policies: Gauge::default(),
            rules: Gauge::default(),
            elements: Gauge::default(),
            reconciles: Counter::default(),
            reconcile_errors: Counter::default(),
            invalid_inputs: Counter::default(),
            buckets: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            flows: Mutex::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
            reason: Mutex::new("no state applied yet".into()),
            heartbeat: Mutex::new(Instant::now()),
        }
    }
}

impl Metrics {
    pub fn observe_latency(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn flow(&self, verdict: &str, policy: &str) {
        *self
            .flows
            .lock()
            .expect("flows lock")
            .entry((verdict.to_string(), policy.to_string()))
            .or_default() += 1;
    }

    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.ready.store(ready, Ordering::Relaxed);
        *self.reason.lock().expect("reason lock") = reason.to_string();
    }

    pub fn beat(&self) {
        *self.heartbeat.lock().expect("heartbeat lock") = Instant::now();
    }

    /// Healthy: the main loop went round in the last 30 seconds.
    pub fn healthy(&self) -> bool {
        self.heartbeat.lock().expect("heartbeat lock").elapsed() < Duration::from_secs(30)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let mut gauge = |name: &str, help: &str, v: u64, kind: &str| {
            writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}").unwrap();
        };
        gauge("palisade_pods", "Pods known.", self.pods.get(), "gauge");
        gauge(
            "palisade_policies",
            "NetworkPolicies known.",
            self.policies.get(),
            "gauge",
        );
        gauge(
            "palisade_rules",
            "nftables rules programmed.",
            self.rules.get(),
            "gauge",
        );
        gauge(
            "palisade_set_elements",
            "Set and map elements programmed.",
            self.elements.get(),
            "gauge",
        );
        gauge(
            "palisade_reconciles_total",
            "States applied or attempted.",
            self.reconciles.get(),
            "counter",
        );
        gauge(
            "palisade_reconcile_errors_total",
            "States the kernel refused.",
            self.reconcile_errors.get(),
            "counter",
        );
        gauge(
            "palisade_invalid_inputs_total",
            "Inputs rejected by validation (rules kept).",
            self.invalid_inputs.get(),
            "counter",
        );
        gauge(
            "palisade_ready",
            "1 when the source is in sync and its state is enforced.",
            self.ready.load(Ordering::Relaxed) as u64,
            "gauge",
        );
        let name = "palisade_change_to_enforcement_seconds";
        writeln!(
            o,
            "# HELP {name} Time from a change seen to rules applied.\n# TYPE {name} histogram"
        )
        .unwrap();
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            writeln!(o, "{name}_bucket{{le=\"{b}\"}} {}", c.load(Ordering::Relaxed)).unwrap();
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}").unwrap();
        writeln!(
            o,
            "{name}_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        )
        .unwrap();
        writeln!(o, "{name}_count {count}").unwrap();
        writeln!(o, "# HELP palisade_flows_total Logged flows by verdict and policy.\n# TYPE palisade_flows_total counter").unwrap();
        for ((verdict, policy), n) in self.flows.lock().expect("flows lock").iter() {
            writeln!(
                o,
                "palisade_flows_total{{verdict=\"{verdict}\",policy=\"{}\"}} {n}",
                policy.replace('"', "'")
            )
            .unwrap();
        }
        o
    }
}

fn respond(mut s: TcpStream, m: &Metrics) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    if BufReader::new(&s).read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/metrics" => ("200 OK", m.render()),
        "/healthz" if m.healthy() => ("200 OK", "ok\n".to_string()),
        "/healthz" => ("503 Service Unavailable", "main loop stalled\n".to_string()),
        "/readyz" if m.ready.load(Ordering::Relaxed) => ("200 OK", "ready\n".to_string()),
        "/readyz" => (
            "503 Service Unavailable",
            format!("not ready: {}\n", m.reason.lock().expect("reason lock")),
        ),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves the endpoints on `listener` from a background thread.
pub fn serve(listener: TcpListener, m: std::sync::Arc<Metrics>) {
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let m = m.clone();
            std::thread::spawn(move || respond(s, &m));
        }
    });
}
