//! Typed objects from parsed documents, with kubectl's strict field validation: a
//! deserializer over [`serde_json::Value`] that tracks the field path of every error and,
//! at every struct the Kubernetes types ask for, compares the keys written with the fields
//! the type knows, so that a typo (`ingres:`, `form:`, `containerport:`) is reported with
//! the closest known field instead of being dropped.
//!
//! Written here rather than taken from `serde_ignored`: that crate reports ignored keys
//! but not the fields the struct knows, which the did-you-mean needs.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::diagnostic::{ErrorKind, FieldError};
use crate::path::FieldPath;

/// A key the type at that place does not know, and the known field it most resembles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    pub path: FieldPath,
    pub suggestion: Option<String>,
}

impl UnknownField {
    pub fn to_error(&self) -> FieldError {
        let name = match self.path.0.last() {
            Some(crate::path::Seg::Key(k)) => k.clone(),
            _ => String::new(),
        };
        let mut message = format!("unknown field {name:?}");
        if let Some(s) = &self.suggestion {
            message.push_str(&format!(" (did you mean {s:?}?)"));
        }
        FieldError {
            path: self.path.clone(),
            kind: ErrorKind::UnknownField,
            message,
        }
    }
}

/// The closest of `known` to `written`: same letters ignoring case, or at most two edits.
pub fn closest<'a>(written: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let w = written.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&w, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len().max(2) - 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Deserializes `T` from `v`; unknown fields (outside `status`, which only the API server
/// writes) are collected when `check` is set, also when the object does not deserialize
/// (a misspelt required field explains the missing one).
pub fn from_value<T: DeserializeOwned>(v: &Value, check: bool) -> (Result<T, FieldError>, Vec<UnknownField>) {
    let mut unknown = Vec::new();
    let de = Rec {
        v,
        trail: &Trail::Root,
        unknown: check.then_some(&mut unknown),
    };
    let result = T::deserialize(de).map_err(|e| FieldError {
        path: e.path.unwrap_or_default(),
        kind: ErrorKind::Type,
        message: e.message,
    });
    (result, unknown)
}

#[derive(Debug)]
pub struct RecError {
    path: Option<FieldPath>,
    message: String,
}

impl fmt::Display for RecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RecError {}

impl de::Error for RecError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        RecError {
            path: None,
            message: msg.to_string(),
        }
    }
}

/// Where the deserializer is, as a chain of borrowed segments: made into a [`FieldPath`]
/// only for an error or an unknown field, so that reading a field costs no allocation.
enum Trail<'t> {
    Root,
    Key(&'t Trail<'t>, &'t str),
    Index(&'t Trail<'t>, usize),
}

impl Trail<'_> {
    fn to_path(&self) -> FieldPath {
        let mut segs = Vec::new();
        let mut t = self;
        loop {
            match t {
                Trail::Root => break,
                Trail::Key(parent, k) => {
                    segs.push(crate::path::Seg::Key(k.to_string()));
                    t = parent;
                }
                Trail::Index(parent, i) => {
                    segs.push(crate::path::Seg::Index(*i));
                    t = parent;
                }
            }
        }
        segs.reverse();
        FieldPath(segs)
    }

    /// Whether this place is under the object's `status`.
    fn under_status(&self) -> bool {
        match self {
            Trail::Root => false,
            Trail::Key(Trail::Root, k) => *k == "status",
            Trail::Key(parent, _) | Trail::Index(parent, _) => parent.under_status(),
        }
    }
}

fn at<'t>(trail: &'t Trail<'t>) -> impl FnOnce(RecError) -> RecError + 't {
    move |mut e| {
        if e.path.is_none() {
            e.path = Some(trail.to_path());
        }
        e
    }
}

struct Rec<'a, 'u, 't> {
    v: &'a Value,
    trail: &'t Trail<'t>,
    unknown: Option<&'u mut Vec<UnknownField>>,
}

impl Rec<'_, '_, '_> {
    fn check_fields(&mut self, fields: &[&str]) {
        let (Some(unknown), Value::Object(map)) = (self.unknown.as_deref_mut(), self.v) else {
            return;
        };
        if self.trail.under_status() {
            return;
        }
        let root = matches!(self.trail, Trail::Root);
        for k in map.keys() {
            let server_written = root && k == "status";
            if !server_written && !fields.contains(&k.as_str()) {
                unknown.push(UnknownField {
                    path: self.trail.to_path().key(k),
                    suggestion: closest(k, fields.iter().copied()),
                });
            }
        }
    }
}

impl<'de, 'u, 't> de::Deserializer<'de> for Rec<'de, 'u, 't> {
    type Error = RecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecError> {
        match self.v {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                index: 0,
                trail: self.trail,
                unknown: self.unknown,
            }),
            Value::Object(map) => visitor.visit_map(Map {
                entries: map.iter(),
                value: None,
                trail: self.trail,
                unknown: self.unknown,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecError> {
        match self.v {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RecError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RecError> {
        self.check_fields(fields);
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RecError> {
        match self.v {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(de::Error::custom("expected a string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct Seq<'a, 'u, 't> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
    trail: &'t Trail<'t>,
    unknown: Option<&'u mut Vec<UnknownField>>,
}

impl<'de> SeqAccess<'de> for Seq<'de, '_, '_> {
    type Error = RecError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, RecError> {
        let Some(v) = self.items.next() else {
            return Ok(None);
        };
        let trail = Trail::Index(self.trail, self.index);
        self.index += 1;
        let de = Rec {
            v,
            trail: &trail,
            unknown: self.unknown.as_deref_mut(),
        };
        seed.deserialize(de).map(Some).map_err(at(&trail))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a, 'u, 't> {
    entries: serde_json::map::Iter<'a>,
    value: Option<(&'a String, &'a Value)>,
    trail: &'t Trail<'t>,
    unknown: Option<&'u mut Vec<UnknownField>>,
}

impl<'de> MapAccess<'de> for Map<'de, '_, '_> {
    type Error = RecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, RecError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((k, v));
        let key: de::value::BorrowedStrDeserializer<'de, RecError> =
            de::value::BorrowedStrDeserializer::new(k);
        seed.deserialize(key)
            .map(Some)
            .map_err(at(&Trail::Key(self.trail, k)))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, RecError> {
        let (k, v) = self
            .value
            .take()
            .ok_or_else(|| <RecError as de::Error>::custom("value without a key"))?;
        let trail = Trail::Key(self.trail, k);
        let de = Rec {
            v,
            trail: &trail,
            unknown: self.unknown.as_deref_mut(),
        };
        seed.deserialize(de).map_err(at(&trail))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    #[test]
    fn unknown_fields_are_found_with_the_closest_known_one() {
        let v: Value = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p", "labelz": {}},
            "spec": {"podSelector": {}, "ingres": [], "ingress": [{"form": [{"podSelector": {}}]}]},
            "status": {"whatever": 1}
        });
        let (np, unknown) = from_value::<NetworkPolicy>(&v, true);
        let np = np.unwrap();
        assert_eq!(np.metadata.name.as_deref(), Some("p"));
        let got: Vec<(String, Option<String>)> = unknown
            .iter()
            .map(|u| (u.path.to_string(), u.suggestion.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("metadata.labelz".to_string(), Some("labels".to_string())),
                ("spec.ingres".to_string(), Some("ingress".to_string())),
                ("spec.ingress[0].form".to_string(), Some("from".to_string())),
            ]
        );
        assert_eq!(
            unknown[1].to_error().message,
            "unknown field \"ingres\" (did you mean \"ingress\"?)"
        );
        let (_, none) = from_value::<NetworkPolicy>(&v, false);
        assert!(none.is_empty());
    }

    #[test]
    fn errors_carry_the_path_of_the_bad_value() {
        let v: Value = serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"containerport": 3535}]}]}
        });
        // k8s-openapi defaults the missing containerPort to 0; the unknown field says why.
        let (pod, unknown) = from_value::<Pod>(&v, true);
        assert!(pod.is_ok());
        assert_eq!(
            unknown[0].path.to_string(),
            "spec.containers[0].ports[0].containerport"
        );
        assert_eq!(unknown[0].suggestion.as_deref(), Some("containerPort"));
        let v: Value = serde_json::json!({"metadata": {"name": 5}});
        let e = from_value::<Pod>(&v, true).0.unwrap_err();
        assert_eq!(e.path.to_string(), "metadata.name");
    }

    #[test]
    fn closest_needs_a_real_resemblance() {
        let known = ["ingress", "egress", "podSelector", "policyTypes"];
        assert_eq!(closest("Ingress", known), Some("ingress".into()));
        assert_eq!(closest("podselector", known), Some("podSelector".into()));
        assert_eq!(closest("color", known), None);
        assert_eq!(closest("x", ["y"]), None);
    }
}
