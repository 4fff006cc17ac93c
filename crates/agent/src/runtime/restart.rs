//! Whether this start is a restart of a previous perouter, from perouter's own state.
//!
//! A router namespace that merely exists proves nothing: it may be left over from a test, a
//! crashed different tool, or an older deployment, and treating it as our restart makes the
//! node wait up to the End-of-RIB timeout before advertising anything (RFC 4724 §4.1). Instead,
//! each run leaves a marker beside its API socket naming the namespace it ran and the boot it ran
//! in (`/proc/sys/kernel/random/boot_id`); a start is a restart only when the namespace exists
//! *and* the marker says perouter ran it during this boot. The marker stays after a clean
//! shutdown on purpose: the namespace and its forwarding state stay too, so the next start is a
//! restart that should keep forwarding and set the Restart State bit.

use std::path::{Path, PathBuf};

/// The marker file for `netns`, in the directory of the API socket.
pub fn marker_path(api_socket: &Path, netns: &str) -> PathBuf {
    api_socket
        .parent()
        .unwrap_or_else(|| Path::new("/run/perouter"))
        .join(format!(".perouter-ran-{netns}"))
}

/// This boot's id (empty when the kernel does not say).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What the marker must hold for a restart: the namespace and the boot.
fn marker_text(netns: &str, boot: &str) -> String {
    format!("netns={netns}\nboot={boot}\n")
}

/// Decides from the marker's content (None: no marker), whether the namespace exists and this
/// boot's id, whether this start is a restart. Pure.
pub fn is_restart(marker: Option<&str>, netns: &str, netns_exists: bool, boot: &str) -> bool {
    netns_exists && !boot.is_empty() && marker == Some(marker_text(netns, boot).as_str())
}

/// Reads the marker, decides, and writes the marker for the next start. Returns whether this
/// start is a restart, and why (for the log).
pub fn detect_and_mark(api_socket: &Path, netns: &str, netns_exists: bool) -> (bool, String) {
    let path = marker_path(api_socket, netns);
    let marker = std::fs::read_to_string(&path).ok();
    let boot = boot_id();
    let restart = is_restart(marker.as_deref(), netns, netns_exists, &boot);
    let why = match (netns_exists, &marker, restart) {
        (_, _, true) => format!(
            "restart: perouter ran router namespace {netns} during this boot ({})",
            path.display()
        ),
        (false, _, _) => format!("fresh start: router namespace {netns} does not exist"),
        (true, None, _) => format!(
            "fresh start: router namespace {netns} exists but no perouter ran it ({} absent); advertising as soon as sessions are up",
            path.display()
        ),
        (true, Some(_), _) => format!(
            "fresh start: router namespace {netns} exists but {} is from another boot or namespace",
            path.display()
        ),
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, marker_text(netns, &boot)) {
        tracing::warn!(file = %path.display(), error = %e, "cannot write the restart marker: the next start will be taken as fresh");
    }
    (restart, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_needs_the_namespace_and_our_marker_of_this_boot() {
        let m = marker_text("pe", "b1");
        assert!(is_restart(Some(&m), "pe", true, "b1"));
        assert!(
            !is_restart(None, "pe", true, "b1"),
            "leftover namespace, no marker"
        );
        assert!(!is_restart(Some(&m), "pe", false, "b1"), "namespace gone");
        assert!(!is_restart(Some(&m), "pe", true, "b2"), "another boot");
        assert!(
            !is_restart(Some(&m), "other", true, "b1"),
            "another namespace"
        );
        assert!(!is_restart(Some(&m), "pe", true, ""), "unknown boot");
    }

    #[test]
    fn marker_is_written_for_the_next_start() {
        let dir = std::env::temp_dir().join(format!("perouter-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sock = dir.join("api.sock");
        let (r, why) = detect_and_mark(&sock, "pe", true);
        assert!(!r, "{why}");
        assert!(why.contains("no perouter ran it"), "{why}");
        let (r, why) = detect_and_mark(&sock, "pe", true);
        assert!(r || boot_id().is_empty(), "{why}");
        let (r, _) = detect_and_mark(&sock, "pe", false);
        assert!(!r);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
