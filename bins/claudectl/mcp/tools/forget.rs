//! The `forget` tool: Claude forgets observations of the project it works in, by ID (the
//! `DELETE` routes with `?project=` set to this server's working directory, so another
//! project's records are out of reach). Bulk forgetting is for people (`claudectl mem
//! forget`).

use super::{args, ToolDef, Tools};
use crate::mcp::daemon_client::{encode, ToolError};
use serde::Deserialize;
use serde_json::{json, Value};

pub const FORGET: ToolDef = ToolDef {
    name: "forget",
    description: "Forget observations of this project for good, by ID (as search shows them): \
        use when the user asks to forget something, or a stored observation is wrong or holds \
        something that must not be kept. Only this project's records can be forgotten.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "ids": {"type": "array", "items": {"type": "integer", "minimum": 1},
                        "minItems": 1, "maxItems": 100, "description": "Observation IDs."}
            },
            "required": ["ids"],
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetArgs {
    ids: Vec<i64>,
}

pub fn forget(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: ForgetArgs = args("forget", a)?;
    if a.ids.is_empty() || a.ids.len() > 100 {
        return Err(ToolError::new("forget: give 1 to 100 observation IDs"));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| ToolError::new(format!("forget: no working directory: {e}")))?;
    let scope = encode(&cwd.display().to_string());
    let memd = t.memd();
    let (mut gone, mut missing) = (Vec::new(), Vec::new());
    for id in a.ids {
        match memd.delete::<Value>(&format!("/v1/observations/{id}?project={scope}")) {
            Ok(_) => gone.push(id),
            Err(e) if e.0.contains("HTTP 404") => missing.push(id),
            Err(e) => return Err(e),
        }
    }
    let mut out = String::new();
    if !gone.is_empty() {
        out.push_str(&format!("Forgotten for good: {gone:?}.\n"));
    }
    if !missing.is_empty() {
        out.push_str(&format!(
            "Not in this project's memory (nothing done): {missing:?}.\n"
        ));
    }
    Ok(out.trim_end().to_string())
}
