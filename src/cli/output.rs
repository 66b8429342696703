//! Output: JSON for scripts, aligned text for people, colour only where it can be seen.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::{CliError, CliResult};

/// How a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: one JSON document on stdout.
    pub json: bool,
    /// ANSI colour: stdout is a terminal and `NO_COLOR` is unset or empty.
    pub color: bool,
}

/// A colour or weight for [`Output::paint`].
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Dim,
    Green,
    Red,
    Yellow,
    Cyan,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
        }
    }
}

impl Output {
    pub fn detect(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            json,
            color: !json && !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// `text` in `style` when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_owned()
        }
    }

    /// Prints `value` as pretty JSON.
    pub fn json<T: Serialize>(&self, value: &T) -> CliResult {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, value).map_err(|e| CliError::Io {
            context: "cannot write JSON".into(),
            source: e.into(),
        })?;
        writeln!(stdout).map_err(CliError::io("cannot write to stdout"))
    }

    /// Prints lines of text.
    pub fn text(&self, text: &str) -> CliResult {
        let mut stdout = std::io::stdout().lock();
        if text.ends_with('\n') {
            write!(stdout, "{text}")
        } else {
            writeln!(stdout, "{text}")
        }
        .map_err(CliError::io("cannot write to stdout"))
    }

    /// Prints `value` as JSON with `--json`, otherwise the text `human` makes.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&Output) -> String,
    ) -> CliResult {
        if self.json {
            self.json(value)
        } else {
            self.text(&human(self))
        }
    }
}

/// Rows aligned in columns (by character count; cells are single-line). The last column is
/// left ragged so long titles do not pad every line.
pub fn table(out: &Output, header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i + 1 < columns {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_owned()
    };
    let mut text = out.paint(
        Style::Bold,
        &line(header.iter().map(|h| (*h).to_owned()).collect()),
    );
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.clone()));
        text.push('\n');
    }
    text
}

/// `text` on one line, cut to `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut s: String = flat.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// `n` and the noun that goes with it: "1 memory", "3 memories".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A byte count for people: 1.5 MiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1u64, "memory", "memories"), "1 memory");
        assert_eq!(count(0u64, "memory", "memories"), "0 memories");
        assert_eq!(
            count(2u32, "relationship", "relationships"),
            "2 relationships"
        );
    }

    #[test]
    fn tables_align_columns_without_colour() {
        let out = Output {
            json: false,
            color: false,
        };
        let text = table(
            &out,
            &["ID", "TITLE"],
            &[
                vec!["a".into(), "first".into()],
                vec!["bbb".into(), "second".into()],
            ],
        );
        assert_eq!(text, "ID   TITLE\na    first\nbbb  second\n");
    }

    #[test]
    fn cut_and_bytes_are_compact() {
        assert_eq!(cut("a  b\nc", 10), "a b c");
        assert_eq!(cut("abcdefgh", 4), "abc…");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
