//! Connections replayed against a policy set through the compiled form (the report
//! `analyze` prints): for each, whether the set allows it; against two sets, the real
//! connections a change would cut and those it would newly allow.

use std::collections::HashMap;
use std::net::IpAddr;

use palisade_core::report::{Report, TooManyClasses};
use palisade_core::{compile, Cidr, Cluster, External, Options};

use crate::connections::{Connection, Connections, Key};
use crate::observed::Peer;

/// A connection with the verdicts of the two sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Replayed {
    /// What it is.
    pub key: Key,
    /// How it was seen.
    pub seen: Connection,
}

/// What a change does to observed traffic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Connections the old set allowed and the new one denies.
    pub cut: Vec<Replayed>,
    /// Connections the old set denied and the new one allows.
    pub opened: Vec<Replayed>,
    /// Connections neither set can judge: both ends outside the pods.
    pub unjudged: usize,
    /// Distinct connections replayed.
    pub connections: usize,
    /// Flow records they came from.
    pub records: u64,
}

/// Whether `cluster` allows each connection (in `conns.iter()` order); `None` for one
/// between two addresses outside the pods (the policies judge pods).
pub fn verdicts(
    cluster: &Cluster,
    options: &Options,
    conns: &Connections,
) -> Result<Vec<Option<bool>>, TooManyClasses> {
    // Pods by name and by address; every other address becomes a one-address external.
    let by_name: HashMap<(&str, &str), usize> = cluster
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.namespace.as_str(), p.name.as_str()), i))
        .collect();
    let mut by_ip: HashMap<IpAddr, usize> = HashMap::new();
    for (i, p) in cluster.pods.iter().enumerate() {
        if p.host_network {
            continue;
        }
        for ip in &p.ips {
            by_ip.entry(*ip).or_insert(i);
        }
    }
    let mut with = cluster.clone();
    let mut external: HashMap<IpAddr, usize> = HashMap::new();
    let mut end = |peer: &Peer, ip: IpAddr, with: &mut Cluster| -> (usize, bool) {
        let pod = match peer {
            Peer::Pod { namespace, name } => by_name.get(&(namespace.as_str(), name.as_str())).copied(),
            Peer::Address(a) => by_ip.get(a).copied(),
        };
        if let Some(i) = pod {
            return (i, true);
        }
        let next = with.externals.len();
        let e = *external.entry(ip).or_insert_with(|| {
            with.externals.push(External {
                name: format!("observed {ip}"),
                cidr: Cidr::host(ip),
            });
            next
        });
        (e, false)
    };
    let ends: Vec<((usize, bool), (usize, bool))> = conns
        .iter()
        .map(|(k, c)| (end(&k.src, c.src_ip, &mut with), end(&k.dst, c.dst_ip, &mut with)))
        .collect();
    let compiled = compile(&with, options);
    let report = Report::build(&with, &compiled)?;
    let pods = with.pods.len();
    let index = |(i, is_pod): (usize, bool)| if is_pod { i } else { pods + i };
    Ok(conns
        .iter()
        .zip(ends)
        .map(|((k, _), (s, d))| {
            if !s.1 && !d.1 {
                return None;
            }
            let (x, y) = (index(s), index(d));
            Some(
                x == y
                    || report
                        .ranges(x, y, k.protocol)
                        .iter()
                        .any(|&(lo, hi)| lo <= k.port && k.port <= hi),
            )
        })
        .collect())
}

/// The observed connections `new` would cut (`old` allowed them) and newly allow.
pub fn replay(
    old: &Cluster,
    new: &Cluster,
    options: &Options,
    conns: &Connections,
) -> Result<Replay, TooManyClasses> {
    let before = verdicts(old, options, conns)?;
    let after = verdicts(new, options, conns)?;
    let mut r = Replay {
        connections: conns.len(),
        records: conns.records,
        ..Default::default()
    };
    for (((k, c), b), a) in conns.iter().zip(before).zip(after) {
        let replayed = || Replayed {
            key: k.clone(),
            seen: c.clone(),
        };
        match (b, a) {
            (Some(true), Some(false)) => r.cut.push(replayed()),
            (Some(false), Some(true)) => r.opened.push(replayed()),
            (None, _) | (_, None) => r.unjudged += 1,
            _ => {}
        }
    }
    Ok(r)
}
