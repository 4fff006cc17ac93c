//! A plugin's answer: the success result (SPEC §5.1) or the error (SPEC §5.2), parsed from its
//! stdout and exit status. Any bytes are accepted: malformed output is a [`PluginError`], never
//! a panic (fuzzed: fuzz/fuzz_targets/cni_result.rs).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::Command;

/// An interface a plugin created or saw (SPEC §5.1 `interfaces`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// The name.
    pub name: String,
    /// The hardware address, when the plugin says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The namespace path when the interface is inside one (absent: the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// An address assigned (SPEC §5.1 `ips`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length (`192.168.11.3/24`).
    pub address: String,
    /// The default gateway, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces` of the interface holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<u32>,
}

/// A success result (SPEC §5.1), with the raw JSON kept for `prevResult` and the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CniResult {
    /// `cniVersion` of the result.
    pub cni_version: String,
    /// `interfaces`.
    pub interfaces: Vec<Interface>,
    /// `ips`.
    pub ips: Vec<IpConfig>,
    /// The whole result as the plugin wrote it.
    pub raw: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultWire {
    cni_version: String,
    #[serde(default)]
    interfaces: Vec<Interface>,
    #[serde(default)]
    ips: Vec<IpConfig>,
}

#[derive(Deserialize)]
struct ErrorWire {
    code: u32,
    msg: String,
    #[serde(default)]
    details: String,
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The plugin reported an error (SPEC §5.2): `code` (1-99 well-known, 100+ plugin's own).
    #[error("error code {code}: {msg}{}", if details.is_empty() { String::new() } else { format!(" ({details})") })]
    Reported {
        /// The error code.
        code: u32,
        /// The short message.
        msg: String,
        /// Longer details, possibly empty.
        details: String,
    },
    /// The plugin's output is not what the spec allows.
    #[error("malformed output: {why}; output: {output:?}")]
    Malformed {
        /// What is wrong.
        why: String,
        /// The first 200 characters of stdout (and stderr on failure).
        output: String,
    },
}

impl PluginError {
    /// SPEC §5.2 code 3: the container/attachment is unknown or does not exist.
    pub fn is_unknown(&self) -> bool {
        matches!(self, PluginError::Reported { code: 3, .. })
    }
}

fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(200).collect()
}

/// The well-known code names of SPEC §5.2, for messages.
pub fn code_name(code: u32) -> &'static str {
    match code {
        1 => "incompatible CNI version",
        2 => "unsupported field in network configuration",
        3 => "container unknown or does not exist",
        4 => "invalid necessary environment variables",
        5 => "I/O failure",
        6 => "failed to decode content",
        7 => "invalid network config",
        11 => "try again later",
        50 => "plugin not available",
        51 => "plugin not available, limited connectivity",
        _ => "plugin-specific error",
    }
}

/// Parses the outcome of `command`: `exit_ok` is whether the plugin exited with status 0.
/// ADD must print a result; CHECK and DEL print nothing on success (`Ok(None)`). On failure the
/// stdout must be an error object; anything else (and `stderr`) is returned as
/// [`PluginError::Malformed`] with a snippet.
pub fn parse_output(
    command: Command,
    exit_ok: bool,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Option<CniResult>, PluginError> {
    let text = std::str::from_utf8(stdout).map(str::trim);
    if !exit_ok {
        return match text.ok().map(serde_json::from_str::<ErrorWire>) {
            Some(Ok(e)) => Err(PluginError::Reported {
                code: e.code,
                msg: e.msg,
                details: e.details,
            }),
            _ => Err(PluginError::Malformed {
                why: "failed without an error object on stdout".into(),
                output: format!("{} {}", snippet(stdout), snippet(stderr))
                    .trim()
                    .to_string(),
            }),
        };
    }
    let malformed = |why: String| PluginError::Malformed {
        why,
        output: snippet(stdout),
    };
    let text = text.map_err(|_| malformed("stdout is not UTF-8".into()))?;
    match command {
        // Output on a successful CHECK or DEL carries nothing (SPEC §5): ignored.
        Command::Check | Command::Del => Ok(None),
        Command::Add => {
            if text.is_empty() {
                return Err(malformed("ADD succeeded without printing a result".into()));
            }
            let raw: Value =
                serde_json::from_str(text).map_err(|e| malformed(format!("not JSON: {e}")))?;
            let w: ResultWire = serde_json::from_value(raw.clone())
                .map_err(|e| malformed(format!("not a CNI result: {e}")))?;
            Ok(Some(CniResult {
                cni_version: w.cni_version,
                interfaces: w.interfaces,
                ips: w.ips,
                raw,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Output of Debian's macvlan plugin (containernetworking-plugins 1.1) with static IPAM.
    const MACVLAN_ADD: &str = r#"{
    "cniVersion": "1.0.0",
    "interfaces": [
        {
            "name": "net1",
            "mac": "b6:9f:3e:7c:31:4e",
            "sandbox": "/run/netns/perouter"
        }
    ],
    "ips": [
        {
            "interface": 0,
            "address": "192.168.11.3/24"
        }
    ],
    "dns": {}
}"#;

    #[test]
    fn an_add_result_is_parsed() {
        let r = parse_output(Command::Add, true, MACVLAN_ADD.as_bytes(), b"")
            .unwrap()
            .unwrap();
        assert_eq!(r.cni_version, "1.0.0");
        assert_eq!(r.interfaces[0].name, "net1");
        assert_eq!(
            r.interfaces[0].sandbox.as_deref(),
            Some("/run/netns/perouter")
        );
        assert_eq!(r.ips[0].address, "192.168.11.3/24");
        assert_eq!(r.ips[0].interface, Some(0));
        assert_eq!(r.raw["dns"], serde_json::json!({}));
    }

    #[test]
    fn del_and_check_print_nothing() {
        assert_eq!(parse_output(Command::Del, true, b"", b""), Ok(None));
        assert_eq!(parse_output(Command::Check, true, b"\n", b""), Ok(None));
    }

    #[test]
    fn a_reported_error_keeps_code_message_and_details() {
        let e = parse_output(
            Command::Add,
            false,
            br#"{"cniVersion":"1.0.0","code":7,"msg":"failed to lookup master \"nope\"","details":"Link not found"}"#,
            b"",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error code 7: failed to lookup master \"nope\" (Link not found)"
        );
        assert!(!e.is_unknown());
        assert_eq!(code_name(7), "invalid network config");
    }

    #[test]
    fn malformed_output_is_an_error_never_a_panic() {
        let cases: [(Command, bool, &[u8]); 7] = [
            (Command::Add, true, b""),
            (Command::Add, true, b"{"),
            (Command::Add, true, b"[1,2]"),
            (
                Command::Add,
                true,
                br#"{"interfaces": "x", "cniVersion": "1.0.0"}"#,
            ),
            (Command::Add, true, b"\xff\xfe"),
            (Command::Del, false, b"segfault"),
            (Command::Add, false, br#"{"code": "seven", "msg": 1}"#),
        ];
        for (c, ok, out) in cases {
            match parse_output(c, ok, out, b"panic: runtime error") {
                Err(PluginError::Malformed { why, output }) => {
                    assert!(!why.is_empty());
                    if !ok {
                        assert!(output.contains("panic: runtime error"), "{output}");
                    }
                }
                other => panic!("{out:?}: {other:?}"),
            }
        }
    }
}
