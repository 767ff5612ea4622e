//! Claude Code contracts: the messages Claude Code reads and writes.
//!
//! - [`stream_json`]: the headless `--input-format stream-json --output-format stream-json`
//!   protocol, both directions.

mod stream_json;

pub use stream_json::*;
