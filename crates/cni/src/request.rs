//! One plugin invocation as the environment and stdin the plugin reads (SPEC §2). Pure.

use std::path::PathBuf;

/// The operation (SPEC §2, `CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Attach the interface.
    Add,
    /// Verify an attachment still is as ADD left it (`prevResult` required).
    Check,
    /// Detach: idempotent, succeeds when already gone.
    Del,
}

impl Command {
    /// The `CNI_COMMAND` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Check => "CHECK",
            Command::Del => "DEL",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runtime parameters of an attachment (SPEC §2): the same for every plugin of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID`: the attachment's owner; stable across restarts so that DEL and
    /// IPAM state (host-local, the DHCP client id) match what ADD did.
    pub container_id: String,
    /// `CNI_NETNS`: the path of the target network namespace (`/run/netns/NAME`).
    pub netns: PathBuf,
    /// `CNI_IFNAME`: the interface name inside the namespace.
    pub ifname: String,
    /// `CNI_PATH`: where plugins (and delegated IPAM plugins) are found.
    pub path: Vec<PathBuf>,
}

/// A request field a plugin would refuse (SPEC §2's rules on the container ID and the name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

impl Request {
    /// Checks the container ID (letters, digits, `_ . -`, starting alphanumeric) and the
    /// interface name (1..=15 bytes, no `/`, `:` or whitespace, not `.`/`..`), SPEC §2.
    pub fn validate(&self) -> Result<(), RequestError> {
        let id = &self.container_id;
        if id.is_empty()
            || !id.as_bytes()[0].is_ascii_alphanumeric()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(RequestError(format!(
                "CNI container ID {id:?} must be letters, digits, '_', '.', '-' starting with a letter or digit"
            )));
        }
        let n = &self.ifname;
        if n.is_empty()
            || n.len() > 15
            || n == "."
            || n == ".."
            || n.bytes()
                .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
        {
            return Err(RequestError(format!(
                "CNI interface name {n:?} must be 1 to 15 bytes without '/', ':' or spaces"
            )));
        }
        Ok(())
    }

    /// The `CNI_*` environment of the invocation.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let path = std::env::join_paths(&self.path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![
            ("CNI_COMMAND", self.command.as_str().to_string()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", self.netns.to_string_lossy().into_owned()),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_PATH", path),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request {
            command: Command::Add,
            container_id: "perouter-underlay-node1".into(),
            netns: "/run/netns/perouter".into(),
            ifname: "net1".into(),
            path: vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()],
        }
    }

    #[test]
    fn the_environment_names_every_runtime_parameter() {
        let env = req().env();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CNI_COMMAND"), Some("ADD"));
        assert_eq!(get("CNI_CONTAINERID"), Some("perouter-underlay-node1"));
        assert_eq!(get("CNI_NETNS"), Some("/run/netns/perouter"));
        assert_eq!(get("CNI_IFNAME"), Some("net1"));
        assert_eq!(get("CNI_PATH"), Some("/opt/cni/bin:/usr/lib/cni"));
        assert!(req().validate().is_ok());
    }

    #[test]
    fn bad_ids_and_names_are_refused() {
        for id in ["", "-x", "a b", "a/b"] {
            let mut r = req();
            r.container_id = id.into();
            assert!(
                r.validate().unwrap_err().0.contains("container ID"),
                "{id:?}"
            );
        }
        for n in ["", "a234567890123456", "a/b", "a:b", "a b", ".."] {
            let mut r = req();
            r.ifname = n.into();
            assert!(
                r.validate().unwrap_err().0.contains("interface name"),
                "{n:?}"
            );
        }
    }
}
