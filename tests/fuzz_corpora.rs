//! Replays the fuzz targets' checked-in corpora (`fuzz/corpus/<target>/`, plus any crash
//! reproducers in `fuzz/regressions/<target>/`) through the same harness the cargo-fuzz
//! targets use, on the stable toolchain: every input must be handled without a panic.
//! Fuzzing itself (`cargo +nightly fuzz run <target>`) is run by hand; see fuzz/Cargo.toml.

#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "support/repo.rs"]
mod repo;

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_is_handled_without_a_panic() {
    let fuzz = repo::root().join("fuzz");
    let mut replayed = 0;
    for (name, run) in harness::TARGETS {
        let seeds = inputs(&fuzz.join("corpus").join(name));
        assert!(!seeds.is_empty(), "no seed corpus for fuzz target {name}");
        let found = inputs(&fuzz.join("regressions").join(name));
        for file in seeds.iter().chain(&found) {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
            replayed += 1;
        }
    }
    // Every corpus directory belongs to a target (a renamed target leaves none behind).
    for entry in std::fs::read_dir(fuzz.join("corpus")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            harness::TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/corpus/{name} has no target"
        );
    }
    println!("{replayed} inputs replayed");
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let fuzz = repo::root().join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    for (name, _) in harness::TARGETS {
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} in fuzz/Cargo.toml"
        );
    }
}

/// The claude_mem_rows seeds reach the reader's row conversion, not only the schema check:
/// a well-formed database gives its three records, a broken one its rejections.
#[test]
fn claude_mem_seeds_reach_the_row_conversion() {
    let seeds = repo::root().join("fuzz/corpus/claude_mem_rows");
    let read = |name: &str| harness::claude_mem_read(&std::fs::read(seeds.join(name)).unwrap());
    let (records, rejected) = read("one_of_each");
    assert_eq!((records.len(), rejected), (3, 0), "{records:?}");
    let (_, rejected) = read("legacy_and_broken");
    assert!(rejected >= 2, "{rejected} rejections");
}
