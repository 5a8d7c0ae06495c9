//! A fast reader for the block-style YAML that kubectl, client-go, Helm and generators
//! write: block mappings and sequences, plain scalars (on one line or folded over several),
//! single- and double-quoted scalars on one line, literal block scalars (`|`, `|-`), empty
//! flow collections (`{}`, `[]`), comments and document markers.
//!
//! It reads line by line, without a token stream, several times faster than the full YAML
//! parser. Anything else (anchors, aliases, tags, flow collections with content, folded
//! `>` scalars, quoted scalars over several lines, tabs, carriage returns, control
//! characters, merge keys, duplicate keys, any mistake) makes it decline, and the full
//! parser ([`crate::yaml`]) reads the text instead. So every error, and every position in
//! one, is that parser's; and what this reader accepts it reads to exactly the values that
//! parser builds (checked against it by differential tests here and by a fuzz target).
//! No kept crate reads YAML at this speed; the full parser stays the reference.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::yaml::{resolve_plain, Document, Pos, MAX_DEPTH};

/// The documents of `text` (sitting `depth` collections deep in a larger document), or
/// `None` when the text is not in the subset this reader takes.
pub(crate) fn parse(text: &str, depth: usize) -> Option<Vec<Document>> {
    if !plain_characters(text) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut reader = Reader {
        lines,
        at: 0,
        depth,
        docs: Vec::new(),
        doc: None,
        stack: Vec::new(),
    };
    reader.run()?;
    Some(reader.docs)
}

/// Whether the text avoids what this reader leaves to the full parser: tabs, carriage
/// returns, other control characters, C1 controls, byte-order marks and non-characters.
fn plain_characters(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' | 0x20..=0x7e => i += 1,
            0x00..=0x1f | 0x7f => return false,
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => return false,
            0xef if matches!(
                (b.get(i + 1), b.get(i + 2)),
                (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe..=0xbf))
            ) =>
            {
                return false
            }
            _ => i += 1,
        }
    }
    true
}

/// An open collection: its column, and the entry awaiting a value on later lines.
enum Frame {
    Map {
        indent: usize,
        map: Map<String, Value>,
        /// A key written as `key:` whose value follows (or is null).
        key: Option<String>,
    },
    Seq {
        indent: usize,
        items: Vec<Value>,
        /// An entry written as `-` whose value follows (or is null).
        open: bool,
    },
}

impl Frame {
    fn indent(&self) -> usize {
        match self {
            Frame::Map { indent, .. } | Frame::Seq { indent, .. } => *indent,
        }
    }

    fn awaits(&self) -> bool {
        match self {
            Frame::Map { key, .. } => key.is_some(),
            Frame::Seq { open, .. } => *open,
        }
    }

    /// The collection's value, a pending entry's value being null.
    fn finish(self) -> Value {
        match self {
            Frame::Map { mut map, key, .. } => {
                if let Some(k) = key {
                    map.insert(k, Value::Null);
                }
                Value::Object(map)
            }
            Frame::Seq { mut items, open, .. } => {
                if open {
                    items.push(Value::Null);
                }
                Value::Array(items)
            }
        }
    }
}

/// The document being read: where it starts and its root once complete.
struct Doc {
    start: Pos,
    root: Option<Value>,
}

struct Reader<'t> {
    lines: Vec<&'t str>,
    /// The next line to read (0-based).
    at: usize,
    depth: usize,
    docs: Vec<Document>,
    doc: Option<Doc>,
    stack: Vec<Frame>,
}

/// A line's indentation (spaces) and the rest.
fn indented(line: &str) -> (usize, &str) {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len(), rest)
}

/// Whether `rest` (what follows a value) is nothing, or blanks and a comment.
fn only_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

/// Whether a line is a document marker `---` (alone or before a comment); `None` when it
/// starts with `---` or `...` in a way this reader leaves to the parser.
fn marker(line: &str) -> Option<bool> {
    if let Some(after) = line.strip_prefix("---") {
        return (after.is_empty() || (after.starts_with(' ') && only_comment(after))).then_some(true);
    }
    if line.starts_with("...") {
        return None;
    }
    Some(false)
}

impl<'t> Reader<'t> {
    fn run(&mut self) -> Option<()> {
        while self.at < self.lines.len() {
            let line = self.lines[self.at];
            let number = self.at + 1;
            self.at += 1;
            if marker(line)? {
                self.end_document()?;
                self.doc = Some(Doc {
                    start: Pos {
                        line: number,
                        column: 1,
                    },
                    root: None,
                });
                continue;
            }
            let (indent, content) = indented(line);
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if self.doc.is_none() {
                self.doc = Some(Doc {
                    start: Pos {
                        line: number,
                        column: indent + 1,
                    },
                    root: None,
                });
            }
            self.line(indent, content)?;
        }
        self.end_document()
    }

    /// Closes the open document (if any) into the list.
    fn end_document(&mut self) -> Option<()> {
        while !self.stack.is_empty() {
            self.close()?;
        }
        if let Some(doc) = self.doc.take() {
            self.docs.push(Document {
                index: self.docs.len(),
                start: doc.start,
                value: doc.root.unwrap_or(Value::Null),
            });
        }
        Some(())
    }

    /// Closes the innermost collection into its parent's pending entry (or the root).
    fn close(&mut self) -> Option<()> {
        let v = self.stack.pop()?.finish();
        self.attach(v)
    }

    fn attach(&mut self, v: Value) -> Option<()> {
        match self.stack.last_mut() {
            None => {
                let doc = self.doc.as_mut()?;
                if doc.root.is_some() {
                    return None;
                }
                doc.root = Some(v);
            }
            Some(Frame::Map { map, key, .. }) => {
                map.insert(key.take()?, v);
            }
            Some(Frame::Seq { items, open, .. }) => {
                if !*open {
                    return None;
                }
                *open = false;
                items.push(v);
            }
        }
        Some(())
    }

    fn open(&mut self, frame: Frame) -> Option<()> {
        if self.stack.len() + self.depth >= MAX_DEPTH {
            return None;
        }
        self.stack.push(frame);
        Some(())
    }

    /// A content line at column `indent`.
    fn line(&mut self, indent: usize, content: &'t str) -> Option<()> {
        let entry = content == "-" || content.starts_with("- ");
        loop {
            match self.stack.last() {
                Some(f) if f.indent() > indent => self.close()?,
                // A sequence written at its key's column ends at the next key.
                Some(Frame::Seq { indent: i, .. }) if *i == indent && !entry => {
                    let n = self.stack.len();
                    match self.stack.get(n.checked_sub(2)?) {
                        Some(Frame::Map {
                            indent: p,
                            key: Some(_),
                            ..
                        }) if *p == indent => self.close()?,
                        _ => return None,
                    }
                }
                _ => break,
            }
        }
        let same = self.stack.last().is_some_and(|f| f.indent() == indent);
        let fresh = match self.stack.last_mut() {
            Some(Frame::Map { key, map, .. }) if same && !entry => {
                if let Some(k) = key.take() {
                    map.insert(k, Value::Null);
                }
                false
            }
            Some(Frame::Seq { items, open, .. }) if same && entry => {
                if std::mem::take(open) {
                    items.push(Value::Null);
                }
                false
            }
            // A sequence at its key's column, or any collection deeper than its parent.
            Some(Frame::Map { key: Some(_), .. }) if same && entry => true,
            Some(f) if !same && f.awaits() => true,
            None if self.doc.as_ref()?.root.is_none() => true,
            _ => return None,
        };
        if fresh {
            self.open_for(indent, entry)?;
        }
        if entry {
            self.sequence_entry(indent, &content[1..])
        } else {
            self.mapping_entry(indent, content)
        }
    }

    fn open_for(&mut self, indent: usize, entry: bool) -> Option<()> {
        self.open(if entry {
            Frame::Seq {
                indent,
                items: Vec::new(),
                open: false,
            }
        } else {
            Frame::Map {
                indent,
                map: Map::new(),
                key: None,
            }
        })
    }

    /// `key: value` (or `key:`) in the mapping at column `indent`.
    fn mapping_entry(&mut self, indent: usize, content: &'t str) -> Option<()> {
        let (key, rest) = split_key(content)?;
        match self.stack.last_mut() {
            Some(Frame::Map {
                map, key: pending, ..
            }) => {
                if map.contains_key(key.as_ref()) || pending.is_some() {
                    return None;
                }
                *pending = Some(key.into_owned());
            }
            _ => return None,
        }
        match self.value(indent, rest)? {
            Some(v) => self.attach(v),
            None => Some(()),
        }
    }

    /// `- value` (or `-`) in the sequence at column `indent`; `rest` follows the dash.
    fn sequence_entry(&mut self, indent: usize, rest: &'t str) -> Option<()> {
        match self.stack.last_mut() {
            Some(Frame::Seq { open, .. }) => *open = true,
            _ => return None,
        }
        let (spaces, content) = indented(rest);
        if content.is_empty() || content.starts_with('#') {
            return Some(()); // the value follows on later lines
        }
        if content.starts_with('-') && (content.len() == 1 || content[1..].starts_with(' ')) {
            return None; // `- - x`
        }
        if split_key(content).is_some() {
            // `- key: value`: a mapping at the column of its first key.
            let column = indent + 1 + spaces;
            self.open(Frame::Map {
                indent: column,
                map: Map::new(),
                key: None,
            })?;
            return self.mapping_entry(column, content);
        }
        match self.value(indent, rest)? {
            Some(v) => self.attach(v),
            None => Some(()),
        }
    }

    /// The value after a key's colon or an entry's dash (`rest`, from its blank on), in
    /// an entry at column `n`: `None` inside when it follows on later lines.
    fn value(&mut self, n: usize, rest: &'t str) -> Option<Option<Value>> {
        if only_comment(rest) {
            return Some(None);
        }
        let v = rest.trim_start_matches(' ');
        if v.len() == rest.len() {
            return None; // `key:value` is no entry; the caller checked the blank
        }
        let first = v.as_bytes()[0];
        let value = match first {
            b'|' => self.literal(n, &v[1..])?,
            b'{' | b'[' => {
                let close = if first == b'{' { "}" } else { "]" };
                let after = v[1..].strip_prefix(close)?;
                if !only_comment(after) {
                    return None;
                }
                if first == b'{' {
                    Value::Object(Map::new())
                } else {
                    Value::Array(Vec::new())
                }
            }
            b'"' => {
                let (s, after) = double_quoted(&v[1..])?;
                if !only_comment(after) {
                    return None;
                }
                Value::String(s)
            }
            b'\'' => {
                let (s, after) = single_quoted(&v[1..])?;
                if !only_comment(after) {
                    return None;
                }
                Value::String(s)
            }
            // `- x` on the line of a key, `? `, `: `, and the other indicators.
            b'-' if v.len() == 1 || v.as_bytes()[1] == b' ' => return None,
            b'?' | b':' | b']' | b'}' | b',' | b'#' | b'&' | b'*' | b'!' | b'>' | b'%' | b'@' | b'`' => {
                return None
            }
            _ => {
                let text = plain_line(v)?;
                let text = self.folded(n, text, text.len() < v.trim_end_matches(' ').len())?;
                resolve_plain(&text)
            }
        };
        Some(Some(value))
    }

    /// A plain scalar continued on the lines after it that sit deeper than column `n`,
    /// folded as YAML folds them (a line break is a space; empty lines are line breaks).
    /// `commented`: the first line ends in a comment, so nothing may continue it.
    fn folded(&mut self, n: usize, first: &'t str, commented: bool) -> Option<Cow<'t, str>> {
        let mut text: Option<String> = None;
        let mut at = self.at;
        let mut empty = 0;
        while at < self.lines.len() {
            let (indent, content) = indented(self.lines[at]);
            if content.is_empty() {
                empty += 1;
                at += 1;
                continue;
            }
            if indent <= n || content.starts_with('#') {
                break;
            }
            if commented || content.contains(" #") || starts_with_indicator(content) {
                return None;
            }
            let s = text.get_or_insert_with(|| first.to_string());
            if empty == 0 {
                s.push(' ');
            } else {
                s.extend(std::iter::repeat_n('\n', empty));
            }
            s.push_str(plain_line(content)?);
            empty = 0;
            at += 1;
            self.at = at;
        }
        Some(match text {
            Some(s) => Cow::Owned(s),
            None => Cow::Borrowed(first),
        })
    }

    /// A literal block scalar (`|` or `|-`; `header` follows the bar) in an entry at
    /// column `n`: its lines are those deeper than `n`.
    fn literal(&mut self, n: usize, header: &str) -> Option<Value> {
        let (strip, rest) = match header.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, header),
        };
        if !(rest.is_empty() || (rest.starts_with(' ') && only_comment(rest))) {
            return None;
        }
        // The content's indentation: that of its first non-empty line.
        let mut m = None;
        let mut at = self.at;
        while at < self.lines.len() {
            let (indent, content) = indented(self.lines[at]);
            if !content.is_empty() {
                m = Some(indent);
                break;
            }
            at += 1;
        }
        let m = m.filter(|&m| m > n)?;
        let mut out = String::new();
        let mut kept = 0; // length of `out` up to its last non-empty line
        while self.at < self.lines.len() {
            let line = self.lines[self.at];
            let (indent, content) = indented(line);
            if content.is_empty() {
                if indent > m {
                    return None; // spaces beyond the indentation are content: left to the parser
                }
                out.push('\n');
            } else if indent >= m {
                out.push_str(&line[m..]);
                out.push('\n');
                kept = out.len();
            } else if indent > n {
                return None; // less indented than the content, yet inside the entry
            } else {
                break;
            }
            self.at += 1;
        }
        // At the end of a text without a final line break the parser's chomping differs
        // from the specification's: left to it.
        if kept == 0 || (self.at == self.lines.len() && self.lines.last().is_some_and(|l| !l.is_empty())) {
            return None;
        }
        out.truncate(if strip { kept - 1 } else { kept });
        Some(Value::String(out))
    }
}

/// A key (plain, or quoted as kubectl quotes some) and what follows its colon: `key: rest`
/// or `key:` (the rest empty). `None` when the line is no such entry or its key is one
/// this reader leaves to the parser.
fn split_key(content: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = match content.as_bytes().first()? {
        b'"' => {
            let (k, after) = double_quoted(&content[1..])?;
            (Cow::Owned(k), after.trim_start_matches(' '))
        }
        b'\'' => {
            let (k, after) = single_quoted(&content[1..])?;
            (Cow::Owned(k), after.trim_start_matches(' '))
        }
        _ if starts_with_indicator(content) => return None,
        _ => {
            let (k, after) = plain_key(content)?;
            (Cow::Borrowed(k), after)
        }
    };
    let rest = after.strip_prefix(':')?;
    // YAML limits an implicit key to 1024 characters (the parser refuses longer ones).
    let long = content.len() - rest.len() > 1000;
    if !(rest.is_empty() || rest.starts_with(' ')) || key == "<<" || long {
        return None;
    }
    Some((key, rest))
}

/// A plain key: the text before the first `: ` (or a final `:`), and what follows from
/// that colon on.
fn plain_key(content: &str) -> Option<(&str, &str)> {
    let b = content.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b':' if i + 1 == b.len() || b[i + 1] == b' ' => {
                return Some((content[..i].trim_end_matches(' '), &content[i..]));
            }
            b'#' if i > 0 && b[i - 1] == b' ' => return None,
            _ => {}
        }
    }
    None
}

/// Whether `s` starts with a YAML indicator character (which this reader never takes as
/// the start of a plain scalar or key).
fn starts_with_indicator(s: &str) -> bool {
    s.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
    ])
}

/// A plain scalar's text on its line (up to a comment, trailing blanks dropped); `None`
/// when the line holds what a plain scalar cannot (`: `, a final colon).
fn plain_line(v: &str) -> Option<&str> {
    let end = v.find(" #").unwrap_or(v.len());
    let text = v[..end].trim_end_matches(' ');
    if text.contains(": ") || text.ends_with(':') {
        return None;
    }
    Some(text)
}

/// A single-quoted scalar after its opening quote: (text, what follows the closing quote).
fn single_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let q = rest.find('\'')?;
        out.push_str(&rest[..q]);
        if rest[q + 1..].starts_with('\'') {
            out.push('\'');
            rest = &rest[q + 2..];
        } else {
            return Some((out, &rest[q + 1..]));
        }
    }
}

/// A double-quoted scalar after its opening quote: (text, what follows the closing quote).
fn double_quoted(s: &str) -> Option<(String, &str)> {
    // Most quoted scalars hold no escape: one copy.
    if let Some(end) = s.find(['"', '\\']) {
        if s.as_bytes()[end] == b'"' {
            return Some((s[..end].to_string(), &s[end + 1..]));
        }
    }
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| -> Option<char> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        v = v * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(v)
                };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_events;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn docs(d: Vec<Document>) -> Vec<(usize, Pos, Value)> {
        d.into_iter().map(|d| (d.index, d.start, d.value)).collect()
    }

    /// When the fast reader accepts `text`, the full parser reads the same documents
    /// (values, indices, starts) without an error. Returns whether it accepted.
    fn agrees(text: &str, depth: usize) -> bool {
        let Some(fast) = parse(text, depth) else {
            return false;
        };
        let (full, err) = parse_events(text, depth);
        assert_eq!(
            err, None,
            "the fast reader accepted what the parser refuses:\n{text}"
        );
        assert_eq!(docs(fast), docs(full), "\n{text}");
        true
    }

    /// Texts the fast reader must take (and read as the parser does).
    #[test]
    fn reads_what_kubectl_writes_as_the_parser_does() {
        let taken = [
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: web\n    version: \"2\"\n",
            "# head\n\n---\nkind: List\nitems:\n- kind: Pod\n  metadata: {}\n  spec:\n    containers:\n    - name: c\n      ports:\n      - containerPort: 80\n        protocol: TCP\n- kind: Pod\n",
            "a:\n  - 1\n  - 0x10\n  -\n  - ~\nb:\nc: true\nd: 'it''s'\ne: \"q\\\"\\u00e9\\n\"\n",
            "---\n---\n# only a comment\n---\na: 1\n",
            "a: 1\n---\n",
            "  - x\n  - y: 1\n    z: 2\n  -   w: 3\n      v: [] # c\n",
            "desc: a long\n  plain scalar\n\n  over lines\nnext: 1\n",
            "- a\n  b\n- c\n",
            "script: |\n  line 1\n\n    indented\n  # not a comment\n\nafter: x\nstrip: |-\n  one\n  two\n\n\nend: 1\n",
            "k: v # comment\nurl: http://x:80/a#b\nkey with spaces: y\nfoo:bar: baz\n",
            "a:\n  b:\n    c:\n  d: null\n",
            "n: -1\nm: -x\nf: 1e3\ng: .inf\nh: 0o7\ni: 010\nj: 1_000\nk: +12\n",
            "é: ü\nemoji: \"\\U0001F600\"\n",
            // managedFields as kubectl and client-go write them, keys quoted or not
            "fieldsV1:\n  \"f:metadata\":\n    \"f:labels\":\n      \".\": {}\n  f:spec:\n    .: {}\n    k:{\"name\":\"main\"}:\n      'f:image' : {}\n",
            "- \"a\": 1\n  'b': 2\n",
        ];
        for t in taken {
            assert!(agrees(t, 0), "declined:\n{t}");
        }
    }

    /// Texts it must leave to the parser (errors among them: the parser reports those).
    #[test]
    fn declines_what_it_does_not_read() {
        let declined: [&str; _] = [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n",
            "a: >\n  folded\n",
            "a: |+\n  keep\n",
            "a: |2\n   x\n",
            "a: \"two\n  lines\"\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\n",
            "a: b: c\n",
            "a: 1\n  b: 2\n",
            "- - a\n",
            "? a\n: b\n",
            "\"<<\": {a: 1}\n",
            "\"a\"b: 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 1\n...\n",
            // found by the fuzz target: the parser keeps two line breaks here
            "a: |\n  one\n\n\n  folded\n\n  ",
            "a: |\n  one",
            // found by the fuzz target: an implicit key longer than YAML allows
            &format!("{}: 1\n", "k".repeat(1100)),
            "scalar\n",
            "a: x # c\n  y\n",
            "a:\n- 1\nb: 2\n - 3\n",
            "\u{feff}a: 1\n",
            "a: b\u{0}\n",
        ];
        for t in declined {
            assert!(parse(t, 0).is_none(), "taken:\n{t}");
        }
    }

    #[test]
    fn nests_no_deeper_than_the_parser_allows() {
        let deep: String = (0..MAX_DEPTH + 2)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert!(parse(&deep, 0).is_none());
        let ok: String = (0..10).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(agrees(&ok, 0));
        assert!(parse(&ok, MAX_DEPTH - 5).is_none());
    }

    /// Lines from which random texts are made: entries, scalars of every style, markers,
    /// comments, continuation and block-scalar lines, and mistakes.
    const PARTS: &[&str] = &[
        "a:",
        "b: 1",
        "c: x y",
        "- ",
        "- v",
        "- k: v",
        "- k:",
        "-",
        "# c",
        "",
        "---",
        "--- # c",
        "...",
        "d: |",
        "e: |-",
        "text",
        "more text",
        "f: 'q'",
        "g: \"\\t\"",
        "h: {}",
        "i: []",
        "j: true",
        "k: ~",
        "l: 0x1F",
        "m: 1.5",
        "n: \"a\" # c",
        "o: a # c",
        "p: x:y",
        "q: 'it''s'",
        "r:",
        "- - x",
        "s: a: b",
        "t: -1",
        "u: #",
        "v: \"\\u00e9\"",
        "w: [a]",
        "x: *a",
        "y: &a 1",
        "- |",
        "- 'x'",
        "z: y ",
        "  ",
        "#",
        "k :  v",
        "a: b\t",
        "é: 1",
        "1: one",
        "null: n",
        "\"q\": 1",
        "'s': {}",
        "- \"k\": v",
        "\"f:x\":",
        "\"a\" : b",
        "\"<<\": {}",
        "k:{\"a\"}: {}",
        ".: {}",
    ];

    fn text_of(lines: &[(usize, usize)]) -> String {
        lines
            .iter()
            .map(|&(indent, part)| format!("{}{}\n", " ".repeat(indent), PARTS[part]))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Random texts of those lines: whenever the fast reader accepts one, the parser
        /// reads it to the same documents (the parser is the independent oracle).
        #[test]
        fn agrees_with_the_parser_on_random_texts(
            lines in prop::collection::vec((0usize..7, 0..PARTS.len()), 0..14),
            depth in 0usize..3,
        ) {
            agrees(&text_of(&lines), depth);
        }
    }

    /// Random texts are accepted often enough for the test above to mean something.
    #[test]
    fn random_texts_are_often_accepted() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = prop::collection::vec((0usize..4, 0..PARTS.len()), 1..8);
        let mut taken = 0;
        for _ in 0..2000 {
            let lines = strategy.new_tree(&mut runner).unwrap().current();
            if agrees(&text_of(&lines), 0) {
                taken += 1;
            }
        }
        assert!(taken > 200, "only {taken} of 2000 accepted");
    }

    /// A tree of collections and scalar spellings, written in block style below.
    #[derive(Clone, Debug)]
    enum Tree {
        Scalar(&'static str),
        Map(Vec<Tree>),
        Seq(Vec<Tree>),
    }

    /// Scalars as people write them (a `|` spelling is a literal block scalar, a `\n` a
    /// line break inside a plain scalar).
    const SCALARS: &[&str] = &[
        "x",
        "true",
        "False",
        "~",
        "null",
        "12",
        "0x10",
        "0o7",
        "1e3",
        "-1",
        ".inf",
        "yes",
        "a b",
        "'single ''q'''",
        r#""dq \" \u00e9""#,
        r#""""#,
        "''",
        "{}",
        "[]",
        "http://a:1/b#c",
        "v # comment",
        "|",
        "|-",
        "long\nfolded",
        "10.0.0.0/8",
        r#""2""#,
        "a\n\nb",
    ];

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = (0..SCALARS.len()).prop_map(|i| Tree::Scalar(SCALARS[i]));
        leaf.prop_recursive(5, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..5).prop_map(Tree::Map),
                prop::collection::vec(inner, 1..5).prop_map(Tree::Seq),
            ]
        })
    }

    /// Writes `t` as the value after `head` (a `key:` or `-` at column `col`), children at
    /// `col + step` (a sequence under a key sits at the key's column when `step` is 0).
    fn write(t: &Tree, head: &str, col: usize, step: usize, out: &mut String) {
        let pad = " ".repeat(col);
        match t {
            Tree::Scalar(s) if s.starts_with('|') => {
                out.push_str(&format!("{pad}{head} {s}\n{pad}  one\n\n{pad}   two\n"));
            }
            Tree::Scalar(s) => {
                let s = s.replace('\n', &format!("\n{pad} "));
                out.push_str(&format!("{pad}{head} {s}\n"));
            }
            Tree::Map(entries) => {
                out.push_str(&format!("{pad}{head}\n"));
                for (i, e) in entries.iter().enumerate() {
                    write(e, &format!("k{i}:"), col + step.max(1), step, out);
                }
            }
            Tree::Seq(items) => {
                out.push_str(&format!("{pad}{head}\n"));
                let inner = if head.ends_with(':') {
                    col + step
                } else {
                    col + step.max(1)
                };
                for item in items {
                    write(item, "-", inner, step, out);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Random well-formed trees written in block style (every scalar spelling, folded
        /// and literal scalars, sequences at their key's column or deeper): the fast reader
        /// takes them and reads them as the parser does.
        #[test]
        fn agrees_with_the_parser_on_written_trees(t in tree(), step in 0usize..4, depth in 0usize..2) {
            let mut text = String::new();
            write(&t, "root:", 0, step, &mut text);
            prop_assert!(agrees(&text, depth), "declined:\n{}", text);
        }
    }

    /// Every manifest bundled with the project (examples, deploy files, test fixtures):
    /// read as the parser reads it, or left to it.
    #[test]
    fn agrees_with_the_parser_on_the_bundled_manifests() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut dirs = vec![root.join("examples"), root.join("deploy")];
        for c in std::fs::read_dir(root.join("crates")).unwrap() {
            dirs.push(c.unwrap().path().join("tests"));
        }
        let (mut files, mut taken) = (0, 0);
        while let Some(d) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    let Ok(text) = std::fs::read_to_string(&p) else {
                        continue;
                    };
                    files += 1;
                    if agrees(&text, 0) {
                        taken += 1;
                    }
                }
            }
        }
        // Hand-written files use flow collections (`{app: web}`), which it leaves to the
        // parser; namespaces and deploy files are plain block style.
        assert!(files >= 10 && taken >= 2, "{taken} of {files} files taken");
    }
}
