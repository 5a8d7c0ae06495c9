//! `palisade bench growth`: inputs whose cost used to grow much faster than their size, at
//! three sizes each, every run a fresh process (time and peak memory are the command's
//! own). Printed with the growth exponent between sizes: log(t2/t1) / log(n2/n1), about 1
//! for linear growth (2 for quadratic). The inputs:
//!
//! - `excepts`: 1,000 pods and N policies, each with one ipBlock of 50 distinct excepts;
//! - `named-ports`: N pods each declaring its own named port, N/10 policies naming ten each;
//! - `endport`: one policy with N nested `port`/`endPort` ranges;
//! - `lint-named-ports`: `lint` on the named-port input;
//! - `invalid`: N invalid NetworkPolicies in one file (every one reported).

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

/// One row: name, the command's arguments before the file, the sizes, the input generator.
struct Row {
    name: &'static str,
    args: &'static [&'static str],
    sizes: [usize; 3],
    input: fn(usize) -> String,
}

const ROWS: [Row; 5] = [
    Row {
        name: "excepts",
        args: &["analyze", "-o", "summary"],
        sizes: [1_000, 5_000, 10_000],
        input: excepts,
    },
    Row {
        name: "named-ports",
        args: &["analyze", "-o", "summary"],
        sizes: [1_000, 5_000, 10_000],
        input: named_ports,
    },
    Row {
        name: "endport",
        args: &["analyze", "-o", "summary"],
        sizes: [4_000, 16_000, 32_767],
        input: endports,
    },
    Row {
        name: "lint-named-ports",
        args: &["lint", "--fail-on", "never", "-o", "json"],
        sizes: [1_000, 1_500, 2_500],
        input: named_ports,
    },
    Row {
        name: "invalid",
        args: &["analyze", "-o", "summary"],
        sizes: [1_000, 4_000, 8_000],
        input: invalid_policies,
    },
];

fn pods(n: usize, namespaces: usize, ports: impl Fn(usize) -> String) -> String {
    let mut y = String::new();
    for i in 0..n {
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: ns{}, labels: {{app: a{}}}}}\nspec:\n  containers:\n  - name: c\n    ports: [{}]\nstatus: {{podIP: 10.{}.{}.{}}}\n",
            i % namespaces,
            i % 50,
            ports(i),
            1 + i / 65536,
            (i / 256) % 256,
            i % 256
        );
    }
    y
}

fn excepts(n: usize) -> String {
    let mut y = pods(1_000, 10, |_| "{containerPort: 80}".into());
    for i in 0..n {
        let except: Vec<String> = (0..50)
            .map(|j| {
                let k = i * 50 + j;
                format!("172.{}.{}.{}/32", 16 + k / 65536, (k / 256) % 256, k % 256)
            })
            .collect();
        let _ = write!(
            y,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: x{i}, namespace: ns{}}}\nspec:\n  podSelector: {{matchLabels: {{app: a{}}}}}\n  egress:\n  - to:\n    - ipBlock: {{cidr: 172.16.0.0/12, except: [{}]}}\n",
            i % 10,
            i % 50,
            except.join(", ")
        );
    }
    y
}

fn named_ports(n: usize) -> String {
    let mut y = pods(n, 10, |i| format!("{{name: n{i}, containerPort: {}}}", 1024 + i));
    for i in 0..n / 10 {
        let ports: Vec<String> = (0..10).map(|j| format!("{{port: n{}}}", i * 10 + j)).collect();
        let _ = write!(
            y,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: np{i}, namespace: ns{}}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - ports: [{}]\n",
            i % 10,
            ports.join(", ")
        );
    }
    y
}

fn endports(n: usize) -> String {
    let mut y = pods(100, 2, |_| "{containerPort: 80}".into());
    let ports: Vec<String> = (1..=n)
        .map(|i| format!("    - {{port: {i}, endPort: {}}}\n", 65535 - i + 1))
        .collect();
    let _ = write!(
        y,
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: nested, namespace: ns0}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - ports:\n{}",
        ports.concat()
    );
    y
}

fn invalid_policies(n: usize) -> String {
    let mut y = String::new();
    for i in 0..n {
        let _ = write!(
            y,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: bad{i}, namespace: ns}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - ports: [{{port: 0}}]\n"
        );
    }
    y
}

/// Runs one command on `file`: wall milliseconds and the child's peak memory (MiB), which
/// it reports on stderr when `PALISADE_PEAK_RSS` is set.
fn measure(args: &[&str], file: &std::path::Path) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let o = Command::new(exe)
        .args(args)
        .arg(file)
        .env("PALISADE_PEAK_RSS", "1")
        .output()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let err = String::from_utf8_lossy(&o.stderr);
    let peak = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("palisade peak memory MiB: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    Ok((ms, peak))
}

pub fn run(only: Option<&str>) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("palisade-growth-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut out = format!(
        "palisade bench growth ({} cores): wall ms / peak MiB per size, fresh process each; exponent = log(t2/t1)/log(n2/n1)\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for row in ROWS.iter().filter(|r| only.is_none_or(|o| o == r.name)) {
        let mut cells = Vec::new();
        let mut times = Vec::new();
        for n in row.sizes {
            let file = dir.join(format!("{}-{n}.yaml", row.name));
            std::fs::write(&file, (row.input)(n))?;
            let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
            let (ms, peak) = measure(row.args, &file)?;
            let _ = std::fs::remove_file(&file);
            cells.push(format!("{n}: {ms:.0} ms / {peak:.0} MiB ({mb:.1} MB)"));
            times.push((n as f64, ms));
        }
        let exps: Vec<String> = times
            .windows(2)
            .map(|w| format!("{:.2}", (w[1].1 / w[0].1).ln() / (w[1].0 / w[0].0).ln()))
            .collect();
        let _ = writeln!(
            out,
            "{:<17} {}  exponent {}",
            row.name,
            cells.join("  "),
            exps.join(", ")
        );
    }
    let _ = std::fs::remove_dir(&dir);
    Ok(out)
}
