//! Progress on long work (prune, import, bench): drawn on stderr, only when stderr is a
//! terminal and the output is not `--json`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Whether progress is drawn at all.
pub fn shown(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A bar over `len` rows doing `what`, or a hidden one.
pub fn rows(len: u64, what: &str, json: bool) -> ProgressBar {
    if !shown(json) {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} rows, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A bar over the `len` bytes (when known) of a download of `what`, or a hidden one.
pub fn bytes(len: Option<u64>, what: &str, json: bool) -> ProgressBar {
    if !shown(json) {
        return ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left"
    } else {
        "{msg} {bytes}, {bytes_per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
