//! What the lab is compared with: the lab's plan (the cluster with every pod placed on a
//! lab node, its compiled form, the topology and each node's ruleset), the engine's
//! prediction for the lab's pods, and the pairs where what packets did differs from it.

use palisade_core::{Cluster, Compiled, CompiledCluster, Options as EngineOptions, Protocol};

use crate::lab::{check_name, LabError};
use crate::topology::Topology;

/// A lab planned from a cluster: what `up` builds and what probes are judged against.
pub struct Plan {
    /// The cluster, every pod on the lab node it will live in.
    pub cluster: Cluster,
    /// Its compiled form: what the probes are predicted from.
    pub compiled: Compiled,
    /// The namespaces, addresses and listeners to build.
    pub topo: Topology,
    /// Each node's table: the policies enforced for that node's own pods.
    pub rulesets: Vec<palisade_nft::Ruleset>,
}

impl Plan {
    /// Plans lab `name` for `cluster` with `extra` listener ports on every pod; `rules`
    /// gives the dataplane options (its `node` is set per lab node).
    pub fn new(
        name: &str,
        mut cluster: Cluster,
        engine: &EngineOptions,
        rules: &palisade_nft::Options,
        extra: &[(u16, Protocol)],
    ) -> Result<Plan, LabError> {
        check_name(name)?;
        let topo = Topology::plan(&cluster, name, extra);
        // Pods without a node sit on the first node; the dataplane must agree.
        for pod in &mut cluster.pods {
            if let Some(lp) = topo.pods.iter().find(|lp| lp.key == pod.key()) {
                pod.node = Some(topo.nodes[lp.node].name.clone());
            }
        }
        let cc = CompiledCluster::new(&cluster, engine);
        let rulesets = topo
            .nodes
            .iter()
            .map(|n| {
                let mut o = rules.clone();
                o.node = Some(n.name.clone());
                palisade_nft::render(&cc, &o)
            })
            .collect();
        let compiled = cc.into_compiled();
        Ok(Plan {
            cluster,
            compiled,
            topo,
            rulesets,
        })
    }

    /// The engine's prediction for the lab's pods on one port: `[from][to]` in topology
    /// order. A pod reaches itself; a node's own traffic with its pods is always allowed.
    pub fn predicted(&self, port: u16, proto: Protocol) -> Vec<Vec<bool>> {
        let m = self.compiled.port_matrix(proto, port).expect("port is 1-65535");
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for (i, p) in self.cluster.pods.iter().enumerate() {
            index.entry(p.key()).or_insert(i);
        }
        let idx: Vec<usize> = self.topo.pods.iter().map(|lp| index[&lp.key]).collect();
        idx.iter()
            .map(|&a| {
                idx.iter()
                    .map(|&b| {
                        a == b
                            || m.get(self.compiled.pod_class(a), self.compiled.pod_class(b))
                            || self.compiled.node_local(a, b)
                    })
                    .collect()
            })
            .collect()
    }
}

/// One ordered pair where packets disagreed with the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The source pod (index into the topology's pods).
    pub from: usize,
    /// The destination pod.
    pub to: usize,
    /// What the packets did (allowed or not); the prediction said the opposite.
    pub observed: bool,
}

/// The pairs where `observed` and `predicted` differ, row by row.
pub fn differences(observed: &[Vec<bool>], predicted: &[Vec<bool>]) -> Vec<Difference> {
    let mut out = Vec::new();
    for (a, row) in observed.iter().enumerate() {
        for (b, ok) in row.iter().enumerate() {
            if *ok != predicted[a][b] {
                out.push(Difference {
                    from: a,
                    to: b,
                    observed: *ok,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_pairs_that_disagree() {
        let observed = vec![vec![true, false], vec![true, true]];
        let predicted = vec![vec![true, true], vec![false, true]];
        assert_eq!(
            differences(&observed, &predicted),
            vec![
                Difference {
                    from: 0,
                    to: 1,
                    observed: false
                },
                Difference {
                    from: 1,
                    to: 0,
                    observed: true
                },
            ]
        );
        assert!(differences(&observed, &observed).is_empty());
    }
}
