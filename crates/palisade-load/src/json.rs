//! A quick pass over JSON text for what serde_json lets through: a key written twice in
//! one object (the YAML reader reports it as an error, with its position, as the API
//! server's strict decoding does).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Whether some object of `text` repeats a key (or `text` is not JSON at all).
pub fn has_duplicate_keys(text: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    !matches!(Unique.deserialize(&mut de), Ok(()))
}

/// Accepts any JSON value whose objects never repeat a key.
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without repeated keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Objects are small: a vector beats hashing.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(k) = map.next_key_seed(Key)? {
            if seen.contains(&k) {
                // Consume nothing more: any error will do.
                let _ = map.next_value::<IgnoredAny>();
                return Err(serde::de::Error::custom("duplicate key"));
            }
            seen.push(k);
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

/// A key, borrowed from the text unless it has escapes (no allocation per key).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_found_at_any_depth() {
        assert!(!has_duplicate_keys(r#"{"a": 1, "b": {"a": [1, {"c": 2}]}}"#));
        assert!(has_duplicate_keys(r#"{"a": 1, "a": 2}"#));
        assert!(has_duplicate_keys(r#"{"items": [{"m": {"x": 1, "x": 1}}]}"#));
        assert!(has_duplicate_keys(r#"{"a": "#));
        // Escaped keys are compared by their value.
        assert!(has_duplicate_keys(r#"{"a": 1, "\u0061": 2}"#));
    }
}
