#![no_main]
//! cargo-fuzz target `observer_xml`; what it checks is [`harness::observer_xml`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::observer_xml(data));
