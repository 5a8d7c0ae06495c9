//! Probing every ordered pod pair with real connections, from inside the source pod's
//! namespace: TCP connect, UDP request and echo. A refusal (RST or ICMP port unreachable)
//! means the packet got through, so it counts as allowed.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_core::Protocol;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::lab::LabError;
use crate::netns;
use crate::topology::{LabPod, Topology};

/// How long a probe waits for an answer before calling the flow denied.
pub const TIMEOUT: Duration = Duration::from_millis(400);

fn target(src: &LabPod, dst: &LabPod) -> Option<IpAddr> {
    dst.ips
        .iter()
        .find(|d| src.ips.iter().any(|s| s.is_ipv4() == d.is_ipv4()))
        .copied()
}

/// Whether a TCP connection to `dst` gets through: established, refused (RST to the
/// SYN), or reset by the listener right after accepting all mean the packets passed.
pub fn tcp_reaches(dst: SocketAddr, timeout: Duration) -> bool {
    match TcpStream::connect_timeout(&dst, timeout) {
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
        ),
    }
}

/// Whether a TCP connection from `src` (an address of this namespace) gets through.
fn tcp_reaches_from(src: IpAddr, dst: SocketAddr, timeout: Duration) -> bool {
    let domain = if dst.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let Ok(s) = Socket::new(domain, Type::STREAM, Some(SockProtocol::TCP)) else {
        return false;
    };
    if s.bind(&SocketAddr::new(src, 0).into()).is_err() {
        return false;
    }
    match s.connect_timeout(&dst.into(), timeout) {
        Ok(()) => true,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
        ),
    }
}

/// Probes `dst` from this namespace; `src` is the source address to use when the
/// namespace holds several (a node's, for a hostNetwork pod).
fn probe_one(src: Option<IpAddr>, dst: IpAddr, port: u16, proto: Protocol) -> bool {
    let addr = SocketAddr::new(dst, port);
    match proto {
        Protocol::Tcp => match src {
            Some(src) => tcp_reaches_from(src, addr, TIMEOUT),
            None => tcp_reaches(addr, TIMEOUT),
        },
        Protocol::Udp => {
            let any: IpAddr = if dst.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                Ipv6Addr::UNSPECIFIED.into()
            };
            let Ok(s) = UdpSocket::bind(SocketAddr::new(src.unwrap_or(any), 0)) else {
                return false;
            };
            if s.connect(addr).is_err() {
                return false;
            }
            let _ = s.set_read_timeout(Some(TIMEOUT / 2));
            let mut buf = [0u8; 64];
            for _ in 0..2 {
                if s.send(b"palisade-probe").is_err() {
                    return false;
                }
                match s.recv(&mut buf) {
                    Ok(_) => return true,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => return true,
                    Err(_) => {}
                }
            }
            false
        }
        Protocol::Sctp => false,
    }
}

/// `result[src][dst]` for every ordered pair of the lab's pods, probed in parallel.
pub fn matrix(topo: &Topology, port: u16, proto: Protocol) -> Result<Vec<Vec<bool>>, LabError> {
    if proto == Protocol::Sctp {
        return Err(LabError::Probe(
            "SCTP cannot be probed here (the kernel has no SCTP sockets); check SCTP rules with `dataplane render`".into(),
        ));
    }
    let n = topo.pods.len();
    let jobs: Vec<(usize, usize)> = (0..n).flat_map(|a| (0..n).map(move |b| (a, b))).collect();
    let out = Arc::new(Mutex::new(vec![vec![false; n]; n]));
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let workers = jobs.len().clamp(1, 256);
    let jobs = Arc::new(jobs);
    let topo = Arc::new(topo.clone());
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (jobs, out, next, errors, topo) = (
                jobs.clone(),
                out.clone(),
                next.clone(),
                errors.clone(),
                topo.clone(),
            );
            std::thread::spawn(move || loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(a, b)) = jobs.get(j) else { break };
                let (src, dst) = (&topo.pods[a], &topo.pods[b]);
                if let Err(e) = netns::enter(&src.netns) {
                    errors.lock().expect("lock").push(e.to_string());
                    continue;
                }
                let ok = target(src, dst).is_some_and(|ip| {
                    let from = src
                        .host_network
                        .then(|| src.ips.iter().copied().find(|s| s.is_ipv4() == ip.is_ipv4()))
                        .flatten();
                    probe_one(from, ip, port, proto)
                });
                out.lock().expect("lock")[a][b] = ok;
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    if let Some(e) = errors.lock().expect("lock").first() {
        return Err(LabError::Probe(e.clone()));
    }
    let m = out.lock().expect("lock").clone();
    Ok(m)
}
