//! The claude-supervisord database schema: every version, in order. Append; never edit a released step.

use claude_daemons::store::{Migration, Schema};

/// `application_id` of the database file: "CSUP".
const APPLICATION_ID: i32 = 0x4353_5550;

/// The schema, migrated at start before `READY=1`.
pub static SCHEMA: Schema = Schema {
    application_id: APPLICATION_ID,
    migrations: &[
        Migration {
            version: 1,
            description: "meta (daemon identity) and sessions (key → Claude session)",
            sql: "CREATE TABLE meta (
                  key TEXT PRIMARY KEY,
                  value TEXT NOT NULL,
                  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
              ) STRICT;
              CREATE TABLE sessions (
                  key TEXT PRIMARY KEY,
                  session_id TEXT NOT NULL UNIQUE,
                  kind TEXT NOT NULL DEFAULT 'stream-json',
                  cwd TEXT NOT NULL,
                  model TEXT,
                  permission_mode TEXT,
                  allowed_tools TEXT NOT NULL DEFAULT '[]',
                  turns INTEGER NOT NULL DEFAULT 0,
                  total_cost_usd REAL NOT NULL DEFAULT 0,
                  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
              ) STRICT;",
        },
        Migration {
            version: 2,
            description: "sessions.isolated: children without tools, MCP servers or settings",
            sql: "ALTER TABLE sessions ADD COLUMN isolated INTEGER NOT NULL DEFAULT 0;",
        },
        Migration {
            version: 3,
            description: "session options, forks, permission prompts with their decisions, and each session's turns as a chat client sees them",
            sql: "ALTER TABLE sessions ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
              ALTER TABLE sessions ADD COLUMN fork_of TEXT;
              CREATE TABLE permissions (
                  id TEXT PRIMARY KEY,
                  key TEXT NOT NULL,
                  request_id TEXT NOT NULL,
                  tool_name TEXT NOT NULL,
                  input TEXT NOT NULL,
                  description TEXT,
                  blocked_path TEXT,
                  suggestions TEXT NOT NULL DEFAULT '[]',
                  tool_use_id TEXT,
                  state TEXT NOT NULL DEFAULT 'pending',
                  decided_by TEXT,
                  message TEXT,
                  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                  decided_at TEXT
              ) STRICT;
              CREATE INDEX permissions_by_key ON permissions (key, created_at);
              CREATE TABLE history (
                  key TEXT NOT NULL,
                  seq INTEGER NOT NULL,
                  prompt TEXT NOT NULL,
                  result TEXT NOT NULL,
                  PRIMARY KEY (key, seq)
              ) STRICT, WITHOUT ROWID;",
        },
    ],
};
