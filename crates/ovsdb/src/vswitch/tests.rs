use super::*;

fn scope() -> Scope {
    Scope {
        port_prefix: "host-e-".into(),
        bridge_prefix: "br-hs-".into(),
    }
}

fn leg(port: &str, bridge: &str, managed: bool) -> Leg {
    Leg {
        port: port.into(),
        bridge: bridge.into(),
        managed,
    }
}

fn bridge(uuid: &str, name: &str, ports: &[&str], ours: bool) -> BridgeRow {
    BridgeRow {
        uuid: uuid.into(),
        name: name.into(),
        ports: ports.iter().map(|p| p.to_string()).collect(),
        external_ids: if ours {
            vec![(CREATED_BY_KEY.into(), CREATED_BY_VALUE.into())]
        } else {
            Vec::new()
        },
        datapath_type: String::new(),
    }
}

fn port(uuid: &str, name: &str) -> PortRow {
    PortRow {
        uuid: uuid.into(),
        name: name.into(),
    }
}

fn ops_text(t: &Txn) -> String {
    serde_json::to_string(&t.ops).unwrap()
}

#[test]
fn reads_a_real_select_reply() {
    // ovsdb-server 3.1's reply to read_ops() on a database with bridge brx (netdev) holding
    // its internal port and host-e-9.
    let reply: Value = serde_json::from_str(r#"{"id":1,"result":[{"rows":[{"_uuid":["uuid","6ff8a9d6-937f-41fd-a738-7a3409909ea4"]}]},{"rows":[{"ports":["set",[["uuid","3a03faf4-9a11-498f-8042-83362fe78e86"],["uuid","96f45b93-fed7-4c61-9b74-4598ca8b146e"]]],"name":"brx","datapath_type":"netdev","_uuid":["uuid","5db97e09-a49e-413f-8c00-e1d81c34998b"],"external_ids":["map",[]]}]},{"rows":[{"name":"brx","_uuid":["uuid","96f45b93-fed7-4c61-9b74-4598ca8b146e"]},{"name":"host-e-9","_uuid":["uuid","3a03faf4-9a11-498f-8042-83362fe78e86"]}]},{"rows":[{"name":"host-e-9","error":["set",[]]},{"name":"brx","error":["set",[]]}]}],"error":null}"#).unwrap();
    let results = crate::transact::check(&reply["result"], &reply["error"], 4).unwrap();
    let s = Snapshot::from_results(&results).unwrap();
    assert_eq!(
        s.root.as_deref(),
        Some("6ff8a9d6-937f-41fd-a738-7a3409909ea4")
    );
    assert_eq!(s.bridges.len(), 1);
    assert_eq!(s.bridges[0].name, "brx");
    assert_eq!(s.bridges[0].datapath_type, "netdev");
    assert_eq!(s.bridges[0].ports.len(), 2);
    assert!(!s.bridges[0].created_by_us());
    assert_eq!(
        s.ports[1],
        port("3a03faf4-9a11-498f-8042-83362fe78e86", "host-e-9")
    );
    assert_eq!(s.interfaces[0].error, None);
    // Attaching host-e-9 to brx again is nothing to do.
    let p = plan(
        &s,
        &Wanted {
            legs: vec![leg("host-e-9", "brx", false)],
            datapath_type: None,
        },
        &scope(),
    );
    assert_eq!(p, Plan::default());
    assert!(Snapshot::from_results(&results[..3]).is_err());
}

#[test]
fn creates_a_managed_bridge_and_refuses_a_missing_external_one() {
    let s = Snapshot {
        root: Some("root".into()),
        ..Default::default()
    };
    let w = Wanted {
        legs: vec![
            leg("host-e-210", "br-hs-210", true),
            leg("host-e-220", "ovs-ext", false),
        ],
        datapath_type: Some("netdev".into()),
    };
    let p = plan(&s, &w, &scope());
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].port, "host-e-220");
    assert!(
        p.problems[0]
            .message
            .contains("OVS bridge ovs-ext does not exist"),
        "{}",
        p.problems[0].message
    );
    assert_eq!(p.txns.len(), 1);
    let t = &p.txns[0];
    assert_eq!(t.subject, "host-e-210");
    assert_eq!(
        t.ops,
        vec![
            json!({"op": "insert", "table": "Interface", "row": {"name": "host-e-210"}, "uuid-name": "iface"}),
            json!({"op": "insert", "table": "Port", "row": {"name": "host-e-210", "interfaces": ["named-uuid", "iface"]}, "uuid-name": "port"}),
            json!({"op": "insert", "table": "Bridge", "uuid-name": "bridge", "row": {"name": "br-hs-210",
                "ports": ["set", [["named-uuid", "port"]]],
                "external_ids": ["map", [["created-by", "openperouter"]]], "datapath_type": "netdev"}}),
            json!({"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", ["uuid", "root"]]],
                "mutations": [["bridges", "insert", ["set", [["named-uuid", "bridge"]]]]]}),
        ]
    );
    // An uninitialised database: said so, nothing attempted.
    let p = plan(&Snapshot::default(), &w, &scope());
    assert!(p.txns.is_empty());
    assert!(p
        .problems
        .iter()
        .any(|x| x.message.contains("ovs-vsctl init")));
}

#[test]
fn attaches_to_an_existing_bridge_and_is_idempotent() {
    let mut s = Snapshot {
        root: Some("root".into()),
        bridges: vec![bridge("b1", "ovs-ext", &["vm"], false)],
        ports: vec![port("vm", "vm-port")],
        ..Default::default()
    };
    let w = Wanted {
        legs: vec![leg("host-e-220", "ovs-ext", false)],
        datapath_type: Some("netdev".into()),
    };
    let p = plan(&s, &w, &scope());
    assert!(p.problems.is_empty());
    assert_eq!(p.txns.len(), 1);
    let text = ops_text(&p.txns[0]);
    assert!(
        text.contains(r#"["ports","insert",["set",[["named-uuid","port"]]]]"#),
        "{text}"
    );
    assert!(
        !text.contains("datapath_type"),
        "an external bridge is never modified: {text}"
    );
    // As the database is after that transaction: nothing left to do.
    s.ports.push(port("p2", "host-e-220"));
    s.bridges[0].ports.push("p2".into());
    s.interfaces.push(InterfaceRow {
        name: "host-e-220".into(),
        error: None,
    });
    assert_eq!(plan(&s, &w, &scope()), Plan::default());
    // ovs-vswitchd could not open the device: reported, not retried blindly.
    s.interfaces[0].error =
        Some("could not open network device host-e-220 (No such device)".into());
    let p = plan(&s, &w, &scope());
    assert!(p.txns.is_empty());
    assert!(p.problems[0].message.contains("No such device"));
}

#[test]
fn removes_only_what_is_ours() {
    let s = Snapshot {
        root: Some("root".into()),
        bridges: vec![
            bridge("b210", "br-hs-210", &["p210", "pod"], true),
            bridge("b211", "br-hs-211", &["p211"], false),
            bridge("bext", "ovs-ext", &["p220", "vm"], false),
            bridge("bkeep", "br-hs-230", &["p230"], true),
        ],
        ports: vec![
            port("p210", "host-e-210"),
            port("pod", "veth-pod"),
            port("p211", "host-e-211"),
            port("p220", "host-e-220"),
            port("vm", "vm-port"),
            port("p230", "host-e-230"),
        ],
        ..Default::default()
    };
    // Only VNI 230 stays, on its managed bridge.
    let w = Wanted {
        legs: vec![leg("host-e-230", "br-hs-230", true)],
        datapath_type: None,
    };
    let p = plan(&s, &w, &scope());
    assert!(p.problems.is_empty());
    let whats: Vec<&str> = p.txns.iter().map(|t| t.what.as_str()).collect();
    assert_eq!(
        whats,
        [
            // On a bridge we did not create, only our port goes.
            "detach port host-e-211 from bridge br-hs-211",
            "detach port host-e-220 from bridge ovs-ext",
            // Our bridge goes as a whole (with the pod's port on it).
            "delete managed bridge br-hs-210",
        ]
    );
    assert_eq!(
        p.txns[2].ops,
        vec![
            json!({"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", ["uuid", "root"]]],
            "mutations": [["bridges", "delete", ["set", [["uuid", "b210"]]]]]})
        ]
    );
    assert!(!ops_text(&p.txns[1]).contains("\"vm\""));
}

#[test]
fn moves_a_port_between_bridges_in_one_transaction() {
    let mut s = Snapshot {
        root: Some("root".into()),
        bridges: vec![
            bridge("old", "br-hs-210", &["p"], true),
            bridge("new", "ovs-ext", &[], false),
        ],
        ports: vec![port("p", "host-e-210")],
        ..Default::default()
    };
    s.bridges[0].datapath_type = "system".into();
    let w = Wanted {
        legs: vec![leg("host-e-210", "ovs-ext", false)],
        datapath_type: Some("netdev".into()),
    };
    let p = plan(&s, &w, &scope());
    assert_eq!(p.txns.len(), 2, "{p:?}");
    assert_eq!(
        p.txns[0].ops,
        vec![
            json!({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "old"]]],
                "mutations": [["ports", "delete", ["set", [["uuid", "p"]]]]]}),
            json!({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "new"]]],
                "mutations": [["ports", "insert", ["set", [["uuid", "p"]]]]]}),
        ]
    );
    assert_eq!(p.txns[1].what, "delete managed bridge br-hs-210");
    // Back on a managed bridge of ours with the wrong datapath type: corrected.
    let w = Wanted {
        legs: vec![leg("host-e-210", "br-hs-210", true)],
        datapath_type: Some("netdev".into()),
    };
    let p = plan(&s, &w, &scope());
    assert_eq!(p.txns.len(), 1);
    assert_eq!(
        p.txns[0].what,
        "set datapath_type netdev on bridge br-hs-210"
    );
}
