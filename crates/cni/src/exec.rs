//! The thin driver: runs plugin binaries found on `CNI_PATH` with a timeout, and whole lists
//! (SPEC §4: ADD in list order, each plugin given the previous one's result; DEL in reverse
//! order; CHECK in order with the cached result).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::NetworkConfigList;
use crate::request::{Command, Request, RequestError};
use crate::result::{parse_output, CniResult, PluginError};

/// The plugin directories used when none are configured: the CNI convention and Debian's.
pub const DEFAULT_PATH: &[&str] = &["/opt/cni/bin", "/usr/lib/cni"];

/// How plugins are run.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Directories searched for plugin binaries, in order (`CNI_PATH`).
    pub path: Vec<PathBuf>,
    /// Longest a single plugin may run before it is killed.
    pub timeout: Duration,
    /// The network namespace the plugin runs in (a `/run/netns/NAME` path), when not the
    /// caller's: main plugins such as macvlan look their `master` up in the namespace they
    /// run in and move the new interface to `CNI_NETNS`.
    pub exec_netns: Option<PathBuf>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            path: DEFAULT_PATH.iter().map(PathBuf::from).collect(),
            timeout: Duration::from_secs(60),
            exec_netns: None,
        }
    }
}

/// Why an invocation did not succeed; every variant names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A request field is invalid.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No binary for the plugin type on the path.
    #[error("CNI plugin {plugin:?} not found in {path}")]
    NotFound {
        /// The plugin type.
        plugin: String,
        /// The directories searched.
        path: String,
    },
    /// The binary could not be started or waited for.
    #[error("CNI plugin {plugin} {command}: cannot run {binary}: {error}")]
    Spawn {
        /// The plugin type.
        plugin: String,
        /// The operation.
        command: Command,
        /// The binary.
        binary: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The plugin ran longer than the timeout and was killed.
    #[error("CNI plugin {plugin} {command} {ifname}: no answer within {timeout:?}: killed")]
    Timeout {
        /// The plugin type.
        plugin: String,
        /// The operation.
        command: Command,
        /// The interface.
        ifname: String,
        /// The limit.
        timeout: Duration,
    },
    /// The plugin failed or answered something malformed.
    #[error("CNI plugin {plugin} {command} {ifname}: {error}")]
    Plugin {
        /// The plugin type.
        plugin: String,
        /// The operation.
        command: Command,
        /// The interface.
        ifname: String,
        /// What it said.
        error: PluginError,
    },
}

impl ExecError {
    /// The plugin's own error, when it reported one.
    pub fn plugin_error(&self) -> Option<&PluginError> {
        match self {
            ExecError::Plugin { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Runs CNI plugins.
#[derive(Debug, Clone, Default)]
pub struct Driver {
    /// The configuration.
    pub config: DriverConfig,
}

impl Driver {
    /// A driver with `config`.
    pub fn new(config: DriverConfig) -> Self {
        Self { config }
    }

    /// The binary of plugin `plugin`: the first executable file of that name on the path.
    pub fn find(&self, plugin: &str) -> Result<PathBuf, ExecError> {
        use std::os::unix::fs::PermissionsExt;
        for dir in &self.config.path {
            let p = dir.join(plugin);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Ok(p);
                }
            }
        }
        Err(ExecError::NotFound {
            plugin: plugin.to_string(),
            path: self
                .config
                .path
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        })
    }

    /// Runs one plugin: `req` as environment, `stdin` as its configuration.
    pub fn invoke(
        &self,
        plugin: &str,
        req: &Request,
        stdin: &Value,
    ) -> Result<Option<CniResult>, ExecError> {
        req.validate()?;
        let binary = self.find(plugin)?;
        let spawn_err = |error| ExecError::Spawn {
            plugin: plugin.to_string(),
            command: req.command,
            binary: binary.display().to_string(),
            error,
        };
        let mut cmd = std::process::Command::new(&binary);
        cmd.env_clear()
            .envs(req.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Kept open until the child has started: the child enters it before exec.
        let netns = match &self.config.exec_netns {
            Some(p) => Some(std::fs::File::open(p).map_err(spawn_err)?),
            None => None,
        };
        if let Some(f) = &netns {
            let fd = f.as_raw_fd();
            // SAFETY: setns(2) is async-signal-safe; between fork and exec this only switches
            // the child's network namespace and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(spawn_err)?;
        drop(netns);
        let input = serde_json::to_vec(stdin).unwrap_or_default();
        let mut si = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(si) = si.as_mut() {
                let _ = si.write_all(&input);
            }
        });
        let mut so = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(so) = so.as_mut() {
                let _ = so.read_to_end(&mut b);
            }
            b
        });
        let mut se = child.stderr.take();
        let ereader = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(se) = se.as_mut() {
                let _ = se.take(64 * 1024).read_to_end(&mut b);
            }
            b
        });
        let deadline = Instant::now() + self.config.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The readers end when the pipes close (a grandchild holding them open
                    // would keep them: they are left detached then).
                    return Err(ExecError::Timeout {
                        plugin: plugin.to_string(),
                        command: req.command,
                        ifname: req.ifname.clone(),
                        timeout: self.config.timeout,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(spawn_err(e)),
            }
        };
        let _ = writer.join();
        let out = reader.join().unwrap_or_default();
        let err = ereader.join().unwrap_or_default();
        parse_output(req.command, status.success(), &out, &err).map_err(|error| ExecError::Plugin {
            plugin: plugin.to_string(),
            command: req.command,
            ifname: req.ifname.clone(),
            error,
        })
    }

    fn request(&self, command: Command, container_id: &str, netns: &Path, ifname: &str) -> Request {
        Request {
            command,
            container_id: container_id.to_string(),
            netns: netns.to_path_buf(),
            ifname: ifname.to_string(),
            path: self.config.path.clone(),
        }
    }

    /// ADD of a whole list (SPEC §4.1): each plugin in order, given the previous one's result
    /// as `prevResult`; the last result is the attachment's. Stops at the first failure (the
    /// caller then DELs to clean up).
    pub fn add_list(
        &self,
        list: &NetworkConfigList,
        runtime_config: &Map<String, Value>,
        container_id: &str,
        netns: &Path,
        ifname: &str,
    ) -> Result<CniResult, ExecError> {
        let req = self.request(Command::Add, container_id, netns, ifname);
        let mut prev: Option<CniResult> = None;
        for i in 0..list.plugins.len() {
            let conf = list.plugin_config(i, runtime_config, prev.as_ref().map(|r| &r.raw));
            let plugin = list.plugin_type(i);
            match self.invoke(plugin, &req, &conf)? {
                Some(r) => prev = Some(r),
                None => unreachable!("parse_output returns a result for ADD"),
            }
        }
        Ok(prev.expect("a validated list has at least one plugin"))
    }

    /// CHECK of a whole list (SPEC §4.2) against the cached result of its ADD.
    pub fn check_list(
        &self,
        list: &NetworkConfigList,
        runtime_config: &Map<String, Value>,
        container_id: &str,
        netns: &Path,
        ifname: &str,
        prev: &Value,
    ) -> Result<(), ExecError> {
        let req = self.request(Command::Check, container_id, netns, ifname);
        for i in 0..list.plugins.len() {
            let conf = list.plugin_config(i, runtime_config, Some(prev));
            self.invoke(list.plugin_type(i), &req, &conf)?;
        }
        Ok(())
    }

    /// DEL of a whole list (SPEC §4.3): plugins in reverse order, with the cached result
    /// when there is one. Plugins treat a missing interface as already deleted.
    pub fn del_list(
        &self,
        list: &NetworkConfigList,
        runtime_config: &Map<String, Value>,
        container_id: &str,
        netns: &Path,
        ifname: &str,
        prev: Option<&Value>,
    ) -> Result<(), ExecError> {
        let req = self.request(Command::Del, container_id, netns, ifname);
        for i in (0..list.plugins.len()).rev() {
            let conf = list.plugin_config(i, runtime_config, prev);
            self.invoke(list.plugin_type(i), &req, &conf)?;
        }
        Ok(())
    }
}
