//! The shell scripts a newcomer and CI run (`scripts/test`, `.ci/run`) pass shellcheck, so a
//! quoting slip does not surface first on someone else's machine.
#[path = "support/repo.rs"]
mod repo;

use std::process::Command;

#[test]
fn the_test_scripts_pass_shellcheck() {
    let root = repo::root();
    let out = Command::new("shellcheck")
        .arg(root.join("scripts/test"))
        .arg(root.join(".ci/run"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "shellcheck is missing ({e}): run scripts/test, which installs what the tests need"
            )
        });
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
