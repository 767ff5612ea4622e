//! Reading an interactive child's screen: its text, whether Claude Code's prompt box is
//! there (ready for a turn), and answering what the terminal is asked (cursor position,
//! device attributes), which Claude Code's UI library waits for like any terminal's.

use std::num::NonZeroU16;

/// Terminal size of interactive children.
pub const ROWS: u16 = 50;
pub const COLS: u16 = 200;

/// Lines of scrollback kept (what `screen` shows is the visible part only).
const SCROLLBACK: usize = 500;

/// Terminal answers Claude Code asked for and that are still to be written back.
#[derive(Default)]
pub struct Replies {
    pub pending: Vec<u8>,
}

impl vt100::Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        match (i1, c, params.first().and_then(|p| p.first())) {
            // Device status report: where the cursor is (1-based).
            (None, 'n', Some(6)) => {
                let (row, col) = screen.cursor_position();
                self.pending
                    .extend(format!("\x1b[{};{}R", row + 1, col + 1).into_bytes());
            }
            // Primary device attributes: a VT220 with ANSI colour, like xterm says.
            (None, 'c', None | Some(0)) => self.pending.extend(b"\x1b[?62;22c"),
            _ => {}
        }
    }
}

pub type Parser = vt100::Parser<Replies>;

pub fn parser(rows: u16, cols: u16) -> Parser {
    vt100::Parser::new_with_callbacks(nonzero(rows), nonzero(cols), SCROLLBACK, Replies::default())
}

pub fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

/// The visible screen as text: one line per row, trailing blanks and blank last rows cut.
pub fn text(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen
        .rows(0, cols.get())
        .map(|r| r.trim_end().to_string())
        .collect();
    let last = rows
        .iter()
        .rposition(|r| !r.is_empty())
        .map_or(0, |i| i + 1);
    rows[..last].join("\n")
}

/// A horizontal rule of Claude Code's UI (the prompt box's edges).
fn is_rule(row: &str) -> bool {
    let t = row.trim();
    t.chars().count() >= 10 && t.chars().all(|c| c == '─')
}

/// Claude Code's prompt box: a row starting with `❯` (or `>`) between two rules. Returns
/// what is typed in it.
pub fn prompt_box(text: &str) -> Option<String> {
    let rows: Vec<&str> = text.lines().collect();
    (1..rows.len().saturating_sub(1)).find_map(|i| {
        let t = rows[i].trim_start();
        let typed = t.strip_prefix('❯').or_else(|| t.strip_prefix('>'))?;
        (is_rule(rows[i - 1]) && is_rule(rows[i + 1])).then(|| typed.trim().to_string())
    })
}

/// Whether Claude Code shows a turn at work (its spinner line offers Escape).
pub fn working(text: &str) -> bool {
    text.contains("esc to interrupt")
}

/// The last `n` non-empty rows of a screen text, for errors.
pub fn tail(text: &str, n: usize) -> String {
    let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    rows[rows.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_box_is_a_prompt_between_two_rules() {
        let rule = "─".repeat(40);
        let ready = format!("Claude Code\n{rule}\n❯ \n{rule}\n  ⏵⏵ auto mode on");
        assert_eq!(prompt_box(&ready).as_deref(), Some(""));
        let typed = format!("{rule}\n❯ hello there\n{rule}");
        assert_eq!(prompt_box(&typed).as_deref(), Some("hello there"));
        let dialog =
            format!("{rule}\n Accessing workspace:\n ❯ No, exit\n   Yes, I trust this folder");
        assert_eq!(prompt_box(&dialog), None);
    }

    #[test]
    fn the_parser_answers_cursor_and_device_queries() {
        let mut p = parser(ROWS, COLS);
        p.process(b"ab\x1b[6n\x1b[c");
        let out = std::mem::take(&mut p.callbacks_mut().pending);
        assert_eq!(out, b"\x1b[1;3R\x1b[?62;22c");
        p.process(b"\x1b[2;1Hline two   ");
        assert_eq!(text(p.screen()), "ab\nline two");
    }
}
