//! What `claudectl bench` prints: a table for people, or with `--json` one object whose
//! field names are documented in `claudectl bench --help` (scripts rely on them).

use super::measure::Figure;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A scratch daemon that was measured.
#[derive(Debug, Serialize)]
pub struct DaemonRun {
    /// e.g. `claude-memd`.
    pub program: &'static str,
    /// Its version, from `/v1/health`.
    pub version: String,
    /// Its process id (gone when the bench ends).
    pub pid: u32,
}

/// The whole result.
#[derive(Debug, Serialize)]
pub struct Report {
    /// claudectl's version.
    pub version: &'static str,
    /// Measured iterations per figure.
    pub iterations: usize,
    /// Unmeasured iterations before them.
    pub warmup: usize,
    /// The programs measured: name → path.
    pub programs: BTreeMap<&'static str, PathBuf>,
    /// The scratch daemons.
    pub daemons: Vec<DaemonRun>,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// A value in its unit, for people.
fn shown(v: f64, unit: &str) -> String {
    match unit {
        "ms" if v < 10.0 => format!("{v:.3} ms"),
        "ms" => format!("{v:.1} ms"),
        _ => format!("{v:.0}/s"),
    }
}

impl Report {
    /// `--json`: one pretty object on stdout.
    pub fn print_json(&self) {
        let json = serde_json::to_string_pretty(self).expect("a report serializes");
        emit(&format!("{json}\n"));
    }

    /// The table, then what each line measured.
    pub fn print_table(&self) {
        emit(&self.table());
    }

    fn table(&self) -> String {
        let mut out = format!(
            "{:<20} {:>11} {:>11}   {:<14} {:>11} {:>8}\n",
            "FIGURE", "P50", "P99", "BASELINE", "P50", "RATIO"
        );
        for f in &self.figures {
            out += &format!(
                "{:<20} {:>11} {:>11}   {:<14} {:>11} {:>7.2}x\n",
                f.id,
                shown(f.stats.p50, f.unit),
                shown(f.stats.p99, f.unit),
                f.baseline.id,
                shown(f.baseline.stats.p50, f.unit),
                f.ratio
            );
        }
        out.push('\n');
        let mut seen = Vec::new();
        for (id, title) in self
            .figures
            .iter()
            .flat_map(|f| [(f.id, f.title), (f.baseline.id, f.baseline.title)])
        {
            if !seen.contains(&id) {
                seen.push(id);
                out += &format!("{id:<20} {title}\n");
            }
        }
        let versions: Vec<String> = self
            .daemons
            .iter()
            .map(|d| format!("{} {}", d.program, d.version))
            .collect();
        out += &format!(
            "\n{} iterations after {} to warm up; ratio = p50 / baseline p50; scratch daemons: {}\n",
            self.iterations,
            self.warmup,
            versions.join(", ")
        );
        out
    }
}

/// Write to stdout; a reader that went away (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
