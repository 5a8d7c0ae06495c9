//! YAML out, the reverse of reading: everything Palisade writes as YAML (`-o yaml`, lint
//! fixes, `scaffold`) goes through one kept serializer (serde-saphyr), which quotes every
//! string that a YAML reader would otherwise take for a boolean, a number or null. A
//! property test reads the output back with Palisade's own reader.

use serde::Serialize;

/// `value` as a YAML document (block style, ending in a newline).
pub fn yaml<T: Serialize>(value: &T) -> String {
    let mut out = serde_saphyr::to_string(value).expect("plain data serializes to YAML");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// [`yaml`] with every line indented by `indent` (a snippet inside a larger document).
pub fn yaml_indented<T: Serialize>(value: &T, indent: &str) -> String {
    yaml(value).lines().map(|l| format!("{indent}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn read_back(text: &str) -> Value {
        let (docs, err) = crate::yaml::parse_documents(text);
        assert!(err.is_none(), "{err:?} in\n{text}");
        docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null)
    }

    /// Strings a YAML reader could take for something else. (`<<` is left out: serde-saphyr
    /// writes it plain as a key, where readers take it for a merge key; no Kubernetes
    /// label key or field can be `<<`.)
    const TRICKY: &[&str] = &[
        "true",
        "false",
        "True",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "null",
        "Null",
        "~",
        "",
        "2",
        "-1",
        "0x10",
        "0o7",
        "010",
        "1e3",
        "1.5",
        ".inf",
        "-.inf",
        ".nan",
        "-",
        ":",
        "#",
        "a: b",
        "a #b",
        " lead",
        "trail ",
        "- x",
        "[x]",
        "{x}",
        "*a",
        "&a",
        "!tag",
        "%x",
        "@x",
        "`x",
        "'q'",
        "\"q\"",
        "|",
        ">",
        "?",
        "1_000",
        "+1",
        "2026-11-30",
        "12:30",
        "a\nb",
        "\t",
        "é",
        "0.",
        ".5",
    ];

    #[test]
    fn tricky_label_values_read_back_as_strings() {
        for s in TRICKY {
            let v = json!({"metadata": {"labels": {"v": s, *s: "k"}}, "list": [s]});
            let text = yaml(&v);
            assert_eq!(read_back(&text), v, "{s:?} written as\n{text}");
        }
    }

    #[test]
    fn indented_snippets_keep_their_shape() {
        let v = json!({"matchLabels": {"env": "true", "version": "2"}});
        let text = yaml_indented(&v, "  ");
        assert!(text.lines().all(|l| l.starts_with("  ")), "{text}");
        let back = read_back(&format!("x:\n{text}"));
        assert_eq!(back["x"], v);
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            proptest::sample::select(TRICKY).prop_map(|s| Value::String(s.to_string())),
            "[ -~]{0,12}".prop_map(Value::String),
            any::<i64>().prop_map(|i| json!(i)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(
                    "[ -~]{0,8}".prop_filter("not a merge key", |k| k != "<<"),
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Whatever is emitted reads back as the same value.
        #[test]
        fn emitted_yaml_reads_back(v in value()) {
            let text = yaml(&v);
            prop_assert_eq!(read_back(&text), v, "{}", text);
        }
    }
}
