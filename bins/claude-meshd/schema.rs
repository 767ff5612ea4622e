//! The claude-meshd database schema: every version, in order. Append; never edit a released step.

use claude_daemons::store::{Migration, Schema};

/// `application_id` of the database file: "CMSH".
const APPLICATION_ID: i32 = 0x434D_5348;

/// The schema, migrated at start before `READY=1`.
pub static SCHEMA: Schema = Schema {
    application_id: APPLICATION_ID,
    migrations: &[
        Migration {
            version: 1,
            description: "meta, sessions, outbox, inbox, seen marks and the event log",
            sql: "CREATE TABLE meta (
                  key TEXT PRIMARY KEY,
                  value TEXT NOT NULL,
                  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
              ) STRICT;
              CREATE TABLE sessions (
                  session_id TEXT PRIMARY KEY,
                  name TEXT NOT NULL,
                  cwd TEXT,
                  hostname TEXT,
                  pid INTEGER,
                  groups TEXT NOT NULL DEFAULT '[]',
                  topics TEXT NOT NULL DEFAULT '[]',
                  profile TEXT NOT NULL DEFAULT '{}',
                  registered_at TEXT NOT NULL,
                  last_seen_at TEXT NOT NULL,
                  left_at TEXT
              ) STRICT;
              CREATE TABLE outbox (
                  id INTEGER PRIMARY KEY,
                  client_message_id TEXT NOT NULL UNIQUE,
                  fingerprint BLOB NOT NULL,
                  state TEXT NOT NULL
                      CHECK (state IN ('pending', 'inflight', 'done', 'dead', 'aborted')),
                  from_session TEXT,
                  to_text TEXT NOT NULL,
                  dest_kind TEXT NOT NULL,
                  dest TEXT NOT NULL,
                  dest_key TEXT,
                  dest_session TEXT,
                  priority TEXT NOT NULL,
                  reply_to TEXT,
                  meta TEXT,
                  body TEXT,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                  last_error TEXT,
                  broker_message_id INTEGER,
                  created_at TEXT NOT NULL,
                  updated_at TEXT NOT NULL,
                  inflight_at TEXT,
                  done_at TEXT,
                  dead_at TEXT,
                  aborted_at TEXT,
                  aborted_by TEXT,
                  superseded_by TEXT,
                  requeued_from TEXT
              ) STRICT;
              CREATE INDEX outbox_state ON outbox (state, id);
              CREATE TABLE inbox (
                  id INTEGER PRIMARY KEY,
                  from_key TEXT NOT NULL,
                  client_message_id TEXT NOT NULL,
                  broker_message_id INTEGER,
                  from_session TEXT,
                  from_name TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  to_text TEXT NOT NULL,
                  dest TEXT NOT NULL,
                  to_session TEXT,
                  body TEXT NOT NULL,
                  priority TEXT NOT NULL,
                  reply_to TEXT,
                  meta TEXT,
                  created_at TEXT NOT NULL,
                  received_at TEXT NOT NULL,
                  seen_at TEXT,
                  UNIQUE (from_key, client_message_id)
              ) STRICT;
              CREATE TABLE inbox_seen (
                  inbox_id INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
                  session_id TEXT NOT NULL,
                  seen_at TEXT NOT NULL,
                  PRIMARY KEY (inbox_id, session_id)
              ) STRICT, WITHOUT ROWID;
              CREATE TABLE events (
                  id INTEGER PRIMARY KEY,
                  kind TEXT NOT NULL,
                  inbox_id INTEGER,
                  data TEXT NOT NULL
              ) STRICT;",
        },
        Migration {
            version: 2,
            description: "inbox indexes for a session's view: by destination and by kind",
            // The hook asks for a session's unread messages on every tool call; without
            // these, that walked the whole month's inbox.
            sql: "CREATE INDEX inbox_to ON inbox (to_text, id);
                  CREATE INDEX inbox_kind ON inbox (kind, id);",
        },
        Migration {
            version: 3,
            description: "name and session bindings to member keys; seen broker messages",
            // `seen` deduplicates broker messages for the whole replay window, however soon
            // the inbox is pruned; `bindings` keeps a name or session with its first key.
            sql: "CREATE TABLE bindings (
                  kind TEXT NOT NULL CHECK (kind IN ('name', 'session')),
                  value TEXT NOT NULL,
                  key TEXT NOT NULL,
                  first_seen_at TEXT NOT NULL,
                  confirmed_ms INTEGER NOT NULL,
                  PRIMARY KEY (kind, value)
              ) STRICT;
              CREATE TABLE seen (
                  from_key TEXT NOT NULL,
                  client_message_id TEXT NOT NULL,
                  received_ms INTEGER NOT NULL,
                  PRIMARY KEY (from_key, client_message_id)
              ) STRICT, WITHOUT ROWID;
              CREATE INDEX seen_received ON seen (received_ms);",
        },
        Migration {
            version: 4,
            description:
                "pushes into a session's channel, provisional until its transcript shows them",
            // A push is not a seen mark: Claude Code may skip a channel notification without
            // a word, and then the hook must still deliver the message. Every hook reads a
            // session's open pushes, hence the index by session.
            sql: "CREATE TABLE inbox_pushed (
                  inbox_id INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
                  session_id TEXT NOT NULL,
                  token TEXT NOT NULL,
                  pushed_ms INTEGER NOT NULL,
                  PRIMARY KEY (inbox_id, session_id)
              ) STRICT, WITHOUT ROWID;
              CREATE INDEX inbox_pushed_session ON inbox_pushed (session_id, inbox_id);",
        },
    ],
};

/// A fresh, migrated database in a temporary directory, for unit tests; keep the directory
/// alive as long as the connection.
#[cfg(test)]
pub fn test_db() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let c = claude_daemons::store::open(
        &dir.path().join("m.db"),
        &SCHEMA,
        claude_daemons::store::Durability::Normal,
    )
    .unwrap();
    (dir, c)
}
