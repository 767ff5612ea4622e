//! Unit tests of the configuration file and its environment overrides.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn missing_file_is_defaults() {
    let c = Config::load_with_env(Path::new("/nonexistent/config.toml"), env(&[])).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.memory.viewer_port, 37777);
    assert_eq!(c.supervisor.claude_bin, "claude");
    assert_eq!(c.mesh.idle_timeout_secs, 0);
}

#[test]
fn parses_tables() {
    let text = "[memory]\nprovider = \"claude\"\nmodel = \"sonnet\"\n\n[mesh]\nbroker_url = \"nats://127.0.0.1:4222\"\nhost_policy = \"warn\"\n";
    let c = Config::parse(Path::new("c.toml"), text).unwrap();
    assert_eq!(c.memory.provider, Provider::Claude);
    assert_eq!(c.memory.model, "sonnet");
    assert_eq!(c.memory.idle_timeout_secs, 300, "unset keys keep defaults");
    assert_eq!(c.mesh.broker_url.as_deref(), Some("nats://127.0.0.1:4222"));
    assert_eq!(c.mesh.host_policy, HostPolicy::Warn);
}

#[test]
fn typo_names_file_line_and_key() {
    let text = "[memory]\nmodel = \"x\"\nprovder = \"claude\"\n";
    let err = Config::parse(Path::new("/etc/c.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/etc/c.toml:3:"), "{err}");
    assert!(err.contains("provder"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn wrong_type_names_key() {
    let text = "[supervisor]\nmax_processes = \"many\"\n";
    let err = Config::parse(Path::new("c.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.toml:2:"), "{err}");
    assert!(err.contains("supervisor.max_processes"), "{err}");
}

#[test]
fn syntax_error_has_line() {
    let err = Config::parse(Path::new("c.toml"), "[memory\nx=1")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.toml:1:"), "{err}");
}

#[test]
fn mesh_keys_default_and_override() {
    let c = Config::default();
    assert_eq!(c.mesh.heartbeat_secs, 10);
    assert_eq!(c.mesh.tcp_port, 0);
    assert_eq!(c.mesh.mesh_secret, None);
    let c = c
        .with_env(env(&[
            ("CLAUDE_DAEMONS_MESH_MESH_SECRET", "s3"),
            ("CLAUDE_DAEMONS_MESH_HEARTBEAT_SECS", "2"),
            ("CLAUDE_DAEMONS_MESH_TCP_PORT", "47823"),
        ]))
        .unwrap();
    assert_eq!(c.mesh.mesh_secret.as_deref(), Some("s3"));
    assert_eq!(c.mesh.heartbeat_secs, 2);
    assert_eq!(c.mesh.tcp_port, 47823);
}

#[test]
fn env_overrides_keys_with_types() {
    let c = Config::default()
        .with_env(env(&[
            ("CLAUDE_DAEMONS_MESH_BROKER_URL", "nats://h:1"),
            ("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0"),
            ("CLAUDE_DAEMONS_MEMORY_PROVIDER", "claude"),
            ("CLAUDE_DAEMONS_SUPERVISOR_CLAUDE_BIN", "/opt/claude"),
            ("CLAUDE_DAEMONS_STATE_DIR", "/ignored/not/a/key"),
            ("UNRELATED", "x"),
        ]))
        .unwrap();
    assert_eq!(c.mesh.broker_url.as_deref(), Some("nats://h:1"));
    assert_eq!(c.memory.viewer_port, 0);
    assert_eq!(c.memory.provider, Provider::Claude);
    assert_eq!(c.supervisor.claude_bin, "/opt/claude");
}

#[test]
fn memory_hook_keys_have_defaults_and_env_lists() {
    let c = Config::default();
    assert_eq!(c.memory.hook_timeout_ms, 300);
    assert_eq!(c.memory.context_timeout_ms, 2000);
    assert!(c.memory.skip_tools.iter().any(|t| t == "TodoWrite"));
    let c = Config::parse(
        Path::new("c.toml"),
        "[memory]\nhook_timeout_ms = 50\nexclude_projects = [\"/secret/*\"]\n",
    )
    .unwrap();
    assert_eq!(c.memory.hook_timeout_ms, 50);
    assert_eq!(c.memory.exclude_projects, vec!["/secret/*".to_string()]);
    let c = c
        .with_env(env(&[
            ("CLAUDE_DAEMONS_MEMORY_SKIP_TOOLS", "Bash, Read"),
            ("CLAUDE_DAEMONS_MEMORY_CONTEXT_TOKENS", "99"),
            ("CLAUDE_DAEMONS_MEMORY_FILE_CONTEXT_TOKENS", "0"),
        ]))
        .unwrap();
    assert_eq!(c.memory.file_context_tokens, 0);
    assert_eq!(Config::default().memory.prompt_context_records, 3);
    assert_eq!(c.memory.skip_tools, vec!["Bash".to_string(), "Read".into()]);
    assert_eq!(c.memory.context_tokens, 99);
}

#[test]
fn supervisor_keys_have_defaults_and_overrides() {
    let c = Config::parse(
        Path::new("c.toml"),
        "[supervisor]\nqueue_limit = 2\nrestart_base_ms = 50\n",
    )
    .unwrap();
    assert_eq!(c.supervisor.queue_limit, 2);
    assert_eq!(c.supervisor.restart_base_ms, 50);
    assert_eq!(c.supervisor.restart_max_ms, 60_000);
    assert_eq!(c.supervisor.crash_limit, 5);
    assert_eq!(c.supervisor.crash_window_secs, 60);
    assert_eq!(c.supervisor.stop_grace_ms, 5000);
    assert_eq!(c.supervisor.turn_timeout_secs, 300);
    assert_eq!(c.supervisor.permission_timeout_secs, 300);
    assert_eq!(c.supervisor.tcp_port, 0);
    assert_eq!(c.supervisor.attached_asks, AttachedAsks::Wait);
    assert_eq!(c.supervisor.interactive_input, InteractiveInput::Auto);
    let c = c
        .with_env(env(&[
            ("CLAUDE_DAEMONS_SUPERVISOR_SPAWN_TIMEOUT_SECS", "3"),
            ("CLAUDE_DAEMONS_SUPERVISOR_ATTACHED_ASKS", "refuse"),
            ("CLAUDE_DAEMONS_SUPERVISOR_INTERACTIVE_INPUT", "typing"),
        ]))
        .unwrap();
    assert_eq!(c.supervisor.interactive_input, InteractiveInput::Typing);
    assert_eq!(c.supervisor.spawn_timeout_secs, 3);
    assert_eq!(c.supervisor.attached_asks, AttachedAsks::Refuse);
    assert!(Config::parse(
        Path::new("c.toml"),
        "[supervisor]\nattached_asks = \"sometimes\"\n"
    )
    .is_err());
    assert!(Config::parse(
        Path::new("c.toml"),
        "[supervisor]\ninteractive_input = \"telepathy\"\n"
    )
    .is_err());
}

#[test]
fn fleet_keys_have_defaults_overrides_and_a_lease_range() {
    let c = Config::default().supervisor;
    assert_eq!(c.broker_url, None);
    assert_eq!(c.fleet, "default");
    assert_eq!(c.lease_secs, 15);
    assert_eq!(c.when_full, super::WhenFull::Refuse);
    assert!(c.workspace_map.is_empty());
    let text = "[supervisor]\nbroker_url = \"nats://b:4222\"\nwhen_full = \"wait\"\n\
                [supervisor.workspace_map]\n\"/home/ann\" = \"/srv/ann\"\n";
    let c = Config::parse(Path::new("c.toml"), text).unwrap();
    assert_eq!(c.supervisor.when_full, super::WhenFull::Wait);
    assert_eq!(c.supervisor.workspace_map["/home/ann"], "/srv/ann");
    let c = c
        .with_env(env(&[
            ("CLAUDE_DAEMONS_SUPERVISOR_FLEET", "team"),
            ("CLAUDE_DAEMONS_SUPERVISOR_BROKER_TOKEN", "s3cret"),
            ("CLAUDE_DAEMONS_SUPERVISOR_WHEN_FULL", "refuse"),
        ]))
        .unwrap();
    assert_eq!(c.supervisor.fleet, "team");
    assert_eq!(c.supervisor.broker_token.as_deref(), Some("s3cret"));
    assert_eq!(c.supervisor.when_full, super::WhenFull::Refuse);
    assert_eq!(
        c.supervisor.workspace_map.len(),
        1,
        "kept through the overrides"
    );
    let c = c
        .with_env(env(&[(
            "CLAUDE_DAEMONS_SUPERVISOR_WORKSPACE_MAP",
            "/a=/b, /c/d = /e",
        )]))
        .unwrap();
    let pairs: Vec<(&str, &str)> = c
        .supervisor
        .workspace_map
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("/a", "/b"), ("/c/d", "/e")]);
    let err = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_SUPERVISOR_WORKSPACE_MAP", "/a")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("WORKSPACE_MAP") && err.contains("FROM=TO"),
        "{err}"
    );
    let err = Config::parse(Path::new("c.toml"), "[supervisor]\nwhen_full = \"maybe\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("when_full"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[supervisor]\nlease_secs = 1\n").unwrap();
    let err = Config::load_with_env(&path, env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lease_secs") && err.contains("between 3 and 3600"),
        "{err}"
    );
}

#[test]
fn observer_budget_keys_have_defaults_and_overrides() {
    let c = Config::default();
    assert_eq!(c.memory.observer_session_usd, 0.5);
    assert_eq!(c.memory.max_observers, 4);
    assert_eq!(c.memory.observer_idle_reap_secs, 300);
    let c = Config::parse(
        Path::new("c.toml"),
        "[memory]\nobserver_day_usd = 1.25\nobserver_session_tokens = 10\n",
    )
    .unwrap();
    assert_eq!(c.memory.observer_day_usd, 1.25);
    assert_eq!(c.memory.observer_session_tokens, 10);
    let c = c
        .with_env(env(&[
            ("CLAUDE_DAEMONS_MEMORY_OBSERVER_SESSION_USD", "0.01"),
            ("CLAUDE_DAEMONS_MEMORY_OBSERVER_DAY_USD", "2"),
            ("CLAUDE_DAEMONS_MEMORY_MAX_OBSERVERS", "1"),
        ]))
        .unwrap();
    assert_eq!(c.memory.observer_session_usd, 0.01);
    assert_eq!(c.memory.observer_day_usd, 2.0);
    assert_eq!(c.memory.max_observers, 1);
    let e = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_MEMORY_OBSERVER_DAY_USD", "lots")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("OBSERVER_DAY_USD"), "{e}");
}

#[test]
fn env_errors_name_the_variable() {
    let e = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_MEMORY_PROVDER", "claude")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CLAUDE_DAEMONS_MEMORY_PROVDER"), "{e}");
    let e = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "lots")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT"), "{e}");
    let e = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_MEMORY_PROVIDER", "gpt")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CLAUDE_DAEMONS_MEMORY_PROVIDER"), "{e}");
    let e = Config::default()
        .with_env(env(&[("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "70000")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("VIEWER_PORT"), "{e}");
}

#[test]
fn values_the_daemons_cannot_use_are_refused_naming_key_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let load = |text: &str, vars: &[(&str, &str)]| {
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(&path, env(vars))
    };
    // The defaults and the edges of each range are fine.
    Config::default().check_ranges().unwrap();
    load(
        "[memory]\nhook_timeout_ms = 60000\nidle_timeout_secs = 0\n[supervisor]\nrestart_base_ms = 5\nrestart_max_ms = 5\nidle_reap_secs = 0\n",
        &[],
    )
    .unwrap();
    // A variable corrects a value of the file.
    load(
        "[memory]\nhook_timeout_ms = 0\n",
        &[("CLAUDE_DAEMONS_MEMORY_HOOK_TIMEOUT_MS", "300")],
    )
    .unwrap();

    let err = load("[memory]\nidle_timeout_secs = 9223372036854775807\n", &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            ConfigError::Range {
                key: "idle_timeout_secs",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("{}: [memory] idle_timeout_secs:", path.display())),
        "{text}"
    );
    assert!(
        text.contains("CLAUDE_DAEMONS_MEMORY_IDLE_TIMEOUT_SECS"),
        "{text}"
    );

    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("[memory]\nhook_timeout_ms = 0\n", &[], "hook_timeout_ms"),
        (
            "",
            &[("CLAUDE_DAEMONS_SUPERVISOR_MAX_PROCESSES", "0")],
            "max_processes",
        ),
        (
            "[supervisor]\nrestart_base_ms = 9000\nrestart_max_ms = 100\n",
            &[],
            "restart_base_ms",
        ),
        (
            "[memory]\nobserver_day_usd = -1.0\n",
            &[],
            "observer_day_usd",
        ),
        (
            "[memory]\nobserver_session_usd = nan\n",
            &[],
            "observer_session_usd",
        ),
        ("[mesh]\nheartbeat_secs = 0\n", &[], "heartbeat_secs"),
    ];
    for (text, vars, key) in cases {
        match load(text, vars) {
            Err(ConfigError::Range { key: k, .. }) if k == *key => {}
            other => panic!("{text:?} {vars:?}: expected {key} out of range, got {other:?}"),
        }
    }
}

#[test]
fn memory_share_table_falls_back_to_mesh_and_takes_nested_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[mesh]\nbroker_url = \"nats://m:4222\"\nmesh = \"crew\"\nmesh_secret = \"s1\"\n[memory.share]\nprompts = true\n",
    )
    .unwrap();
    let c = Config::load_with_env(&path, env(&[])).unwrap();
    assert!(c.memory.share.prompts);
    assert_eq!(
        c.share_target(),
        Some(("nats://m:4222".into(), "crew".into(), "s1".into()))
    );
    let c = Config::load_with_env(
        &path,
        env(&[
            ("CLAUDE_DAEMONS_MEMORY_SHARE_TEAM", "team-a"),
            ("CLAUDE_DAEMONS_MEMORY_SHARE_TEAM_SECRET", "s2"),
            ("CLAUDE_DAEMONS_MEMORY_SHARE_MAX_AGE_DAYS", "7"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.share_target(),
        Some(("nats://m:4222".into(), "team-a".into(), "s2".into()))
    );
    assert_eq!(c.memory.share.max_age_days, 7);
    assert_eq!(Config::default().share_target(), None, "off by default");
    let err = Config::load_with_env(&path, env(&[("CLAUDE_DAEMONS_MEMORY_SHARE_TEAM", "a.b")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("team") && err.contains("CLAUDE_DAEMONS_MEMORY_SHARE_TEAM"),
        "{err}"
    );
    let err = Config::load_with_env(&path, env(&[("CLAUDE_DAEMONS_MEMORY_SHARE_NOPE", "1")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("CLAUDE_DAEMONS_MEMORY_SHARE_NOPE"), "{err}");
}
