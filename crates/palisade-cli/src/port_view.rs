//! `analyze --port`: one port's allowed/denied matrix over every ordered pod pair, written
//! row by row as it is computed. Memory stays at the compiled matrix (a bit per class
//! pair) however large the output: 10,000 pods give 10⁸ cells, which are never held.

use std::collections::BTreeMap;
use std::io::{self, Write};

use palisade_core::scope::Scope;
use palisade_core::{Cluster, Compiled, External, Protocol};
use serde::Serialize;

use crate::analyze::Format;
use crate::text;

struct View<'a> {
    names: Vec<String>,
    compiled: &'a Compiled,
    matrix: palisade_core::bits::BitMatrix,
    /// The pods shown as sources and as destinations (all, unless --from/--to narrow).
    rows: Vec<usize>,
    cols: Vec<usize>,
    /// The pods of either list, in order (the document's `pods`).
    shown: Vec<String>,
    scope: Scope,
}

impl View<'_> {
    fn allowed(&self, a: usize, b: usize) -> bool {
        a == b
            || self
                .matrix
                .get(self.compiled.endpoint_class[a], self.compiled.endpoint_class[b])
            || self.compiled.node_local(a, b)
    }

    /// Whether `a` reaches each destination pod, by pod name.
    fn row(&self, a: usize) -> BTreeMap<&str, bool> {
        self.cols
            .iter()
            .map(|&b| (self.names[b].as_str(), self.allowed(a, b)))
            .collect()
    }

    /// Whether each source pod reaches `b`, by pod name.
    fn column(&self, b: usize) -> BTreeMap<&str, bool> {
        self.rows
            .iter()
            .map(|&a| (self.names[a].as_str(), self.allowed(a, b)))
            .collect()
    }

    /// An external block's row and column (an empty side when the filter leaves it out).
    fn external<'a>(&'a self, e: &External, i: usize) -> ExternalJson<'a> {
        let n = self.names.len();
        ExternalJson {
            cidr: e.cidr.to_string(),
            from: if self.scope.from(n + i) {
                self.row(n + i)
            } else {
                BTreeMap::new()
            },
            to: if self.scope.to(n + i) {
                self.column(n + i)
            } else {
                BTreeMap::new()
            },
        }
    }

    /// The external blocks either side keeps.
    fn externals<'c>(&self, cluster: &'c Cluster) -> Vec<(usize, &'c External)> {
        let n = self.names.len();
        cluster
            .externals
            .iter()
            .enumerate()
            .filter(|(i, _)| self.scope.from(n + i) || self.scope.to(n + i))
            .collect()
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

/// How the matrix is written: which port, which pairs, which format.
pub struct PortView<'a> {
    pub port: u16,
    pub proto: Protocol,
    pub format: Format,
    pub scope: Scope,
    /// `--no-headers`: the grid without its header row and legend, CSV without its header.
    pub no_headers: bool,
    pub colour: &'a crate::text::Colour,
}

/// Writes the matrix of `how.port`/`how.proto` in `how.format` to `out`.
pub fn write(
    out: &mut dyn Write,
    cluster: &Cluster,
    compiled: &Compiled,
    how: &PortView<'_>,
) -> io::Result<()> {
    let (port, proto) = (how.port, how.proto);
    let matrix = compiled.port_matrix(proto, port).expect("port is 1-65535");
    let n = cluster.pods.len();
    let rows: Vec<usize> = (0..n).filter(|&a| how.scope.from(a)).collect();
    let cols: Vec<usize> = (0..n).filter(|&b| how.scope.to(b)).collect();
    let names: Vec<String> = cluster.pods.iter().map(|p| p.key()).collect();
    let shown = (0..n)
        .filter(|&i| how.scope.from(i) || how.scope.to(i))
        .map(|i| names[i].clone())
        .collect();
    let v = View {
        names,
        compiled,
        matrix,
        rows,
        cols,
        shown,
        scope: how.scope.clone(),
    };
    match how.format {
        Format::Json => json_view(out, cluster, &v, port, proto),
        Format::Yaml => yaml_view(out, cluster, &v, port, proto),
        Format::Csv => {
            if !how.no_headers {
                writeln!(out, "from,to,protocol,port,allowed")?;
            }
            for &a in &v.rows {
                for &b in &v.cols {
                    writeln!(
                        out,
                        "{},{},{proto},{port},{}",
                        v.names[a],
                        v.names[b],
                        v.allowed(a, b)
                    )?;
                }
            }
            Ok(())
        }
        Format::Dot => {
            writeln!(out, "digraph palisade {{\n  label=\"{port}/{proto}\";")?;
            for &a in &v.rows {
                for &b in &v.cols {
                    if a != b && v.allowed(a, b) {
                        writeln!(out, "  \"{}\" -> \"{}\";", v.names[a], v.names[b])?;
                    }
                }
            }
            writeln!(out, "}}")
        }
        Format::Table | Format::Md | Format::Summary => grid(out, &v, how, how.format == Format::Md),
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
    writeln!(out, "  \"pods\": {},", s(&v.shown))?;
    write!(out, "  \"matrix\": {{")?;
    for (k, &a) in v.rows.iter().enumerate() {
        let sep = if k == 0 { "" } else { "," };
        write!(out, "{sep}\n    {}: {}", s(&v.names[a]), s(&v.row(a)))?;
    }
    write!(out, "\n  }}")?;
    let externals = v.externals(cluster);
    if !externals.is_empty() {
        write!(out, ",\n  \"externals\": {{")?;
        for (k, (i, e)) in externals.into_iter().enumerate() {
            let sep = if k == 0 { "" } else { "," };
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
            pods: &v.shown,
            port,
            protocol: proto.as_str(),
        })
        .as_bytes(),
    )?;
    writeln!(out, "matrix:")?;
    for &a in &v.rows {
        let row = BTreeMap::from([(&v.names[a], v.row(a))]);
        out.write_all(y(&row, "  ").as_bytes())?;
    }
    let externals = v.externals(cluster);
    if !externals.is_empty() {
        writeln!(out, "externals:")?;
        for (i, e) in externals {
            let one = BTreeMap::from([(&e.name, v.external(e, i))]);
            out.write_all(y(&one, "  ").as_bytes())?;
        }
    }
    Ok(())
}

/// Rows are sources, columns destinations; each pod shown has one number (rows name
/// theirs; destinations that are not rows are named in the legend).
fn grid(out: &mut dyn Write, v: &View<'_>, how: &PortView<'_>, md: bool) -> io::Result<()> {
    let (port, proto) = (how.port, how.proto);
    let mut number = vec![0usize; v.names.len()];
    let mut next = 0;
    for &i in v.rows.iter().chain(v.cols.iter()) {
        if number[i] == 0 {
            next += 1;
            number[i] = next;
        }
    }
    let mut header: Vec<String> = vec![format!("{port}/{proto} FROM \\ TO")];
    header.extend(v.cols.iter().map(|&b| number[b].to_string()));
    let first = v
        .rows
        .iter()
        .map(|&a| format!("{} {}", number[a], v.names[a]).chars().count())
        .chain([header[0].chars().count()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = std::iter::once(first)
        .chain(v.cols.iter().map(|&b| number[b].to_string().len()))
        .collect();
    let line = |cells: &[String]| {
        if md {
            text::markdown_line(cells)
        } else {
            text::table_line(&widths, cells)
        }
    };
    if !how.no_headers {
        out.write_all(line(&header).as_bytes())?;
        if md {
            writeln!(out, "|{}", "---|".repeat(header.len()))?;
        }
    }
    let c = how.colour;
    for &a in &v.rows {
        let mut r = vec![format!("{} {}", number[a], v.names[a])];
        r.extend(v.cols.iter().map(|&b| {
            if a == b {
                ".".to_string()
            } else if v.allowed(a, b) {
                c.allowed("Y")
            } else {
                c.denied("x")
            }
        }));
        out.write_all(line(&r).as_bytes())?;
    }
    if how.no_headers {
        return Ok(());
    }
    let row_set: std::collections::HashSet<usize> = v.rows.iter().copied().collect();
    for &b in v.cols.iter().filter(|b| !row_set.contains(b)) {
        writeln!(out, "{} {}", number[b], v.names[b])?;
    }
    writeln!(out, "\nY allowed, x denied, . self (always allowed)")
}

/// Compact JSON of a value.
fn s<T: serde::Serialize + ?Sized>(x: &T) -> String {
    serde_json::to_string(x).expect("plain data serializes")
}
