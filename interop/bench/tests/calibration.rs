//! The no-DUT calibration end to end: the binary blasts into its own sink over loopback and
//! reports every route, as one JSON line.

use std::process::Command;

#[test]
fn no_dut_run_receives_every_route() {
    for family in ["ipv4", "evpn"] {
        let out = Command::new(env!("CARGO_BIN_EXE_perouter-bench"))
            .args([
                "--no-dut", "--routes", "20000", "--sets", "real", "--family", family,
            ])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
        assert_eq!(v["received"], 20000);
        assert_eq!(v["complete"], true);
        assert_eq!(v["sets"], 7693, "20000 / 2.6, rounded up");
        assert_eq!(v["repeated"], 0);
        assert!(v["convergence_s"].as_f64().unwrap() > 0.0);
    }
}
