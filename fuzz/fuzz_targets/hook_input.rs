#![no_main]
//! cargo-fuzz target `hook_input`; what it checks is [`harness::hook_input`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hook_input(data));
