//! The claude-memd database schema: every version, in order. Append; never edit a released step.
//!
//! Events are the durable intake queue (`pending → processing → done | failed`); observations,
//! summaries and prompts are what the events become. The three FTS5 tables index those by
//! external content and are kept in sync by triggers, so a search never sees a stale row.

use claude_daemons::store::{Migration, Schema};

/// `application_id` of the database file: "CMEM".
const APPLICATION_ID: i32 = 0x434D_454D;

/// The schema, migrated at start before `READY=1`.
pub static SCHEMA: Schema = Schema {
    application_id: APPLICATION_ID,
    migrations: &[
        Migration {
            version: 1,
            description:
                "memory: settings, sessions, events queue, observations, summaries, prompts, FTS5",
            sql: V1,
        },
        Migration {
            version: 2,
            description: "memory: Claude observer (sources, models, retries, spend, sessions)",
            sql: V2,
        },
        Migration {
            version: 3,
            description: "memory: imported records keep their origin, stored once",
            sql: V3,
        },
        Migration {
            version: 4,
            description: "memory: events by session, for pruning old sessions",
            // Prune asks, for every old session, whether any event still names it.
            sql: "CREATE INDEX events_session ON events(session_id);",
        },
        Migration {
            version: 5,
            description: "memory: idempotency keys of hook events (spooled events stored once)",
            sql: V5,
        },
        Migration {
            version: 6,
            description: "memory: observations corrected by a person say when",
            sql: "ALTER TABLE observations ADD COLUMN edited_at TEXT;",
        },
        Migration {
            version: 7,
            description: "memory: what each session was shown during its work (once only)",
            // `file:<path>` (a file's history before a Read or Edit) and `obs:<id>` (an
            // observation shown there or with a prompt).
            sql: "CREATE TABLE session_recall (
                session_id TEXT NOT NULL,
                key TEXT NOT NULL,
                created_at_epoch INTEGER NOT NULL DEFAULT (unixepoch()),
                PRIMARY KEY (session_id, key)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX session_recall_time ON session_recall(created_at_epoch);",
        },
        Migration {
            version: 8,
            description: "memory: observations by the files they read or changed",
            sql: V8,
        },
        Migration {
            version: 9,
            description: "memory: embedding vectors for semantic recall, tied to their model",
            sql: V9,
        },
        Migration {
            version: 10,
            description: "memory: team memory (shared projects, outbox, teammates' records)",
            sql: crate::share::schema::V10,
        },
    ],
};

const V1: &str = "
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    content_session_id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    project_name TEXT NOT NULL,
    cwd TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'failed')),
    prompt_counter INTEGER NOT NULL DEFAULT 0,
    prompt_private INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at TEXT
) STRICT;
CREATE INDEX sessions_project ON sessions(project);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    event TEXT NOT NULL,
    tool_use_id TEXT,
    prompt_number INTEGER,
    project TEXT NOT NULL,
    project_name TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'processing', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    created_at_epoch INTEGER NOT NULL DEFAULT (unixepoch()),
    updated_at TEXT
) STRICT;
CREATE UNIQUE INDEX events_tool_use ON events(session_id, tool_use_id)
    WHERE tool_use_id IS NOT NULL;
CREATE INDEX events_state ON events(state, id);
CREATE INDEX events_time ON events(created_at_epoch);

CREATE TABLE observations (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    project TEXT NOT NULL,
    project_name TEXT NOT NULL,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    subtitle TEXT,
    facts TEXT NOT NULL DEFAULT '[]',
    narrative TEXT,
    concepts TEXT NOT NULL DEFAULT '[]',
    files_read TEXT NOT NULL DEFAULT '[]',
    files_modified TEXT NOT NULL DEFAULT '[]',
    prompt_number INTEGER,
    event_id INTEGER,
    seq INTEGER NOT NULL DEFAULT 0,
    discovery_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    created_at_epoch INTEGER NOT NULL
) STRICT;
-- One event yields its observations once, however often it is processed.
CREATE UNIQUE INDEX observations_event ON observations(event_id, seq);
CREATE INDEX observations_project_time ON observations(project, created_at_epoch DESC, id DESC);
CREATE INDEX observations_name_time ON observations(project_name, created_at_epoch DESC);
CREATE INDEX observations_session ON observations(session_id);
CREATE INDEX observations_time ON observations(created_at_epoch);

CREATE TABLE session_summaries (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    project TEXT NOT NULL,
    project_name TEXT NOT NULL,
    request TEXT,
    investigated TEXT,
    learned TEXT,
    completed TEXT,
    next_steps TEXT,
    notes TEXT,
    files_read TEXT NOT NULL DEFAULT '[]',
    files_edited TEXT NOT NULL DEFAULT '[]',
    prompt_number INTEGER,
    event_id INTEGER UNIQUE,
    created_at TEXT NOT NULL,
    created_at_epoch INTEGER NOT NULL
) STRICT;
CREATE INDEX summaries_project_time ON session_summaries(project, created_at_epoch DESC);
CREATE INDEX summaries_session ON session_summaries(session_id);
CREATE INDEX summaries_time ON session_summaries(created_at_epoch);

CREATE TABLE user_prompts (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    project TEXT NOT NULL,
    project_name TEXT NOT NULL,
    prompt_number INTEGER NOT NULL,
    prompt_text TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    created_at_epoch INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;
CREATE INDEX prompts_project_time ON user_prompts(project, created_at_epoch DESC);
CREATE INDEX prompts_session ON user_prompts(session_id);
CREATE INDEX prompts_time ON user_prompts(created_at_epoch);

CREATE VIRTUAL TABLE observations_fts USING fts5(
    title, subtitle, narrative, facts, concepts, files_read, files_modified,
    content='observations', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER observations_ai AFTER INSERT ON observations BEGIN
    INSERT INTO observations_fts(rowid, title, subtitle, narrative, facts, concepts, files_read, files_modified)
    VALUES (new.id, new.title, new.subtitle, new.narrative, new.facts, new.concepts, new.files_read, new.files_modified);
END;
CREATE TRIGGER observations_ad AFTER DELETE ON observations BEGIN
    INSERT INTO observations_fts(observations_fts, rowid, title, subtitle, narrative, facts, concepts, files_read, files_modified)
    VALUES ('delete', old.id, old.title, old.subtitle, old.narrative, old.facts, old.concepts, old.files_read, old.files_modified);
END;
CREATE TRIGGER observations_au AFTER UPDATE ON observations BEGIN
    INSERT INTO observations_fts(observations_fts, rowid, title, subtitle, narrative, facts, concepts, files_read, files_modified)
    VALUES ('delete', old.id, old.title, old.subtitle, old.narrative, old.facts, old.concepts, old.files_read, old.files_modified);
    INSERT INTO observations_fts(rowid, title, subtitle, narrative, facts, concepts, files_read, files_modified)
    VALUES (new.id, new.title, new.subtitle, new.narrative, new.facts, new.concepts, new.files_read, new.files_modified);
END;

CREATE VIRTUAL TABLE summaries_fts USING fts5(
    request, investigated, learned, completed, next_steps, notes,
    content='session_summaries', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER summaries_ai AFTER INSERT ON session_summaries BEGIN
    INSERT INTO summaries_fts(rowid, request, investigated, learned, completed, next_steps, notes)
    VALUES (new.id, new.request, new.investigated, new.learned, new.completed, new.next_steps, new.notes);
END;
CREATE TRIGGER summaries_ad AFTER DELETE ON session_summaries BEGIN
    INSERT INTO summaries_fts(summaries_fts, rowid, request, investigated, learned, completed, next_steps, notes)
    VALUES ('delete', old.id, old.request, old.investigated, old.learned, old.completed, old.next_steps, old.notes);
END;
CREATE TRIGGER summaries_au AFTER UPDATE ON session_summaries BEGIN
    INSERT INTO summaries_fts(summaries_fts, rowid, request, investigated, learned, completed, next_steps, notes)
    VALUES ('delete', old.id, old.request, old.investigated, old.learned, old.completed, old.next_steps, old.notes);
    INSERT INTO summaries_fts(rowid, request, investigated, learned, completed, next_steps, notes)
    VALUES (new.id, new.request, new.investigated, new.learned, new.completed, new.next_steps, new.notes);
END;

CREATE VIRTUAL TABLE prompts_fts USING fts5(
    prompt_text, content='user_prompts', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER prompts_ai AFTER INSERT ON user_prompts BEGIN
    INSERT INTO prompts_fts(rowid, prompt_text) VALUES (new.id, new.prompt_text);
END;
CREATE TRIGGER prompts_ad AFTER DELETE ON user_prompts BEGIN
    INSERT INTO prompts_fts(prompts_fts, rowid, prompt_text) VALUES ('delete', old.id, old.prompt_text);
END;
CREATE TRIGGER prompts_au AFTER UPDATE ON user_prompts BEGIN
    INSERT INTO prompts_fts(prompts_fts, rowid, prompt_text) VALUES ('delete', old.id, old.prompt_text);
    INSERT INTO prompts_fts(rowid, prompt_text) VALUES (new.id, new.prompt_text);
END;
";

/// The Claude observer: who wrote each record, events to observe again once Claude is back,
/// what the observer spent (per session and day, for the budgets) and its sessions.
const V2: &str = "
ALTER TABLE observations ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE observations ADD COLUMN model TEXT;
ALTER TABLE session_summaries ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE session_summaries ADD COLUMN model TEXT;
-- 1: observed by the local builder standing in for an unavailable observer; observe again.
ALTER TABLE events ADD COLUMN observer_retry INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_observer_retry ON events(id) WHERE observer_retry = 1;

CREATE TABLE observer_spend (
    session_id TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    observations INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, day)
) STRICT;
CREATE INDEX observer_spend_day ON observer_spend(day);

CREATE TABLE observer_sessions (
    session_id TEXT PRIMARY KEY,
    claude_session TEXT,
    prompt_number INTEGER,
    last_cost_usd REAL NOT NULL DEFAULT 0,
    budget_note TEXT
) STRICT;
";

/// Records imported from another memory system (claude-mem) keep where they came from
/// (`claude-mem:<table>:<id>`), and an origin is stored once: importing twice adds nothing.
/// Where each foreign project name was put is remembered, so every batch and every later
/// import puts it in the same place.
const V3: &str = "
CREATE TABLE imported_projects (
    name TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    how TEXT NOT NULL CHECK (how IN ('dir', 'known', 'files', 'unmapped'))
) STRICT;
ALTER TABLE observations ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX observations_origin ON observations(origin) WHERE origin IS NOT NULL;
ALTER TABLE session_summaries ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX summaries_origin ON session_summaries(origin) WHERE origin IS NOT NULL;
ALTER TABLE user_prompts ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX prompts_origin ON user_prompts(origin) WHERE origin IS NOT NULL;
";

/// Every hook event's idempotency key (claude-hook sends one with each event and keeps it in
/// the spool file), so an event that was committed after its hook gave up is recognised when
/// the spool is drained. Keys are pruned after a while (a spool file is drained long before).
const V5: &str = "
CREATE TABLE hook_keys (
    key TEXT PRIMARY KEY,
    event_id INTEGER,
    created_at_epoch INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT, WITHOUT ROWID;
CREATE INDEX hook_keys_time ON hook_keys(created_at_epoch);
";

/// Which observations name a file, kept by triggers: a file's history before a Read is one
/// index lookup (full-text search over paths would read the doclists of words every path
/// shares, such as `src` and `rs`).
const V8: &str = "
CREATE TABLE observation_files (
    path TEXT NOT NULL,
    observation_id INTEGER NOT NULL,
    PRIMARY KEY (path, observation_id)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER observation_files_ai AFTER INSERT ON observations BEGIN
    INSERT OR IGNORE INTO observation_files (path, observation_id)
    SELECT value, new.id FROM json_each(CASE WHEN json_valid(new.files_read) THEN new.files_read ELSE '[]' END)
      WHERE type = 'text'
    UNION SELECT value, new.id FROM json_each(CASE WHEN json_valid(new.files_modified) THEN new.files_modified ELSE '[]' END)
      WHERE type = 'text';
END;
CREATE TRIGGER observation_files_ad AFTER DELETE ON observations BEGIN
    DELETE FROM observation_files WHERE observation_id = old.id AND path IN (
      SELECT value FROM json_each(CASE WHEN json_valid(old.files_read) THEN old.files_read ELSE '[]' END)
      UNION SELECT value FROM json_each(CASE WHEN json_valid(old.files_modified) THEN old.files_modified ELSE '[]' END));
END;
CREATE TRIGGER observation_files_au AFTER UPDATE OF files_read, files_modified ON observations BEGIN
    DELETE FROM observation_files WHERE observation_id = old.id AND path IN (
      SELECT value FROM json_each(CASE WHEN json_valid(old.files_read) THEN old.files_read ELSE '[]' END)
      UNION SELECT value FROM json_each(CASE WHEN json_valid(old.files_modified) THEN old.files_modified ELSE '[]' END));
    INSERT OR IGNORE INTO observation_files (path, observation_id)
    SELECT value, new.id FROM json_each(CASE WHEN json_valid(new.files_read) THEN new.files_read ELSE '[]' END)
      WHERE type = 'text'
    UNION SELECT value, new.id FROM json_each(CASE WHEN json_valid(new.files_modified) THEN new.files_modified ELSE '[]' END)
      WHERE type = 'text';
END;
INSERT OR IGNORE INTO observation_files (path, observation_id)
SELECT f.value, o.id FROM observations o,
  json_each(CASE WHEN json_valid(o.files_read) THEN o.files_read ELSE '[]' END) f WHERE f.type = 'text'
UNION SELECT f.value, o.id FROM observations o,
  json_each(CASE WHEN json_valid(o.files_modified) THEN o.files_modified ELSE '[]' END) f WHERE f.type = 'text';
";

/// Semantic recall (embed/): one vector per record, quantized to i8, with the id of the model
/// that made it (a different model's vectors are replaced as records are embedded again).
/// A deleted record's vector goes with it, and a rewritten one's is dropped so that it is
/// embedded again.
const V9: &str = "
CREATE TABLE vectors (
    record TEXT NOT NULL CHECK (record IN ('observation', 'summary', 'prompt')),
    id INTEGER NOT NULL,
    model TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (record, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX vectors_model ON vectors(model);
CREATE TRIGGER observations_vec_ad AFTER DELETE ON observations BEGIN
    DELETE FROM vectors WHERE record = 'observation' AND id = old.id;
END;
CREATE TRIGGER observations_vec_au AFTER UPDATE ON observations
WHEN old.title IS NOT new.title OR old.subtitle IS NOT new.subtitle
  OR old.narrative IS NOT new.narrative OR old.facts IS NOT new.facts
  OR old.concepts IS NOT new.concepts BEGIN
    DELETE FROM vectors WHERE record = 'observation' AND id = old.id;
END;
CREATE TRIGGER summaries_vec_ad AFTER DELETE ON session_summaries BEGIN
    DELETE FROM vectors WHERE record = 'summary' AND id = old.id;
END;
CREATE TRIGGER summaries_vec_au AFTER UPDATE ON session_summaries
WHEN old.request IS NOT new.request OR old.investigated IS NOT new.investigated
  OR old.learned IS NOT new.learned OR old.completed IS NOT new.completed
  OR old.next_steps IS NOT new.next_steps OR old.notes IS NOT new.notes BEGIN
    DELETE FROM vectors WHERE record = 'summary' AND id = old.id;
END;
CREATE TRIGGER prompts_vec_ad AFTER DELETE ON user_prompts BEGIN
    DELETE FROM vectors WHERE record = 'prompt' AND id = old.id;
END;
CREATE TRIGGER prompts_vec_au AFTER UPDATE ON user_prompts
WHEN old.prompt_text IS NOT new.prompt_text BEGIN
    DELETE FROM vectors WHERE record = 'prompt' AND id = old.id;
END;
";

/// A fresh database with this schema in a temporary directory (removed when dropped).
#[cfg(test)]
pub fn test_db() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = claude_daemons::store::open(
        &dir.path().join("m.db"),
        &SCHEMA,
        claude_daemons::store::Durability::Normal,
    )
    .unwrap();
    (dir, conn)
}
