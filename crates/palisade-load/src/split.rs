//! Reading a large YAML text on every core. A YAML stream splits safely at its document
//! markers (`---` at the start of a line ends any scalar), and a long block sequence under
//! a top-level `items:` key (how `kubectl get -o yaml` writes a `List`) splits at the
//! lines that start its entries. Each piece is parsed on its own, in parallel, and the
//! pieces are put back together. When any piece fails (a syntax error, an alias to an
//! anchor in another piece, a limit) the whole text is parsed again in one piece, so that
//! what is reported, and where, is exactly what the sequential reader reports.

use rayon::prelude::*;
use serde_json::Value;

use crate::yaml::{self, Document, SyntaxError};

/// Texts (and documents) smaller than this are parsed in one piece.
const MIN_SPLIT: usize = 256 * 1024;

/// [`yaml::parse_documents`], in parallel where the text allows.
pub fn parse_documents(text: &str) -> (Vec<Document>, Option<SyntaxError>) {
    parse_split(text, MIN_SPLIT)
}

/// Splits texts of at least `min` bytes (tests use small ones).
pub(crate) fn parse_split(text: &str, min: usize) -> (Vec<Document>, Option<SyntaxError>) {
    if text.len() < min || text.lines().any(|l| l.starts_with('%')) {
        // Directives (`%YAML`) belong to the document after them: not split.
        return yaml::parse_documents(text);
    }
    let pieces = document_pieces(text, (min / 4).max(1));
    let parsed: Vec<Option<Vec<Document>>> = pieces
        .par_iter()
        .map(|&(line, piece)| parse_piece(piece, min).map(|docs| shifted(docs, line)))
        .collect();
    if parsed.iter().any(Option::is_none) {
        drop(parsed); // not alive during the second reading
        return yaml::parse_documents(text);
    }
    let mut docs: Vec<Document> = parsed.into_iter().flatten().flatten().collect();
    for (i, d) in docs.iter_mut().enumerate() {
        d.index = i;
    }
    (docs, None)
}

/// The text cut at document markers into pieces of about `part` bytes: small documents
/// together (a parser per document costs more than parsing it), a large one alone (so that
/// its `items:` can be split). Each piece: (first line, text).
fn document_pieces(text: &str, part: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut batch, mut batch_line) = (0, 1);
    let (mut doc, mut doc_line) = (0, 1);
    let markers = line_starts(text).filter(|&(_, o)| o > 0 && is_marker(&text[o..], "---"));
    // Each marker (and the end of the text) ends the document [doc, o).
    for (line, o) in markers.chain(std::iter::once((0, text.len()))) {
        if o - doc >= part {
            if batch < doc {
                out.push((batch_line, &text[batch..doc]));
            }
            out.push((doc_line, &text[doc..o]));
            (batch, batch_line) = (o, line);
        } else if o - batch >= part {
            out.push((batch_line, &text[batch..o]));
            (batch, batch_line) = (o, line);
        }
        (doc, doc_line) = (o, line);
    }
    if batch < text.len() || out.is_empty() {
        out.push((batch_line, &text[batch..]));
    }
    out
}

/// (1-based line number, byte offset) of every line.
fn line_starts(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    std::iter::once(0)
        .chain(
            text.match_indices('\n')
                .map(|(i, _)| i + 1)
                .filter(move |&i| i < text.len()),
        )
        .enumerate()
        .map(|(n, o)| (n + 1, o))
}

/// Whether `rest` starts with the marker `m` followed by a blank or the end of a line.
fn is_marker(rest: &str, m: &str) -> bool {
    rest.strip_prefix(m)
        .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t', '\r', '\n']))
}

/// Documents start where the piece starts: move their positions down by `line - 1`.
fn shifted(mut docs: Vec<Document>, line: usize) -> Vec<Document> {
    for d in &mut docs {
        d.start.line += line - 1;
    }
    docs
}

/// The documents of one piece; `None` when it does not parse on its own.
fn parse_piece(piece: &str, min: usize) -> Option<Vec<Document>> {
    if piece.len() >= min {
        if let Some(doc) = split_items(piece, min) {
            return Some(vec![doc]);
        }
    }
    match yaml::parse_documents(piece) {
        (docs, None) => Some(docs),
        (_, Some(_)) => None,
    }
}

/// Where a top-level `items:` block sequence is, in a one-document piece.
struct Items {
    /// Byte range of the `items:` line (with its newline).
    key: (usize, usize),
    /// End of the sequence's lines.
    end: usize,
    /// How many entries it has.
    entries: usize,
    /// Where parts start: the first entry, then the first entry at least `part` bytes on.
    cuts: Vec<usize>,
}

/// The lines of `text` from byte `from`: (offset, line with its newline). Lazy: a text of
/// empty lines costs nothing to hold.
fn lines_from(text: &str, from: usize) -> impl Iterator<Item = (usize, &str)> + '_ {
    let mut at = from;
    std::iter::from_fn(move || {
        if at >= text.len() {
            return None;
        }
        let rest = &text[at..];
        let line = &rest[..rest.find('\n').map_or(rest.len(), |i| i + 1)];
        let o = at;
        at += line.len();
        Some((o, line))
    })
}

/// Finds the `items:` sequence of `piece` and cuts it into parts of about `part` bytes.
fn find_items(piece: &str, part: usize) -> Option<Items> {
    let (key_at, key_line) = lines_from(piece, 0).find(|(_, l)| {
        l.strip_prefix("items:")
            .is_some_and(|after| after.trim().is_empty() || after.trim_start().starts_with('#'))
    })?;
    let body = key_at + key_line.len();
    let blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    // The indentation of the entries, from the first content line.
    let (_, first) = lines_from(piece, body).find(|(_, l)| !blank(l))?;
    let indent = first.len() - first.trim_start_matches(' ').len();
    let is_entry = |l: &str| {
        l.len() > indent && l.as_bytes()[..indent].iter().all(|&b| b == b' ') && is_marker(&l[indent..], "-")
    };
    if !is_entry(first) {
        return None;
    }
    let (mut entries, mut cuts) = (0, Vec::new());
    let mut end = piece.len();
    for (o, l) in lines_from(piece, body) {
        if l.starts_with('\t') {
            return None; // tabs are no indentation in YAML; leave such text to the parser
        }
        if blank(l) {
            continue;
        }
        let own = l.len() - l.trim_start_matches(' ').len();
        if is_entry(l) {
            entries += 1;
            if cuts.last().is_none_or(|&c| o - c >= part) {
                cuts.push(o);
            }
        } else if own <= indent {
            end = o;
            break;
        }
    }
    Some(Items {
        key: (key_at, body),
        end,
        entries,
        cuts,
    })
}

/// A one-document piece whose `items:` sequence is parsed in parallel parts; `None` when
/// the piece has no such sequence or a part does not parse on its own.
fn split_items(piece: &str, min: usize) -> Option<Document> {
    // Parts of about min / 4 bytes, cut where an entry starts.
    let items = find_items(piece, (min / 4).max(1))?;
    if items.entries < 2 {
        return None;
    }
    let skeleton = format!("{}items: []\n{}", &piece[..items.key.0], &piece[items.end..]);
    let (mut docs, err) = yaml::parse_documents(&skeleton);
    if err.is_some() || docs.len() != 1 {
        return None;
    }
    let mut doc = docs.pop()?;
    if doc.value.get("items") != Some(&Value::Array(Vec::new())) {
        return None;
    }
    // Comments between `items:` and the first entry go with the first part.
    let mut cuts = items.cuts;
    cuts[0] = items.key.1;
    cuts.push(items.end);
    let parts: Vec<Option<Vec<Value>>> = cuts
        .par_windows(2)
        .map(|w| match yaml::parse_nested(&piece[w[0]..w[1]], 1) {
            (mut d, None) if d.len() == 1 => match d.pop()?.value {
                Value::Array(v) => Some(v),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut all = Vec::with_capacity(items.entries);
    for p in parts {
        all.extend(p?);
    }
    doc.value["items"] = Value::Array(all);
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Pos;

    fn summary(r: (Vec<Document>, Option<SyntaxError>)) -> (Vec<(usize, Pos, Value)>, Option<SyntaxError>) {
        (
            r.0.into_iter().map(|d| (d.index, d.start, d.value)).collect(),
            r.1,
        )
    }

    /// The split reader gives what the sequential one gives (documents, indices, starts,
    /// or the same first error), whatever the size at which it splits.
    fn agrees(text: &str) {
        let want = summary(yaml::parse_documents(text));
        for min in [1, 8, 64, 1 << 20] {
            let got = summary(parse_split(text, min));
            if want.1.is_some() {
                assert_eq!(got.1, want.1, "min {min}: {text}");
            } else {
                assert_eq!(got, want, "min {min}: {text}");
            }
        }
    }

    #[test]
    fn split_reading_agrees_with_the_sequential_reader() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n  spec:\n    containers:\n    - name: c\n      args: |\n        - not an entry\n        --- not a marker either\n- kind: Pod\n  metadata:\n    name: b\n# a comment at column 0\n\n- kind: Pod\n  metadata: {name: c}\nmetadata: {resourceVersion: \"7\"}\n";
        let cases = [
            list.to_string(),
            format!("---\n{list}---\n{list}"),
            format!("# head\n{list}...\n---\nkind: Namespace\n--- \n---\n"),
            "kind: List\nitems:\n  - kind: Pod\n    metadata:\n      name: a\n    spec: {containers: [{name: c}]}\n  # comment\n\n  - kind: Pod\n    metadata: {name: b}\n  -   kind: Pod\n      metadata: {name: c}\nmetadata: {}\n".into(),
            // An alias to an anchor in another entry: parts fail, the whole is read.
            "kind: List\nitems:\n- &a {kind: Pod, metadata: {name: a}}\n- *a\n".into(),
            // A duplicate key inside an entry, a syntax error: the same first error.
            "kind: List\nitems:\n- {kind: Pod}\n- kind: Pod\n  kind: Pod\n".into(),
            "kind: List\nitems:\n- {kind: Pod}\n- kind: [\n".into(),
            "a: 1\n---\nb: [\n---\nc: 3\n".into(),
            // Two `items` keys, and `items` not at the top.
            "items:\n- 1\n- 2\nitems:\n- 3\n".into(),
            "spec:\nitems:\n- 1\n- 2\n".into(),
            "%YAML 1.2\n---\nitems:\n- 1\n- 2\n".into(),
            "items:\n- 1\n-\n- - 2\n  - 3\nnext: 4\n".into(),
            String::new(),
        ];
        for c in &cases {
            agrees(c);
        }
        // The list cases are valid YAML, so the comparison is of documents, not errors.
        for c in &cases[..4] {
            assert!(yaml::parse_documents(c).1.is_none(), "{c}");
        }
        assert_eq!(find_items(&cases[3], 1).map(|i| i.entries), Some(3));
        for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seeds")).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                agrees(&std::fs::read_to_string(p).unwrap());
            }
        }
    }

    #[test]
    fn small_documents_are_read_together_large_ones_alone() {
        let text = "a: 1\n---\nb: 2\n---\nitems:\n- 1\n- 2\n- 3\n---\nc: 3\n";
        let pieces: Vec<&str> = document_pieces(text, 12).into_iter().map(|p| p.1).collect();
        // By hand: "a: 1\n---\nb: 2\n" reaches 12 bytes (14); the list (23 bytes) stands alone.
        assert_eq!(
            pieces,
            ["a: 1\n---\nb: 2\n", "---\nitems:\n- 1\n- 2\n- 3\n", "---\nc: 3\n"]
        );
        assert_eq!(
            document_pieces(text, 12).iter().map(|p| p.0).collect::<Vec<_>>(),
            [1, 4, 9]
        );
        assert_eq!(document_pieces("", 12), [(1, "")]);
        agrees(text);
    }

    #[test]
    fn items_really_split_and_depth_counts_as_in_the_whole() {
        let entries: String = (0..100)
            .map(|i| format!("- {{kind: Pod, metadata: {{name: p{i}}}}}\n"))
            .collect();
        let text = format!("kind: List\nitems:\n{entries}");
        let items = find_items(&text, 1).unwrap();
        assert_eq!((items.entries, items.cuts.len()), (100, 100));
        // Parts of at least 200 bytes: entries are 36-37 bytes long, so one cut every 6 entries.
        assert_eq!(find_items(&text, 200).unwrap().cuts.len(), 17);
        agrees(&text);
        // 255 nested sequences inside one entry: too deep in the whole document (refused),
        // not on their own.
        let deep = format!(
            "kind: List\nitems:\n- {}{}\n- 1\n",
            "[".repeat(255),
            "]".repeat(255)
        );
        assert!(
            yaml::parse_documents(&format!("- {}{}\n", "[".repeat(255), "]".repeat(255)))
                .1
                .is_none()
        );
        let whole = yaml::parse_documents(&deep);
        assert!(whole.1.as_ref().is_some_and(|e| e.limit), "{:?}", whole.1);
        assert_eq!(parse_split(&deep, 1).1, whole.1);
    }
}
