//! `palisade ui`'s JSON API on the shop, against expectations derived by hand from
//! examples/shop (see tests/narrowing.rs for the reading): the map's edges are exactly
//! analyze's allowed pairs, the matrix counts pod pairs, explain answers as
//! `palisade explain -o json`. The server is the real binary on a loopback port.

mod common;
use common::ui_server::{get, json, start, wait_for};

use std::io::Write;

use serde_json::Value;

const SHOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");

/// The map's edges as `from -> to: tcp/udp/sctp`.
fn edges(m: &Value) -> Vec<String> {
    let name = |id: &Value| {
        m["units"][id.as_u64().unwrap() as usize]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut out: Vec<String> = m["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} -> {}: {}/{}/{}",
                name(&e["from"]),
                name(&e["to"]),
                e["tcp"].as_str().unwrap(),
                e["udp"].as_str().unwrap(),
                e["sctp"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_map_shows_exactly_the_allowed_connections() {
    let s = start(&[SHOP]);
    let m = json(&s, "/api/map");
    // By hand: shop pods reach coredns on 53 (DNS egress); prometheus (no egress policy)
    // reaches coredns on everything and each shop pod's metrics port (and frontend's http,
    // open to anyone); coredns (no policy) reaches prometheus on everything and frontend's
    // http; inside shop only frontend -> backend 8080 and backend -> database 5432.
    assert_eq!(
        edges(&m),
        [
            "kube-system/coredns -> monitoring/prometheus: all/all/all",
            "kube-system/coredns -> shop/frontend: 8080/-/-",
            "monitoring/prometheus -> kube-system/coredns: all/all/all",
            "monitoring/prometheus -> shop/backend: 9090/-/-",
            "monitoring/prometheus -> shop/database: 9187/-/-",
            "monitoring/prometheus -> shop/frontend: 8080,9090/-/-",
            "shop/backend -> kube-system/coredns: 53/53/-",
            "shop/backend -> shop/database: 5432/-/-",
            "shop/database -> kube-system/coredns: 53/53/-",
            "shop/frontend -> kube-system/coredns: 53/53/-",
            "shop/frontend -> shop/backend: 8080/-/-",
        ]
    );
    assert_eq!(m["truncated"], false);
    // Narrowed: only edges with an end in monitoring; only cross-namespace ones.
    let mon = edges(&json(&s, "/api/map?namespace=monitoring"));
    assert_eq!(mon.len(), 5);
    assert!(mon.iter().all(|e| e.contains("monitoring/")));
    let cross = edges(&json(&s, "/api/map?cross_namespace=true"));
    assert_eq!(cross.len(), 9, "all but the two inside shop");
}

#[test]
fn the_matrix_counts_pod_pairs_per_namespace_pair() {
    let s = start(&[SHOP]);
    let m = json(&s, "/api/matrix");
    assert_eq!(
        m["namespaces"],
        serde_json::json!(["kube-system", "monitoring", "shop"])
    );
    // shop -> shop: 6 ordered pairs of its 3 pods, 2 allowed (frontend -> backend,
    // backend -> database); shop -> kube-system: 3 of 3 (DNS); shop -> monitoring: 0 of 3
    // (egress denied); kube-system -> shop: 1 of 3 (frontend's http).
    assert_eq!(m["pairs"][2], serde_json::json!([3, 3, 6]));
    assert_eq!(m["allowed"][2], serde_json::json!([3, 0, 2]));
    assert_eq!(m["allowed"][0], serde_json::json!([0, 1, 1]));
    assert_eq!(m["allowed"][1], serde_json::json!([1, 0, 3]));
}

#[test]
fn explain_answers_as_the_command_does() {
    let s = start(&[SHOP]);
    let e = json(&s, "/api/explain?from=shop/frontend&to=shop/database&port=5432");
    let cli = common::palisade()
        .args([
            "explain",
            SHOP,
            "--from",
            "shop/frontend",
            "--to",
            "shop/database",
            "--port",
            "5432",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(e, cli);
    assert_eq!(e["allowed"], false);
    let (status, body) = get(&s, "/api/explain?from=shop/nope&to=shop/database&port=5432");
    assert_eq!(status, 400);
    assert!(body.contains("no pod shop/nope"), "{body}");
    let (status, _) = get(&s, "/api/explain?from=shop/frontend&to=shop/database&port=0");
    assert_eq!(status, 400);
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let s = start(&[SHOP]);
    let (status, html) = get(&s, "/");
    assert_eq!(status, 200);
    assert!(html.contains("<script src=\"/app.js\">"));
    for path in ["/app.js", "/style.css", "/api/openapi.yaml"] {
        let (status, body) = get(&s, path);
        assert_eq!(status, 200, "{path}");
        assert!(!body.is_empty());
    }
    // Nothing is fetched from elsewhere: no absolute URL in the page or its script.
    let (_, js) = get(&s, "/app.js");
    for text in [&html, &js] {
        // The SVG namespace is a name, not a place anything is fetched from.
        let text = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("https://") && !text.contains("http://"),
            "external reference"
        );
    }
}

#[test]
fn coverage_reports_isolation_and_lints_findings_per_namespace() {
    let s = start(&[SHOP]);
    let c = json(&s, "/api/coverage");
    let ns = |name: &str| {
        c["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["namespace"] == name)
            .unwrap()
            .clone()
    };
    // shop: default-deny-all selects its three pods both ways; lint finds nothing.
    let shop = ns("shop");
    assert_eq!(
        (
            shop["pods"].as_u64(),
            shop["isolated_ingress"].as_u64(),
            shop["isolated_egress"].as_u64()
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(
        (
            shop["default_deny_ingress"].as_bool(),
            shop["default_deny_egress"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(shop["findings"].as_array().unwrap().len(), 0);
    // monitoring: no policy, so PAL001 and PAL002.
    let mon = ns("monitoring");
    assert_eq!(mon["default_deny_ingress"], false);
    assert_eq!(mon["default_deny_egress"], false);
    let rules: Vec<&str> = mon["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["PAL001", "PAL002"]);
    // kube-system: not looked at by the coverage rules.
    assert!(ns("kube-system")["default_deny_ingress"].is_null());
}

#[test]
fn policies_with_their_pods_and_text() {
    // The shop plus one ClusterNetworkPolicy selecting namespace shop.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cnp.yaml"),
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: freeze}\nspec:\n  tier: Admin\n  priority: 5\n  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}\n  ingress: []\n",
    )
    .unwrap();
    let cnp = dir.path().join("cnp.yaml").display().to_string();
    let s = start(&[SHOP, &cnp]);
    let list = json(&s, "/api/policies");
    let list = list.as_array().unwrap();
    assert_eq!(
        list.len(),
        9,
        "the shop's 8 NetworkPolicies and the ClusterNetworkPolicy"
    );
    // The list is short; each policy's detail is asked for by kind, namespace and name.
    let find = |name: &str| {
        let p = list.iter().find(|p| p["name"] == name).unwrap();
        let q = match p["namespace"].as_str() {
            Some(ns) => format!("kind={}&namespace={ns}&name={name}", p["kind"].as_str().unwrap()),
            None => format!("kind={}&name={name}", p["kind"].as_str().unwrap()),
        };
        let detail = json(&s, &format!("/api/policy?{q}"));
        assert_eq!(
            detail["pods"].as_array().unwrap().len() as u64,
            p["pod_count"].as_u64().unwrap()
        );
        detail
    };
    // database-ingress selects app=database: the database pod only.
    let db = find("database-ingress");
    assert_eq!(db["kind"], "NetworkPolicy");
    assert_eq!(db["pods"], serde_json::json!(["shop/database"]));
    assert!(db["source"].as_str().unwrap().ends_with("policies.yaml"));
    let yaml = db["yaml"].as_str().unwrap();
    assert!(
        yaml.contains("name: database-ingress") && yaml.contains("app: backend"),
        "{yaml}"
    );
    // default-deny-all selects every shop pod.
    assert_eq!(find("default-deny-all")["pods"].as_array().unwrap().len(), 3);
    let freeze = find("freeze");
    assert_eq!(freeze["kind"], "ClusterNetworkPolicy");
    assert_eq!(freeze["tier"], "Admin");
    assert!(freeze["namespace"].is_null());
    let mut pods: Vec<&str> = freeze["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    pods.sort();
    assert_eq!(pods, ["shop/backend", "shop/database", "shop/frontend"]);
    let (status, body) = get(&s, "/api/policy?kind=NetworkPolicy&namespace=shop&name=nope");
    assert_eq!(status, 404);
    assert!(body.contains("no NetworkPolicy shop/nope"), "{body}");
}

/// Seed 001 without allow-from-monitoring (old), and the same with the dash mistake in
/// specific-access (new): `podSelector` as its own item, so ORed with the namespaceSelector.
fn dash_mistake(dir: &std::path::Path) -> (String, String) {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seeds/001-guide.yaml"
    ))
    .unwrap();
    let old: Vec<&str> = seed
        .split("\n---")
        .filter(|d| !d.contains("name: allow-from-monitoring"))
        .collect();
    let old = old.join("\n---");
    let anded = "\n      podSelector:\n        matchLabels:\n          role: prometheus";
    assert_eq!(old.matches(anded).count(), 1, "the AND form of specific-access");
    let new = old.replace(
        anded,
        "\n    - podSelector:\n        matchLabels:\n          role: prometheus",
    );
    let (o, n) = (dir.join("old.yaml"), dir.join("new.yaml"));
    std::fs::write(&o, old).unwrap();
    std::fs::write(&n, new).unwrap();
    (o.display().to_string(), n.display().to_string())
}

#[test]
fn the_change_view_shows_what_the_dash_mistake_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = dash_mistake(dir.path());
    let s = start(&[&new, "--old", &old]);
    let c = json(&s, "/api/change");
    // By hand: ORed, the namespaceSelector admits every pod of monitoring (grafana too) to
    // backend on every port; the podSelector item (role=prometheus in your-namespace)
    // selects nothing. Nothing closes.
    let opened: Vec<(String, String, String)> = c["diff"]["opened"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["from"].as_str().unwrap().into(),
                g["to"].as_str().unwrap().into(),
                g["ports"].as_str().unwrap().into(),
            )
        })
        .collect();
    // (Groups are named by workload, else app label, else pod: backend has app=backend,
    // grafana only role=grafana.)
    assert_eq!(
        opened,
        [(
            "monitoring/grafana".to_string(),
            "your-namespace/app=backend".to_string(),
            "all".to_string()
        )]
    );
    assert_eq!(c["diff"]["closed"].as_array().unwrap().len(), 0);
    assert!(c["against"].as_str().unwrap().ends_with("old.yaml"));
    // Without --old: 404 saying how to ask.
    let plain = start(&[SHOP]);
    let (status, body) = get(&plain, "/api/change");
    assert_eq!(status, 404);
    assert!(body.contains("--old PATH or --git REV"));
}

#[test]
fn collapsed_namespaces_carry_the_union_of_their_pods_ports() {
    let s = start(&[SHOP]);
    // Every namespace collapsed: three nodes; an edge wherever some pod pair of two
    // namespaces is allowed, with the union of the ports (by hand from the edges of
    // the_map_shows_exactly_the_allowed_connections).
    let m = json(&s, "/api/map?expand=");
    assert_eq!(
        m["collapsed"],
        serde_json::json!(["kube-system", "monitoring", "shop"])
    );
    assert_eq!(
        m["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["pod_count"].as_u64().unwrap())
            .sum::<u64>(),
        5
    );
    assert_eq!(
        edges(&m),
        [
            "kube-system/* -> monitoring/*: all/all/all",
            "kube-system/* -> shop/*: 8080/-/-",
            "monitoring/* -> kube-system/*: all/all/all",
            "monitoring/* -> shop/*: 8080,9090,9187/-/-",
            "shop/* -> kube-system/*: 53/53/-",
        ]
    );
    // shop expanded, the rest collapsed.
    let m = json(&s, "/api/map?expand=shop");
    let e = edges(&m);
    assert!(
        e.contains(&"monitoring/* -> shop/database: 9187/-/-".to_string()),
        "{e:?}"
    );
    assert!(
        e.contains(&"shop/frontend -> shop/backend: 8080/-/-".to_string()),
        "{e:?}"
    );
    assert!(
        e.contains(&"shop/backend -> kube-system/*: 53/53/-".to_string()),
        "{e:?}"
    );
    // kube-system <-> monitoring (2), into shop's three workloads from kube-system (1) and
    // monitoring (3), shop's three to kube-system (3), and the two inside shop: 11.
    assert_eq!(e.len(), 11);
}

#[test]
fn the_input_is_watched_and_analysed_again() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir(&shop).unwrap();
    for f in ["namespaces.yaml", "workloads.yaml", "policies.yaml"] {
        std::fs::copy(format!("{SHOP}/{f}"), shop.join(f)).unwrap();
    }
    let s = start(&[shop.to_str().unwrap()]);
    assert_eq!(json(&s, "/api/overview")["generation"], 0);
    assert!(edges(&json(&s, "/api/map")).contains(&"shop/frontend -> shop/backend: 8080/-/-".to_string()));

    // An invalid change: the previous analysis stays, and the problem is said.
    let policies = std::fs::read_to_string(shop.join("policies.yaml")).unwrap();
    std::fs::write(
        shop.join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: [\n",
    )
    .unwrap();
    let o = wait_for(&s, |o| !o["problem"].is_null());
    assert_eq!(o["generation"], 0);
    assert!(o["problem"].as_str().unwrap().contains("broken.yaml"), "{o}");
    assert_eq!(edges(&json(&s, "/api/map")).len(), 11);

    // Fixed, and backend-ingress removed: frontend -> backend closes (backend keeps only
    // prometheus's metrics allowance).
    std::fs::remove_file(shop.join("broken.yaml")).unwrap();
    let docs: Vec<&str> = policies
        .split("\n---")
        .filter(|d| !d.contains("name: backend-ingress"))
        .collect();
    std::fs::write(shop.join("policies.yaml"), docs.join("\n---")).unwrap();
    let o = wait_for(&s, |o| {
        o["generation"].as_u64() >= Some(1) && o["problem"].is_null() && o["policies"] == 7
    });
    assert!(o["problem"].is_null());
    let e = edges(&json(&s, "/api/map"));
    assert!(
        !e.iter().any(|x| x.starts_with("shop/frontend -> shop/backend")),
        "{e:?}"
    );
    assert_eq!(e.len(), 10);
}

/// A flow-log line in the agent's shape (addresses are made up: the API names the ends
/// from `src`/`dst`, or from the address for an end outside the pods).
fn flow_line(src: &str, dst: &str, dst_ip: &str, port: u16, verdict: &str, extra: &str) -> String {
    format!(
        r#"{{"time":1.5,"src":"{src}","dst":"{dst}","src_ip":"10.0.0.1","dst_ip":"{dst_ip}","protocol":"TCP","port":{port},"verdict":"{verdict}"{extra}}}"#
    ) + "\n"
}

#[test]
fn shadow_records_are_filtered_and_named_after_the_staged_policy() {
    // An allowed connection and the shadow record of the same connection (a staged
    // monitoring/lockdown would deny it), as the agent writes them.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flows.jsonl");
    let allowed = flow_line(
        "kube-system/coredns",
        "monitoring/prometheus",
        "10.0.0.4",
        9090,
        "allowed",
        "",
    );
    let shadow = flow_line(
        "kube-system/coredns",
        "monitoring/prometheus",
        "10.0.0.4",
        9090,
        "shadow-denied",
        r#","direction":"ingress","policy":"monitoring/lockdown","isolated_by":["monitoring/lockdown"]"#,
    );
    std::fs::write(&log, format!("{allowed}{shadow}")).unwrap();
    let s = start(&[SHOP, "--flows", log.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while json(&s, "/api/flows?wait=1")["last"] != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the two flows were not read"
        );
    }
    let v = json(&s, "/api/flows?verdict=shadow-denied");
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{v}");
    assert_eq!(
        (
            &flows[0]["seq"],
            &flows[0]["policy"],
            &flows[0]["record"]["verdict"]
        ),
        (
            &Value::from(2),
            &Value::from("monitoring/lockdown"),
            &Value::from("shadow-denied")
        )
    );
    assert_eq!(
        json(&s, "/api/flows?verdict=shadow-allowed")["flows"],
        serde_json::json!([])
    );
}

#[test]
fn flows_are_numbered_named_filtered_and_long_polled() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flows.jsonl");
    let allowed = flow_line(
        "shop/frontend",
        "shop/backend",
        "10.0.0.2",
        8080,
        "allowed",
        r#","ingress":{"direction":"ingress","policy":"shop/backend-ingress","rule":0}"#,
    );
    let denied = flow_line(
        "shop/frontend",
        "8.8.8.8",
        "8.8.8.8",
        443,
        "denied",
        r#","direction":"egress","policy":"default-deny""#,
    );
    std::fs::write(&log, format!("{allowed}not a flow\n{denied}")).unwrap();
    let s = start(&[SHOP, "--flows", log.to_str().unwrap()]);
    // The file is read in the background: wait until both flows are in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let all = loop {
        let v = json(&s, "/api/flows?wait=1");
        if v["last"] == 2 || std::time::Instant::now() > deadline {
            break v;
        }
    };
    assert_eq!(all["unreadable"], 1, "{all}");
    assert_eq!(all["source"], log.to_str().unwrap());
    let seqs = |v: &Value| -> Vec<u64> {
        v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&all), [1, 2]);
    let first = &all["flows"][0];
    // The ingress rule's policy decided the allowed flow; both ends are shop's pods.
    assert_eq!(
        (&first["src"], &first["dst"], &first["policy"], &first["tier"]),
        (
            &Value::from("shop/frontend"),
            &Value::from("shop/backend"),
            &Value::from("shop/backend-ingress"),
            &Value::from("NetworkPolicy")
        )
    );
    assert_eq!(first["record"]["port"], 8080);
    // 8.8.8.8 is in no block of the shop's policies: no map endpoint.
    let second = &all["flows"][1];
    assert_eq!(
        (&second["dst"], &second["policy"]),
        (&Value::Null, &Value::from("default-deny"))
    );
    // The filters of `palisade flows`.
    assert_eq!(seqs(&json(&s, "/api/flows?verdict=denied")), [2]);
    assert_eq!(seqs(&json(&s, "/api/flows?pod=8.8.8.8")), [2]);
    assert_eq!(seqs(&json(&s, "/api/flows?pod=backend")), [1]);
    assert_eq!(seqs(&json(&s, "/api/flows?policy=shop/backend-ingress")), [1]);
    assert_eq!(
        seqs(&json(&s, "/api/flows?namespace=monitoring")),
        Vec::<u64>::new()
    );
    assert_eq!(seqs(&json(&s, "/api/flows?limit=1")), [2], "the newest");
    assert_eq!(seqs(&json(&s, "/api/flows?after=1")), [2]);
    // Long polling: a line appended while the request waits answers it at once.
    let appender = {
        let log = log.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            f.write_all(flow_line("shop/backend", "shop/database", "10.0.0.3", 5432, "audit", "").as_bytes())
                .unwrap();
        })
    };
    let t = std::time::Instant::now();
    let v = json(&s, "/api/flows?after=2&wait=10");
    let took = t.elapsed();
    appender.join().unwrap();
    assert_eq!(seqs(&v), [3]);
    assert!(
        took >= std::time::Duration::from_millis(250) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(v["flows"][0]["record"]["verdict"], "audit");
    // Nothing newer: the wait runs out with no flows, and `last` says where to go on.
    let t = std::time::Instant::now();
    let v = json(&s, "/api/flows?after=3&wait=1");
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!((seqs(&v), &v["last"]), (vec![], &Value::from(3)));
    // An unreadable query: 400 with the error as JSON.
    let (status, body) = get(&s, "/api/flows?verdict=maybe");
    assert_eq!(status, 400);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("maybe"), "{e}");
    // Without a source: 404 saying how to get one.
    let plain = start(&[SHOP]);
    let (status, body) = get(&plain, "/api/flows");
    assert_eq!(status, 404);
    assert!(body.contains("--flows FILE"), "{body}");
}

/// The map's edges as `from -> to kind[ side]`.
fn kinds(m: &Value) -> Vec<String> {
    let name = |id: &Value| {
        m["units"][id.as_u64().unwrap() as usize]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut out: Vec<String> = m["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let side = e["open_side"]
                .as_str()
                .map(|s| format!(" {s}"))
                .unwrap_or_default();
            format!(
                "{} -> {} {}{side}",
                name(&e["from"]),
                name(&e["to"]),
                e["kind"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_map_narrows_by_port_protocol_and_labels_and_shows_denied_pairs() {
    let s = start(&[SHOP]);
    // DNS is the only UDP: the shop's pods to coredns on 53, and prometheus <-> coredns
    // (neither isolated for it) on every port.
    assert_eq!(
        edges(&json(&s, "/api/map?port=53/UDP")),
        [
            "kube-system/coredns -> monitoring/prometheus: -/all/-",
            "monitoring/prometheus -> kube-system/coredns: -/all/-",
            "shop/backend -> kube-system/coredns: -/53/-",
            "shop/database -> kube-system/coredns: -/53/-",
            "shop/frontend -> kube-system/coredns: -/53/-",
        ]
    );
    assert_eq!(
        edges(&json(&s, "/api/map?protocol=UDP")),
        edges(&json(&s, "/api/map?port=53/UDP"))
    );
    // app=database: the edges with database at one end (prometheus scrapes it on 9187,
    // backend on 5432, its own DNS).
    assert_eq!(
        edges(&json(&s, "/api/map?labels=app%3Ddatabase")),
        [
            "monitoring/prometheus -> shop/database: 9187/-/-",
            "shop/backend -> shop/database: 5432/-/-",
            "shop/database -> kube-system/coredns: 53/53/-",
        ]
    );
    // Denied pairs with an end in shop: every ordered pair of shop's edges missing from
    // the allowed list (frontend reaches backend and DNS only; backend database and DNS;
    // database DNS only; of the others only coredns -> frontend 8080 and prometheus's
    // scrapes reach in).
    assert_eq!(
        kinds(&json(&s, "/api/map?pairs=denied&namespace=shop")),
        [
            "kube-system/coredns -> shop/backend denied",
            "kube-system/coredns -> shop/database denied",
            "shop/backend -> monitoring/prometheus denied",
            "shop/backend -> shop/frontend denied",
            "shop/database -> monitoring/prometheus denied",
            "shop/database -> shop/backend denied",
            "shop/database -> shop/frontend denied",
            "shop/frontend -> monitoring/prometheus denied",
            "shop/frontend -> shop/database denied",
        ]
    );
    for (q, why) in [
        ("pairs=half-open", "half-open pairs are per port"),
        ("port=80/TCP&protocol=UDP", "give one protocol"),
        ("labels=app%20in%20(a", "labels:"),
        ("port=0", "port:"),
        ("pairs=maybe", "unknown variant"),
    ] {
        let (status, body) = get(&s, &format!("/api/map?{q}"));
        assert_eq!(status, 400, "{q}");
        assert!(body.contains(why), "{q}: {body}");
    }
}

#[test]
fn the_map_shows_half_open_pairs_as_lint_does() {
    let dir = tempfile::tempdir().unwrap();
    // a may send to b on 80 (its egress rule), but b admits only c: a -> b is half-open,
    // open on the egress side. c and the other pairs have a side that is not isolated.
    std::fs::write(
        dir.path().join("x.yaml"),
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {app: c}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-out, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-in, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: c}}}], ports: [{port: 80}]}]
"#,
    )
    .unwrap();
    let s = start(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        kinds(&json(&s, "/api/map?pairs=half-open&port=80")),
        ["x/app=a -> x/app=b half-open egress"]
    );
    // On another port a's egress denies too: nothing half-open.
    assert_eq!(
        kinds(&json(&s, "/api/map?pairs=half-open&port=81")),
        Vec::<String>::new()
    );
    // a reaches nobody (b refuses it, c is not in its egress rule).
    assert_eq!(
        kinds(&json(&s, "/api/map?pairs=denied")),
        ["x/app=a -> x/app=b denied", "x/app=a -> x/app=c denied"]
    );
    // lint finds the same pair (PAL018).
    let out = common::palisade()
        .args(["lint", dir.path().to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let lint: Value = serde_json::from_slice(&out.stdout).unwrap();
    let half: Vec<&Value> = lint["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PAL018")
        .collect();
    assert_eq!(half.len(), 1, "{lint}");
}

#[test]
fn coverage_per_workload_shows_dns_and_monitoring() {
    // By hand from the fixture: app is default-deny both ways; only api may reach DNS
    // (api-dns) and only api admits the monitoring namespace on its metrics port 9100
    // (api-scraped). web is blind and cut off from DNS; lint's PAL003 says so for app.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/coverage-workloads.yaml"
    );
    let s = start(&[fixture]);
    let c = json(&s, "/api/coverage");
    let app = c["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["namespace"] == "app")
        .unwrap();
    assert_eq!(
        (&app["dns"], &app["monitoring"]),
        (&Value::from(false), &Value::from(false))
    );
    let rules: Vec<&str> = app["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["PAL003"]);
    let workload = |name: &str| {
        app["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {app}"))
            .clone()
    };
    let (api, web) = (workload("app/api"), workload("app/web"));
    assert_eq!(
        (&api["dns"], &api["monitoring"]),
        (&Value::from(true), &Value::from(true))
    );
    assert_eq!(
        (&web["dns"], &web["monitoring"]),
        (&Value::from(false), &Value::from(false))
    );
    assert_eq!(
        (&web["isolated_ingress"], &web["isolated_egress"]),
        (&Value::from(true), &Value::from(true))
    );
    // Without a metrics port there is nothing to scrape; kube-system is not checked.
    let ns = |n: &str| {
        c["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["namespace"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(ns("monitoring")["monitoring"], Value::Null);
    assert_eq!(ns("kube-system")["default_deny_ingress"], Value::Null);
}

#[test]
fn staged_policies_are_listed_as_staged() {
    // monitoring/lockdown, staged: it would isolate prometheus for ingress (no rule).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lockdown.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: lockdown\n  namespace: monitoring\n  annotations: {palisade.dev/mode: shadow}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
    )
    .unwrap();
    // And a staged ClusterNetworkPolicy whose subject is the shop namespace (by hand:
    // examples/shop's frontend, backend and database: 3 pods).
    std::fs::write(
        dir.path().join("freeze.yaml"),
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: freeze\n  annotations: {palisade.dev/mode: shadow}\nspec:\n  tier: Admin\n  priority: 5\n  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}\n  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}\n",
    )
    .unwrap();
    let s = start(&[SHOP, dir.path().to_str().unwrap()]);
    let list = json(&s, "/api/policies");
    let staged: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["staged"] == true)
        .collect();
    assert_eq!(staged.len(), 2, "{list}");
    assert_eq!(
        (&staged[0]["name"], &staged[0]["pod_count"]),
        (&Value::from("lockdown"), &Value::from(1))
    );
    assert_eq!(
        (
            &staged[1]["name"],
            &staged[1]["kind"],
            &staged[1]["tier"],
            &staged[1]["pod_count"]
        ),
        (
            &Value::from("freeze"),
            &Value::from("ClusterNetworkPolicy"),
            &Value::from("Admin"),
            &Value::from(3)
        )
    );
    // The shop's own policies are enforced; the overview counts only those.
    assert_eq!(json(&s, "/api/overview")["policies"], 8);
    let p = json(
        &s,
        "/api/policy?kind=NetworkPolicy&namespace=monitoring&name=lockdown",
    );
    assert_eq!(p["pods"], serde_json::json!(["monitoring/prometheus"]));
    assert_eq!(p["isolates"], serde_json::json!(["ingress"]));
    assert!(
        p["yaml"].as_str().unwrap().contains("palisade.dev/mode: shadow"),
        "{p}"
    );
    // Not enforced: the map still has coredns -> prometheus.
    assert!(edges(&json(&s, "/api/map"))
        .contains(&"kube-system/coredns -> monitoring/prometheus: all/all/all".to_string()));
}
