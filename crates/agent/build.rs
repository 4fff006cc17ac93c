//! Records the git commit the binary is built from, for `perouter --version`.
//!
//! `PEROUTER_GIT_COMMIT` is set for the crate from, in order: the environment variable of the
//! same name (builds outside a git checkout, e.g. `docker build --build-arg`), then
//! `git rev-parse --short=12 HEAD`, then `unknown`. Cargo reruns this script only when HEAD, the
//! branch it names or the packed refs change (not on every build), or when the variable changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PEROUTER_GIT_COMMIT");
    let commit = std::env::var("PEROUTER_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PEROUTER_GIT_COMMIT={}", commit.trim());
    watch_git_refs();
}

/// Runs git in this crate's directory and returns its trimmed output on success.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// Asks Cargo to rerun this script when the commit can have changed: HEAD (a checkout), the
/// branch HEAD names (a commit; the file if it is loose, else its directory, where the commit
/// creates it), and packed-refs. Only existing paths are given: Cargo reruns on every build for a
/// path that does not exist. Outside git nothing is watched but the environment variable.
fn watch_git_refs() {
    let Some(head) = git_path("HEAD") else {
        return;
    };
    watch(&head);
    if let Some(packed) = git_path("packed-refs") {
        watch(&packed);
    }
    let Ok(content) = std::fs::read_to_string(&head) else {
        return;
    };
    if let Some(reference) = content.trim().strip_prefix("ref: ") {
        if let Some(loose) = git_path(reference) {
            if loose.exists() {
                watch(&loose);
            } else if let Some(dir) = loose.parent() {
                watch(dir);
            }
        }
    }
}

/// The absolute path git uses for `name` in this checkout (worktrees included).
fn git_path(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(git(&["rev-parse", "--git-path", name])?);
    let p = if p.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    } else {
        p
    };
    Some(p)
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
