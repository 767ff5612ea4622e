//! The command line of `claudectl`: definitions only (clap and library types), so that the
//! man pages and shell completions can be generated from exactly what the program parses
//! (tests/man_pages.rs includes this file).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

// `claudectl mem`'s arguments; a file beside this one (not `mem/`), so that the man-page
// test, which includes this file by path, finds it too.
#[path = "cli_mem.rs"]
mod mem;
pub use mem::*;

/// Operate the claude-daemons: memory, supervisor and mesh.
#[derive(Parser, Debug)]
#[command(name = "claudectl", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show each daemon: socket, service state, pid, uptime, version.
    Status(StatusArgs),
    /// Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them.
    Run(RunArgs),
    /// Install the user units, enable the sockets, and register claude-hook with Claude Code.
    Install(InstallArgs),
    /// Disable and remove the units and the hook registration (data is kept).
    Uninstall(UninstallArgs),
    /// Show the daemons' logs (the journal, or the files `claudectl run` writes).
    Logs(LogsArgs),
    /// Check everything that can silently break, with a fix for each problem.
    Doctor(DoctorArgs),
    /// Serve Claude Code's MCP tools (memory search, mesh messages) on stdin/stdout.
    Mcp,
    /// Start Claude Code with our channel, so mesh messages reach it while it is idle.
    ///
    /// Runs `claude` (or `[supervisor] claude_bin`) with
    /// `--dangerously-load-development-channels server:claude-daemons` added and every other
    /// argument passed through; Claude Code asks once per launch whether to load the
    /// development channel. Without launch, messages arrive at the next prompt or tool call.
    Launch(LaunchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions(CompletionsArgs),
    /// Measure the installed daemons on this machine, against baselines from the same run.
    #[command(long_about = BENCH_ABOUT, after_help = BENCH_EXIT_CODES)]
    Bench(BenchArgs),
    /// Search and manage memory (claude-memd).
    #[command(subcommand, after_help = OPERATOR_EXIT_CODES)]
    Mem(MemCommand),
    /// Ask and manage supervised Claude Code sessions (claude-supervisord).
    #[command(subcommand, after_help = OPERATOR_EXIT_CODES)]
    Sup(SupCommand),
    /// Message Claude Code sessions, here or on other machines (claude-meshd).
    #[command(subcommand, after_help = OPERATOR_EXIT_CODES)]
    Mesh(MeshCommand),
}

/// Arguments of `claudectl status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `claudectl run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Directory holding the daemon binaries (default: next to claudectl, then PATH).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
}

/// Arguments of `claudectl install`.
#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// Start the sockets now, not only at the next login.
    #[arg(long)]
    pub now: bool,
    /// Directory holding the installed programs (default: the one holding claudectl).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
    /// Do not register claude-hook in ~/.claude/settings.json.
    #[arg(long)]
    pub no_hooks: bool,
    /// Do not register `claudectl mcp` in ~/.claude.json.
    #[arg(long)]
    pub no_mcp: bool,
    /// Only print a shell alias that starts Claude Code through `claudectl launch`
    /// (add it to your shell's rc file); install nothing.
    #[arg(long)]
    pub launch_alias: bool,
}

/// Arguments of `claudectl launch`.
#[derive(clap::Args, Debug)]
pub struct LaunchArgs {
    /// Arguments for Claude Code, passed through.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CLAUDE_ARGS"
    )]
    pub args: Vec<String>,
}

/// Arguments of `claudectl uninstall`.
#[derive(clap::Args, Debug)]
pub struct UninstallArgs {
    /// Leave ~/.claude/settings.json alone.
    #[arg(long)]
    pub no_hooks: bool,
    /// Leave the MCP server registration in ~/.claude.json alone.
    #[arg(long)]
    pub no_mcp: bool,
}

/// Arguments of `claudectl logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// memd, supervisord or meshd (default: all three).
    #[arg(value_parser = ["memd", "supervisord", "meshd"])]
    pub daemon: Option<String>,
    /// Keep printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines about this Claude session.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// How many lines from the end.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Read the foreground log files even when the journal is available.
    #[arg(long)]
    pub files: bool,
}

/// Arguments of `claudectl doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `claudectl completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// What `claudectl bench` measures and prints (its long help and man page).
pub const BENCH_ABOUT: &str = "\
Measure the installed daemons on this machine, each figure against a baseline measured \
interleaved with it in the same run (machines are noisy; the ratio is what carries over).

Your own daemons and data are never touched: claude-memd and claude-meshd are started from \
the installed programs (--bindir, else next to claudectl, else PATH) in a new temporary \
directory with their own sockets, state, config and HOME, and are stopped (SIGTERM, wait) and \
the directory removed when the bench ends, fails or is interrupted with Ctrl-C.

Figures, each p50, p99 and mean over --iterations rounds after a tenth as many to warm up:

memory.search: GET /v1/search for one word over 300 seeded observations; memory.context: \
POST /v1/hook SessionStart, the context a new session is given; memory.intake: POST /v1/hook \
PostToolUse, the durable commit each tool call waits for. Baseline of the three: \
memd.health, GET /v1/health on the same socket.

hook.post_tool_use and hook.session_start: the whole claude-hook process for a PostToolUse \
event (every tool call) and for a SessionStart event (every new session: memory context and \
mesh registration), both daemons running. Baseline: spawn.true, starting and waiting for \
`true` the same way.

mesh.delivery: from a session's send until the receiving session's SSE event arrives; \
mesh.sends: durable sends accepted per second by 4 concurrent clients. Baseline of both: \
meshd.health, GET /v1/health on the same socket.

claude-supervisord is not measured: its figures need a real Claude Code and an API key, and \
its turns cost tokens (developers: `cargo bench --bench supervisor`).

--json prints one object: version, iterations, warmup, programs (name -> path), daemons \
[{program, version, pid}], and figures [{id, title, unit, n, p50, p99, mean, baseline: {id, \
title, p50, p99, mean}, ratio}]. unit is \"ms\" (latency) or \"per_s\" (rate; its p99 is the \
rate of the slowest 1 % of rounds, its mean all the work over all the time); ratio is p50 / \
baseline.p50. A progress bar per figure is drawn on stderr when it is a terminal, never with \
--json.";

/// Exit codes of `claudectl bench`.
pub const BENCH_EXIT_CODES: &str = "Exit status: 0 ok; 1 error (a program to measure is \
missing: its path is named; a figure failed; a scratch daemon did not stop cleanly: the \
figures are printed first); 2 usage; 3 a scratch daemon did not start (its last log lines \
are shown) or stopped answering; 4 a scratch daemon refused a request (HTTP 4xx: are \
claudectl and the daemons of the same release?); 130 interrupted (after stopping the scratch \
daemons).";

/// What `claudectl bench` measures.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchTarget {
    /// claude-memd: intake, search, SessionStart context.
    Memory,
    /// claude-meshd: delivery latency, sends per second.
    Mesh,
    /// The claude-hook process per tool call and per session start.
    Hook,
    /// All of the above.
    All,
}

/// Arguments of `claudectl bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = BenchTarget::All)]
    pub target: BenchTarget,
    /// Measured rounds per figure.
    #[arg(short = 'n', long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub iterations: u32,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Directory holding claude-memd, claude-meshd and claude-hook (default: next to
    /// claudectl, then PATH).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
}

// `claudectl mem|sup|mesh`: the operator commands that drive the daemons.

/// Exit codes of `claudectl mem|sup|mesh`, shown in their help and man pages.
pub const OPERATOR_EXIT_CODES: &str = "Exit status: 0 ok; 1 error (including a failed turn); \
2 usage; 3 the daemon is unreachable (its socket is named); 4 the daemon refused the request \
(HTTP 4xx, its reason is shown). --json prints the daemon's JSON answer.";

/// Print the daemon's JSON answer as it is, instead of the compact view.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct JsonFlag {
    /// Print the daemon's JSON answer instead of the compact view.
    #[arg(long)]
    pub json: bool,
}

/// `claudectl sup ...`.
#[derive(Subcommand, Debug)]
pub enum SupCommand {
    /// Send a prompt to a session (started on first use) and print the answer.
    Ask(SupAskArgs),
    /// Every session: state, process, turns, cost.
    Sessions(JsonFlag),
    /// Stop a session's process (its conversation is kept unless --forget).
    Stop(SupStopArgs),
    /// Follow lifecycle events: spawned, ready, exited, restart_scheduled, reaped, ...
    Events(SupEventsArgs),
    /// A session's permission prompts and who decided them (pending ones first to answer).
    Permissions(SupPermissionsArgs),
    /// Answer a pending permission prompt: allow or deny.
    Answer(SupAnswerArgs),
    /// The fleet ([supervisor] broker_url): its hosts, their capacity, and where each
    /// session lives.
    Fleet(JsonFlag),
    /// Connect this terminal to an interactive session ("kind": "interactive"): watch it
    /// and type into it; Ctrl-] detaches and leaves it running.
    Attach(SupAttachArgs),
    /// The MCP channel server claude-supervisord gives its interactive children (their
    /// `--mcp-config` runs it; not for people).
    #[command(hide = true)]
    Channel(SupChannelArgs),
}

/// Arguments of `claudectl sup channel`.
#[derive(clap::Args, Debug)]
pub struct SupChannelArgs {
    /// The supervisor's socket.
    #[arg(long)]
    pub socket: PathBuf,
    /// The session key.
    #[arg(long)]
    pub key: String,
    /// The Claude session id of the process that runs this server.
    #[arg(long)]
    pub session_id: String,
}

/// `claudectl sup ask --kind`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SupKind {
    /// `claude -p`, stream-json.
    Headless,
    /// Claude Code's terminal UI under a PTY the supervisor owns.
    Interactive,
}

/// Arguments of `claudectl sup attach`.
#[derive(clap::Args, Debug)]
pub struct SupAttachArgs {
    /// The session key.
    pub key: String,
    /// Only watch: keys are not sent, and another person may type.
    #[arg(long)]
    pub read_only: bool,
}

/// Arguments of `claudectl sup permissions`.
#[derive(clap::Args, Debug)]
pub struct SupPermissionsArgs {
    /// The session key.
    pub key: String,
    /// Only the prompts still waiting for an answer.
    #[arg(long)]
    pub pending: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl sup answer`.
#[derive(clap::Args, Debug)]
pub struct SupAnswerArgs {
    /// The session key.
    pub key: String,
    /// The prompt's id (from `claudectl sup permissions`).
    pub id: String,
    /// `allow` or `deny`.
    #[arg(value_parser = ["allow", "deny"])]
    pub behavior: String,
    /// Why (with deny: Claude reads it).
    #[arg(long)]
    pub message: Option<String>,
    /// Also decide the same call alike from now on, without asking.
    #[arg(long)]
    pub remember: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl sup ask`.
#[derive(clap::Args, Debug)]
pub struct SupAskArgs {
    /// The session key, e.g. `agent::chat`.
    pub key: String,
    /// The prompt (`-` reads it from standard input).
    pub prompt: String,
    /// Workspace of a new session (default: the daemon's HOME); fixed once created.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Model.
    #[arg(long)]
    pub model: Option<String>,
    /// Permission mode (e.g. acceptEdits, plan).
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
    /// Tools allowed without asking (repeat or comma-separate).
    #[arg(long = "allowed-tool", value_name = "TOOL", value_delimiter = ',')]
    pub allowed_tools: Vec<String>,
    /// Give up on the turn after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// How the session's Claude Code runs: headless (`claude -p`) or interactive (its
    /// terminal UI under a PTY, which `claudectl sup attach` connects to).
    #[arg(long, value_enum)]
    pub kind: Option<SupKind>,
    /// Show the answer as it is written (server-sent events); with --json, one
    /// {"event", "data"} object per line as each event arrives. On a terminal the answer
    /// is always streamed, and permission prompts are asked inline
    /// (`Allow Bash: git push? [y/N/always]`).
    #[arg(long)]
    pub stream: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl sup stop`.
#[derive(clap::Args, Debug)]
pub struct SupStopArgs {
    /// The session key.
    pub key: String,
    /// Also drop the key -> Claude session mapping (the next ask starts a new conversation).
    #[arg(long)]
    pub forget: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl sup events`.
#[derive(clap::Args, Debug)]
pub struct SupEventsArgs {
    /// First replay the remembered events after this sequence number (0: all).
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Exit after this many events.
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `claudectl mesh ...`.
#[derive(Subcommand, Debug)]
pub enum MeshCommand {
    /// Send a message: to a peer name, key prefix, session, `*`, `@group` or `#topic`.
    Send(MeshSendArgs),
    /// Received messages.
    Inbox(MeshInboxArgs),
    /// Sessions on the mesh (local and remote).
    Peers(MeshPeersArgs),
    /// Show a local session's profile, or change it.
    Profile(MeshProfileArgs),
    /// The durable outbox: list rows, requeue stuck or dead ones.
    #[command(subcommand)]
    Outbox(MeshOutboxCommand),
    /// Accept that the state directory now lives on this host (after a move or restore).
    AcceptHost(MeshAcceptHostArgs),
    /// Allow a permission request a launched session relayed to you (`[mesh] approvers`).
    Approve(MeshAnswerArgs),
    /// Deny a permission request a launched session relayed to you (`[mesh] approvers`).
    Deny(MeshAnswerArgs),
}

/// Arguments of `claudectl mesh approve|deny`.
#[derive(clap::Args, Debug)]
pub struct MeshAnswerArgs {
    /// The request id shown in the relayed message.
    pub id: String,
    /// Answer as this local session (default: the member itself); an approver listed by
    /// session name or `@group` must answer as that session.
    #[arg(long, value_name = "SESSION")]
    pub from_session: Option<String>,
}

/// Arguments of `claudectl mesh send`.
#[derive(clap::Args, Debug)]
pub struct MeshSendArgs {
    /// Destination.
    pub to: String,
    /// The message (`-` reads it from standard input).
    pub body: String,
    /// now (interrupts a working session), next or low.
    #[arg(long, value_parser = ["now", "next", "low"])]
    pub priority: Option<String>,
    /// The id of the message this answers.
    #[arg(long, value_name = "ID")]
    pub reply_to: Option<String>,
    /// The send's id, for safe retries (default: a fresh one).
    #[arg(long = "id", value_name = "ID")]
    pub client_message_id: Option<String>,
    /// JSON carried with the message.
    #[arg(long, value_name = "JSON")]
    pub meta: Option<String>,
    /// Send as this local session (default: the member itself).
    #[arg(long, value_name = "SESSION")]
    pub from_session: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mesh inbox`.
#[derive(clap::Args, Debug)]
pub struct MeshInboxArgs {
    /// Only items after this cursor.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
    /// What one local session may read.
    #[arg(long, value_name = "SESSION")]
    pub session: Option<String>,
    /// Only from this sender (key, name or session).
    #[arg(long)]
    pub from: Option<String>,
    /// Only this topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Only unread items.
    #[arg(long)]
    pub unread: bool,
    /// Mark what is shown as seen.
    #[arg(long)]
    pub mark_seen: bool,
    /// At most this many items (1-1000).
    #[arg(short = 'n', long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mesh peers`.
#[derive(clap::Args, Debug)]
pub struct MeshPeersArgs {
    /// Include offline and invisible peers.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mesh profile`.
#[derive(clap::Args, Debug)]
pub struct MeshProfileArgs {
    /// The local session.
    pub session: String,
    /// One line on what the session does.
    #[arg(long)]
    pub summary: Option<String>,
    /// idle, working or dnd.
    #[arg(long, value_parser = ["idle", "working", "dnd"])]
    pub status: Option<String>,
    /// Whether other peers list it.
    #[arg(long)]
    pub visible: Option<bool>,
    /// Title.
    #[arg(long)]
    pub title: Option<String>,
    /// Longer description.
    #[arg(long)]
    pub bio: Option<String>,
    /// What it can do (repeat or comma-separate; replaces the list).
    #[arg(long = "capability", value_name = "CAP", value_delimiter = ',')]
    pub capabilities: Option<Vec<String>>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `claudectl mesh outbox ...`.
#[derive(Subcommand, Debug)]
pub enum MeshOutboxCommand {
    /// Outbox rows with state, attempts and last error.
    List(MeshOutboxListArgs),
    /// Retire a pending, inflight or dead row and queue a copy under a new id.
    Requeue(MeshRequeueArgs),
}

/// Arguments of `claudectl mesh outbox list`.
#[derive(clap::Args, Debug)]
pub struct MeshOutboxListArgs {
    /// Only these states (pending, inflight, done, dead, aborted; comma-separated).
    #[arg(long, value_name = "STATES")]
    pub state: Option<String>,
    /// At most this many rows.
    #[arg(short = 'n', long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mesh outbox requeue`.
#[derive(clap::Args, Debug)]
pub struct MeshRequeueArgs {
    /// The row id or its client_message_id.
    pub id: String,
    /// The new row's id (default: a fresh one).
    #[arg(long, value_name = "ID")]
    pub new_id: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mesh accept-host`.
#[derive(clap::Args, Debug)]
pub struct MeshAcceptHostArgs {
    /// Directory holding claude-meshd (default: next to claudectl, then PATH).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
}
