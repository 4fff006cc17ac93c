//! The driver against real processes: scripts standing in for plugins record the environment
//! and stdin they were given, so the bytes exchanged are checked, as are the timeout, a
//! missing binary and a list's ordering (ADD forward with prevResult, DEL backwards).

use std::path::{Path, PathBuf};
use std::time::Duration;

use perouter_cni::{Driver, DriverConfig, ExecError, NetworkConfigList};
use serde_json::{json, Map, Value};

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("perouter-cni-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn script(d: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = d.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A plugin that appends "<name> <command> <ifname> <containerid> <netns>" and its stdin to
/// the log, and answers with a result naming itself.
fn recorder(d: &Path, name: &str) {
    script(
        d,
        name,
        &format!(
            "log={log}\nin=$(cat)\necho \"{name} $CNI_COMMAND $CNI_IFNAME $CNI_CONTAINERID $CNI_NETNS $CNI_PATH\" >> $log\necho \"$in\" >> $log\n[ \"$CNI_COMMAND\" = ADD ] && echo '{{\"cniVersion\":\"1.0.0\",\"interfaces\":[{{\"name\":\"{name}\"}}]}}'\nexit 0",
            log = d.join("log").display()
        ),
    );
}

fn driver(d: &Path, timeout: Duration) -> Driver {
    Driver::new(DriverConfig {
        path: vec![d.join("nothing-here"), d.to_path_buf()],
        timeout,
        exec_netns: None,
    })
}

#[test]
fn a_list_runs_forward_on_add_and_backward_on_del_with_the_runtime_parameters() {
    let d = dir("list");
    recorder(&d, "first");
    recorder(&d, "second");
    let list = NetworkConfigList::from_value(&json!({"cniVersion": "1.0.0", "name": "net",
        "plugins": [{"type": "first", "master": "eth0"}, {"type": "second", "capabilities": {"mac": true}}]}))
    .unwrap();
    let rc: Map<String, Value> = json!({"mac": "02:00:00:00:00:09"})
        .as_object()
        .unwrap()
        .clone();
    let drv = driver(&d, Duration::from_secs(10));
    let r = drv
        .add_list(
            &list,
            &rc,
            "perouter-underlay-n1",
            Path::new("/run/netns/x"),
            "net1",
        )
        .unwrap();
    assert_eq!(
        r.interfaces[0].name, "second",
        "the last plugin's result is the list's"
    );
    drv.del_list(
        &list,
        &rc,
        "perouter-underlay-n1",
        Path::new("/run/netns/x"),
        "net1",
        Some(&r.raw),
    )
    .unwrap();
    let log = std::fs::read_to_string(d.join("log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let path = format!("{}:{}", d.join("nothing-here").display(), d.display());
    assert_eq!(
        lines[0],
        format!("first ADD net1 perouter-underlay-n1 /run/netns/x {path}")
    );
    let conf0: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(conf0["name"], "net");
    assert_eq!(conf0["master"], "eth0");
    assert!(conf0.get("prevResult").is_none() && conf0.get("runtimeConfig").is_none());
    assert!(lines[2].starts_with("second ADD net1"));
    let conf1: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(conf1["prevResult"]["interfaces"][0]["name"], "first");
    assert_eq!(conf1["runtimeConfig"]["mac"], "02:00:00:00:00:09");
    assert!(
        lines[4].starts_with("second DEL net1"),
        "DEL runs backwards: {log}"
    );
    assert!(lines[6].starts_with("first DEL net1"), "{log}");
    let conf_del: Value = serde_json::from_str(lines[7]).unwrap();
    assert_eq!(conf_del["prevResult"]["interfaces"][0]["name"], "second");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_plugin_error_names_the_plugin_and_its_message() {
    let d = dir("err");
    script(
        &d,
        "macvlan",
        "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"failed to lookup master \\\"nope\\\"\"}'\nexit 1",
    );
    let list = NetworkConfigList::from_value(
        &json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "macvlan"}]}),
    )
    .unwrap();
    let e = driver(&d, Duration::from_secs(10))
        .add_list(&list, &Map::new(), "c", Path::new("/run/netns/x"), "net1")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "CNI plugin macvlan ADD net1: error code 7: failed to lookup master \"nope\""
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn garbage_output_crash_missing_binary_and_hang_are_errors() {
    let d = dir("bad");
    script(&d, "garbage", "cat >/dev/null\necho 'not json'\nexit 0");
    script(
        &d,
        "crash",
        "cat >/dev/null\necho 'panic: boom' >&2\nexit 2",
    );
    script(&d, "hang", "sleep 30");
    let drv = driver(&d, Duration::from_millis(300));
    let run = |t: &str| {
        let list = NetworkConfigList::from_value(
            &json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": t}]}),
        )
        .unwrap();
        drv.add_list(&list, &Map::new(), "c", Path::new("/run/netns/x"), "net1")
            .unwrap_err()
    };
    assert!(run("garbage").to_string().contains("not JSON"));
    assert!(run("crash").to_string().contains("panic: boom"));
    assert!(matches!(run("absent"), ExecError::NotFound { .. }));
    let t0 = std::time::Instant::now();
    assert!(matches!(run("hang"), ExecError::Timeout { .. }));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "killed at the timeout"
    );
    let _ = std::fs::remove_dir_all(&d);
}
