//! Finding and reading the files behind the sources: directories walked recursively for
//! `.yaml`, `.yml` and `.json` files, safely. Symlinks to files are followed; symlinks to
//! directories only when they stay inside the tree being walked, and no directory is read
//! twice (so links to `..` cannot loop). While walking, anything that is not a regular file
//! (FIFOs, devices, sockets) and dangling links are skipped with a warning; a path named
//! explicitly is read whatever it is (`<(kubectl get …)` is a FIFO), but never more than
//! [`MAX_FILE_BYTES`].

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::path::FieldPath;
use crate::yaml::Pos;

/// The largest file read (a 100,000-pod cluster as YAML is about 70 MiB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// A file read, with whether it was named explicitly or found while walking a directory.
pub(crate) struct File {
    pub name: String,
    pub text: String,
    pub explicit: bool,
}

#[derive(Default)]
pub(crate) struct Walk {
    pub files: Vec<File>,
    pub diags: Vec<Diagnostic>,
    pub warnings: Vec<String>,
    visited: HashSet<PathBuf>,
}

fn io_problem(p: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: p.display().to_string(),
        pos: None,
        path: FieldPath::root(),
        object: None,
        kind: ErrorKind::Io,
        message,
    }
}

fn is_manifest_name(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

impl Walk {
    /// A path given on the command line.
    pub fn explicit(&mut self, p: &Path) {
        match fs::metadata(p) {
            Err(e) => self.diags.push(io_problem(p, e.to_string())),
            Ok(m) if m.is_dir() => match fs::canonicalize(p) {
                Ok(root) => self.dir(p, &root),
                Err(e) => self.diags.push(io_problem(p, e.to_string())),
            },
            Ok(_) => self.read(p, true),
        }
    }

    fn dir(&mut self, dir: &Path, root: &Path) {
        let canonical = match fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) => return self.diags.push(io_problem(dir, e.to_string())),
        };
        if !self.visited.insert(canonical) {
            return self.warnings.push(format!(
                "{}: skipped: this directory was already read (a symlink loop or a second link to it)",
                dir.display()
            ));
        }
        let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return self.diags.push(io_problem(dir, e.to_string())),
        };
        entries.sort();
        for e in entries {
            self.entry(&e, root);
        }
    }

    fn entry(&mut self, p: &Path, root: &Path) {
        let Ok(own) = fs::symlink_metadata(p) else {
            return;
        };
        let manifest = is_manifest_name(p);
        let target = if own.file_type().is_symlink() {
            match fs::metadata(p) {
                Ok(t) => t,
                Err(_) if !manifest => return,
                Err(e) => {
                    return self
                        .warnings
                        .push(format!("{}: skipped: a link to nothing ({e})", p.display()))
                }
            }
        } else {
            own.clone()
        };
        if target.is_dir() {
            if own.file_type().is_symlink() {
                let inside = fs::canonicalize(p).is_ok_and(|c| c.starts_with(root));
                if !inside {
                    return self.warnings.push(format!(
                        "{}: skipped: a link to a directory outside {}",
                        p.display(),
                        root.display()
                    ));
                }
            }
            return self.dir(p, root);
        }
        if !manifest {
            return;
        }
        if !target.is_file() {
            return self.warnings.push(format!(
                "{}: skipped: not a regular file (a FIFO, device or socket)",
                p.display()
            ));
        }
        self.read(p, false);
    }

    fn read(&mut self, p: &Path, explicit: bool) {
        let bytes = match read_capped(p) {
            Ok(b) => b,
            Err(d) => return self.diags.push(*d),
        };
        match text_of(&p.display().to_string(), bytes) {
            Ok(text) => self.files.push(File {
                name: p.display().to_string(),
                text,
                explicit,
            }),
            Err(d) => self.diags.push(*d),
        }
    }
}

fn read_capped(p: &Path) -> Result<Vec<u8>, Box<Diagnostic>> {
    let f = fs::File::open(p).map_err(|e| io_problem(p, e.to_string()))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_problem(p, e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Box::new(Diagnostic {
            kind: ErrorKind::Limit,
            ..io_problem(
                p,
                format!(
                    "larger than {} MiB, the most Palisade reads from one file",
                    MAX_FILE_BYTES >> 20
                ),
            )
        }));
    }
    Ok(bytes)
}

/// Bytes as text, or a diagnostic at the first byte that is not UTF-8.
pub fn text_of(name: &str, bytes: Vec<u8>) -> Result<String, Box<Diagnostic>> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        Box::new(Diagnostic {
            file: name.to_string(),
            pos: Some(Pos { line, column }),
            path: FieldPath::root(),
            object: None,
            kind: ErrorKind::Syntax,
            message: "not UTF-8 text (manifests are UTF-8)".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_is_placed_at_its_byte() {
        let d = text_of("f.yaml", b"a: 1\nb: \xc3x\n".to_vec()).unwrap_err();
        assert_eq!(d.pos, Some(Pos { line: 2, column: 4 }));
        assert!(d.to_string().starts_with("f.yaml:2:4: not UTF-8"), "{d}");
    }
}
