//! Claude Code contracts (`reference/claude-code-contract.md`):
//!
//! - [`channel`]: pushing turns into an interactive session through an MCP channel.
//! - [`hooks`]: what its hooks send on stdin and read back on stdout.
//! - [`stream_json`]: the headless `--input-format stream-json --output-format stream-json`
//!   protocol, both directions.
//! - [`observer_answer`]: what the Claude observer answers claude-memd (observations and
//!   summaries in XML).

mod channel;
mod hooks;
pub mod observer_answer;
mod stream_json;

pub use channel::*;
pub use hooks::*;
pub use stream_json::*;
