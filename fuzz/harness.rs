//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, nightly, libFuzzer) and by the stable replay of the checked-in
//! corpora (`tests/fuzz_corpora.rs`, run in CI). Every function takes outside bytes and must
//! neither panic nor hang on any of them: the parsers answer bad input with an error.
#![allow(dead_code)] // each fuzz target uses one function

use claude_daemons::api::{memory, mesh, supervisor};
use claude_daemons::claude::{observer_answer, ChildMessage, HookInput};
use claude_daemons::config::Config;
use claude_daemons::mesh::envelope::{self, Boxes, Inner, OpenError};
use claude_daemons::mesh::keys::Identity;
use claude_daemons::mesh::{fields, presence_record};
use std::path::Path;

/// `claudectl mem import`'s reader of claude-mem databases, the code under test in
/// [`claude_mem_rows`] (it lives in claudectl; nothing else needs it in the library).
#[path = "../bins/claudectl/mem/claude_mem.rs"]
mod claude_mem;

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("hook_input", hook_input),
    ("stream_json", stream_json),
    ("api_bodies", api_bodies),
    ("config_toml", config_toml),
    ("spool_file", spool_file),
    ("mesh_envelope", mesh_envelope),
    ("observer_xml", observer_xml),
    ("import_rows", import_rows),
    ("claude_mem_rows", claude_mem_rows),
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

/// The mesh the mesh seeds were made for, and its `mesh_secret`.
pub const MESH: (&str, &str) = ("team", "fuzz-secret");

/// The member receiving in [`mesh_envelope`] (DMs in the seeds are sealed for it), and the
/// one sending and signing.
pub fn mesh_members() -> (Identity, Identity) {
    (Identity::from_seed([2; 32]), Identity::from_seed([1; 32]))
}

/// What claude-meshd takes from the broker; the first byte picks what the rest is:
/// - 0: a message as the consumer delivers it, opened and its fields checked;
/// - 1: `[kind, to, inner]` (JSON) sealed by a member and opened again, which reaches what
///   a signature otherwise guards: a sealed envelope must open to what was sealed (a DM
///   also twice in one grouped envelope);
/// - 2: a presence record as read from the bucket: `<bucket key>\n<record>`;
/// - 3: a peer (JSON) signed by its member: it verifies unless a field is out of bounds.
pub fn mesh_envelope(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (me, sender) = mesh_members();
    let key = envelope::mesh_key(MESH.0, MESH.1);
    match pick % 4 {
        0 => {
            if let Ok((env, inners)) = envelope::open(&me, &Boxes::default(), &key, body) {
                for inner in &inners {
                    let _ = fields::received(&env, inner);
                }
            }
        }
        1 => {
            let Ok((kind, to, inner)) = serde_json::from_slice::<(String, String, Inner)>(body)
            else {
                return;
            };
            let Ok(env) = envelope::seal(&sender, &Boxes::default(), &key, &kind, &to, &inner, 1)
            else {
                return;
            };
            let raw = serde_json::to_vec(&env).expect("an envelope serializes");
            match envelope::open(&me, &Boxes::default(), &key, &raw) {
                Ok((e, i)) => {
                    assert_eq!(
                        (&e, &i[..]),
                        (&env, std::slice::from_ref(&inner)),
                        "opened what was sealed"
                    );
                    let _ = fields::received(&e, &i[0]);
                }
                Err(OpenError::NotForUs | OpenError::Malformed(_)) => {}
                Err(e) => panic!("a sealed envelope does not open: {e}"),
            }
            // The same message twice as a grouped DM opens to both, in order.
            if kind == "dm" {
                let two = [inner.clone(), inner];
                if let Ok(env) = envelope::seal_group(&sender, &Boxes::default(), &to, &two, 1) {
                    let raw = serde_json::to_vec(&env).expect("an envelope serializes");
                    match envelope::open(&me, &Boxes::default(), &key, &raw) {
                        Ok((e, i)) => {
                            assert_eq!((&e, &i[..]), (&env, &two[..]), "opened what was sealed")
                        }
                        Err(OpenError::NotForUs | OpenError::Malformed(_)) => {}
                        Err(e) => panic!("a sealed group does not open: {e}"),
                    }
                }
            }
        }
        2 => {
            let (kv_key, raw) = match body.iter().position(|&b| b == b'\n') {
                Some(n) => (String::from_utf8_lossy(&body[..n]), &body[n + 1..]),
                None => return,
            };
            if let Ok(s) = presence_record::verify(MESH.0, &kv_key, raw) {
                fields::peer(&s.peer).expect("a verified record's fields are in bounds");
            }
        }
        _ => {
            let Ok(mut peer) = serde_json::from_slice::<mesh::Peer>(body) else {
                return;
            };
            peer.key = sender.public_hex().into();
            let raw = presence_record::sign(&sender, MESH.0, &peer, 1);
            let kv_key = presence_record::kv_key(sender.public_hex(), &peer.session_id);
            match presence_record::verify(MESH.0, &kv_key, &raw) {
                Ok(s) => assert_eq!(s.peer, peer, "verified what was signed"),
                Err(presence_record::Rejected::Invalid(_)) => assert!(fields::peer(&peer).is_err()),
                Err(e) => panic!("a record signed by its member is refused: {e}"),
            }
        }
    }
}

/// The Claude observer's answer to claude-memd (text around XML blocks): observations or a
/// summary, each only with the vocabulary the prompts allow.
pub fn observer_xml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(obs) = observer_answer::observations(&text) {
        for o in obs {
            assert!(observer_answer::TYPES.contains(&o.kind), "{}", o.kind);
            assert!(o
                .concepts
                .iter()
                .all(|c| observer_answer::CONCEPTS.contains(c)));
        }
    }
    let _ = observer_answer::summary(&text);
}

/// A claude-mem import batch as `claudectl mem import` sends it to `POST /v1/import`: parsed
/// and checked record by record before anything is stored.
pub fn import_rows(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<memory::ImportRequest>(data) {
        if memory::validate_import(&req).is_ok() {
            assert!(req.records.len() <= memory::MAX_IMPORT_RECORDS as usize);
            assert!(req.records.iter().all(|r| !r.origin.trim().is_empty()));
        }
    }
}

/// A claude-mem database as `claudectl mem import` reads it (`~/.claude-mem/claude-mem.db`,
/// a file the user names): claude-mem's own schema, filled with rows whose every cell comes
/// from the input, then read row by row (see [`claude_mem_read`]). Each row becomes a record
/// that claude-memd accepts or a rejection with a reason; nothing panics.
pub fn claude_mem_rows(data: &[u8]) {
    let (records, _) = claude_mem_read(data);
    // What the reader accepts, claude-memd's import check accepts: a refused batch would
    // stop every later import at the same row.
    for chunk in records.chunks(memory::MAX_IMPORT_RECORDS as usize) {
        let req = memory::ImportRequest {
            projects: Vec::new(),
            records: chunk.to_vec(),
        };
        if let Err(e) = memory::validate_import(&req) {
            panic!("claudectl read a record claude-memd refuses: {e}");
        }
    }
}

/// The records and the number of rejected rows `claudectl mem import` reads from a
/// claude-mem database built from `data`: cells separated by `0xff`, filling the columns of
/// `sdk_sessions`, `observations`, `session_summaries` and `user_prompts` in turn (up to 64
/// rows); a cell's first byte picks its SQLite type (NULL, integer as 8 little-endian bytes,
/// real, text, blob), so a column holds whatever a broken or foreign database could hold.
pub fn claude_mem_read(data: &[u8]) -> (Vec<memory::ImportRecord>, usize) {
    use rusqlite::types::Value;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("claude-daemons-fuzz-{}-{n}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    {
        let c = rusqlite::Connection::open(&path).expect("a scratch database");
        // A scratch file: durability would only cost the fuzzer its speed (an fsync a run).
        c.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            .expect("scratch pragmas");
        c.execute_batch(include_str!("../tests/claudectl_support/claude_mem.sql"))
            .expect("claude-mem's schema");
        // A database from elsewhere may hold rows whose session row is gone (claude-mem runs
        // without foreign keys); rusqlite's SQLite enforces them by default.
        c.pragma_update(None, "foreign_keys", false).unwrap();
        let mut cells = data
            .split(|&b| b == 0xff)
            .map(|cell| match cell.split_first() {
                None => Value::Null,
                Some((t, rest)) => match t % 5 {
                    0 => Value::Null,
                    1 => {
                        let mut b = [0u8; 8];
                        let k = rest.len().min(8);
                        b[..k].copy_from_slice(&rest[..k]);
                        Value::Integer(i64::from_le_bytes(b))
                    }
                    2 => Value::Real(String::from_utf8_lossy(rest).trim().parse().unwrap_or(0.5)),
                    3 => Value::Text(String::from_utf8_lossy(rest).into_owned()),
                    _ => Value::Blob(rest.to_vec()),
                },
            });
        let tables = [
            "sdk_sessions",
            "observations",
            "session_summaries",
            "user_prompts",
        ];
        'rows: for table in tables.iter().cycle().take(64) {
            let columns: Vec<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut values = Vec::with_capacity(columns.len());
            for _ in &columns {
                match cells.next() {
                    Some(v) => values.push(v),
                    None if values.is_empty() => break 'rows,
                    None => values.push(Value::Null),
                }
            }
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                vec!["?"; columns.len()].join(", ")
            );
            // Constraints (NOT NULL, UNIQUE, the integer key) refuse some rows, as they would
            // in a real claude-mem database.
            let _ = c.execute(&sql, rusqlite::params_from_iter(values));
        }
    }
    let (mut records, mut rejected) = (Vec::new(), 0);
    if let Ok(db) = claude_mem::ClaudeMem::open(&path) {
        let _ = db.total();
        let _ = db.projects();
        let _ = db.read(|row| {
            match row {
                Ok(r) => {
                    assert!(r.origin.starts_with("claude-mem:"), "{}", r.origin);
                    records.push(r);
                }
                Err(_) => rejected += 1,
            }
            true
        });
    }
    let _ = std::fs::remove_file(&path);
    (records, rejected)
}
