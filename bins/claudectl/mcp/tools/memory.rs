//! Memory tools over claude-memd: a compact search index with IDs, a timeline around one,
//! full records by ID, and saving a note.

use super::{args, ToolDef, Tools};
use crate::mcp::daemon_client::{query, ToolError};
use claude_daemons::api::memory::{
    HookAck, Intake, Match, Observation, RecordKind, SearchResults, Timeline,
};
use serde::Deserialize;
use serde_json::{json, Value};

const TYPES: &[&str] = &[
    "discovery",
    "change",
    "bugfix",
    "feature",
    "refactor",
    "decision",
];

fn record_name(r: RecordKind) -> &'static str {
    match r {
        RecordKind::Observation => "observation",
        RecordKind::Summary => "summary",
        RecordKind::Prompt => "prompt",
    }
}

pub const SEARCH: ToolDef = ToolDef {
    name: "search",
    description: "Search the persistent memory of past Claude Code work (observations, session \
        summaries, prompts). Returns a compact index, one line per hit with its ID; fetch full \
        observations with get_observations, or the work around one with timeline.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "description": "Words (each also matches longer words and other forms: refresh finds refreshing), \"quoted phrases\" and -excluded words. Every word must match; when that finds nothing, records with any of the words, ranked. With an embedding model installed, also what you mean."},
                "project": {"type": "string", "description": "Project path or name."},
                "type": {"type": "string", "enum": TYPES, "description": "Only observations of this type."},
                "file": {"type": "string", "description": "A file path (or part of one) the work touched."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                "offset": {"type": "integer", "minimum": 0, "default": 0},
                "mode": {"type": "string", "enum": ["lexical", "semantic", "hybrid"],
                    "description": "lexical: the words; semantic: the meaning; hybrid: both (the default when an embedding model is installed)."},
                "who": {"type": "string", "enum": ["mine", "team"],
                    "description": "Team memory: only records made here (mine) or only those teammates shared (team); both by default."}
            },
            "required": ["query"],
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    project: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    file: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    mode: Option<String>,
    who: Option<String>,
}

pub fn search(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: SearchArgs = args("search", a)?;
    if a.query.trim().is_empty() {
        return Err(ToolError::new("search: query is empty"));
    }
    let q = query(&[
        ("q", Some(a.query.clone())),
        ("project", a.project),
        ("type", a.kind),
        ("file", a.file),
        ("limit", a.limit.map(|n| n.to_string())),
        ("offset", a.offset.map(|n| n.to_string())),
        ("mode", a.mode),
        ("who", a.who),
    ]);
    let r: SearchResults = t.memd().get(&format!("/v1/search?{q}"))?;
    if r.results.is_empty() {
        return Ok(format!("No memory matches \"{}\".", a.query));
    }
    let mut out = format!(
        "{} result(s) for \"{}\"{} (record #ID [type] date title — snippet):\n",
        r.results.len(),
        a.query,
        match r.matched {
            Match::All => "",
            Match::Any => ", matching any of the words (none has them all)",
        }
    );
    for h in &r.results {
        let kind = h
            .kind
            .as_deref()
            .map(|k| format!(" [{k}]"))
            .unwrap_or_default();
        let record = record_name(h.record);
        let by =
            h.by.as_deref()
                .map(|by| format!(" (teammate {by})"))
                .unwrap_or_default();
        out.push_str(&format!(
            "{record} #{}{kind} {} {}{by} — {}\n",
            h.id,
            h.created_at.get(..10).unwrap_or(&h.created_at),
            h.title,
            h.snippet
        ));
    }
    if r.has_more {
        out.push_str(&format!(
            "More results: call search again with offset {}.\n",
            r.offset + r.limit
        ));
    }
    out.push_str("Full records: get_observations with the observation IDs.");
    Ok(out)
}

pub const TIMELINE: ToolDef = ToolDef {
    name: "timeline",
    description: "What happened around an observation (by ID) or a time, oldest first: the \
        observations, summaries and prompts just before and after it.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "anchor": {"type": "integer", "description": "An observation ID to center on."},
                "at": {"type": "string", "description": "A time to center on (RFC 3339 or seconds since the epoch)."},
                "project": {"type": "string"},
                "before": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10},
                "after": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10}
            },
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineArgs {
    anchor: Option<i64>,
    at: Option<String>,
    project: Option<String>,
    before: Option<u32>,
    after: Option<u32>,
}

pub fn timeline(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: TimelineArgs = args("timeline", a)?;
    let q = query(&[
        ("anchor", a.anchor.map(|n| n.to_string())),
        ("at", a.at),
        ("project", a.project),
        ("before", a.before.map(|n| n.to_string())),
        ("after", a.after.map(|n| n.to_string())),
    ]);
    let r: Timeline = t.memd().get(&format!("/v1/timeline?{q}"))?;
    if r.items.is_empty() {
        return Ok("Nothing recorded around that point.".into());
    }
    let lines: Vec<String> = r
        .items
        .iter()
        .map(|i| {
            let kind = i
                .kind
                .as_deref()
                .map(|k| format!(" [{k}]"))
                .unwrap_or_default();
            format!(
                "{}{} #{}{kind} {} {}",
                if i.anchor { "→ " } else { "  " },
                record_name(i.record),
                i.id,
                i.created_at,
                i.title
            )
        })
        .collect();
    Ok(lines.join("\n"))
}

pub const GET_OBSERVATIONS: ToolDef = ToolDef {
    name: "get_observations",
    description: "Full observation records (facts, narrative, files) by their IDs, as JSON.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "ids": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 50}
            },
            "required": ["ids"],
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    ids: Vec<i64>,
}

pub fn get_observations(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: GetArgs = args("get_observations", a)?;
    if a.ids.is_empty() || a.ids.len() > 50 {
        return Err(ToolError::new("get_observations: give 1 to 50 ids"));
    }
    let memd = t.memd();
    let mut found: Vec<Observation> = Vec::new();
    let mut missing = Vec::new();
    for id in a.ids {
        match memd.get::<Observation>(&format!("/v1/observations/{id}")) {
            Ok(o) => found.push(o),
            Err(e) if e.0.contains("HTTP 404") => missing.push(id),
            Err(e) => return Err(e),
        }
    }
    let mut out = serde_json::to_string_pretty(&found).unwrap_or_default();
    if !missing.is_empty() {
        out.push_str(&format!("\nNo observation with id: {missing:?}"));
    }
    Ok(out)
}

pub const SAVE_MEMORY: ToolDef = ToolDef {
    name: "save_memory",
    description: "Save a note to persistent memory (a decision, a finding, a gotcha) so later \
        sessions of this project find it in search and in their start-up context.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "description": "The note."},
                "title": {"type": "string", "description": "One line (default: the note's first line)."},
                "type": {"type": "string", "enum": TYPES, "default": "discovery"},
                "facts": {"type": "array", "items": {"type": "string"}, "maxItems": 10}
            },
            "required": ["text"],
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveArgs {
    text: String,
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    facts: Vec<String>,
}

/// The `tool_name` claude-memd's local builder turns into the note as written.
const MANUAL_MEMORY_TOOL: &str = "claude-daemons:save_memory";

pub fn save_memory(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: SaveArgs = args("save_memory", a)?;
    if a.text.trim().is_empty() {
        return Err(ToolError::new("save_memory: text is empty"));
    }
    if let Some(k) = a.kind.as_deref().filter(|k| !TYPES.contains(k)) {
        return Err(ToolError::new(format!(
            "save_memory: type {k:?} is not one of {TYPES:?}"
        )));
    }
    let session = t.session();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "/".into());
    // Through the hook intake, so privacy tags and secret redaction apply as to any event.
    let event = json!({
        "session_id": session.id().unwrap_or("claudectl-mcp"),
        "hook_event_name": "PostToolUse",
        "cwd": cwd,
        "tool_name": MANUAL_MEMORY_TOOL,
        "tool_input": {"text": a.text, "title": a.title, "type": a.kind, "facts": a.facts},
        "tool_response": {"saved_by": "claudectl mcp"},
        "tool_use_id": format!("mcp-{}", ulid::Ulid::new()),
    });
    let ack: HookAck = t.memd().post("/v1/hook", &event)?;
    Ok(match ack.intake {
        Intake::Stored | Intake::Duplicate => format!(
            "Saved (event #{}) for project {cwd}, {}; it is searchable once claude-memd has \
             processed it (a moment).",
            ack.event_id.unwrap_or_default(),
            session.note()
        ),
        Intake::Skipped => format!(
            "Not saved: {}",
            ack.reason
                .unwrap_or_else(|| "claude-memd skipped it".into())
        ),
    })
}
