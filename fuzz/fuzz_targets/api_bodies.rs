#![no_main]
//! cargo-fuzz target `api_bodies`; what it checks is [`harness::api_bodies`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::api_bodies(data));
