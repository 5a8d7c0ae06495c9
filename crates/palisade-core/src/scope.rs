//! Narrowing an answer to the endpoints a user cares about, as `--from` and `--to` name
//! them: `NAMESPACE`, `NAMESPACE/POD`, `NAMESPACE/*` (`*` matches any run of characters in
//! either part), or an external block's name; and a label selector in kubectl's `-l`
//! syntax (`app=web,tier!=db,env in (a,b),!legacy`), which only pods can meet. Several
//! names are ORed; names and the selector are ANDed (as `kubectl get -n NS -l SEL`).

use crate::{Cluster, External, LabelSelector, Operator, Pod, Requirement};

/// One name pattern of `--from`/`--to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// `NAMESPACE` (a bare word): the namespace's pods, or the external block of that name.
    Bare(String),
    /// `NAMESPACE/POD`, either part a glob.
    Pod {
        /// Namespace glob.
        namespace: String,
        /// Pod name glob.
        pod: String,
    },
}

/// Which endpoints one side of a pair may be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointFilter {
    /// Any of these (none: every endpoint).
    pub who: Vec<Who>,
    /// And these labels (pods only).
    pub labels: Option<LabelSelector>,
}

/// `*` matches any run of characters; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Who {
    /// Reads one `--from`/`--to` value.
    pub fn parse(s: &str) -> Result<Who, String> {
        if s.is_empty() {
            return Err("an empty name".into());
        }
        match s.split_once('/') {
            None => Ok(Who::Bare(s.to_string())),
            Some((ns, pod)) if !ns.is_empty() && !pod.is_empty() && !pod.contains('/') => Ok(Who::Pod {
                namespace: ns.to_string(),
                pod: pod.to_string(),
            }),
            Some(_) => Err(format!("{s:?}: expected NAMESPACE, NAMESPACE/POD or NAMESPACE/*")),
        }
    }
}

impl EndpointFilter {
    /// The filter of `names` (ORed) and `labels` (kubectl `-l` syntax).
    pub fn parse(names: &[String], labels: Option<&str>) -> Result<EndpointFilter, String> {
        Ok(EndpointFilter {
            who: names.iter().map(|n| Who::parse(n)).collect::<Result<_, _>>()?,
            labels: labels.map(parse_selector).transpose()?,
        })
    }

    /// Whether it lets everything through.
    pub fn is_all(&self) -> bool {
        self.who.is_empty() && self.labels.is_none()
    }

    /// Whether pod `p` passes.
    pub fn pod(&self, p: &Pod) -> bool {
        let named = self.who.is_empty()
            || self.who.iter().any(|w| match w {
                Who::Bare(ns) => glob(ns, &p.namespace),
                Who::Pod { namespace, pod } => glob(namespace, &p.namespace) && glob(pod, &p.name),
            });
        named && self.labels.as_ref().is_none_or(|s| s.matches(&p.labels))
    }

    /// Whether external block `e` passes (by its name; a label selector excludes it).
    pub fn external(&self, e: &External) -> bool {
        self.labels.is_none()
            && (self.who.is_empty()
                || self
                    .who
                    .iter()
                    .any(|w| matches!(w, Who::Bare(n) if glob(n, &e.name))))
    }

    /// Per endpoint of `cluster` (pods, then externals), whether it passes; `None` when
    /// the filter lets everything through.
    pub fn mask(&self, cluster: &Cluster) -> Option<Vec<bool>> {
        if self.is_all() {
            return None;
        }
        Some(
            cluster
                .pods
                .iter()
                .map(|p| self.pod(p))
                .chain(cluster.externals.iter().map(|e| self.external(e)))
                .collect(),
        )
    }
}

/// Both sides of a pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairFilter {
    /// Which endpoints may send.
    pub from: EndpointFilter,
    /// Which endpoints may receive.
    pub to: EndpointFilter,
}

impl PairFilter {
    /// Whether it lets every pair through.
    pub fn is_all(&self) -> bool {
        self.from.is_all() && self.to.is_all()
    }

    /// The endpoints of `cluster` each side keeps.
    pub fn scope(&self, cluster: &Cluster) -> Scope {
        Scope {
            from: self.from.mask(cluster),
            to: self.to.mask(cluster),
        }
    }
}

/// Per endpoint (pods, then externals), whether it is kept as a source and as a
/// destination; `None` keeps every endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Sources kept.
    pub from: Option<Vec<bool>>,
    /// Destinations kept.
    pub to: Option<Vec<bool>>,
}

impl Scope {
    /// Every endpoint on both sides.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// Whether endpoint `i` is kept as a source.
    pub fn from(&self, i: usize) -> bool {
        self.from
            .as_ref()
            .is_none_or(|m| m.get(i).copied().unwrap_or(true))
    }

    /// Whether endpoint `i` is kept as a destination.
    pub fn to(&self, i: usize) -> bool {
        self.to.as_ref().is_none_or(|m| m.get(i).copied().unwrap_or(true))
    }
}

/// A label selector in kubectl's `-l` syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
/// `k notin (a,b)`, `k`, `!k`, joined by commas (the syntax [`LabelSelector`] prints).
pub fn parse_selector(s: &str) -> Result<LabelSelector, String> {
    let mut requirements = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        // One requirement: up to the next comma outside parentheses.
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        requirements.push(requirement(rest[..end].trim()).map_err(|e| format!("label selector {s:?}: {e}"))?);
        rest = rest[end..].trim_start_matches(',').trim();
    }
    if requirements.is_empty() {
        return Err("an empty label selector".into());
    }
    Ok(LabelSelector { requirements })
}

fn requirement(r: &str) -> Result<Requirement, String> {
    let req = |key: &str, operator, values: Vec<String>| {
        let key = key.trim();
        if key.is_empty() || key.contains([' ', '=', '!', '(', ')']) {
            return Err(format!("{r:?}: not a label key"));
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    };
    if let Some(key) = r.strip_prefix('!') {
        return req(key, Operator::DoesNotExist, vec![]);
    }
    for (word, op) in [(" notin ", Operator::NotIn), (" in ", Operator::In)] {
        if let Some((key, set)) = r.split_once(word) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .ok_or_else(|| format!("{r:?}: expected a set of values in parentheses"))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            if values.iter().any(String::is_empty) {
                return Err(format!("{r:?}: an empty value in the set"));
            }
            return req(key, op, values);
        }
    }
    if let Some((key, v)) = r.split_once("!=") {
        return req(key, Operator::NotIn, vec![v.trim().to_string()]);
    }
    if let Some((key, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
        return req(key, Operator::In, vec![v.trim().to_string()]);
    }
    req(r, Operator::Exists, vec![])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn globs() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*", ""));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abcd"));
        assert!(!glob("web", "web-1"));
        assert!(!glob("ab*ba", "aba"), "prefix and suffix may not overlap");
    }

    #[test]
    fn selectors_in_kubectl_syntax() {
        let s = parse_selector("app=web, tier!=db,env in (prod, staging),!legacy,team").unwrap();
        // Printed back in the same syntax (LabelSelector's Display).
        assert_eq!(
            s.to_string(),
            "app=web,tier notin (db),env in (prod,staging),!legacy,team"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("team", "x"),
            ("legacy", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("team", "x"),
            ("tier", "db")
        ])));
        assert_eq!(parse_selector("a==b").unwrap().to_string(), "a=b");
        assert!(parse_selector("env in prod").is_err());
        assert!(parse_selector("").is_err());
        assert!(parse_selector("=x").is_err());
    }

    #[test]
    fn names_are_ored_and_anded_with_labels() {
        let pod = |ns: &str, name: &str, app: &str| Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: labels(&[("app", app)]),
            ips: vec![],
            host_network: false,
            ports: vec![],
            node: None,
            workload: None,
            source: None,
        };
        let f = EndpointFilter::parse(&["shop/web-*".into(), "monitoring".into()], Some("app=web")).unwrap();
        assert!(f.pod(&pod("shop", "web-1", "web")));
        assert!(!f.pod(&pod("shop", "db-1", "web")), "name does not match");
        assert!(!f.pod(&pod("shop", "web-1", "db")), "labels do not match");
        assert!(f.pod(&pod("monitoring", "x", "web")));
        let ext = External {
            name: "monitoring".into(),
            cidr: "10.0.0.0/8".parse().unwrap(),
        };
        assert!(!f.external(&ext), "a label selector excludes external blocks");
        assert!(EndpointFilter::parse(&["monitoring".into()], None)
            .unwrap()
            .external(&ext));
        assert!(Who::parse("a/b/c").is_err());
        assert!(Who::parse("/b").is_err());
    }
}
