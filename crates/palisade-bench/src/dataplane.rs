//! `palisade-bench dataplane`: the cost of enforcement.
//!
//! 1. Compile, render and apply the 10,000-pod / 2,000-policy synthetic cluster into a
//!    fresh node namespace; then pods added and removed one at a time through the node
//!    table's incremental path and netlink element updates.
//! 2. New TCP connections between two isolated lab pods whose traffic the policies allow,
//!    through the node, with no table, with connection tracking only, and with that
//!    ruleset, in interleaved rounds. Each round runs several client threads and reports
//!    the rate and the machine's busy CPU time per connection (from /proc/stat: user,
//!    nice, system, irq, softirq; not idle, iowait or steal); medians are reported with
//!    the spread (lowest and highest round). The server resets every connection it
//!    accepts, so no TIME_WAIT is left and no SYN waits for a retransmission: rounds are
//!    CPU-bound (about 80,000 connections/s here), not latency-bound as they were when
//!    the lab's listener closed with a FIN (800–37,000/s from one run to the next).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_core::{Cluster, CompiledCluster, Protocol};
use palisade_lab::{netns, Topology};
use palisade_load::{load, LoadOptions, Source};
use palisade_nft::apply::run_script_in;
use palisade_nft::{Change, NftSocket, NodeTable, Path};
use palisade_synth::{generate, to_json_list, Spec};

const LAB: &str = "bench";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pods and policies of the synthetic cluster.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    #[arg(long, default_value_t = 2_000)]
    pub policies: usize,
    /// Seconds per connection-rate round.
    #[arg(long, default_value_t = 0.5)]
    pub seconds: f64,
    /// Rounds per mode (no table, conntrack only, ruleset), interleaved.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Client threads opening connections in parallel.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
}

/// Busy CPU time of the whole machine so far, in seconds.
fn busy_cpu_seconds() -> anyhow::Result<f64> {
    use procfs::CurrentSI;
    let t = procfs::KernelStats::current()?.total;
    let jiffies = t.user + t.nice + t.system + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0);
    Ok(jiffies as f64 / procfs::ticks_per_second() as f64)
}

/// One round: connections per second and busy CPU microseconds per connection.
#[derive(Clone, Copy, Debug)]
struct Round {
    rate: f64,
    cpu_us: f64,
}

/// Connections from `client` to `dst` over `secs`, with `threads` clients.
fn conn_round(client: &str, dst: SocketAddr, secs: f64, threads: usize) -> anyhow::Result<Round> {
    let cpu0 = busy_cpu_seconds()?;
    let n = conn_count(client, dst, secs, threads);
    let cpu = busy_cpu_seconds()? - cpu0;
    Ok(Round {
        rate: n as f64 / secs,
        cpu_us: cpu * 1e6 / (n.max(1) as f64),
    })
}

/// Median, lowest and highest.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Connections made from `client` to `dst` in `secs`, with `threads` clients.
fn conn_count(client: &str, dst: SocketAddr, secs: f64, threads: usize) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count, client) = (stop.clone(), count.clone(), client.to_string());
            std::thread::spawn(move || {
                netns::enter(&client).expect("enter client namespace");
                while !stop.load(Ordering::Relaxed) {
                    match TcpStream::connect_timeout(&dst, Duration::from_millis(500)) {
                        Ok(stream) => {
                            // Close with a reset: no TIME_WAIT, so rounds never run out of
                            // ports or meet a tuple conntrack still remembers.
                            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        // The server resets right after accepting: the connection was made.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {}
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    count.load(Ordering::Relaxed)
}

/// A server in namespace `ns` on `addr` that resets every connection it accepts. Neither
/// end closes with a FIN, so no TIME_WAIT socket is left behind: when the client's ports
/// wrap around, a new SYN never meets an old connection and waits for a retransmission
/// (a second each), which made whole rounds latency-bound. The backlog is large enough
/// for every client's SYN in flight. The thread lives until the process ends.
fn reset_server(ns: &str, addr: SocketAddr) -> anyhow::Result<()> {
    use socket2::{Domain, Socket, Type};
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let listener = (|| -> Result<Socket, String> {
            netns::enter(&ns).map_err(|e| e.to_string())?;
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| e.to_string())?;
            s.set_reuse_address(true).map_err(|e| e.to_string())?;
            s.bind(&addr.into()).map_err(|e| format!("bind {addr}: {e}"))?;
            s.listen(4096).map_err(|e| e.to_string())?;
            Ok(s)
        })();
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let _ = tx.send(Ok(()));
        while let Ok((conn, _)) = listener.accept() {
            let _ = conn.set_linger(Some(Duration::ZERO));
        }
    });
    rx.recv()?.map_err(|e| anyhow::anyhow!("bench server: {e}"))
}

/// Whether `client` can connect to `dst` (from a thread inside the client's namespace).
fn reachable(client: &str, dst: SocketAddr) -> bool {
    let client = client.to_string();
    std::thread::spawn(move || {
        netns::enter(&client).is_ok() && palisade_lab::probe::tcp_reaches(dst, Duration::from_secs(1))
    })
    .join()
    .unwrap_or(false)
}

/// A pair of pods, both isolated (egress at the source, ingress at the destination),
/// allowed on one of the destination's TCP ports.
fn isolated_allowed_pair(
    cluster: &Cluster,
    compiled: &palisade_core::Compiled,
) -> Option<(usize, usize, u16)> {
    for port in [8080u16, 5432, 6379, 9090] {
        let m = compiled.port_matrix(Protocol::Tcp, port)?;
        for (a, pa) in cluster.pods.iter().enumerate() {
            let ca = &compiled.classes[compiled.pod_class(a)];
            if ca.egress_policies.is_empty() || pa.host_network {
                continue;
            }
            for (b, pb) in cluster.pods.iter().enumerate() {
                let cb = &compiled.classes[compiled.pod_class(b)];
                if a != b
                    && !cb.ingress_policies.is_empty()
                    && pb
                        .ports
                        .iter()
                        .any(|p| p.port == port && p.protocol == Protocol::Tcp)
                    && m.get(compiled.pod_class(a), compiled.pod_class(b))
                {
                    return Some((a, b, port));
                }
            }
        }
    }
    None
}

/// Replicas added and removed in the pod-churn step.
const REPLICAS: usize = 20;

/// Sends what the node table says the kernel needs (in the node namespace).
fn apply_change(table: &NodeTable, change: &Change, sock: &mut NftSocket, node: &str) -> anyhow::Result<()> {
    match change {
        Change::Elements(d) => d.send(sock)?,
        Change::Script(s) => run_script_in(Some(node), s)?,
        Change::Replace => run_script_in(Some(node), &table.ruleset().replace_script())?,
    }
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<String> {
    let (pods, policies) = (args.pods, args.policies);
    let mut out = format!(
        "palisade-bench dataplane: {pods} pods / {policies} policies on one node, {} cores\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let text = to_json_list(generate(&Spec::total(pods, policies, 1)));
    let loaded = load(
        &[Source::Text {
            name: "synth.json".into(),
            text,
        }],
        &LoadOptions::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cluster = loaded.cluster;

    // 1. Compile + render + apply, then one pod added and removed.
    let t0 = Instant::now();
    let cc = CompiledCluster::new(&cluster, &Default::default());
    let t1 = Instant::now();
    let rs = palisade_nft::render(&cc, &Default::default());
    let t2 = Instant::now();
    palisade_lab::down(LAB)?;
    let node = format!("pal-{LAB}-node@node");
    netns::ip(&["netns", "add", &node])?;
    let result = (|| -> anyhow::Result<String> {
        let t3 = Instant::now();
        run_script_in(Some(&node), &rs.replace_script())?;
        let t4 = Instant::now();
        let mut o = format!(
            "full apply: compile {:.0} ms + render {:.0} ms + nft {:.0} ms = {:.0} ms (target < 1000 ms); {} rules, {} set and map elements\n",
            ms(t1 - t0), ms(t2 - t1), ms(t4 - t3), ms(t4 - t0), rs.rule_count(), rs.element_count()
        );
        // Pods coming and going: new replicas of existing pods, then their removal, through
        // the node table's incremental path and one netlink transaction each.
        let mut sock = NftSocket::open_in(Some(&node))?;
        let mut table = NodeTable::new(cluster.clone(), Default::default(), Default::default());
        anyhow::ensure!(
            table.ruleset() == &rs,
            "the node table renders what render renders"
        );
        let mut used: HashSet<IpAddr> = cluster.pods.iter().flat_map(|p| p.ips.clone()).collect();
        let step = (cluster.pods.len() / REPLICAS).max(1);
        let mut added = Vec::new();
        let (mut add_ms, mut del_ms, mut ops, mut twins) = (Vec::new(), Vec::new(), 0, 0);
        for i in (0..cluster.pods.len()).step_by(step).take(REPLICAS) {
            let twin = &cluster.pods[i];
            if twin.host_network {
                continue;
            }
            let mut extra = twin.clone();
            extra.name.push_str("-new");
            extra.ips = twin
                .ips
                .iter()
                .map(|ip| palisade_core::twin::address_twin(&cluster, *ip, |a| used.contains(a)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| anyhow::anyhow!("no free address near {}", twin.key()))?;
            used.extend(extra.ips.iter().copied());
            let s = Instant::now();
            let (change, path) = table.add_pod(extra.clone());
            apply_change(&table, &change, &mut sock, &node)?;
            add_ms.push(ms(s.elapsed()));
            twins += (path == Path::Twin) as usize;
            if let Change::Elements(d) = &change {
                ops += d.ops.len();
            }
            added.push(extra);
        }
        for pod in &added {
            let s = Instant::now();
            let (change, path) = table
                .remove_pod(&pod.namespace, &pod.name)
                .expect("the pod was added");
            apply_change(&table, &change, &mut sock, &node)?;
            del_ms.push(ms(s.elapsed()));
            twins += (path == Path::Twin) as usize;
        }
        anyhow::ensure!(
            table.ruleset() == &rs,
            "adding and removing the replicas restores the table"
        );
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            (v[v.len() / 2], v[v.len() - 1])
        };
        let ((a50, amax), (d50, dmax)) = (stats(&mut add_ms), stats(&mut del_ms));
        o.push_str(&format!(
            "{n} pods added then removed, one at a time (incremental path {twins} of {}, {:.1} element changes per add): add median {a50:.2} ms, max {amax:.2} ms; remove median {d50:.2} ms, max {dmax:.2} ms (target < 20 ms)\n",
            2 * added.len(),
            ops as f64 / added.len() as f64,
            n = added.len(),
        ));
        Ok(o)
    })();
    let _ = netns::ip(&["netns", "delete", &node]);
    out.push_str(&result?);

    // 2. Connections per second through the node.
    let (a, b, port) = isolated_allowed_pair(&cluster, cc.compiled())
        .ok_or_else(|| anyhow::anyhow!("no isolated allowed pair"))?;
    let sub = Cluster {
        namespaces: cluster.namespaces.clone(),
        pods: vec![cluster.pods[a].clone(), cluster.pods[b].clone()],
        policies: Vec::new(),
        externals: Vec::new(),
        nodes: Vec::new(),
        cluster_policies: Vec::new(),
        shadow_policies: Vec::new(),
        shadow_cluster_policies: Vec::new(),
    };
    let topo = Topology::plan(&sub, LAB, &[(port, Protocol::Tcp)]);
    palisade_lab::up(&topo, &[palisade_nft::Ruleset::default()])?;
    let result = (|| -> anyhow::Result<String> {
        let dst = SocketAddr::new(topo.pods[1].ips[0], port);
        reset_server(&topo.pods[1].netns, dst)?;
        let node = &topo.nodes[0].netns;
        let client = &topo.pods[0].netns;
        // A load generator's settings: reuse TIME_WAIT ports for new connections, all ports.
        netns::exec(
            client,
            "sysctl",
            &[
                "-qw",
                "net.ipv4.tcp_tw_reuse=1",
                "net.ipv4.ip_local_port_range=1024 65000",
            ],
        )?;
        let none = format!(
            "table inet {t} {{}}\ndelete table inet {t}\n",
            t = palisade_nft::TABLE
        );
        // Connection tracking alone: what any stateful firewall pays.
        let ct_only = format!(
            "{none}table inet {t} {{\n chain forward {{\n  type filter hook forward priority filter; policy accept;\n  ct state established,related accept\n  ct state invalid drop\n }}\n}}\n",
            t = palisade_nft::TABLE
        );
        let mut rounds: [Vec<Round>; 3] = Default::default();
        conn_count(client, dst, 0.3, args.clients); // warm up
        for round in 0..3 * args.rounds {
            let mode = round % 3;
            let script = match mode {
                0 => none.clone(),
                1 => rs.replace_script(),
                _ => ct_only.clone(),
            };
            run_script_in(Some(node), &script)?;
            if mode == 1 {
                // The flow must really go through the policy chains, and be allowed.
                anyhow::ensure!(reachable(client, dst), "the allowed flow does not pass");
            }
            rounds[mode].push(conn_round(client, dst, args.seconds, args.clients)?);
        }
        let mut o = format!(
            "new TCP connections {} -> {} port {port} (both isolated, allowed), {} client threads, {} interleaved rounds of {} s per mode; median [lowest, highest]:\n",
            cluster.pods[a].key(),
            cluster.pods[b].key(),
            args.clients,
            args.rounds,
            args.seconds
        );
        let mut medians = Vec::new();
        for (mode, name) in [
            (0, "no table"),
            (2, "conntrack only"),
            (1, &format!("the {}-rule ruleset", rs.rule_count())),
        ] {
            let (r, rlo, rhi) = spread(rounds[mode].iter().map(|r| r.rate).collect());
            let (c, clo, chi) = spread(rounds[mode].iter().map(|r| r.cpu_us).collect());
            o.push_str(&format!(
                "  {name}: {r:.0}/s [{rlo:.0}, {rhi:.0}]; busy CPU {c:.1} µs per connection [{clo:.1}, {chi:.1}]\n"
            ));
            medians.push((r, c));
        }
        let ((r0, c0), (r2, c2), (r1, c1)) = (medians[0], medians[1], medians[2]);
        o.push_str(&format!(
            "  ruleset (medians): {:.1} % of the no-table rate (target >= 90 %), {:.1} % of conntrack only; CPU per connection {:+.1} % against no table, {:+.1} % against conntrack only\n",
            100.0 * r1 / r0,
            100.0 * r1 / r2,
            100.0 * (c1 - c0) / c0,
            100.0 * (c1 - c2) / c2
        ));
        Ok(o)
    })();
    palisade_lab::down(LAB)?;
    out.push_str(&result?);
    Ok(out)
}
