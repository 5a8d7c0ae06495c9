//! Problems in a user's input, each with file, line, column, field path and message.

use std::fmt;

use palisade_core::ObjectRef;

use crate::path::FieldPath;
use crate::yaml::Pos;

/// A problem (or remark) in the input, placed as precisely as the text allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file's name as given (`-` for stdin).
    pub file: String,
    /// Line and column, when the field is found in the text.
    pub pos: Option<Pos>,
    /// The field, from the document's root.
    pub path: FieldPath,
    /// The object, when known (shown as `Kind namespace/name`).
    pub object: Option<ObjectRef>,
    /// What kind of problem it is.
    pub kind: ErrorKind,
    /// The explanation, in words.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        f.write_str(": ")?;
        if !self.path.0.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(o) = &self.object {
            write!(f, " ({o})")?;
        }
        Ok(())
    }
}

/// What kind of problem a diagnostic reports (as the API server's field errors are typed).
/// Callers such as lint decide on the kind, never on the message's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value the API server would refuse (`Invalid value: …`).
    Invalid,
    /// A required field is missing.
    Required,
    /// A value outside the supported set.
    Unsupported,
    /// A field that may not be set here.
    Forbidden,
    /// `endPort` beside a named `port` (lint's PAL012).
    EndPortWithNamedPort,
    /// A field the object's type does not have (strict field validation).
    UnknownField,
    /// A value of the wrong type, or an object that does not deserialize.
    Type,
    /// YAML or JSON syntax, duplicate keys, text that is not UTF-8.
    Syntax,
    /// A bound against hostile input (size, depth, alias expansion).
    Limit,
    /// A file or directory that cannot be read.
    Io,
    /// A command-line option that does not fit the input (`--pod-cidr` too small).
    Option,
}

/// A field-level problem found by validation, before it is placed in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field, from the object's root.
    pub path: FieldPath,
    /// What kind of problem it is.
    pub kind: ErrorKind,
    /// The explanation, in words.
    pub message: String,
}

impl FieldError {
    /// A problem of `kind` at `path`.
    pub fn new(kind: ErrorKind, path: FieldPath, message: impl Into<String>) -> Self {
        FieldError {
            path,
            kind,
            message: message.into(),
        }
    }

    /// `Invalid value: "value": why`, as the API server words it.
    pub fn invalid(path: FieldPath, value: impl fmt::Display, why: &str) -> Self {
        FieldError {
            path,
            kind: ErrorKind::Invalid,
            message: format!("Invalid value: \"{value}\": {why}"),
        }
    }

    /// `Invalid value: value: why` for a number.
    pub fn invalid_int(path: FieldPath, value: i64, why: &str) -> Self {
        FieldError {
            path,
            kind: ErrorKind::Invalid,
            message: format!("Invalid value: {value}: {why}"),
        }
    }

    /// `Required value: why`.
    pub fn required(path: FieldPath, why: &str) -> Self {
        FieldError {
            path,
            kind: ErrorKind::Required,
            message: format!("Required value: {why}"),
        }
    }

    /// `Unsupported value: "value": supported values: …`.
    pub fn unsupported(path: FieldPath, value: &str, supported: &[&str]) -> Self {
        let s: Vec<String> = supported.iter().map(|x| format!("\"{x}\"")).collect();
        FieldError {
            path,
            kind: ErrorKind::Unsupported,
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                s.join(", ")
            ),
        }
    }

    /// `Forbidden: why`.
    pub fn forbidden(path: FieldPath, why: &str) -> Self {
        FieldError {
            path,
            kind: ErrorKind::Forbidden,
            message: format!("Forbidden: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, LoadOptions, Source};

    fn kinds(text: &str) -> Vec<(String, ErrorKind)> {
        let sources = [Source::Text {
            name: "t.yaml".into(),
            text: text.into(),
        }];
        let err = load(&sources, &LoadOptions::default()).unwrap_err();
        err.0.into_iter().map(|d| (d.path.to_string(), d.kind)).collect()
    }

    /// Each problem carries its kind, so that lint's rules never read the message's words
    /// (expectations by hand: one mistake of each kind per input).
    #[test]
    fn problems_carry_their_kind() {
        let np = |spec: &str| {
            format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec: {spec}\n")
        };
        assert_eq!(
            kinds(&np(
                "{podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}"
            )),
            vec![(
                "spec.ingress[0].ports[0].endPort".into(),
                ErrorKind::EndPortWithNamedPort
            )]
        );
        assert_eq!(
            kinds(&np("{podSelector: {}, ingres: []}")),
            vec![("spec.ingres".into(), ErrorKind::UnknownField)]
        );
        assert_eq!(
            kinds(&np("{podSelector: {}, policyTypes: [Sideways]}")),
            vec![("spec.policyTypes[0]".into(), ErrorKind::Unsupported)]
        );
        assert_eq!(kinds("a: [\n"), vec![(String::new(), ErrorKind::Syntax)]);
        assert_eq!(
            kinds("apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n"),
            vec![("metadata.name".into(), ErrorKind::Required)]
        );
    }
}
