//! Label selectors (`matchLabels` and `matchExpressions`), as `metav1.LabelSelector`.

use std::collections::BTreeMap;
use std::fmt;

/// Labels of an object, kept sorted so equal label sets compare and hash equal.
pub type Labels = BTreeMap<String, String>;

/// A `matchExpressions` operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The label is set to one of the values.
    In,
    /// The label is unset or set to none of the values.
    NotIn,
    /// The label is set.
    Exists,
    /// The label is unset.
    DoesNotExist,
}

impl Operator {
    /// The operator as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        }
    }
}

/// One requirement of a selector. `matchLabels` entries become `In` with one value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// How the label is compared.
    pub operator: Operator,
    /// The values (empty for `Exists` and `DoesNotExist`).
    pub values: Vec<String>,
}

impl Requirement {
    /// Whether `labels` meet the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            // NotIn also matches objects that lack the key, as in the API.
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator {
            Operator::In if self.values.len() == 1 => write!(f, "{}={}", self.key, self.values[0]),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A label selector: the AND of its requirements. Empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    /// `matchLabels` (as `In` with one value) and `matchExpressions`, ANDed.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that selects everything (`{}`).
    pub fn everything() -> Self {
        Self::default()
    }

    /// A `matchLabels`-only selector.
    pub fn from_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        LabelSelector {
            requirements: pairs
                .into_iter()
                .map(|(k, v)| Requirement {
                    key: k.to_string(),
                    operator: Operator::In,
                    values: vec![v.to_string()],
                })
                .collect(),
        }
    }

    /// Whether it has no requirement (selects everything).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` meet every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The first requirement that `labels` fails, for explanations.
    pub fn first_failure(&self, labels: &Labels) -> Option<&Requirement> {
        self.requirements.iter().find(|r| !r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("{} (everything)");
        }
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn empty_selector_matches_everything_including_no_labels() {
        assert!(LabelSelector::everything().matches(&labels(&[])));
        assert!(LabelSelector::everything().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_is_an_and() {
        let s = LabelSelector::from_labels([("app", "web"), ("tier", "front")]);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn operators() {
        let l = labels(&[("env", "prod")]);
        let none = labels(&[]);
        assert!(req("env", Operator::In, &["dev", "prod"]).matches(&l));
        assert!(!req("env", Operator::In, &["dev"]).matches(&l));
        assert!(!req("env", Operator::In, &["prod"]).matches(&none));
        assert!(req("env", Operator::NotIn, &["dev"]).matches(&l));
        assert!(!req("env", Operator::NotIn, &["prod"]).matches(&l));
        assert!(
            req("env", Operator::NotIn, &["prod"]).matches(&none),
            "NotIn matches a missing key"
        );
        assert!(req("env", Operator::Exists, &[]).matches(&l));
        assert!(!req("env", Operator::Exists, &[]).matches(&none));
        assert!(req("env", Operator::DoesNotExist, &[]).matches(&none));
        assert!(!req("env", Operator::DoesNotExist, &[]).matches(&l));
    }

    #[test]
    fn first_failure_names_the_requirement() {
        let s = LabelSelector::from_labels([("app", "web"), ("tier", "front")]);
        let f = s.first_failure(&labels(&[("app", "web")])).unwrap();
        assert_eq!(f.key, "tier");
        assert_eq!(f.to_string(), "tier=front");
    }
}
