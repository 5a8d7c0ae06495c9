//! YAML (and JSON, which YAML reads too) into `serde_json::Value` documents, resolving
//! plain scalars by the YAML 1.2 core schema (only `true`/`false` are booleans; numbers
//! are numbers, so an unquoted `version: 2` label is an error, as with kubectl), with
//! anchors, aliases and merge keys. Positions are not stored: when a
//! diagnostic needs one, [`locate`] walks the document's events again to the field.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::path::{FieldPath, Seg};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A parsed document and where it starts.
#[derive(Debug)]
pub struct Document {
    /// The document's index in its file.
    pub index: usize,
    /// Where its content starts.
    pub start: Pos,
    /// Its content as JSON values.
    pub value: Value,
}

/// A problem in the YAML text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where it was found.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// A limit was reached (depth, alias expansion), not a mistake in the syntax.
    pub limit: bool,
}

/// How deep collections may nest. Kubernetes objects nest about 15 levels (CRD schemas
/// a few dozen); deeper input is refused before anything recurses over it.
pub const MAX_DEPTH: usize = 256;

/// How many nodes aliases may add to a document beyond those written in it (plus ten
/// times those written): keeps a "billion laughs" from expanding.
pub const ALIAS_BUDGET: usize = 100_000;

/// Parses every document of a YAML stream. Stops at the first syntax error
/// (the documents before it are returned with it).
pub fn parse_documents(text: &str) -> (Vec<Document>, Option<SyntaxError>) {
    parse_nested(text, 0)
}

/// [`parse_documents`] for a text that sits `depth` collections deep in a larger document
/// (a piece of a long sequence), so that the depth limit counts as in the whole.
pub(crate) fn parse_nested(text: &str, depth: usize) -> (Vec<Document>, Option<SyntaxError>) {
    match crate::block::parse(text, depth) {
        Some(docs) => (docs, None),
        None => parse_events(text, depth),
    }
}

/// The fast block-style reader alone (the `block` module): the documents of `text`, or
/// `None` when it leaves the text to the full parser. For differential tests and fuzzing;
/// [`parse_documents`] uses it and falls back by itself.
pub fn parse_block(text: &str) -> Option<Vec<Document>> {
    crate::block::parse(text, 0)
}

/// The full YAML parser alone, never the fast reader: the reference it is checked against.
pub fn parse_full(text: &str) -> (Vec<Document>, Option<SyntaxError>) {
    parse_events(text, 0)
}

/// [`parse_nested`] by the full YAML parser (the reference the fast block reader is
/// checked against, and the reader of everything that reader declines).
pub(crate) fn parse_events(text: &str, depth: usize) -> (Vec<Document>, Option<SyntaxError>) {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let fresh = || Builder {
        depth,
        ..Builder::default()
    };
    let mut builder = fresh();
    let mut index = 0;
    let mut start = Pos { line: 1, column: 1 };
    while let Some(ev) = parser.next_event() {
        let (ev, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return (
                    docs,
                    Some(SyntaxError {
                        pos: Pos {
                            line: m.line(),
                            column: m.col() + 1,
                        },
                        message: e.info().to_string(),
                        limit: false,
                    }),
                );
            }
        };
        match ev {
            Event::DocumentStart(_) => {
                builder = fresh();
                start = Pos::of(&span);
            }
            Event::DocumentEnd => {
                let value = builder.root.take().unwrap_or(Value::Null);
                docs.push(Document { index, start, value });
                index += 1;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            other => {
                if let Err(message) = builder.event(other, &span) {
                    return (
                        docs,
                        Some(SyntaxError {
                            pos: Pos::of(&span),
                            limit: message.ends_with("refused"),
                            message,
                        }),
                    );
                }
            }
        }
    }
    (docs, None)
}

enum Frame {
    Seq(usize, Vec<Value>),
    Map(usize, Map<String, Value>, Option<String>, Vec<Map<String, Value>>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored values with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    root: Option<Value>,
    /// Nodes written in the document, and nodes added by aliases.
    written: usize,
    aliased: usize,
    /// Node counts of the open collections.
    sizes: Vec<usize>,
    /// Collections open around the text, outside it.
    depth: usize,
}

impl Builder {
    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<(), String> {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                // Keys are kept as written; values are resolved.
                let is_key = matches!(self.stack.last(), Some(Frame::Map(_, _, None, _)));
                let v = if is_key {
                    Value::String(text.into_owned())
                } else {
                    resolve(&text, style, tag.as_deref())?
                };
                self.written += 1;
                self.push(v, anchor, 1, span)
            }
            Event::Alias(id) => {
                let (v, nodes) = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| "unknown anchor".to_string())?;
                let nodes = *nodes;
                self.aliased += nodes;
                if self.aliased > ALIAS_BUDGET + 10 * self.written {
                    return Err(format!(
                        "aliases expand this document past {} nodes (a \"billion laughs\"?); refused",
                        ALIAS_BUDGET + 10 * self.written
                    ));
                }
                let v = v.clone();
                self.push(v, 0, nodes, span)
            }
            Event::SequenceStart(anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Seq(anchor, Vec::new()));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Map(anchor, Map::new(), None, Vec::new()));
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq(anchor, items)) => {
                    let nodes = self.sizes.pop().unwrap_or(1);
                    self.push(Value::Array(items), anchor, nodes, span)
                }
                _ => Err("unbalanced sequence".into()),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(anchor, mut map, _, merges)) => {
                    for m in merges {
                        for (k, v) in m {
                            map.entry(k).or_insert(v);
                        }
                    }
                    let nodes = self.sizes.pop().unwrap_or(1);
                    self.push(Value::Object(map), anchor, nodes, span)
                }
                _ => Err("unbalanced mapping".into()),
            },
            _ => Ok(()),
        }
    }

    /// A collection starts: one node, one level deeper.
    fn open(&mut self) -> Result<(), String> {
        if self.stack.len() + self.depth >= MAX_DEPTH {
            return Err(format!("collections nested more than {MAX_DEPTH} deep; refused"));
        }
        self.written += 1;
        self.sizes.push(1);
        Ok(())
    }

    fn push(&mut self, v: Value, anchor: usize, nodes: usize, _span: &Span) -> Result<(), String> {
        if let Some(parent) = self.sizes.last_mut() {
            *parent += nodes;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(v);
                Ok(())
            }
            Some(Frame::Seq(_, items)) => {
                items.push(v);
                Ok(())
            }
            Some(Frame::Map(_, map, key, merges)) => match key.take() {
                None => {
                    *key = Some(match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    });
                    Ok(())
                }
                Some(k) if k == "<<" => match v {
                    Value::Object(m) => {
                        merges.push(m);
                        Ok(())
                    }
                    Value::Array(items) => {
                        for i in items {
                            match i {
                                Value::Object(m) => merges.push(m),
                                _ => return Err("merge key `<<` needs mappings".into()),
                            }
                        }
                        Ok(())
                    }
                    _ => Err("merge key `<<` needs a mapping".into()),
                },
                Some(k) => match map.entry(k) {
                    serde_json::map::Entry::Occupied(e) => {
                        Err(format!("mapping key {:?} already defined", e.key()))
                    }
                    serde_json::map::Entry::Vacant(e) => {
                        e.insert(v);
                        Ok(())
                    }
                },
            },
        }
    }
}

/// Resolves a scalar (tags first, then quoting, then the plain-scalar rules).
fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return match tag.suffix.as_str() {
                "str" => Ok(Value::String(text.to_string())),
                "int" | "float" | "bool" | "null" => {
                    let v = resolve_plain(text);
                    let ok = match tag.suffix.as_str() {
                        "int" => v.is_i64() || v.is_u64(),
                        "float" => v.is_number(),
                        "bool" => v.is_boolean(),
                        _ => v.is_null(),
                    };
                    if ok {
                        Ok(v)
                    } else {
                        Err(format!("cannot decode {text:?} as !!{}", tag.suffix))
                    }
                }
                _ => Ok(Value::String(text.to_string())),
            };
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    Ok(resolve_plain(text))
}

pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        // YAML 1.2 core schema: `yes`, `on`, `y` stay strings (namespaces are called `y`).
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Value::Number(i.into());
    }
    if let Some(f) = parse_float(text) {
        if let Some(n) = Number::from_f64(f) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    let t = text.replace('_', "");
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else if body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let ok = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Where `path` is in document `doc` of `text`: the value's position, or the closest
/// existing ancestor's when the field itself is missing (a required field).
pub fn locate(text: &str, doc: usize, path: &FieldPath) -> Option<Pos> {
    locate_many(text, &[(doc, path)])[0]
}

/// The places asked for, as a trie of their paths per document: each node keeps the
/// position of its field once the reading passes it.
#[derive(Default)]
struct Trie {
    children: Vec<HashMap<Seg, usize>>,
    pos: Vec<Option<Pos>>,
}

impl Trie {
    fn node(&mut self) -> usize {
        self.children.push(HashMap::new());
        self.pos.push(None);
        self.pos.len() - 1
    }

    fn child(&self, n: usize, s: &Seg) -> Option<usize> {
        self.children[n].get(s).copied()
    }

    /// Records `pos` at node `n`: the first position seen, or a later one when `replace`
    /// (a scalar value replaces its key; a container value does not).
    fn record(&mut self, n: Option<usize>, pos: Pos, replace: bool) {
        if let Some(n) = n {
            if self.pos[n].is_none() || replace {
                self.pos[n] = Some(pos);
            }
        }
    }
}

/// [`locate`] for many places in one reading of `text`: one pass over the events, each
/// looked up in a trie of the paths asked for, so the cost is the text plus the paths.
pub fn locate_many(text: &str, queries: &[(usize, &FieldPath)]) -> Vec<Option<Pos>> {
    let mut trie = Trie::default();
    let mut roots: HashMap<usize, usize> = HashMap::new();
    for (doc, path) in queries {
        let mut n = match roots.get(doc) {
            Some(&r) => r,
            None => {
                let r = trie.node();
                roots.insert(*doc, r);
                r
            }
        };
        for seg in &path.0 {
            n = match trie.child(n, seg) {
                Some(c) => c,
                None => {
                    let c = trie.node();
                    trie.children[n].insert(seg.clone(), c);
                    c
                }
            };
        }
    }
    let last_doc = queries.iter().map(|q| q.0).max();
    let mut parser = Parser::new_from_str(text);
    let mut index = 0usize;
    // Per open container: the next sequence index or the pending key, and its trie node.
    enum C {
        Seq(usize),
        Map(Option<String>),
    }
    let mut stack: Vec<(C, Option<usize>)> = Vec::new();
    let mut root: Option<usize> = None;
    while let Some(Ok((ev, span))) = parser.next_event() {
        match ev {
            Event::DocumentStart(_) => {
                root = roots.get(&index).copied();
                stack.clear();
                continue;
            }
            Event::DocumentEnd => {
                index += 1;
                root = None;
                if last_doc.is_none_or(|l| index > l) {
                    break;
                }
                continue;
            }
            _ if root.is_none() => continue,
            _ => {}
        }
        let pos = Pos::of(&span);
        // A key scalar inside a mapping: remember it and record the key's position.
        if let (Event::Scalar(text, ..), Some((C::Map(key @ None), node))) = (&ev, stack.last_mut()) {
            *key = Some(text.to_string());
            let n = node.and_then(|n| trie.child(n, &Seg::Key(text.to_string())));
            trie.record(n, pos, true);
            continue;
        }
        // Otherwise this event starts or is a value: find its trie node.
        let node = match stack.last_mut() {
            None => root,
            Some((C::Seq(i), parent)) if !matches!(ev, Event::SequenceEnd) => {
                let n = parent.and_then(|p| trie.child(p, &Seg::Index(*i)));
                *i += 1;
                n
            }
            Some((C::Map(key), parent)) if !matches!(ev, Event::MappingEnd) => {
                let k = key.take();
                match (parent, k) {
                    (Some(p), Some(k)) => trie.child(*p, &Seg::Key(k)),
                    _ => None,
                }
            }
            _ => None,
        };
        match ev {
            Event::SequenceStart(..) => {
                trie.record(node, pos, false);
                stack.push((C::Seq(0), node));
            }
            Event::MappingStart(..) => {
                trie.record(node, pos, false);
                stack.push((C::Map(None), node));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            _ => trie.record(node, pos, true),
        }
    }
    // Each place: the position of its deepest field that was found.
    queries
        .iter()
        .map(|(doc, path)| {
            let mut n = *roots.get(doc)?;
            let mut best = trie.pos[n];
            for seg in &path.0 {
                match trie.child(n, seg) {
                    Some(c) => {
                        n = c;
                        best = trie.pos[n].or(best);
                        if trie.pos[n].is_none() {
                            break;
                        }
                    }
                    None => break,
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        let (docs, err) = parse_documents(text);
        assert!(err.is_none(), "{err:?}");
        docs.into_iter().next().unwrap().value
    }

    #[test]
    fn locate_many_agrees_with_locate() {
        let text =
            "a: 1\nb:\n  c: [x, y]\n  d: {e: f}\n---\nitems:\n- name: p\n  spec: {port: 80}\n- name: q\n";
        let paths = [
            (0, "b.c[1]"),
            (0, "b.d.e"),
            (0, "b.missing"),
            (1, "items[1].name"),
            (1, "items[0].spec.port"),
            (1, "items[0]"),
            (0, "a"),
        ];
        let parsed: Vec<(usize, FieldPath)> = paths.iter().map(|(d, p)| (*d, FieldPath::parse(p))).collect();
        let queries: Vec<(usize, &FieldPath)> = parsed.iter().map(|(d, p)| (*d, p)).collect();
        let many = locate_many(text, &queries);
        for ((d, p), got) in parsed.iter().zip(&many) {
            assert_eq!(*got, locate(text, *d, p), "{p}");
        }
        assert_eq!(many[0], Some(Pos { line: 3, column: 10 }), "the value y");
        assert_eq!(
            many[3],
            Some(Pos { line: 9, column: 9 }),
            "q, in the second document"
        );
        assert_eq!(
            many[2],
            Some(Pos { line: 2, column: 1 }),
            "missing: its closest ancestor, b"
        );
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let v = one(
            "a: 80\nb: \"80\"\nc: yes\nd: ~\ne: 0x1F\nf: 1.5\ng: web\nh: 0755\ni: !!str 12\nj: y\nk: True\n",
        );
        assert_eq!(v["a"], 80);
        assert_eq!(v["b"], "80");
        assert_eq!(v["c"], "yes");
        assert_eq!(v["j"], "y");
        assert_eq!(v["k"], true);
        assert!(v["d"].is_null());
        assert_eq!(v["e"], 31);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["g"], "web");
        assert_eq!(v["h"], 493);
        assert_eq!(v["i"], "12");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = one("base: &b {app: web, tier: front}\nx:\n  <<: *b\n  tier: back\ny: *b\n");
        assert_eq!(v["x"]["app"], "web");
        assert_eq!(v["x"]["tier"], "back");
        assert_eq!(v["y"]["tier"], "front");
    }

    #[test]
    fn multiple_documents_and_empty_ones() {
        let (docs, err) = parse_documents("a: 1\n---\n---\nb: 2\n");
        assert!(err.is_none());
        assert_eq!(docs.len(), 3);
        assert!(docs[1].value.is_null());
        assert_eq!(docs[2].value["b"], 2);
        assert_eq!(docs[2].start.line, 3);
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let (_, err) = parse_documents("a: 1\nb:\n  c: 1\n  c: 2\n");
        let err = err.unwrap();
        assert!(err.message.contains("already defined"), "{err:?}");
        assert_eq!(err.pos.line, 4);
        let (_, err) = parse_documents("a: [1, 2\nb: 3\n");
        assert!(err.is_some());
    }

    #[test]
    fn json_is_read_too() {
        let v = one(r#"{"kind": "Pod", "spec": {"ports": [80, "http"]}}"#);
        assert_eq!(v["spec"]["ports"][1], "http");
    }

    #[test]
    fn locate_finds_fields_and_falls_back_to_parents() {
        let text = "a: 1\n---\nkind: NetworkPolicy\nspec:\n  ingress:\n  - from:\n    - podSelector: {}\n    ports:\n    - port: 0\n";
        let p = |s: &str| FieldPath::parse(s);
        assert_eq!(
            locate(text, 1, &p("spec.ingress[0].ports[0].port")),
            Some(Pos { line: 9, column: 13 })
        );
        assert_eq!(
            locate(text, 1, &p("spec.ingress[0].from[0]")),
            Some(Pos { line: 7, column: 7 })
        );
        // Missing field: the closest ancestor that exists.
        assert_eq!(
            locate(text, 1, &p("spec.podSelector")),
            Some(Pos { line: 4, column: 1 })
        );
        // A scalar value is pointed at itself, not at its key.
        assert_eq!(locate(text, 0, &p("a")), Some(Pos { line: 1, column: 4 }));
    }
}
