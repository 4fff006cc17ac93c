//! The generated CRDs against resources written the way upstream's users write them: every example
//! in `examples/kubernetes/` is accepted (OpenAPI schema *and* CEL rules, evaluated as the API
//! server would), a catalogue of invalid resources is refused with upstream's messages, and the
//! committed `deploy/crds.yaml` is exactly what `perouter crds` prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use perouter_agent::k8s::crd::{crds, crds_yaml, L2Vni, L3Passthrough, L3Vni, Underlay};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// kind → the CRD's `openAPIV3Schema`, as JSON.
fn schemas() -> BTreeMap<String, Value> {
    crds()
        .into_iter()
        .map(|crd| {
            let kind = crd.spec.names.kind.clone();
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap();
            (kind, serde_json::to_value(schema).unwrap())
        })
        .collect()
}

/// Validates `obj` as the API server would on create: the OpenAPI schema (types, ranges, lengths,
/// patterns, enums, required), then the CEL rules (with defaults applied). Returns every error.
fn admit(schemas: &BTreeMap<String, Value>, obj: &Value) -> Result<(), Vec<String>> {
    let kind = obj["kind"].as_str().expect("kind");
    let schema = schemas
        .get(kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let validator =
        jsonschema::validator_for(schema).expect("the CRD schema compiles as a JSON schema");
    let mut errors: Vec<String> = validator
        .iter_errors(obj)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect();
    if errors.is_empty() {
        if let Err(cel) = kube_cel::validate(schema, obj, None) {
            errors.extend(cel.as_slice().iter().map(|e| e.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn yaml_docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn examples() -> Vec<(PathBuf, Value)> {
    let dir = repo_root().join("examples/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/kubernetes exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for doc in yaml_docs(&std::fs::read_to_string(&f).unwrap()) {
            out.push((f.clone(), doc));
        }
    }
    out
}

#[test]
fn committed_crds_match_generated() {
    let committed = std::fs::read_to_string(repo_root().join("deploy/crds.yaml"))
        .expect("deploy/crds.yaml exists (regenerate with `perouter crds > deploy/crds.yaml`)");
    assert!(
        committed == crds_yaml().unwrap(),
        "deploy/crds.yaml is stale: regenerate it with `cargo run -p perouter-agent -- crds > deploy/crds.yaml`"
    );
}

#[test]
fn crds_have_upstream_names_and_subresources() {
    let names: Vec<(String, String, String)> = crds()
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.spec.names.kind.clone(),
                c.spec.scope.clone(),
            )
        })
        .collect();
    let expected = [
        ("underlays.network.openperouter.io", "Underlay"),
        ("l3vnis.network.openperouter.io", "L3VNI"),
        ("l2vnis.network.openperouter.io", "L2VNI"),
        ("l3passthroughs.network.openperouter.io", "L3Passthrough"),
        (
            "routernodeconfigurationstatuses.network.openperouter.io",
            "RouterNodeConfigurationStatus",
        ),
    ];
    assert_eq!(
        names.len(),
        expected.len(),
        "one CRD per expected kind: {names:?}"
    );
    for ((name, kind, scope), (want_name, want_kind)) in names.iter().zip(expected) {
        assert_eq!(
            (name.as_str(), kind.as_str(), scope.as_str()),
            (want_name, want_kind, "Namespaced")
        );
    }
    for crd in crds() {
        let v = &crd.spec.versions[0];
        assert_eq!(
            (v.name.as_str(), v.served, v.storage),
            ("v1alpha1", true, true)
        );
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has a status subresource",
            crd.spec.names.kind
        );
    }
}

#[test]
fn schemas_are_structural() {
    // Every node of a structural schema has a type (or preserves unknown fields / is int-or-string),
    // and defaults only where upstream has them.
    fn walk(path: &str, v: &Value, defaults: &mut Vec<String>) {
        let Value::Object(m) = v else { return };
        assert!(
            m.contains_key("type")
                || m.contains_key("x-kubernetes-preserve-unknown-fields")
                || m.contains_key("x-kubernetes-int-or-string"),
            "schema node {path} has no type"
        );
        assert!(
            !m.contains_key("anyOf") && !m.contains_key("oneOf") && !m.contains_key("$ref"),
            "{path} is not structural"
        );
        if m.contains_key("default") {
            defaults.push(format!("{path}={}", m["default"]));
        }
        if let Some(Value::Object(props)) = m.get("properties") {
            for (k, p) in props {
                walk(&format!("{path}.{k}"), p, defaults);
            }
        }
        if let Some(items) = m.get("items") {
            walk(&format!("{path}[]"), items, defaults);
        }
        if let Some(ap @ Value::Object(_)) = m.get("additionalProperties") {
            walk(&format!("{path}{{}}"), ap, defaults);
        }
    }
    let mut defaults = Vec::new();
    for (kind, schema) in schemas() {
        walk(&kind, &schema, &mut defaults);
    }
    defaults.sort();
    assert_eq!(
        defaults,
        [
            "L2VNI.spec.vxlanPort=4789",
            "L3VNI.spec.vxlanPort=4789",
            "Underlay.spec.gracefulRestart.restartTimeSeconds=120",
            "Underlay.spec.gracefulRestart.stalePathTimeSeconds=360",
            "Underlay.spec.interfaces[].cniDevice.interfaceName=\"net1\"",
            "Underlay.spec.routeReflector.clusterID=\"192.0.2.1\"",
            "Underlay.spec.routerIDCIDR=\"10.0.0.0/24\"",
        ]
    );
}

#[test]
fn examples_are_admitted_and_deserialize() {
    let schemas = schemas();
    let mut seen = BTreeMap::<String, usize>::new();
    for (file, obj) in examples() {
        if obj["apiVersion"] != "network.openperouter.io/v1alpha1" {
            continue;
        }
        if let Err(errors) = admit(&schemas, &obj) {
            panic!(
                "{} {}/{} refused: {errors:#?}",
                file.display(),
                obj["kind"],
                obj["metadata"]["name"]
            );
        }
        let kind = obj["kind"].as_str().unwrap().to_string();
        // The typed resources read them too, and write them back unchanged.
        let back = match kind.as_str() {
            "Underlay" => {
                serde_json::to_value(serde_json::from_value::<Underlay>(obj.clone()).unwrap())
                    .unwrap()
            }
            "L3VNI" => {
                serde_json::to_value(serde_json::from_value::<L3Vni>(obj.clone()).unwrap()).unwrap()
            }
            "L2VNI" => {
                serde_json::to_value(serde_json::from_value::<L2Vni>(obj.clone()).unwrap()).unwrap()
            }
            "L3Passthrough" => {
                serde_json::to_value(serde_json::from_value::<L3Passthrough>(obj.clone()).unwrap())
                    .unwrap()
            }
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(back["spec"], obj["spec"], "{} round-trips", file.display());
        *seen.entry(kind).or_default() += 1;
    }
    for kind in ["Underlay", "L3VNI", "L2VNI", "L3Passthrough"] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) >= 1,
            "an example of {kind}"
        );
    }
}

fn object(kind: &str, spec: &str) -> Value {
    let spec: Value = serde_yaml::from_str(spec).unwrap();
    serde_json::json!({
        "apiVersion": "network.openperouter.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "openperouter-system"},
        "spec": spec,
    })
}

const UNDERLAY_OK: &str = "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}";

#[test]
fn invalid_resources_are_refused_with_upstreams_messages() {
    let schemas = schemas();
    assert_eq!(admit(&schemas, &object("Underlay", UNDERLAY_OK)), Ok(()));
    let nic = "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}]";
    let n = "neighbors: [{asn: 64512, address: 192.168.11.2}]";
    let cases: Vec<(&str, String, &str)> = vec![
        // OpenAPI keywords.
        ("L3VNI", "{vrf: red, vni: 0}".into(), "minimum"),
        ("L3VNI", "{vrf: red, vni: 16777216}".into(), "maximum"),
        ("L3VNI", "{vrf: averyveryverylongvrf, vni: 1}".into(), "longer than 15"),
        ("L3VNI", "{vrf: 1red, vni: 1}".into(), "does not match"),
        ("L3VNI", "{vni: 1}".into(), "\"vrf\" is a required property"),
        ("L3VNI", "{vrf: red, vni: 1, underlayAddressFamily: IPv5}".into(), "is not one of"),
        ("Underlay", format!("{{{nic}, {n}}}").replace("asn: 64512", "asn: 0"), "minimum"),
        ("Underlay", format!("{{asn: 1, {nic}}}"), "\"neighbors\" is a required property"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: []}}"), "has less than 1 item"),
        ("Underlay", format!("{{asn: 1, {n}, interfaces: [{{type: Bond}}]}}"), "is not one of"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: 1.2.3.4, port: 20000}}]}}"), "maximum"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: 1.2.3.4, password: 'a b'}}]}}"), "does not match"),
        ("L2VNI", "{vni: 5, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Sometimes}}}".into(), "is not one of"),
        ("L3Passthrough", "{}".into(), "\"hostSession\" is a required property"),
        // CEL rules.
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, type: External, address: 1.2.3.4}}]}}"), "ASN and Type cannot be set together"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2}}]}}"), "Either a valid Address, Interface name or ListenRange"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: not-an-ip}}]}}"), "Address must be a valid IPv4 or IPv6 address"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, interface: 'a/b'}}]}}"), "Interface must not contain"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: 1.2.3.4, holdTimeSeconds: 9}}]}}"), "both set or both unset"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: 1.2.3.4, holdTimeSeconds: 2, keepaliveTimeSeconds: 1}}]}}"), "holdTimeSeconds must be 0 or >=3"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{asn: 2, address: 1.2.3.4, password: a, passwordSecret: s}}]}}"), "mutually exclusive"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{type: External, listenRange: 'fe80::/64'}}]}}"), "link-local"),
        ("Underlay", format!("{{asn: 1, {nic}, neighbors: [{{type: External, address: 1.2.3.4, addressFamilies: [{{type: evpn, properties: [{{type: routeReflectorClient}}]}}]}}]}}"), "routeReflectorClient requires type Internal"),
        ("Underlay", format!("{{asn: 1, {n}, interfaces: [{{type: NetworkDevice}}]}}"), "networkDevice must be set if and only if"),
        ("Underlay", format!("{{asn: 1, {n}, interfaces: [{{type: NetworkDevice, networkDevice: {{interfaceName: a}}}}, {{type: CNIDevice, cniDevice: {{type: RawConfig, rawConfig: {{}}}}}}]}}"), "mixing NetworkDevice and CNIDevice"),
        ("Underlay", format!("{{asn: 1, {nic}, {n}, tunnelEndpoint: {{cidrs: [10.0.0.0/24, 10.1.0.0/24]}}}}"), "at most one IPv4 CIDR"),
        ("Underlay", format!("{{asn: 1, {nic}, {n}, tunnelEndpoint: {{cidrs: [banana]}}}}"), "all entries must be valid CIDRs"),
        ("Underlay", format!("{{asn: 1, {nic}, {n}, routerIDCIDR: 192.0.2.0/24, routeReflector: {{clusterID: 192.0.2.1}}}}"), "outside the routerIDCIDR"),
        ("Underlay", format!("{{asn: 1, {nic}, {n}, srv6: {{}}}}"), "SRv6 can only be configured if isis is set"),
        ("L3VNI", "{vrf: red, vni: 1, hostSession: {asn: 1, hostASN: 1, localCIDR: {ipv4: 10.0.0.0/24}}}".into(), "hostASN must be different from asn"),
        ("L3VNI", "{vrf: red, vni: 1, hostSession: {asn: 1, localCIDR: {ipv4: 10.0.0.0/24}}}".into(), "either HostASN or HostType must be set"),
        ("L3VNI", "{vrf: red, vni: 1, hostSession: {asn: 1, hostASN: 2, localCIDR: {}}}".into(), "at least one of ipv4 or ipv6"),
        ("L2VNI", "{vni: 5, gatewayIPs: [10.0.0.1/24]}".into(), "gatewayIPs cannot be set without routingDomain"),
        ("L2VNI", "{vni: 5, routingDomain: {type: L3VNI}}".into(), "type L3VNI requires l3vni to be set"),
        ("L2VNI", "{vni: 5, hostMaster: {type: LinuxBridge, ovsBridge: {lifecycle: Managed}}}".into(), "type/config mismatch"),
        ("L2VNI", "{vni: 5, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed, name: br0}}}".into(), "must not be set when it is Managed"),
        ("L2VNI", "{vni: 5, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: External}}}".into(), "name must be set when lifecycle is External"),
    ];
    let mut wrong = Vec::new();
    for (kind, spec, expected) in &cases {
        match admit(&schemas, &object(kind, spec)) {
            Ok(()) => wrong.push(format!("{kind} {spec}: admitted, expected {expected:?}")),
            Err(errors) if !errors.iter().any(|e| e.contains(expected)) => {
                wrong.push(format!("{kind} {spec}: {errors:?} lacks {expected:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}
