//! `claudectl mem edit ID`: the observation as TOML in `$VISUAL`/`$EDITOR`; what changed goes
//! to `PATCH /v1/observations/{id}`.

use super::forget::parse_id;
use crate::cli::MemEditArgs;
use crate::daemon_client::{Api, CtlResult};
use crate::output;
use crate::output::say;
use claude_daemons::api::memory::{Observation, ObservationEdit, RecordKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::process::ExitCode;

/// The editable part of an observation, as the user sees it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    #[serde(default)]
    subtitle: String,
    #[serde(default)]
    facts: Vec<String>,
    #[serde(default)]
    concepts: Vec<String>,
    #[serde(default)]
    narrative: String,
}

impl Doc {
    fn of(o: &Observation) -> Doc {
        Doc {
            kind: o.kind.clone(),
            title: o.title.clone(),
            subtitle: o.subtitle.clone().unwrap_or_default(),
            facts: o.facts.clone(),
            concepts: o.concepts.clone(),
            narrative: o.narrative.clone().unwrap_or_default(),
        }
    }

    /// The fields that differ from `old`.
    fn changes(self, old: &Doc) -> ObservationEdit {
        let diff = |new: String, old: &String| (new != *old).then_some(new);
        let diff_list = |new: Vec<String>, old: &Vec<String>| (new != *old).then_some(new);
        ObservationEdit {
            kind: diff(self.kind, &old.kind),
            title: diff(self.title, &old.title),
            subtitle: diff(self.subtitle, &old.subtitle),
            facts: diff_list(self.facts, &old.facts),
            concepts: diff_list(self.concepts, &old.concepts),
            narrative: diff(self.narrative, &old.narrative),
        }
    }
}

fn header(o: &Observation) -> String {
    format!(
        "# claudectl mem edit: observation #{} of {} ({}), {}\n\
         # Change what is wrong, save and quit. Files and time stay; the ID stays.\n\
         # type is one of: {}\n\n",
        o.id,
        o.project_name,
        o.project,
        o.created_at,
        claude_daemons::api::memory::OBSERVATION_TYPES.join(", ")
    )
}

/// Run the user's editor on `path` (`$VISUAL`, `$EDITOR`, then `vi`; through the shell, so
/// an editor with arguments such as `code --wait` works).
fn run_editor(path: &std::path::Path) -> anyhow::Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run the editor {editor:?}: {e}"))?;
    anyhow::ensure!(
        status.success(),
        "the editor {editor:?} failed ({status}); nothing changed"
    );
    Ok(())
}

/// Run `claudectl mem edit`.
pub fn run(api: &Api, a: MemEditArgs) -> CtlResult {
    let id = match parse_id(&a.id).map_err(anyhow::Error::msg)? {
        (RecordKind::Observation, id) => id,
        _ => {
            return Err(anyhow::anyhow!(
                "{}: only observations can be edited (forget a summary or prompt instead)",
                a.id
            )
            .into())
        }
    };
    let (o, _): (Observation, Value) = api.get(&format!("/v1/observations/{id}"))?;
    let old = Doc::of(&o);
    let dir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let path = dir.path().join(format!("observation-{id}.toml"));
    let text = header(&o) + &toml::to_string_pretty(&old).map_err(anyhow::Error::from)?;
    std::fs::write(&path, &text).map_err(anyhow::Error::from)?;
    run_editor(&path)?;
    let edited = std::fs::read_to_string(&path).map_err(anyhow::Error::from)?;
    let new: Doc = toml::from_str(&edited)
        .map_err(|e| anyhow::anyhow!("the edited record is not valid: {e}nothing changed"))?;
    let edit = new.changes(&old);
    if edit == ObservationEdit::default() {
        say!("#{id} unchanged");
        return Ok(ExitCode::SUCCESS);
    }
    let (o, raw): (Observation, Value) = api.patch(&format!("/v1/observations/{id}"), &edit)?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!("#{} edited: {}", o.id, o.title);
    }
    Ok(ExitCode::SUCCESS)
}
