//! `perouter upgrade`: replace the running perouter by a new binary without a session flap
//! (issue 19), by hand or as the systemd unit's `ExecReload`.
//!
//! The command finds the running `perouter run` through its handoff socket (SO_PEERCRED gives
//! its pid), starts the new binary with that process's own command line, working directory and
//! environment (read from `/proc/<pid>/`), detached (its own session, standard output and error
//! on the running one's log destination or `--log`), and waits until the new process serves the
//! API socket; its `show status` says whether it took the sessions over or fell back.
//!
//! Why `/proc/<pid>/cmdline` rather than the predecessor reporting its argv in the handoff
//! protocol: the predecessor is the *old* binary. Reading `/proc` works for every version that
//! offers a handoff, including those released before this command; a protocol message would
//! help only upgrades from versions that already had it, and would add a message to a
//! versioned protocol whose change refuses handoffs between versions.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::api::{Request, DEFAULT_SOCKET};

/// Arguments of `perouter upgrade`.
#[derive(Debug, Args)]
#[command(after_help = "\
Upgrades the running perouter in place without a BGP session flap. Finds the `perouter run` that
serves --api-socket / --handoff-socket (the same flags and defaults as `perouter run`), starts
--binary (default: this command's own executable, i.e. what is installed now) with the running
process's own command line, working directory and environment, detached (its own session, its
output appended to --log or to wherever the running process writes its standard error: a file,
the journal), and waits until the new process serves the node. The new process asks the old one
for its live sessions (see `perouter run --help`); the old one hands them over and exits.

Under systemd (deploy/systemd/perouter.service: Type=notify, NotifyAccess=all,
ExecReload=perouter upgrade) `systemctl reload perouter` runs it: the new process tells systemd
it is the unit's main process (MAINPID=, READY=1) before the old one exits. Under systemd, upgrade
through `systemctl reload`, not from a shell: a process started from a shell would live outside
the unit's control group.

Checked before anything is started (the running node is untouched when one fails): a perouter
offers a handoff on the socket, it runs `perouter run`, the API socket is served by the same
process, --binary is a perouter binary that runs.

Exit status:
  0  the sessions were handed over: the new process serves the node, the old one is gone
  1  the new process serves the node, but without a handoff (refused, e.g. BFD configured, or the
     old process went away): the sessions restarted with graceful restart
  2  nothing changed: no running perouter found, a check failed, or the new process gave up and
     the old one goes on
  3  the new process did not serve the node within --timeout, or exited after the old one was
     gone (see its log)

Examples:
  systemctl reload perouter
  perouter upgrade --binary /usr/local/bin/perouter.new
  perouter upgrade --api-socket /run/perouter/node1.sock --log /var/log/perouter-node1.log")]
pub struct UpgradeArgs {
    /// The running perouter's API socket (its `perouter run --api-socket`).
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub api_socket: PathBuf,
    /// Its handoff socket; default: handoff.sock beside --api-socket, as `perouter run`.
    #[arg(long)]
    pub handoff_socket: Option<PathBuf>,
    /// The new perouter binary; default: this command's own executable.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Append the new process's output (its log) to this file; default: the running process's
    /// own standard output and error (the same file, pipe or journal stream).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Seconds to wait for the new process to serve the node.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// A failure, with the exit status it calls for.
struct Failure(u8, String);

/// The running perouter, as found on the handoff socket.
struct Running {
    pid: i32,
    argv: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

/// Runs `perouter upgrade`.
pub fn run(args: &UpgradeArgs) -> ExitCode {
    match upgrade(args) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, msg)) => {
            eprintln!("perouter upgrade: {msg}");
            ExitCode::from(code)
        }
    }
}

fn untouched(msg: String) -> Failure {
    Failure(2, format!("{msg}; nothing was changed"))
}

fn upgrade(args: &UpgradeArgs) -> Result<u8, Failure> {
    let handoff = super::run::handoff_socket(&args.api_socket, args.handoff_socket.as_ref());
    let old = find_running(&handoff, &args.api_socket)?;
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| untouched(format!("cannot tell this command's own executable: {e}")))?,
    };
    let version = binary_version(&binary)?;
    let (out, err) = log_destination(old.pid, args.log.as_deref())?;

    let mut cmd = Command::new(&binary);
    cmd.args(&old.argv[1..])
        .current_dir(&old.cwd)
        .env_clear()
        .envs(old.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // Under systemd the unit's notification socket (set for ExecReload with NotifyAccess=all)
    // wins over what the old process was started with (e.g. before the unit became
    // Type=notify).
    if let Some(n) = std::env::var_os(crate::runtime::sd_notify::ENV) {
        cmd.env(crate::runtime::sd_notify::ENV, n);
    }
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: runs in the forked child before exec; setsid and close_range are
        // async-signal-safe and touch nothing of the parent. Descriptors above stderr that
        // this command inherited (a caller's lock, say) are marked close-on-exec so that the
        // daemon does not hold them.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int);
                Ok(())
            });
        }
    }
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| untouched(format!("cannot start {}: {e}", binary.display())))?;
    let new_pid = child.id() as i32;
    println!(
        "perouter upgrade: pid {} -> pid {new_pid} ({version}), asking for the sessions",
        old.pid
    );

    let deadline = t0 + Duration::from_secs(args.timeout.max(1));
    let process = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(if alive(old.pid) {
                Failure(
                    2,
                    format!(
                        "the new perouter (pid {new_pid}) exited ({status}) before serving the node; the running one (pid {}) goes on: nothing was changed (see the log)",
                        old.pid
                    ),
                )
            } else {
                Failure(
                    3,
                    format!(
                        "the new perouter (pid {new_pid}) exited ({status}) and the old one (pid {}) is gone: NO perouter serves the node now (see the log; restart the service)",
                        old.pid
                    ),
                )
            });
        }
        if let Some(p) = served_by(&args.api_socket, new_pid) {
            break p;
        }
        if Instant::now() > deadline {
            return Err(Failure(
                3,
                format!(
                    "the new perouter (pid {new_pid}) does not serve {} after {} s; it is left running (old pid {} {}); see the log",
                    args.api_socket.display(),
                    args.timeout,
                    old.pid,
                    if alive(old.pid) { "still runs" } else { "is gone" }
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t0.elapsed();
    // The old process exits right after the handoff (or has stopped before a fallback).
    let gone_by = Instant::now() + Duration::from_secs(10);
    while alive(old.pid) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    let old_state = if alive(old.pid) {
        format!("the old process (pid {}) is STILL RUNNING", old.pid)
    } else {
        format!("the old process (pid {}) has exited", old.pid)
    };
    let start = process["start"].as_str().unwrap_or("unknown");
    match start {
        "handoff" => {
            println!(
                "perouter upgrade: handed over: {} BGP session(s) taken over by pid {new_pid} ({} could not be resumed and restarted), handoff {} ms, new process serving after {} ms; {old_state}",
                process["sessions_taken_over"],
                process["sessions_failed"],
                process["handoff_ms"],
                took.as_millis()
            );
            Ok(if alive(old.pid) { 3 } else { 0 })
        }
        "fallback" => {
            println!(
                "perouter upgrade: NO handoff: {}; pid {new_pid} serves the node after an ordinary restart (sessions restarted with graceful restart) after {} ms; {old_state}",
                process["fallback_reason"].as_str().unwrap_or("no reason given"),
                took.as_millis()
            );
            Ok(1)
        }
        other => {
            println!(
                "perouter upgrade: NO handoff: pid {new_pid} started as `{other}` (the old process was gone before it asked, or the new binary does not report how it started); it serves the node after {} ms; {old_state}",
                took.as_millis()
            );
            Ok(1)
        }
    }
}

/// The pid serving a Unix socket (SO_PEERCRED of a connection to it).
fn peer_pid(s: &UnixStream) -> Option<i32> {
    nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.pid())
}

/// Finds the running `perouter run` on the handoff socket and checks the API socket is its.
fn find_running(handoff: &Path, api: &Path) -> Result<Running, Failure> {
    let s = UnixStream::connect(handoff).map_err(|e| {
        untouched(match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
                "no perouter offers a session handoff on {} ({e}): is `perouter run` running, with this --api-socket / --handoff-socket, and without --no-handoff?",
                handoff.display()
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "{}: {e} (the handoff socket is root only)",
                handoff.display()
            ),
            _ => format!("{}: {e}", handoff.display()),
        })
    })?;
    let pid = peer_pid(&s).ok_or_else(|| {
        untouched(format!(
            "{}: the kernel does not tell who serves it",
            handoff.display()
        ))
    })?;
    // Closed without a word: the running process takes it for a probe.
    drop(s);
    let proc_err = |what: &str, e: std::io::Error| {
        untouched(format!(
            "cannot read /proc/{pid}/{what} of the running perouter: {e}"
        ))
    };
    let split = |b: Vec<u8>| -> Vec<String> {
        b.split(|c| *c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let argv =
        split(std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| proc_err("cmdline", e))?);
    if argv.len() < 2 || !argv.iter().skip(1).any(|a| a == "run") {
        return Err(untouched(format!(
            "pid {pid} on {} runs `{}`, not `perouter run`",
            handoff.display(),
            argv.join(" ")
        )));
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).map_err(|e| proc_err("cwd", e))?;
    let env =
        split(std::fs::read(format!("/proc/{pid}/environ")).map_err(|e| proc_err("environ", e))?)
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
    match UnixStream::connect(api).ok().as_ref().and_then(peer_pid) {
        Some(p) if p == pid => {}
        Some(p) => {
            return Err(untouched(format!(
                "the API socket {} is served by pid {p} but the handoff socket {} by pid {pid}: pass the --api-socket (and --handoff-socket) the running perouter uses",
                api.display(),
                handoff.display()
            )))
        }
        None => {
            return Err(untouched(format!(
                "the API socket {} does not answer, while pid {pid} serves the handoff socket {}: pass the --api-socket the running perouter uses",
                api.display(),
                handoff.display()
            )))
        }
    }
    Ok(Running {
        pid,
        argv,
        cwd,
        env,
    })
}

/// `binary --version`, checking that it is a perouter binary that runs here.
fn binary_version(binary: &Path) -> Result<String, Failure> {
    let what = |e: String| untouched(format!("--binary {}: {e}", binary.display()));
    let meta = std::fs::metadata(binary).map_err(|e| what(e.to_string()))?;
    if !meta.is_file() {
        return Err(what("not a file".into()));
    }
    let mut c = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| what(format!("cannot run it: {e}")))?;
    let t = Instant::now();
    let status = loop {
        match c.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = c.kill();
                let _ = c.wait();
                return Err(what("`--version` did not answer within 10 s".into()));
            }
        }
    };
    let mut out = String::new();
    if let Some(mut o) = c.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut out);
    }
    let out = out.trim().to_string();
    if !status.success() || !out.starts_with("perouter ") {
        return Err(what(format!(
            "not a perouter binary (`--version` gave {status}: {out:?})"
        )));
    }
    Ok(out)
}

/// Where the new process writes: `--log` (appended), else the running process's own standard
/// output and error, duplicated from it (pidfd_getfd: a file, a pipe or the journal's stream).
/// (The kernel marks descriptors from pidfd_getfd close-on-exec; `Command` dup2s them onto 1 and 2.)
fn log_destination(pid: i32, log: Option<&Path>) -> Result<(Stdio, Stdio), Failure> {
    if let Some(path) = log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| untouched(format!("--log {}: {e}", path.display())))?;
        let g = f
            .try_clone()
            .map_err(|e| untouched(format!("--log {}: {e}", path.display())))?;
        return Ok((Stdio::from(f), Stdio::from(g)));
    }
    use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
    let fail = |e: rustix::io::Errno| {
        untouched(format!(
            "cannot take the running perouter's (pid {pid}) standard output and error for the new process ({e}); pass --log PATH"
        ))
    };
    let pidfd = Pid::from_raw(pid)
        .ok_or_else(|| fail(rustix::io::Errno::SRCH))
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()).map_err(fail))?;
    let out = pidfd_getfd(&pidfd, 1, PidfdGetfdFlags::empty()).map_err(fail)?;
    let err = pidfd_getfd(&pidfd, 2, PidfdGetfdFlags::empty()).map_err(fail)?;
    Ok((Stdio::from(out), Stdio::from(err)))
}

/// The new process's `process` status once it serves the API socket (and only it).
fn served_by(api: &Path, pid: i32) -> Option<Value> {
    let mut s = UnixStream::connect(api).ok()?;
    if peer_pid(&s)? != pid {
        return None;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = serde_json::to_vec(&Request::Status).ok()?;
    line.push(b'\n');
    s.write_all(&line).ok()?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).ok()?;
    let v: Value = serde_json::from_str(&reply).ok()?;
    let p = v.get("ok")?.get("process")?.clone();
    // An older new binary has no `process`: serving is all it says.
    Some(if p.is_null() {
        Value::Object(Default::default())
    } else {
        p
    })
}

/// Whether `pid` is alive (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|st| st != 'Z' && st != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_a_clear_error_before_anything_starts() {
        let Err(Failure(code, msg)) = binary_version(Path::new("/nonexistent/perouter")) else {
            panic!("a missing binary passed");
        };
        assert_eq!(code, 2);
        assert!(msg.contains("/nonexistent/perouter") && msg.contains("nothing was changed"));
    }

    #[test]
    fn a_binary_that_is_not_perouter_is_refused() {
        let Err(Failure(code, msg)) = binary_version(Path::new("/bin/true")) else {
            panic!("/bin/true passed as perouter");
        };
        assert_eq!(code, 2);
        assert!(msg.contains("not a perouter binary"), "{msg}");
    }

    #[test]
    fn no_running_perouter_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("perouter-upgrade-{}", std::process::id()));
        let Err(Failure(code, msg)) =
            find_running(&dir.join("handoff.sock"), &dir.join("api.sock"))
        else {
            panic!("found a perouter where none runs");
        };
        assert_eq!(code, 2);
        assert!(
            msg.contains("no perouter offers a session handoff"),
            "{msg}"
        );
    }

    #[test]
    fn the_process_serving_a_socket_is_found_and_its_command_line_read() {
        // This test process serves both sockets: it is found, but it does not run `perouter run`.
        let dir = std::env::temp_dir().join(format!("perouter-upgrade-s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = dir.join("handoff.sock");
        let _l = std::os::unix::net::UnixListener::bind(&h).unwrap();
        let Err(Failure(code, msg)) = find_running(&h, &dir.join("api.sock")) else {
            panic!("a test binary taken for perouter run");
        };
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(code, 2);
        assert!(
            msg.contains(&format!("pid {} ", std::process::id()))
                && msg.contains("not `perouter run`"),
            "{msg}"
        );
    }
}
