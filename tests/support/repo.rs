//! Where the repository is. Cargo says so at run time: a reused target dir may hold test
//! binaries built from a clone at another path, whose compile-time value no longer exists.

use std::path::PathBuf;

/// The repository's root.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or(env!("CARGO_MANIFEST_DIR").into())
        .into()
}
