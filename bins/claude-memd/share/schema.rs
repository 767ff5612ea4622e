//! The tables of team memory (schema version 10, see [`crate::schema`]).
//!
//! - `share_projects`: the local projects that are shared, each with its portable identity.
//! - `share_outbox`: what is still to be published. Rows name a record and an operation,
//!   never its text (a forgotten record leaves no copy here); they are written by triggers
//!   in the same transaction as the record, so nothing committed is missed, whatever path
//!   wrote it (intake, processor, edit, forget).
//! - `team_members` and `team_records`: who wrote each teammate's record stored here.
//!
//! Only records made here (`origin IS NULL`) are published: teammates' records and
//! imported ones are not sent on.

/// Version 10.
pub const V10: &str = "
CREATE TABLE share_projects (
    project TEXT PRIMARY KEY,
    portable TEXT NOT NULL,
    enabled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX share_projects_portable ON share_projects(portable);

-- AUTOINCREMENT: a row id is part of the message id, and is never used twice.
CREATE TABLE share_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT NOT NULL CHECK (record IN ('observation', 'summary', 'prompt')),
    record_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'del')),
    project TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at_epoch INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE TABLE team_members (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    last_seen_epoch INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE TABLE team_records (
    record TEXT NOT NULL,
    id INTEGER NOT NULL,
    member TEXT NOT NULL,
    portable TEXT NOT NULL,
    PRIMARY KEY (record, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX team_records_member ON team_records(member);

-- The outbox: a trigger per table and change, in the record's own transaction.
CREATE TRIGGER share_observation_ai AFTER INSERT ON observations
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('observation', new.id, 'put', new.project);
END;
CREATE TRIGGER share_observation_au AFTER UPDATE OF type, title, subtitle, facts, narrative, concepts ON observations
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('observation', new.id, 'put', new.project);
END;
CREATE TRIGGER share_observation_ad AFTER DELETE ON observations BEGIN
    INSERT INTO share_outbox (record, record_id, op, project)
      SELECT 'observation', old.id, 'del', old.project WHERE old.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = old.project);
    DELETE FROM team_records WHERE record = 'observation' AND id = old.id;
END;
CREATE TRIGGER share_summary_ai AFTER INSERT ON session_summaries
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('summary', new.id, 'put', new.project);
END;
CREATE TRIGGER share_summary_au AFTER UPDATE OF request, investigated, learned, completed, next_steps, notes ON session_summaries
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('summary', new.id, 'put', new.project);
END;
CREATE TRIGGER share_summary_ad AFTER DELETE ON session_summaries BEGIN
    INSERT INTO share_outbox (record, record_id, op, project)
      SELECT 'summary', old.id, 'del', old.project WHERE old.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = old.project);
    DELETE FROM team_records WHERE record = 'summary' AND id = old.id;
END;
CREATE TRIGGER share_prompt_ai AFTER INSERT ON user_prompts
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('prompt', new.id, 'put', new.project);
END;
CREATE TRIGGER share_prompt_au AFTER UPDATE OF prompt_text ON user_prompts
WHEN new.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = new.project) BEGIN
    INSERT INTO share_outbox (record, record_id, op, project) VALUES ('prompt', new.id, 'put', new.project);
END;
CREATE TRIGGER share_prompt_ad AFTER DELETE ON user_prompts BEGIN
    INSERT INTO share_outbox (record, record_id, op, project)
      SELECT 'prompt', old.id, 'del', old.project WHERE old.origin IS NULL AND EXISTS (SELECT 1 FROM share_projects WHERE project = old.project);
    DELETE FROM team_records WHERE record = 'prompt' AND id = old.id;
END;
";
