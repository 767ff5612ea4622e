//! The Debian package's file list (`[package.metadata.deb]` in Cargo.toml), which every
//! other package must match, and the repository's own list of what ships. Shared by
//! tests/package_recipes.rs and the tests/packaging*.rs files.
#![allow(dead_code)]

use std::collections::BTreeSet;

/// The socket units the package enables for all users.
pub const SOCKETS: [&str; 3] = [
    "claude-memd.socket",
    "claude-supervisord.socket",
    "claude-meshd.socket",
];

pub const PACKAGE: &str = "claude-daemons";

pub use super::repo::root;

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `*` matches any run of characters (no `/`), everything else itself.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && wildcard(tail, &rest[i..]))
        }
    }
}

/// The file names a source path of a package stands for: build outputs (`target/release/…`)
/// as they are, anything else expanded against the repository (a pattern matching nothing
/// is an error: the package would fail to build).
pub fn sources(src: &str) -> Vec<String> {
    let (dir, pattern) = src.rsplit_once('/').unwrap_or((".", src));
    if dir == "target/release" {
        return vec![pattern.to_string()];
    }
    let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| wildcard(pattern, n))
        .collect();
    assert!(!names.is_empty(), "{src} matches no file");
    names.sort();
    names
}

/// An installed path as `kind/name`, so that distributions' different directories for the
/// same thing (zsh's vendor-completions and site-functions) compare equal.
pub fn canonical(path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap();
    let kind = match dir {
        "/usr/bin" => "bin",
        "/usr/lib/systemd/user" => "unit",
        // Only the RPM has one: it enables the sockets the way the distribution does it.
        "/usr/lib/systemd/user-preset" => "preset",
        "/usr/share/man/man1" => "man1",
        "/usr/share/man/man5" => "man5",
        "/usr/share/man/man7" => "man7",
        "/usr/share/bash-completion/completions" => "bash",
        "/usr/share/zsh/vendor-completions" | "/usr/share/zsh/site-functions" => "zsh",
        "/usr/share/fish/vendor_completions.d" => "fish",
        // Fedora and Arch keep license texts apart from the other documents.
        "/usr/share/doc/claude-daemons" | "/usr/share/licenses/claude-daemons" => "doc",
        _ => panic!("{path}: a destination this test does not know"),
    };
    // Packagers compress man pages.
    format!("{kind}/{}", name.strip_suffix(".gz").unwrap_or(name))
}

/// `[package.metadata.deb] assets` as absolute installed paths.
pub fn deb_paths() -> Vec<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets");
    let mut paths = Vec::new();
    for asset in assets {
        let [src, dest, _mode] = asset.as_array().unwrap().as_slice() else {
            panic!("asset {asset} is not [source, destination, mode]");
        };
        let (src, dest) = (src.as_str().unwrap(), dest.as_str().unwrap());
        if let Some(dir) = dest.strip_suffix('/') {
            paths.extend(sources(src).iter().map(|n| format!("/{dir}/{n}")));
        } else {
            assert_eq!(sources(src).len(), 1, "{src} → {dest}: one file expected");
            paths.push(format!("/{dest}"));
        }
    }
    paths
}

pub fn deb_set() -> BTreeSet<String> {
    deb_paths().iter().map(|p| canonical(p)).collect()
}

/// Every program, unit, page and completion of the repository.
pub fn everything() -> BTreeSet<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut set: BTreeSet<String> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("bin/{}", b["name"].as_str().unwrap()))
        .collect();
    set.extend(
        sources("units/systemd/*")
            .iter()
            .map(|n| format!("unit/{n}")),
    );
    for page in sources("man/*") {
        let section = page.rsplit('.').next().unwrap();
        set.insert(format!("man{section}/{page}"));
    }
    set.extend(["bash/claudectl", "zsh/_claudectl", "fish/claudectl.fish"].map(String::from));
    set.extend(["doc/README.md", "doc/LICENSE-MIT", "doc/LICENSE-APACHE"].map(String::from));
    set
}
