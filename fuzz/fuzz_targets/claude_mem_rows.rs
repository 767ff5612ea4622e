#![no_main]
//! cargo-fuzz target `claude_mem_rows`; what it checks is [`harness::claude_mem_rows`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::claude_mem_rows(data));
