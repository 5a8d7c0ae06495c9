//! `analyze --port`: one port's allowed/denied matrix over every ordered pod pair, written
//! row by row as it is computed. Memory stays at the compiled matrix (a bit per class
//! pair) however large the output: 10,000 pods give 10⁸ cells, which are never held.

use std::collections::BTreeMap;
use std::io::{self, Write};

use palisade_core::{Cluster, Compiled, External, Protocol};
use serde::Serialize;

use crate::analyze::Format;
use crate::text;

struct View<'a> {
    names: Vec<String>,
    compiled: &'a Compiled,
    matrix: palisade_core::bits::BitMatrix,
}

impl View<'_> {
    fn allowed(&self, a: usize, b: usize) -> bool {
        a == b
            || self
                .matrix
                .get(self.compiled.endpoint_class[a], self.compiled.endpoint_class[b])
            || self.compiled.node_local(a, b)
    }

    /// Whether `a` reaches each pod, by pod name.
    fn row(&self, a: usize) -> BTreeMap<&str, bool> {
        (0..self.names.len())
            .map(|b| (self.names[b].as_str(), self.allowed(a, b)))
            .collect()
    }

    /// Whether each pod reaches `b`, by pod name.
    fn column(&self, b: usize) -> BTreeMap<&str, bool> {
        (0..self.names.len())
            .map(|a| (self.names[a].as_str(), self.allowed(a, b)))
            .collect()
    }

    /// An external block's row and column.
    fn external<'a>(&'a self, e: &External, i: usize) -> ExternalJson<'a> {
        let n = self.names.len();
        ExternalJson {
            cidr: e.cidr.to_string(),
            from: self.row(n + i),
            to: self.column(n + i),
        }
    }
}

// The document is streamed a row at a time (the matrix is pods²); its parts are typed.
// Fields are declared in alphabetical order, the order the output has always had.

/// The head of the YAML document.
#[derive(Serialize)]
struct HeadJson<'a> {
    pods: &'a [String],
    port: u16,
    protocol: &'a str,
}

/// What an external block reaches (`from`) and what reaches it (`to`).
#[derive(Serialize)]
struct ExternalJson<'a> {
    cidr: String,
    from: BTreeMap<&'a str, bool>,
    to: BTreeMap<&'a str, bool>,
}

/// Writes the matrix of `port`/`proto` in `format` to `out`.
pub fn write(
    out: &mut dyn Write,
    cluster: &Cluster,
    compiled: &Compiled,
    port: u16,
    proto: Protocol,
    format: Format,
) -> io::Result<()> {
    let matrix = compiled.port_matrix(proto, port).expect("port is 1-65535");
    let v = View {
        names: cluster.pods.iter().map(|p| p.key()).collect(),
        compiled,
        matrix,
    };
    match format {
        Format::Json => json_view(out, cluster, &v, port, proto),
        Format::Yaml => yaml_view(out, cluster, &v, port, proto),
        Format::Csv => {
            writeln!(out, "from,to,protocol,port,allowed")?;
            for (a, from) in v.names.iter().enumerate() {
                for (b, to) in v.names.iter().enumerate() {
                    writeln!(out, "{from},{to},{proto},{port},{}", v.allowed(a, b))?;
                }
            }
            Ok(())
        }
        Format::Dot => {
            writeln!(out, "digraph palisade {{\n  label=\"{port}/{proto}\";")?;
            for (a, from) in v.names.iter().enumerate() {
                for (b, to) in v.names.iter().enumerate() {
                    if a != b && v.allowed(a, b) {
                        writeln!(out, "  \"{from}\" -> \"{to}\";")?;
                    }
                }
            }
            writeln!(out, "}}")
        }
        Format::Table | Format::Md | Format::Summary => grid(out, &v, port, proto, format == Format::Md),
    }
}

/// `{"protocol", "port", "pods", "matrix", "externals"?}`, one matrix row per line.
fn json_view(
    out: &mut dyn Write,
    cluster: &Cluster,
    v: &View<'_>,
    port: u16,
    proto: Protocol,
) -> io::Result<()> {
    writeln!(out, "{{")?;
    writeln!(out, "  \"protocol\": {},", s(&proto.as_str()))?;
    writeln!(out, "  \"port\": {port},")?;
    writeln!(out, "  \"pods\": {},", s(&v.names))?;
    write!(out, "  \"matrix\": {{")?;
    for (a, name) in v.names.iter().enumerate() {
        let sep = if a == 0 { "" } else { "," };
        write!(out, "{sep}\n    {}: {}", s(name), s(&v.row(a)))?;
    }
    write!(out, "\n  }}")?;
    if !cluster.externals.is_empty() {
        write!(out, ",\n  \"externals\": {{")?;
        for (i, e) in cluster.externals.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(out, "{sep}\n    {}: {}", s(&e.name), s(&v.external(e, i)))?;
        }
        write!(out, "\n  }}")?;
    }
    writeln!(out, "\n}}")
}

/// The same document as YAML, each row serialized on its own (so quoting stays the
/// serializer's) and indented into place.
fn yaml_view(
    out: &mut dyn Write,
    cluster: &Cluster,
    v: &View<'_>,
    port: u16,
    proto: Protocol,
) -> io::Result<()> {
    use palisade_load::emit::yaml_indented as y;
    out.write_all(
        palisade_load::emit::yaml(&HeadJson {
            pods: &v.names,
            port,
            protocol: proto.as_str(),
        })
        .as_bytes(),
    )?;
    writeln!(out, "matrix:")?;
    for (a, name) in v.names.iter().enumerate() {
        let row = BTreeMap::from([(name, v.row(a))]);
        out.write_all(y(&row, "  ").as_bytes())?;
    }
    if !cluster.externals.is_empty() {
        writeln!(out, "externals:")?;
        for (i, e) in cluster.externals.iter().enumerate() {
            let one = BTreeMap::from([(&e.name, v.external(e, i))]);
            out.write_all(y(&one, "  ").as_bytes())?;
        }
    }
    Ok(())
}

/// Rows are sources, columns destinations (numbered, with a legend).
fn grid(out: &mut dyn Write, v: &View<'_>, port: u16, proto: Protocol, md: bool) -> io::Result<()> {
    let n = v.names.len();
    let mut header: Vec<String> = vec![format!("{port}/{proto} FROM \\ TO")];
    header.extend((1..=n).map(|i| i.to_string()));
    let first = (0..n)
        .map(|a| format!("{} {}", a + 1, v.names[a]).chars().count())
        .chain([header[0].chars().count()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = std::iter::once(first)
        .chain((1..=n).map(|i| i.to_string().len()))
        .collect();
    let line = |cells: &[String]| {
        if md {
            text::markdown_line(cells)
        } else {
            text::table_line(&widths, cells)
        }
    };
    out.write_all(line(&header).as_bytes())?;
    if md {
        writeln!(out, "|{}", "---|".repeat(header.len()))?;
    }
    for a in 0..n {
        let mut r = vec![format!("{} {}", a + 1, v.names[a])];
        r.extend((0..n).map(|b| {
            if a == b {
                "."
            } else if v.allowed(a, b) {
                "Y"
            } else {
                "x"
            }
            .to_string()
        }));
        out.write_all(line(&r).as_bytes())?;
    }
    writeln!(out, "\nY allowed, x denied, . self (always allowed)")
}

/// Compact JSON of a value.
fn s<T: serde::Serialize + ?Sized>(x: &T) -> String {
    serde_json::to_string(x).expect("plain data serializes")
}
