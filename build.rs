//! Links `claude-hook` statically on Linux with glibc (the other programs stay dynamic).
//!
//! Claude Code starts the hook for every prompt and tool call. A dynamic Rust executable
//! pays, before `main`, the dynamic loader's relocations and libgcc_s's constructor, which
//! probes the CPU with CPUID instructions (a VM exit each on a virtual machine, 4–5 µs
//! here): about 0.4 ms of a 2 ms hook. Rust's own switch for this (`-C
//! target-feature=+crt-static`) applies to every crate of a build, proc-macros included,
//! which cannot be built that way; so this script gives the one executable the same link.
//!
//! rustc asks for the unwinder and the C library as shared libraries (`-Bdynamic -lgcc_s
//! … -lc`). For `claude-hook` only, a directory searched before the system's holds a linker
//! script under each of those names that takes the static archive instead, and the
//! executable is linked as a static PIE. Where glibc's static archives are not installed
//! (Fedora keeps them in `glibc-static`), the hook is linked dynamically, as before.

use std::path::PathBuf;
use std::process::Command;

/// What rustc links the standard library against, and the archive each becomes.
const STATIC_LIBS: [(&str, &str); 7] = [
    ("gcc_s", "gcc_eh"),
    ("util", "util"),
    ("rt", "rt"),
    ("pthread", "pthread"),
    ("m", "m"),
    ("dl", "dl"),
    ("c", "c"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    // A cross build's archives are not the ones the host's `cc` finds: left dynamic.
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let installed = |file: &str| {
        Command::new(&cc)
            .arg(format!("-print-file-name={file}"))
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .is_some_and(|p| p.is_absolute() && p.exists())
    };
    // A static PIE starts from rcrt1.o (gcc 8 and later); without it, link dynamically.
    let archives = STATIC_LIBS.iter().map(|(_, a)| format!("lib{a}.a"));
    let needed: Vec<String> = archives.chain(["rcrt1.o".to_string()]).collect();
    if let Some(missing) = needed.iter().find(|f| !installed(f)) {
        println!(
            "cargo:warning={missing} not found: claude-hook is linked dynamically (slower to start)"
        );
        return;
    }
    let dir = PathBuf::from(var("OUT_DIR")).join("static-hook");
    std::fs::create_dir_all(&dir).expect("creating OUT_DIR/static-hook");
    for (name, archive) in STATIC_LIBS {
        std::fs::write(
            dir.join(format!("lib{name}.so")),
            format!("INPUT(-l:lib{archive}.a)\n"),
        )
        .expect("writing a linker script into OUT_DIR");
    }
    println!("cargo:rustc-link-arg-bin=claude-hook=-static-pie");
    println!("cargo:rustc-link-arg-bin=claude-hook=-L{}", dir.display());
}
