//! Claude Code contracts: what its hooks send and read back (`reference/claude-code-contract.md`).

mod hooks;

pub use hooks::*;
