//! Name syntax rules of the API server (apimachinery `validation`): label keys and
//! values, DNS-1123 names, IANA service names for named ports.

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`: label values and the name part of keys.
fn label_chars(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
}

/// Checks a label value; `None` when valid, else why not.
pub fn label_value(v: &str) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    if v.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!label_chars(v)).then(|| {
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', \
         and must start and end with an alphanumeric character"
            .into()
    })
}

/// Checks a qualified name (`[prefix/]name`), the syntax of label keys.
pub fn qualified_name(k: &str) -> Option<String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if let Some(e) = dns1123_subdomain(p) {
            return Some(format!("prefix part {e}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!label_chars(name)).then(|| {
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
         with an alphanumeric character"
            .into()
    })
}

fn label_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// RFC 1123 subdomain (names of most objects).
pub fn dns1123_subdomain(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    if s.split('.').all(label_part) {
        None
    } else {
        Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character"
                .into(),
        )
    }
}

/// RFC 1123 label (namespace names).
pub fn dns1123_label(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    if label_part(s) {
        None
    } else {
        Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character"
                .into(),
        )
    }
}

/// IANA_SVC_NAME: the syntax of named ports.
pub fn port_name(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 15 {
        return Some("must be no more than 15 characters".into());
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if s.contains("--") {
        return Some("must not contain consecutive hyphens".into());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        return Some("must contain at least one letter (a-z)".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must not begin or end with a hyphen".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "kubernetes.io/metadata.name",
            "a_b.c-d",
            "A1",
        ] {
            assert_eq!(qualified_name(ok), None, "{ok}");
        }
        for bad in [
            "",
            "-app",
            "app-",
            "/app",
            "Example.com/app",
            "a/b/c",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(qualified_name(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn label_values() {
        for ok in ["", "web", "v1.2_3-x", "A"] {
            assert_eq!(label_value(ok), None, "{ok}");
        }
        for bad in ["-web", "web.", "a b", "a/b", &"x".repeat(64)] {
            assert!(label_value(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn dns_names() {
        assert_eq!(dns1123_label("kube-system"), None);
        assert!(dns1123_label("Kube").is_some());
        assert!(dns1123_label("a.b").is_some());
        assert_eq!(dns1123_subdomain("a.b-c"), None);
        assert!(dns1123_subdomain("a..b").is_some());
    }

    #[test]
    fn port_names() {
        for ok in ["http", "web-8080", "h2c", "a"] {
            assert_eq!(port_name(ok), None, "{ok}");
        }
        for bad in [
            "",
            "80",
            "HTTP",
            "web--x",
            "-web",
            "web-",
            "averyveryverylongname",
            "a_b",
        ] {
            assert!(port_name(bad).is_some(), "{bad:?}");
        }
    }
}
