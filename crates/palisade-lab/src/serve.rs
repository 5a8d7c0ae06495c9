//! Listeners inside pod namespaces: TCP accept-and-close, UDP echo.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::mpsc;

use crate::lab::LabError;
use crate::netns;
use crate::topology::Topology;

/// Starts a listener thread for every declared port of every pod and returns once all
/// are bound. Threads run until the process ends.
pub fn start(topo: &Topology) -> Result<usize, LabError> {
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let mut n = 0;
    // `[::]` also takes IPv4 (IPV6_V6ONLY is off by default); a hostNetwork pod listens on
    // its own addresses only, as pods sharing a node's namespace must not collide.
    let mut bound: HashSet<(String, String, u16, String)> = HashSet::new();
    for pod in &topo.pods {
        let hosts: Vec<String> = if pod.host_network {
            pod.ips.iter().map(|ip| ip.to_string()).collect()
        } else {
            vec!["::".to_string()]
        };
        for ((port, proto), host) in pod.ports.iter().flat_map(|pp| hosts.iter().map(move |h| (pp, h))) {
            if proto == "SCTP" {
                continue; // no SCTP sockets on this kernel: SCTP rules are checked by inspection
            }
            if !bound.insert((pod.netns.clone(), host.clone(), *port, proto.clone())) {
                continue;
            }
            n += 1;
            let addr = SocketAddr::new(host.parse().expect("an address"), *port);
            let (ns, port, proto, tx) = (pod.netns.clone(), *port, proto.clone(), tx.clone());
            std::thread::spawn(move || {
                if let Err(e) = netns::enter(&ns) {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
                if proto == "UDP" {
                    match UdpSocket::bind(addr) {
                        Ok(s) => {
                            let _ = tx.send(Ok(()));
                            let mut buf = [0u8; 512];
                            while let Ok((len, from)) = s.recv_from(&mut buf) {
                                let _ = s.send_to(&buf[..len], from);
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("{ns} udp {port}: {e}")));
                        }
                    }
                } else {
                    match TcpListener::bind(addr) {
                        Ok(l) => {
                            let _ = tx.send(Ok(()));
                            for c in l.incoming().flatten() {
                                drop(c);
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("{ns} tcp {port}: {e}")));
                        }
                    }
                }
            });
        }
    }
    drop(tx);
    for _ in 0..n {
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LabError::Probe(format!("listener: {e}"))),
            Err(_) => return Err(LabError::Probe("listener thread died".into())),
        }
    }
    Ok(n)
}
