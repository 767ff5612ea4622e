#![no_main]
//! cargo-fuzz target `import_rows`; what it checks is [`harness::import_rows`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::import_rows(data));
