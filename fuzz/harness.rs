//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, nightly, libFuzzer) and by the stable replay of the checked-in
//! corpora (`tests/fuzz_corpora.rs`, run in CI). Every function takes outside bytes and must
//! neither panic nor hang on any of them: the parsers answer bad input with an error.
#![allow(dead_code)] // each fuzz target uses one function

use claude_daemons::api::{memory, mesh, supervisor};
use claude_daemons::claude::{ChildMessage, HookInput};
use claude_daemons::config::Config;
use std::path::Path;

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("hook_input", hook_input),
    ("stream_json", stream_json),
    ("api_bodies", api_bodies),
    ("config_toml", config_toml),
    ("spool_file", spool_file),
];

/// A hook payload as Claude Code writes it to claude-hook's stdin (and claude-memd's
/// `/v1/hook` body): parse, and a parsed one survives a round trip.
pub fn hook_input(data: &[u8]) {
    if let Ok(h) = HookInput::parse(data) {
        let again = serde_json::to_vec(&h).expect("a parsed payload serializes");
        let back = HookInput::parse(&again).expect("a serialized payload parses");
        assert_eq!(back.session_id, h.session_id);
        assert_eq!(back.hook_event_name, h.hook_event_name);
    }
}

/// Lines a Claude Code child writes on stdout (stream-json), one per line.
pub fn stream_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Ok(m) = ChildMessage::parse(line) {
            let _ = m.kind();
        }
    }
}

/// Request bodies of the three daemons' JSON APIs; the first byte picks the type.
pub fn api_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 8 {
        0 => drop(serde_json::from_slice::<memory::ImportRequest>(body)),
        1 => drop(serde_json::from_slice::<memory::PruneRequest>(body)),
        2 => drop(serde_json::from_slice::<supervisor::AskRequest>(body)),
        3 => drop(serde_json::from_slice::<mesh::SendRequest>(body)),
        4 => drop(serde_json::from_slice::<mesh::PeerRegistration>(body)),
        5 => drop(serde_json::from_slice::<mesh::ProfileUpdate>(body)),
        6 => drop(serde_json::from_slice::<mesh::StatusUpdate>(body)),
        _ => drop(serde_json::from_slice::<memory::ImportRecord>(body)),
    }
}

/// A config file (`config.toml`): parsed, range-checked (through the file, as the daemons
/// load it), or a clear error.
pub fn config_toml(data: &[u8]) {
    let path =
        std::env::temp_dir().join(format!("claude-daemons-fuzz-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(e) = Config::load_with_env(&path, std::iter::empty()) {
        let _ = e.to_string();
    }
    let _ = std::fs::remove_file(&path);
    // The parse alone, on text that is not UTF-8 too.
    let _ = Config::parse(
        Path::new("/fuzz/config.toml"),
        &String::from_utf8_lossy(data),
    );
}

/// A hook spool file as claude-memd reads it back.
pub fn spool_file(data: &[u8]) {
    if let Ok(s) = claude_daemons::spool::decode(data) {
        assert!(claude_daemons::spool::valid_key(&s.key));
        let _ = HookInput::parse(&s.payload);
    }
}
