//! systemd's readiness protocol (`sd_notify(3)`), written out: one datagram of `KEY=VALUE`
//! lines to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
//!
//! perouter uses it for two things under a `Type=notify` unit (deploy/systemd/perouter.service):
//! `READY=1` once the node is served, and `MAINPID=` during an upgrade (`perouter upgrade`), so
//! that systemd keeps tracking the node when the process it started exits after handing its
//! sessions over: the successor announces itself as the main process before the predecessor
//! lets go, and hands the title back if the handoff is abandoned and the predecessor goes on.
//! Without `$NOTIFY_SOCKET` (not under systemd, or another unit type) every call does nothing.
//!
//! Written by hand (a dozen lines) rather than with the `sd-notify` crate: its 0.4 and 0.5
//! releases connect to `$NOTIFY_SOCKET` as a path only, and systemd hands containers and user
//! managers an abstract socket (`@name`), which this module supports.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable naming systemd's notification socket.
pub const ENV: &str = "NOTIFY_SOCKET";

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to `$NOTIFY_SOCKET`. `Ok(false)`
/// when the variable is unset (nothing to tell).
pub fn notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os(ENV) {
        Some(path) if !path.is_empty() => {
            send_to(&path.to_string_lossy(), state)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Sends `state` to the notification socket `path` (`@name`: the abstract socket `name`).
pub fn send_to(path: &str, state: &str) -> std::io::Result<()> {
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// Tells systemd that `pid` is the unit's main process now (logged, never fatal).
pub fn main_pid(pid: u32) {
    match notify(&format!("MAINPID={pid}")) {
        Ok(true) => tracing::info!(pid, "told systemd the node's main process"),
        Ok(false) => {}
        Err(e) => tracing::warn!(pid, error = %e, "cannot tell systemd the main process"),
    }
}

/// Tells systemd that this process is the node's main process and serves it.
pub fn ready(status: &str) {
    let pid = std::process::id();
    match notify(&format!("MAINPID={pid}\nREADY=1\nSTATUS={status}")) {
        Ok(true) => tracing::info!(pid, "told systemd the node is ready"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot tell systemd the node is ready"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("perouter-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1\nMAINPID=42").unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nMAINPID=42");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("perouter-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        send_to(&format!("@{name}"), "MAINPID=7").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=7");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(send_to("/nonexistent/perouter/notify.sock", "READY=1").is_err());
    }
}
