//! `passwordSecret`: a neighbour's TCP-MD5 password (RFC 2385) kept in a Secret.
//!
//! Upstream declares the field (a Secret of type `kubernetes.io/basic-auth` in perouter's
//! namespace, the password under the key `password`) but never implemented it. Here the controller
//! watches those Secrets and resolves each reference into the neighbour's `password` before
//! validation, so a rotated Secret re-emits the configuration and the session is re-keyed live.
//! Pure: the Secrets are given.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use crate::config::resources::{FailedResource, FailureReason, ResourceKind, ResourceSet};

/// The Secret type a `passwordSecret` must have.
pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// The key holding the password.
pub const PASSWORD_KEY: &str = "password";

/// Why a `passwordSecret` could not be resolved.
fn lookup(
    secrets: &BTreeMap<String, Secret>,
    name: &str,
    namespace: &str,
) -> Result<String, String> {
    let secret = secrets
        .get(name)
        .ok_or_else(|| format!("Secret {namespace}/{name} not found"))?;
    let kind = secret.type_.as_deref().unwrap_or("Opaque");
    if kind != BASIC_AUTH {
        return Err(format!(
            "Secret {namespace}/{name} has type {kind}, not {BASIC_AUTH}"
        ));
    }
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(PASSWORD_KEY))
        .ok_or_else(|| format!("Secret {namespace}/{name} has no {PASSWORD_KEY:?} key"))?;
    let password = std::str::from_utf8(&bytes.0)
        .map_err(|_| format!("Secret {namespace}/{name}: {PASSWORD_KEY:?} is not UTF-8"))?;
    if password.is_empty() || password.len() > 80 || password.chars().any(char::is_whitespace) {
        // Linux caps TCP-MD5 keys at 80 bytes (TCP_MD5SIG_MAXKEYLEN).
        return Err(format!(
            "Secret {namespace}/{name}: {PASSWORD_KEY:?} must be 1-80 bytes without whitespace"
        ));
    }
    Ok(password.to_string())
}

/// Replaces every neighbour's `passwordSecret` by the password it names, in place. A reference
/// that cannot be resolved is left as is and reported as a `DependencyFailed` failure of its
/// Underlay, naming the neighbour and the Secret (the daemon then keeps the running underlay, with
/// its last good key, rather than run the session unauthenticated: see
/// `runtime::node_config::apply_config`); the value of a password never appears in a message or a
/// log.
pub fn resolve_passwords(
    set: &mut ResourceSet,
    secrets: &BTreeMap<String, Secret>,
    namespace: &str,
) -> Vec<FailedResource> {
    let mut failed = Vec::new();
    for underlay in &mut set.underlays {
        let mut problems = Vec::new();
        for (i, n) in underlay.spec.neighbors.iter_mut().enumerate() {
            let Some(name) = n.password_secret.clone() else {
                continue;
            };
            if n.password.is_some() {
                continue; // both set: validation reports it
            }
            match lookup(secrets, &name, namespace) {
                Ok(password) => {
                    n.password = Some(password);
                    n.password_secret = None;
                }
                Err(e) => problems.push(format!("spec.neighbors[{i}].passwordSecret: {e}")),
            }
        }
        if !problems.is_empty() {
            tracing::warn!(underlay = %underlay.name, problems = %problems.join("; "), "passwordSecret unresolved");
            failed.push(FailedResource {
                kind: ResourceKind::Underlay,
                name: underlay.name.clone(),
                reason: FailureReason::DependencyFailed,
                message: problems.join("; "),
            });
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources::{Resource, Source};
    use crate::config::types::{Neighbor, UnderlaySpec};
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn secret(name: &str, kind: &str, password: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            type_: Some(kind.into()),
            data: Some([(PASSWORD_KEY.to_string(), ByteString(password.to_vec()))].into()),
            ..Default::default()
        }
    }

    fn set_with(secret_name: &str) -> ResourceSet {
        let spec = UnderlaySpec {
            asn: 64514,
            neighbors: vec![Neighbor {
                asn: Some(64512),
                address: Some("192.168.11.2".into()),
                password_secret: Some(secret_name.into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        ResourceSet {
            underlays: vec![Resource::new(
                ResourceKind::Underlay,
                "u",
                Source::Api {
                    namespace: "ns".into(),
                },
                spec,
            )],
            ..Default::default()
        }
    }

    #[test]
    fn resolves_basic_auth_secret() {
        let mut set = set_with("md5");
        let secrets = [("md5".to_string(), secret("md5", BASIC_AUTH, b"k3y"))].into();
        assert!(resolve_passwords(&mut set, &secrets, "ns").is_empty());
        let n = &set.underlays[0].spec.neighbors[0];
        assert_eq!(
            (n.password.as_deref(), n.password_secret.as_deref()),
            (Some("k3y"), None)
        );
    }

    #[test]
    fn resolved_passwords_never_show_in_debug_output() {
        let mut set = set_with("md5");
        let secrets = [("md5".to_string(), secret("md5", BASIC_AUTH, b"s3cr3t-k3y"))].into();
        assert!(resolve_passwords(&mut set, &secrets, "ns").is_empty());
        let config = crate::k8s::source::K8sConfig {
            resources: set.clone(),
            ..Default::default()
        };
        for text in [format!("{set:?}"), format!("{config:#?}")] {
            assert!(!text.contains("s3cr3t-k3y"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        // Nor in the validated intent the plan is made of.
        let spec: UnderlaySpec = serde_yaml::from_str(
            "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2, password: s3cr3t-k3y}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}",
        )
        .unwrap();
        set.underlays[0].spec = spec;
        let v = crate::config::validate::validate(&set);
        assert!(v.intent.underlay.is_some(), "{:?}", v.failed);
        let text = format!("{:?}", v.intent);
        assert!(
            !text.contains("s3cr3t-k3y") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn missing_or_wrong_secret_is_a_dependency_failure() {
        for (secrets, want) in [
            (BTreeMap::new(), "not found"),
            (
                [("md5".to_string(), secret("md5", "Opaque", b"k3y"))].into(),
                "type Opaque",
            ),
            (
                [("md5".to_string(), secret("md5", BASIC_AUTH, b"a b"))].into(),
                "without whitespace",
            ),
        ] {
            let mut set = set_with("md5");
            let failed = resolve_passwords(&mut set, &secrets, "ns");
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].reason, FailureReason::DependencyFailed);
            assert!(
                failed[0].message.contains(want),
                "{} lacks {want}",
                failed[0].message
            );
            assert!(
                !failed[0].message.contains("k3y"),
                "the password never shows"
            );
            assert_eq!(set.underlays[0].spec.neighbors[0].password, None);
        }
    }
}
