//! Problems in a user's input, each with file, line, column, field path and message.

use std::fmt;

use crate::path::FieldPath;
use crate::yaml::Pos;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Option<Pos>,
    pub path: FieldPath,
    /// The object, as `Kind namespace/name`, when known.
    pub object: Option<String>,
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

/// A field-level problem found by validation, before it is placed in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: FieldPath,
    pub message: String,
}

impl FieldError {
    pub fn invalid(path: FieldPath, value: impl fmt::Display, why: &str) -> Self {
        FieldError {
            path,
            message: format!("Invalid value: \"{value}\": {why}"),
        }
    }

    pub fn invalid_int(path: FieldPath, value: i64, why: &str) -> Self {
        FieldError {
            path,
            message: format!("Invalid value: {value}: {why}"),
        }
    }

    pub fn required(path: FieldPath, why: &str) -> Self {
        FieldError {
            path,
            message: format!("Required value: {why}"),
        }
    }

    pub fn unsupported(path: FieldPath, value: &str, supported: &[&str]) -> Self {
        let s: Vec<String> = supported.iter().map(|x| format!("\"{x}\"")).collect();
        FieldError {
            path,
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                s.join(", ")
            ),
        }
    }

    pub fn forbidden(path: FieldPath, why: &str) -> Self {
        FieldError {
            path,
            message: format!("Forbidden: {why}"),
        }
    }
}
