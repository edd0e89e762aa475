//! Sets broken katas aside, for the practice CLI only.
//!
//! `IPC_KATAS_SET_ASIDE` names a directory that mirrors the repository (`katas/pipes/x.rs`, …)
//! with a stand-in for each kata file that does not compile: its original stub. When it is set,
//! this script copies the attempt's tree (`katas/`, or `solutions/` with the `solutions` feature)
//! into `OUT_DIR`, lays the stand-ins over it, and points the crate at the copy. Unset (plain
//! `cargo test`), the crate compiles the tree where it is and this script does nothing else.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

fn main() -> io::Result<()> {
    println!("cargo::rustc-check-cfg=cfg(ipc_katas_set_aside)");
    println!("cargo::rerun-if-env-changed=IPC_KATAS_SET_ASIDE");
    println!("cargo::rerun-if-changed=build.rs");
    let Some(aside) = env::var_os("IPC_KATAS_SET_ASIDE").filter(|v| !v.is_empty()).map(PathBuf::from) else {
        return Ok(());
    };
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest.parent().expect("attempt/ is inside the repository");
    let tree = if env::var_os("CARGO_FEATURE_SOLUTIONS").is_some() { "solutions" } else { "katas" };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let copy = out.join(tree);
    if copy.exists() {
        fs::remove_dir_all(&copy)?;
    }
    copy_tree(&repo.join(tree), &copy)?;
    if aside.join(tree).is_dir() {
        copy_tree(&aside.join(tree), &copy)?;
    }
    // Any edit to the tree or to the stand-ins makes a new copy.
    println!("cargo::rerun-if-changed={}", repo.join(tree).display());
    println!("cargo::rerun-if-changed={}", aside.display());
    println!("cargo::rustc-cfg=ipc_katas_set_aside");
    let root = copy.join("mod.rs");
    fs::write(out.join("set_aside.rs"), format!("#[path = {:?}]\nmod attempt;\n", root.display().to_string()))
}

/// Copies every file below `from` into `to`, over what is there.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
