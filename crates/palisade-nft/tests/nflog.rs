//! Root test: the flow log reader receives NFLOG records promptly, in the namespace it
//! was opened in.

use std::fs::File;
mod common;
use common::Netns;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use palisade_nft::flowlog::FlowLog;

#[test]
fn nflog_records_arrive_at_once() {
    if !common::root_or_skip("reads NFLOG in a network namespace") {
        return;
    }
    let ns = Netns::new("pal-nflogtest");
    assert!(Command::new("ip")
        .args(["-n", ns.0, "link", "set", "lo", "up"])
        .status()
        .unwrap()
        .success());
    let rules = "table inet t {
  chain out {
    type filter hook output priority 0;
    udp dport 9999 log prefix \"D:i:7 \" group 42
  }
}
";
    palisade_nft::apply::run_script_in(Some(ns.0), rules).unwrap();
    let name = ns.0;
    let got = std::thread::spawn(move || {
        setns(
            File::open(format!("/run/netns/{name}")).unwrap(),
            CloneFlags::CLONE_NEWNET,
        )
        .unwrap();
        let mut log = FlowLog::open(42).unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"x", "127.0.0.1:9999").unwrap();
        let start = Instant::now();
        let mut recs = Vec::new();
        while recs.is_empty() && start.elapsed() < Duration::from_secs(3) {
            recs.extend(log.read(Duration::from_millis(20)).unwrap());
        }
        (recs, start.elapsed())
    })
    .join()
    .unwrap();
    let (recs, took) = got;
    assert_eq!(recs.len(), 1, "one record");
    assert_eq!(recs[0].prefix, "D:i:7");
    assert_eq!(recs[0].port, Some(9999));
    assert!(took < Duration::from_millis(300), "delivered in {took:?}");
}
