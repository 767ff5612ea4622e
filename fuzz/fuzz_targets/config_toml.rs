#![no_main]
//! cargo-fuzz target `config_toml`; what it checks is [`harness::config_toml`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config_toml(data));
