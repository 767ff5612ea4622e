//! The claude-meshd database schema: every version, in order. Append; never edit a released step.

use claude_daemons::store::{Migration, Schema};

/// `application_id` of the database file: "CMSH".
const APPLICATION_ID: i32 = 0x434D_5348;

/// The schema, migrated at start before `READY=1`.
pub static SCHEMA: Schema = Schema {
    application_id: APPLICATION_ID,
    migrations: &[Migration {
        version: 1,
        description: "meta: daemon facts (identity, host fingerprint) kept across restarts",
        sql: "CREATE TABLE meta (
                  key TEXT PRIMARY KEY,
                  value TEXT NOT NULL,
                  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
              ) STRICT;",
    }],
};
