//! One observed flow, read from a line of Palisade's flow log or of Hubble's
//! `hubble observe -o json` output.

use std::net::IpAddr;

use palisade_core::Protocol;
use palisade_nft::{FlowEnd, FlowRecord};
use serde::Deserialize;

/// One end of a flow: a pod by name, or an address no pod was named for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// `namespace/name`.
    Pod {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// An address.
    Address(IpAddr),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Peer::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// What the dataplane did with the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// Let through.
    Allowed,
    /// Dropped.
    Denied,
    /// Would have been dropped; let through in audit mode.
    Audit,
}

/// A flow as observed: its ends (with their addresses), protocol, destination port, what
/// happened and when (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The source.
    pub src: Peer,
    /// The source's address.
    pub src_ip: IpAddr,
    /// The destination.
    pub dst: Peer,
    /// The destination's address.
    pub dst_ip: IpAddr,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// The destination port.
    pub port: u16,
    /// What happened.
    pub seen: Seen,
    /// When.
    pub time: f64,
}

/// Why a line is not a flow.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not the shape of either log.
    #[error("not a Palisade or Hubble flow record: {0}")]
    Shape(String),
}

/// A line of a flow log: `Ok(None)` for a record that is not a new connection with a port
/// (a reply, an ICMP packet, a verdict that is neither allowed, dropped nor audit).
pub fn parse_line(line: &str) -> Result<Option<Observation>, ParseError> {
    // Palisade's own records first (what the agent writes); else Hubble's.
    match serde_json::from_str::<FlowRecord>(line) {
        Ok(r) => Ok(palisade(r)),
        Err(own) => hubble(line).map_err(|_| ParseError::Shape(own.to_string())),
    }
}

/// A record of Palisade's own log.
pub fn palisade(r: FlowRecord) -> Option<Observation> {
    let seen = match r.verdict {
        palisade_nft::Verdict::Allowed => Seen::Allowed,
        palisade_nft::Verdict::Denied => Seen::Denied,
        palisade_nft::Verdict::Audit => Seen::Audit,
        // A shadow record restates a connection under staged policies; the connection's
        // own record (with `--log-allowed`, or its denial) is the observation.
        palisade_nft::Verdict::ShadowDenied | palisade_nft::Verdict::ShadowAllowed => return None,
        palisade_nft::Verdict::Unknown => return None,
    };
    let peer = |e: FlowEnd| match e {
        FlowEnd::Pod { namespace, name } => Peer::Pod { namespace, name },
        FlowEnd::Address(ip) => Peer::Address(ip),
    };
    Some(Observation {
        src: peer(r.src),
        src_ip: r.src_ip,
        dst: peer(r.dst),
        dst_ip: r.dst_ip,
        protocol: r.protocol?,
        port: r.port.filter(|p| *p > 0)?,
        seen,
        time: r.time,
    })
}

// Hubble's flow (api/v1/flow/flow.proto) as `hubble observe -o json` prints it: one
// GetFlowsResponse per line, `{"flow": {...}, "node_name": …, "time": …}` (a bare flow is
// read too). Only the fields read here are declared.

#[derive(Deserialize)]
struct HubbleLine {
    flow: Option<HubbleFlow>,
}

#[derive(Deserialize)]
struct HubbleFlow {
    time: Option<String>,
    verdict: Option<String>,
    #[serde(rename = "IP")]
    ip: Option<HubbleIp>,
    l4: Option<HubbleL4>,
    source: Option<HubbleEndpoint>,
    destination: Option<HubbleEndpoint>,
    #[serde(default)]
    is_reply: Option<bool>,
}

#[derive(Deserialize)]
struct HubbleIp {
    source: IpAddr,
    destination: IpAddr,
}

#[derive(Deserialize)]
struct HubbleL4 {
    #[serde(rename = "TCP")]
    tcp: Option<HubblePorts>,
    #[serde(rename = "UDP")]
    udp: Option<HubblePorts>,
    #[serde(rename = "SCTP")]
    sctp: Option<HubblePorts>,
}

#[derive(Deserialize)]
struct HubblePorts {
    #[serde(default)]
    destination_port: u16,
}

#[derive(Deserialize)]
struct HubbleEndpoint {
    namespace: Option<String>,
    pod_name: Option<String>,
}

fn hubble(line: &str) -> Result<Option<Observation>, ParseError> {
    let shape = |e: serde_json::Error| ParseError::Shape(e.to_string());
    let flow = match serde_json::from_str::<HubbleLine>(line).map_err(shape)?.flow {
        Some(f) => f,
        // A bare flow (`hubble observe` prints responses; other tools print flows).
        None => {
            let f = serde_json::from_str::<HubbleFlow>(line).map_err(shape)?;
            if f.verdict.is_none() && f.ip.is_none() {
                return Err(ParseError::Shape("neither a Palisade nor a Hubble flow".into()));
            }
            f
        }
    };
    if flow.is_reply == Some(true) {
        return Ok(None);
    }
    let seen = match flow.verdict.as_deref() {
        Some("FORWARDED") => Seen::Allowed,
        Some("DROPPED") => Seen::Denied,
        Some("AUDIT") => Seen::Audit,
        _ => return Ok(None),
    };
    let (Some(ip), Some(l4)) = (flow.ip, flow.l4) else {
        return Ok(None);
    };
    let (protocol, ports) = match (l4.tcp, l4.udp, l4.sctp) {
        (Some(p), _, _) => (Protocol::Tcp, p),
        (_, Some(p), _) => (Protocol::Udp, p),
        (_, _, Some(p)) => (Protocol::Sctp, p),
        _ => return Ok(None),
    };
    if ports.destination_port == 0 {
        return Ok(None);
    }
    let peer = |e: Option<HubbleEndpoint>, ip: IpAddr| match e {
        Some(HubbleEndpoint {
            namespace: Some(namespace),
            pod_name: Some(name),
        }) if !namespace.is_empty() && !name.is_empty() => Peer::Pod { namespace, name },
        _ => Peer::Address(ip),
    };
    Ok(Some(Observation {
        src: peer(flow.source, ip.source),
        src_ip: ip.source,
        dst: peer(flow.destination, ip.destination),
        dst_ip: ip.destination,
        protocol,
        port: ports.destination_port,
        seen,
        time: flow.time.as_deref().map(rfc3339_seconds).unwrap_or(0.0),
    }))
}

/// Seconds since the Unix epoch of an RFC 3339 time, as protobuf's JSON writes
/// Timestamps (`2024-05-01T10:00:00.123456789Z`); 0 when it cannot be read.
fn rfc3339_seconds(t: &str) -> f64 {
    t.parse::<jiff::Timestamp>().map_or(0.0, |ts| {
        ts.as_second() as f64 + f64::from(ts.subsec_nanosecond()) / 1e9
    })
}

/// An RFC 3339 UTC time of seconds since the Unix epoch, to the second
/// (`2024-05-01T10:00:00Z`).
pub fn rfc3339(secs: f64) -> String {
    jiff::Timestamp::from_second(secs.floor() as i64).map_or_else(|_| "?".into(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hubble_flows_as_documented() {
        // The shape of `hubble observe -o json` (flow.proto's field names).
        let line = r#"{"flow":{"time":"2024-05-01T10:00:00.5Z","verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":43210,"destination_port":8080,"flags":{"SYN":true}}},"source":{"ID":12,"identity":3456,"namespace":"shop","labels":["k8s:app=frontend"],"pod_name":"frontend-7d4b9c-x2x"},"destination":{"namespace":"shop","pod_name":"backend-0"},"Type":"L3_L4","node_name":"n1","traffic_direction":"EGRESS","is_reply":false},"node_name":"n1","time":"2024-05-01T10:00:00.5Z"}"#;
        let o = parse_line(line).unwrap().unwrap();
        assert_eq!(o.src.to_string(), "shop/frontend-7d4b9c-x2x");
        assert_eq!(o.dst.to_string(), "shop/backend-0");
        assert_eq!((o.protocol, o.port, o.seen), (Protocol::Tcp, 8080, Seen::Allowed));
        // 2024-05-01T10:00:00Z is 1714557600 (date -u -d 2024-05-01T10:00:00Z +%s).
        assert_eq!(o.time, 1_714_557_600.5);
        // A reply is not a new connection; a world address stays an address.
        let reply = line.replace("\"is_reply\":false", "\"is_reply\":true");
        assert!(parse_line(&reply).unwrap().is_none());
        let world = r#"{"flow":{"verdict":"DROPPED","IP":{"source":"10.0.0.1","destination":"1.1.1.1"},"l4":{"UDP":{"source_port":5353,"destination_port":53}},"source":{"namespace":"shop","pod_name":"frontend"},"destination":{"identity":2,"labels":["reserved:world"]}}}"#;
        let o = parse_line(world).unwrap().unwrap();
        assert_eq!(
            (o.dst.to_string(), o.protocol, o.seen),
            ("1.1.1.1".to_string(), Protocol::Udp, Seen::Denied)
        );
        // ICMP has no port: not a connection to replay.
        let icmp = r#"{"flow":{"verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"ICMPv4":{"type":8}}}}"#;
        assert!(parse_line(icmp).unwrap().is_none());
        assert!(parse_line("not json").is_err());
        // Another object, or a Palisade record missing a field, is not a flow either.
        assert!(parse_line(r#"{"a":1}"#).is_err());
        assert!(parse_line(r#"{"time":1.0,"src":"x/a","verdict":"allowed"}"#).is_err());
    }

    #[test]
    fn times_print_back() {
        // date -u -d @1714557600 +%FT%TZ; date -u -d @951782400 (a leap day).
        assert_eq!(rfc3339(1_714_557_600.9), "2024-05-01T10:00:00Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_seconds(&rfc3339(951_782_400.0)), 951_782_400.0);
    }
}
