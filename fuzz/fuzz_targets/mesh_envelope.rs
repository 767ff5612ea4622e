#![no_main]
//! cargo-fuzz target `mesh_envelope`; what it checks is [`harness::mesh_envelope`].

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::mesh_envelope(data));
