//! Small writers: aligned text tables, Markdown tables, and YAML from JSON values.

/// Left-aligned columns separated by two spaces, with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = table_line(&widths, header);
    for r in rows {
        out.push_str(&table_line(&widths, r));
    }
    out
}

/// One line of [`table`], with the column widths known in advance.
pub fn table_line<S: AsRef<str>>(widths: &[usize], cells: &[S]) -> String {
    let mut s = String::new();
    for (i, c) in cells.iter().enumerate() {
        let c = c.as_ref();
        if i + 1 == cells.len() {
            s.push_str(c);
        } else {
            s.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
    }
    let mut s = s.trim_end().to_string();
    s.push('\n');
    s
}

/// One row of [`markdown`].
pub fn markdown_line<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.as_ref().replace('|', "\\|")).collect();
    format!("| {} |\n", cells.join(" | "))
}

pub fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = markdown_line(header);
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&markdown_line(r));
    }
    out
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_table() {
        let t = table(&["A", "B"], &[vec!["xx".into(), "y".into()]]);
        assert_eq!(t, "A   B\nxx  y\n");
    }
}
