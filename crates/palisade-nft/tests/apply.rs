//! Root test: a rejected ruleset leaves the installed one in force, and element updates
//! apply in place.

mod common;
use common::{list, Netns};

use palisade_core::ip::Family;
use palisade_nft::apply::run_script_in;
use palisade_nft::{ElementDelta, ElementOp, End, Expr, Rule};

fn shop(extra: &str) -> palisade_nft::Ruleset {
    let dir = format!("{}/../../examples/shop", env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![palisade_load::Source::Path(dir.into())];
    if !extra.is_empty() {
        sources.push(palisade_load::Source::Text {
            name: "extra.yaml".into(),
            text: extra.into(),
        });
    }
    let loaded = palisade_load::load(&sources, &Default::default()).unwrap();
    let cc = palisade_core::CompiledCluster::new(&loaded.cluster, &Default::default());
    palisade_nft::render(&cc, &Default::default())
}

#[test]
fn failed_apply_keeps_the_old_rules() {
    if !common::root_or_skip("applies nftables tables in a network namespace") {
        return;
    }
    let ns = Netns::new("pal-applytest");
    let good = shop("");
    run_script_in(Some(ns.0), &good.replace_script()).unwrap();
    let before = list(ns.0);
    assert!(
        before.contains("chain ingress") && before.contains("chain egress"),
        "{before}"
    );
    // A broken ruleset: one rule refers to a set that does not exist.
    let mut bad = good.clone();
    bad.chains.values_mut().next().unwrap().insert(
        0,
        Rule::of([
            Expr::InSet {
                family: Family::V4,
                end: End::Source,
                set: "nosuchset".into(),
            },
            Expr::Accept,
        ]),
    );
    let err = run_script_in(Some(ns.0), &bad.replace_script()).unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    assert_eq!(list(ns.0), before, "the old table is untouched");
    // An element update applies in place: a new backend replica joins the backend's set.
    let more = shop(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: backend-2, namespace: shop, labels: {app: backend, tier: api}}\nspec: {containers: [{name: api, image: x, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]}]}\nstatus: {podIP: 10.244.200.1}\n",
    );
    let delta = ElementDelta::between(&good, &more).expect("only elements changed");
    delta.apply_in(Some(ns.0)).unwrap();
    let after = list(ns.0);
    assert!(after.contains("10.244.200.1"), "{after}");
    // The kernel now holds what a fresh apply of the new ruleset holds.
    let fresh = Netns::new("pal-applyfresh");
    run_script_in(Some(fresh.0), &more.replace_script()).unwrap();
    assert_eq!(after, list(fresh.0));
    // A rejected element update (a chain that does not exist) changes nothing.
    let mut wrong = delta.clone();
    wrong.ops.push(ElementOp::AddEntry {
        map: "ingress4".into(),
        ip: "10.244.200.2".parse().unwrap(),
        chain: "nosuchchain".into(),
    });
    wrong.ops.insert(
        0,
        ElementOp::DelEntry {
            map: "ingress4".into(),
            ip: "10.244.200.1".parse().unwrap(),
        },
    );
    let err = wrong.apply_in(Some(ns.0)).unwrap_err();
    assert!(err.to_string().contains("message"), "{err}");
    assert_eq!(list(ns.0), after, "a failed element update changes nothing");
}
