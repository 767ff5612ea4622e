//! The values each key may take. A daemon must refuse a value it cannot use at start (exit
//! 78, naming the key) rather than misbehave later: a zero timeout that makes every hook
//! give up, a limit of zero processes, or a number of seconds so large that adding it to
//! the clock overflows.

use super::Config;

/// A year: the longest any interval may be; beyond it, clock arithmetic can overflow.
const YEAR_SECS: u64 = 365 * 24 * 3600;
/// Claude Code's own default hook timeout: waiting longer cannot help the session.
const HOOK_MS: u64 = 60_000;

/// `(table, key, what is wrong)`.
pub(super) type OutOfRange = (&'static str, &'static str, String);

fn within(
    table: &'static str,
    key: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), OutOfRange> {
    if range.contains(&value) {
        return Ok(());
    }
    Err((
        table,
        key,
        format!(
            "must be between {} and {}, not {value}",
            range.start(),
            range.end()
        ),
    ))
}

fn dollars(table: &'static str, key: &'static str, value: f64) -> Result<(), OutOfRange> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    Err((table, key, format!("must be 0 or more, not {value}")))
}

impl Config {
    /// The USD budgets alone: a file's `nan` or `inf` cannot pass through the environment
    /// overrides (JSON has no such numbers), so these are checked before them as well.
    pub(super) fn check_budgets(&self) -> Result<(), OutOfRange> {
        let m = &self.memory;
        dollars("memory", "observer_session_usd", m.observer_session_usd)?;
        dollars("memory", "observer_day_usd", m.observer_day_usd)
    }

    /// Check every number against what the daemons can use; the first offender is returned.
    pub(super) fn check_ranges(&self) -> Result<(), OutOfRange> {
        let m = &self.memory;
        let t = "memory";
        within(t, "idle_timeout_secs", m.idle_timeout_secs, 0..=YEAR_SECS)?;
        within(t, "hook_timeout_ms", m.hook_timeout_ms, 1..=HOOK_MS)?;
        within(t, "context_timeout_ms", m.context_timeout_ms, 1..=HOOK_MS)?;
        within(t, "context_tokens", m.context_tokens as u64, 0..=1_000_000)?;
        within(
            t,
            "file_context_tokens",
            m.file_context_tokens as u64,
            0..=100_000,
        )?;
        within(
            t,
            "prompt_context_tokens",
            m.prompt_context_tokens as u64,
            0..=100_000,
        )?;
        within(
            t,
            "prompt_context_records",
            m.prompt_context_records as u64,
            1..=50,
        )?;
        within(t, "max_attempts", m.max_attempts.into(), 1..=100)?;
        self.check_budgets()?;
        within(t, "max_observers", m.max_observers as u64, 1..=256)?;
        within(
            t,
            "observer_idle_reap_secs",
            m.observer_idle_reap_secs,
            1..=YEAR_SECS,
        )?;
        within(t, "observer_batch", m.observer_batch as u64, 1..=1000)?;
        within(
            t,
            "observer_parse_retries",
            m.observer_parse_retries.into(),
            0..=10,
        )?;
        within(
            t,
            "observer_retry_secs",
            m.observer_retry_secs,
            1..=YEAR_SECS,
        )?;
        within(
            t,
            "observer_timeout_ms",
            m.observer_timeout_ms,
            1000..=24 * 3_600_000,
        )?;
        within(
            t,
            "spool_max_events",
            m.spool_max_events as u64,
            1..=10_000_000,
        )?;
        within(t, "spool_max_mb", m.spool_max_mb, 1..=1_000_000)?;
        within(t, "disk_reserve_mb", m.disk_reserve_mb, 0..=1_000_000)?;
        let sh = &m.share;
        within("memory.share", "max_age_days", sh.max_age_days, 1..=3650)?;
        within("memory.share", "max_mb", sh.max_mb, 1..=1_000_000)?;
        if let Some(team) = &sh.team {
            if team.is_empty()
                || !team
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err((
                    "memory.share",
                    "team",
                    format!("must be letters, digits, - and _ only, not {team:?}"),
                ));
            }
        }

        let s = &self.supervisor;
        let t = "supervisor";
        within(t, "max_processes", s.max_processes as u64, 1..=1024)?;
        // 0: never reaped (documented).
        within(t, "idle_reap_secs", s.idle_reap_secs, 0..=YEAR_SECS)?;
        within(t, "idle_timeout_secs", s.idle_timeout_secs, 0..=YEAR_SECS)?;
        within(t, "queue_limit", s.queue_limit as u64, 0..=100_000)?;
        within(t, "turn_timeout_secs", s.turn_timeout_secs, 1..=YEAR_SECS)?;
        within(t, "spawn_timeout_secs", s.spawn_timeout_secs, 1..=3600)?;
        within(t, "restart_max_ms", s.restart_max_ms, 1..=24 * 3_600_000)?;
        within(
            t,
            "restart_base_ms",
            s.restart_base_ms,
            1..=s.restart_max_ms,
        )?;
        within(t, "crash_limit", s.crash_limit as u64, 1..=1000)?;
        within(t, "crash_window_secs", s.crash_window_secs, 1..=YEAR_SECS)?;
        within(t, "stop_grace_ms", s.stop_grace_ms, 1..=3_600_000)?;
        within(
            t,
            "permission_timeout_secs",
            s.permission_timeout_secs,
            1..=YEAR_SECS,
        )?;
        // Renewed every third of it: under 3 s a busy broker round trip could lose it.
        within(t, "lease_secs", s.lease_secs, 3..=3600)?;

        let n = &self.mesh;
        let t = "mesh";
        within(t, "idle_timeout_secs", n.idle_timeout_secs, 0..=YEAR_SECS)?;
        within(t, "heartbeat_secs", n.heartbeat_secs, 1..=3600)?;
        within(t, "hook_timeout_ms", n.hook_timeout_ms, 1..=HOOK_MS)?;
        within(t, "push_confirm_secs", n.push_confirm_secs, 1..=86_400)?;
        // The mesh name's syntax is claude-meshd's to check (it knows the broker's rules).
        Ok(())
    }
}
