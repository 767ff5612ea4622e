#![no_main]
//! cargo-fuzz target `stream_json`; what it checks is [`harness::stream_json`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::stream_json(data));
