//! Field paths inside a Kubernetes object (`spec.ingress[0].ports[1].port`).

use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A key of a mapping (`spec`).
    Key(String),
    /// An index into a sequence (`[0]`).
    Index(usize),
}

/// The path of a field from an object's root, shown as `spec.ingress[0].from[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The object itself.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path followed by the key `k`.
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// This path followed by the index `i`.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// `self` followed by `other`.
    pub fn join(&self, other: &FieldPath) -> Self {
        let mut p = self.clone();
        p.0.extend(other.0.iter().cloned());
        p
    }

    /// Parses `a.b[0].c` (keys containing dots are not expected here). Tests only: paths
    /// are built with [`FieldPath::key`] and [`FieldPath::index`], never parsed back.
    #[cfg(test)]
    pub(crate) fn parse(s: &str) -> Self {
        let mut segs = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                segs.push(Seg::Key(key.to_string()));
            }
            for idx in rest.split('[').filter(|x| !x.is_empty()) {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    segs.push(Seg::Index(i));
                }
            }
        }
        FieldPath(segs)
    }

    /// The path serde reported a deserialization error at.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        FieldPath(
            path.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { .. } | Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            match s {
                // Label keys contain dots and slashes: bracket them the way kubectl does.
                Seg::Key(k) if k.contains(['.', '/']) => write!(f, "[{k}]")?,
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = FieldPath::parse("spec.ingress[0].ports[12].port");
        assert_eq!(p.0.len(), 6);
        assert_eq!(p.to_string(), "spec.ingress[0].ports[12].port");
        assert_eq!(
            FieldPath::root()
                .key("metadata")
                .key("labels")
                .key("app.kubernetes.io/name")
                .to_string(),
            "metadata.labels[app.kubernetes.io/name]"
        );
    }
}
