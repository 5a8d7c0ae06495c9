//! Small writers: aligned text tables, Markdown tables, CSV fields, and colour for
//! verdicts and severities.

use anstyle::{AnsiColor, Style};

/// Colour for what a terminal user scans for: verdicts and severities. Off unless stdout
/// takes colour (a terminal, `NO_COLOR` unset, `--color` not `never`; or `--color
/// always`); when off, text is returned as it is. Every word stays: colour never carries
/// meaning alone.
#[derive(Clone, Copy, Debug)]
pub struct Colour {
    on: bool,
}

impl Colour {
    /// Whether stdout takes colour now (after `--color` was applied).
    pub fn for_stdout() -> Colour {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Colour {
            on: !matches!(choice, anstream::ColorChoice::Never),
        }
    }

    /// No colour.
    pub fn off() -> Colour {
        Colour { on: false }
    }

    fn paint(&self, style: Style, s: &str) -> String {
        if self.on {
            format!("{style}{s}{style:#}")
        } else {
            s.to_string()
        }
    }

    /// An allowed verdict (green).
    pub fn allowed(&self, s: &str) -> String {
        self.paint(AnsiColor::Green.on_default(), s)
    }

    /// A denied verdict (red, bold).
    pub fn denied(&self, s: &str) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), s)
    }

    /// A severity word: error red, warning yellow, info blue.
    pub fn severity(&self, severity: &str, s: &str) -> String {
        let c = match severity {
            "error" => AnsiColor::Red,
            "warning" => AnsiColor::Yellow,
            _ => AnsiColor::Blue,
        };
        self.paint(c.on_default().bold(), s)
    }
}

/// Characters a terminal shows (colour codes take no room).
fn visible_width(s: &str) -> usize {
    if s.contains('\x1b') {
        anstream::adapter::strip_str(s).to_string().chars().count()
    } else {
        s.chars().count()
    }
}

/// Left-aligned columns separated by two spaces, with a header row unless `no_headers`.
pub fn table(header: &[&str], rows: &[Vec<String>], no_headers: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(visible_width(c));
        }
    }
    let mut out = if no_headers {
        String::new()
    } else {
        table_line(&widths, header)
    };
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
            s.push_str(c);
            let pad = widths[i].saturating_sub(visible_width(c)) + 2;
            s.extend(std::iter::repeat_n(' ', pad));
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
        let t = table(&["A", "B"], &[vec!["xx".into(), "y".into()]], false);
        assert_eq!(t, "A   B\nxx  y\n");
        assert_eq!(
            table(&["A", "B"], &[vec!["xx".into(), "y".into()]], true),
            "xx  y\n"
        );
    }

    #[test]
    fn colour_takes_no_room_in_a_table() {
        let c = Colour { on: true };
        let t = table(&["VERDICT", "X"], &[vec![c.denied("no"), "1".into()]], false);
        assert!(t.contains("\x1b["), "coloured");
        assert_eq!(
            anstream::adapter::strip_str(&t).to_string(),
            "VERDICT  X\nno       1\n"
        );
        assert_eq!(Colour::off().denied("no"), "no");
    }
}
