//! Property: on clusters from the synthetic generator, loaded through the real loader,
//! the fast matrix equals the direct evaluator for every pod pair, in both ipBlock modes.

use assert_cmd::Command;
use palisade_core::{allowed, compile, Endpoint, IpBlockPods, Options, Protocol};
use palisade_load::{load, LoadOptions, Source};
use palisade_synth::{generate, to_json_list, Spec};

#[test]
fn synthetic_clusters_matrix_equals_direct_evaluation() {
    let ports: [(u16, Protocol); 12] = [
        (53, Protocol::Udp),
        (53, Protocol::Tcp),
        (443, Protocol::Tcp),
        (5432, Protocol::Tcp),
        (6379, Protocol::Tcp),
        (8080, Protocol::Tcp),
        (8050, Protocol::Tcp),
        (8101, Protocol::Tcp),
        (9090, Protocol::Tcp),
        (9121, Protocol::Tcp),
        (9187, Protocol::Tcp),
        (1, Protocol::Sctp),
    ];
    for seed in 1..=4 {
        let spec = Spec {
            namespaces: 3,
            pods: 36,
            policies: 30,
            seed,
        };
        let text = to_json_list(generate(&spec));
        let loaded = load(
            &[Source::Text {
                name: "synth.json".into(),
                text,
            }],
            &LoadOptions::default(),
        )
        .unwrap();
        let c = &loaded.cluster;
        assert_eq!(c.policies.len(), 30);
        for mode in [IpBlockPods::Match, IpBlockPods::Ignore] {
            let options = Options { ipblock_pods: mode };
            let compiled = compile(c, &options);
            let mut allowed_count = 0;
            for &(port, proto) in &ports {
                let m = compiled.port_matrix(proto, port).unwrap();
                for a in 0..c.pods.len() {
                    for b in 0..c.pods.len() {
                        let want = allowed(c, &options, &Endpoint::Pod(a), &Endpoint::Pod(b), proto, port);
                        let got = a == b || m.get(compiled.pod_class(a), compiled.pod_class(b));
                        assert_eq!(
                            got,
                            want,
                            "seed {seed} {mode:?} {} -> {} {port}/{proto}",
                            c.pods[a].key(),
                            c.pods[b].key()
                        );
                        allowed_count += want as usize;
                    }
                }
            }
            // The generated policies are neither all-open nor all-closed.
            let total = ports.len() * c.pods.len() * c.pods.len();
            assert!(
                allowed_count > c.pods.len() * ports.len() && allowed_count < total,
                "{allowed_count}/{total}"
            );
        }
    }
}

/// The kubectl-like YAML form (pods with status, managedFields, env, volumes…, strict field
/// validation on) describes the same cluster as the JSON form, plus what a dump of a real
/// cluster holds besides: 50 Nodes and a hostNetwork kube-proxy pod on each. Between the
/// JSON form's pods, the same connections; the kube-proxy pods reach every pod whose
/// node they are and nothing else new.
#[test]
fn kubectl_like_yaml_reads_as_the_json_form() {
    let dir = tempfile::tempdir().unwrap();
    let summary = |format: &str| {
        let out = Command::cargo_bin("palisade")
            .unwrap()
            .args([
                "synth",
                "--pods",
                "300",
                "--policies",
                "60",
                "--seed",
                "5",
                "-o",
                format,
            ])
            .output()
            .unwrap();
        let file = dir.path().join(format!("c.{format}"));
        std::fs::write(&file, &out.stdout).unwrap();
        let out = Command::cargo_bin("palisade")
            .unwrap()
            .args(["analyze", "-o", "csv", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (
            String::from_utf8(out.stdout).unwrap(),
            std::fs::metadata(&file).unwrap().len(),
        )
    };
    let (json, json_bytes) = summary("json");
    let (yaml, yaml_bytes) = summary("kubectl-yaml");
    let proxy = |l: &&str| l.contains("kube-system/kube-proxy-node-");
    let without: Vec<&str> = yaml.lines().filter(|l| !proxy(l)).collect();
    assert_eq!(json.lines().collect::<Vec<_>>(), without);
    // By hand: each of the 300 isolated pods and the kube-proxy of its node, both ways, 3
    // protocols (1,800 lines), plus the 3 pods no policy isolates with all 50 kube-proxies,
    // both ways, 3 protocols (900 lines).
    let one_side = yaml
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[0].contains("kube-proxy-node-") != f[1].contains("kube-proxy-node-")
        })
        .count();
    assert_eq!(one_side, 2700);
    assert!(
        yaml_bytes > 3 * json_bytes,
        "the bulk is there: {yaml_bytes} vs {json_bytes}"
    );
}
