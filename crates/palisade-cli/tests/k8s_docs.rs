//! The examples of the Kubernetes NetworkPolicy documentation (concepts/services-networking/
//! network-policies), analysed end to end. Expected tables are derived by hand in the comments.

mod common;
use common::*;

const DOCS_POLICY: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
"#;

fn docs_cluster() -> String {
    [
        namespace("myproject", "{project: myproject}"),
        namespace("other", "{}"),
        pod("default", "db", "{role: db}", "10.244.0.10"),
        pod("default", "frontend", "{role: frontend}", "10.244.0.2"),
        pod("default", "other", "{role: other}", "172.17.0.5"),
        pod("default", "excepted", "{role: other}", "172.17.1.5"),
        pod("default", "target", "{role: target}", "10.0.0.5"),
        pod("myproject", "client", "{}", "10.244.1.2"),
        pod("other", "frontend", "{role: frontend}", "10.244.2.2"),
        DOCS_POLICY.to_string(),
    ]
    .concat()
}

const NOT_DB: [&str; 6] = [
    "default/excepted",
    "default/frontend",
    "default/other",
    "default/target",
    "myproject/client",
    "other/frontend",
];

#[test]
fn docs_example_ingress_6379() {
    // Only default/db is selected. Into db on 6379: default/frontend (podSelector, same
    // namespace), default/other (172.17.0.5 is in the ipBlock; pods match in `match` mode),
    // myproject/client (namespaceSelector). Not: default/excepted (172.17.1.0/24 is
    // excepted), other/frontend (podSelector alone means the policy's namespace),
    // default/target. db's egress only allows 5978, so db reaches nobody on 6379.
    // Every pair not involving db is open (those pods are not isolated).
    let mut want = all_pairs(&NOT_DB);
    want.extend(pairs(&[
        ("default/frontend", "default/db"),
        ("default/other", "default/db"),
        ("myproject/client", "default/db"),
    ]));
    assert_eq!(allowed_pairs(&port_json(&docs_cluster(), "6379/TCP", &[])), want);
    // With ipBlock ignoring pod IPs, default/other loses its way in.
    want.remove(&("default/other".to_string(), "default/db".to_string()));
    assert_eq!(
        allowed_pairs(&port_json(
            &docs_cluster(),
            "6379/TCP",
            &["--ipblock-pods", "ignore"]
        )),
        want
    );
}

#[test]
fn docs_example_egress_5978() {
    // db may open 5978 to 10.0.0.0/24: default/target (10.0.0.5) only, and only when
    // ipBlock matches pod IPs. Nothing may enter db on 5978 (ingress allows 6379 only).
    let mut want = all_pairs(&NOT_DB);
    want.insert(("default/db".into(), "default/target".into()));
    assert_eq!(allowed_pairs(&port_json(&docs_cluster(), "5978/TCP", &[])), want);
    want.remove(&("default/db".to_string(), "default/target".to_string()));
    assert_eq!(
        allowed_pairs(&port_json(
            &docs_cluster(),
            "5978/TCP",
            &["--ipblock-pods", "ignore"]
        )),
        want
    );
}

#[test]
fn docs_example_other_protocol() {
    // UDP 6379 is not TCP: nothing reaches db, db reaches nothing.
    assert_eq!(
        allowed_pairs(&port_json(&docs_cluster(), "6379/UDP", &[])),
        all_pairs(&NOT_DB)
    );
}

fn xy(policy: &str) -> String {
    [
        namespace("x", "{}"),
        namespace("y", "{}"),
        pod("x", "a", "{app: a}", "10.244.0.1"),
        pod("x", "b", "{app: b}", "10.244.0.2"),
        pod("y", "c", "{app: c}", "10.244.1.1"),
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: x\nspec:\n{policy}"),
    ]
    .concat()
}

#[test]
fn docs_default_policies() {
    let all = all_pairs(&["x/a", "x/b", "y/c"]);
    let m = |p: &str| allowed_pairs(&port_json(&xy(p), "80/TCP", &[]));
    // default-deny-ingress: nothing may enter x's pods; x's pods may still go out to y.
    assert_eq!(
        m("  podSelector: {}\n  policyTypes: [Ingress]\n"),
        pairs(&[("x/a", "y/c"), ("x/b", "y/c")])
    );
    // The same with `ingress: []` and no policyTypes (Ingress is always implied).
    assert_eq!(
        m("  podSelector: {}\n  ingress: []\n"),
        pairs(&[("x/a", "y/c"), ("x/b", "y/c")])
    );
    // allow-all-ingress: `ingress: [{}]` selects everything and allows everything.
    assert_eq!(m("  podSelector: {}\n  ingress:\n  - {}\n"), all);
    // default-deny-egress: x's pods may not open anything; y may still reach x.
    assert_eq!(
        m("  podSelector: {}\n  policyTypes: [Egress]\n"),
        pairs(&[("y/c", "x/a"), ("y/c", "x/b")])
    );
    // allow-all-egress.
    assert_eq!(
        m("  podSelector: {}\n  egress:\n  - {}\n  policyTypes: [Egress]\n"),
        all
    );
    // default-deny-all: only y/c is left, and it is alone in y.
    assert_eq!(
        m("  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"),
        pairs(&[])
    );
    // Egress rules without policyTypes mean Ingress AND Egress: x's pods lose all ingress
    // (no ingress rules), and may go out only to x's pods, which refuse it.
    assert_eq!(
        m("  podSelector: {}\n  egress:\n  - to:\n    - podSelector: {}\n"),
        pairs(&[])
    );
    // A policy selecting only app=a leaves b open.
    assert_eq!(
        m("  podSelector:\n    matchLabels: {app: a}\n  policyTypes: [Ingress]\n"),
        pairs(&[("x/a", "x/b"), ("x/a", "y/c"), ("x/b", "y/c"), ("y/c", "x/b")])
    );
}

fn and_or(from: &str) -> String {
    [
        namespace("alice-ns", "{user: alice}"),
        namespace("bob-ns", "{user: bob}"),
        pod("default", "server", "{app: server}", "10.244.0.1"),
        pod("default", "client", "{role: client}", "10.244.0.2"),
        pod("alice-ns", "client", "{role: client}", "10.244.1.1"),
        pod("alice-ns", "other", "{role: other}", "10.244.1.2"),
        pod("bob-ns", "client", "{role: client}", "10.244.2.1"),
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: default\nspec:\n  podSelector:\n    matchLabels: {{app: server}}\n  ingress:\n  - from:\n{from}"
        ),
    ]
    .concat()
}

#[test]
fn docs_and_versus_or() {
    let others = [
        "alice-ns/client",
        "alice-ns/other",
        "bob-ns/client",
        "default/client",
    ];
    let mut base = all_pairs(&others);
    for o in others {
        base.insert(("default/server".into(), o.into())); // server's egress is open
    }
    // One item with both selectors: pods labelled role=client in namespaces user=alice.
    let and = and_or("    - namespaceSelector:\n        matchLabels: {user: alice}\n      podSelector:\n        matchLabels: {role: client}\n");
    let mut want = base.clone();
    want.insert(("alice-ns/client".into(), "default/server".into()));
    assert_eq!(allowed_pairs(&port_json(&and, "80/TCP", &[])), want);
    // Two items: every pod of user=alice namespaces, OR role=client pods of the policy's
    // own namespace (default) — bob-ns/client matches neither.
    let or = and_or("    - namespaceSelector:\n        matchLabels: {user: alice}\n    - podSelector:\n        matchLabels: {role: client}\n");
    let mut want = base;
    want.extend(pairs(&[
        ("alice-ns/client", "default/server"),
        ("alice-ns/other", "default/server"),
        ("default/client", "default/server"),
    ]));
    assert_eq!(allowed_pairs(&port_json(&or, "80/TCP", &[])), want);
}

#[test]
fn docs_namespace_by_name_label() {
    // Namespaces that are only referenced still carry kubernetes.io/metadata.name.
    let y = [
        pod("x", "a", "{}", "10.244.0.1"),
        pod("y", "b", "{}", "10.244.1.1"),
        pod("z", "c", "{}", "10.244.2.1"),
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: y\n".to_string(),
    ]
    .concat();
    let want = pairs(&[
        ("x/a", "y/b"),
        ("x/a", "z/c"),
        ("y/b", "x/a"),
        ("y/b", "z/c"),
        ("z/c", "y/b"),
    ]);
    assert_eq!(allowed_pairs(&port_json(&y, "80/TCP", &[])), want);
}

#[test]
fn docs_end_port_range() {
    // multi-port-egress: TCP 32000-32768 to 10.0.0.0/24.
    let c = [
        pod("default", "db", "{role: db}", "10.244.0.1"),
        pod("default", "target", "{}", "10.0.0.7"),
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: multi-port-egress, namespace: default}\nspec:\n  podSelector:\n    matchLabels: {role: db}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/24}\n    ports:\n    - {protocol: TCP, port: 32000, endPort: 32768}\n".to_string(),
    ]
    .concat();
    for (port, ok) in [
        ("31999", false),
        ("32000", true),
        ("32500", true),
        ("32768", true),
        ("32769", false),
    ] {
        let got = allowed_pairs(&port_json(&c, port, &[]));
        assert_eq!(
            got.contains(&("default/db".into(), "default/target".into())),
            ok,
            "port {port}"
        );
        assert!(
            got.contains(&("default/target".into(), "default/db".into())),
            "ingress to db is open"
        );
    }
}
