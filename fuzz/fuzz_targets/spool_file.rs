#![no_main]
//! cargo-fuzz target `spool_file`; what it checks is [`harness::spool_file`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::spool_file(data));
