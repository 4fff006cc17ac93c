//! A CNI plugin's output (perouter-cni's result and error parser) on arbitrary bytes: the first
//! byte picks the command and the exit status, the rest is stdout (and, cut in two, stderr).
//! Nothing may panic; a parsed ADD result keeps its raw JSON, and its cniVersion is in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_cni::result::parse_output;
use perouter_cni::Command;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let command = match sel % 3 {
        0 => Command::Add,
        1 => Command::Check,
        _ => Command::Del,
    };
    let exit_ok = sel & 0x80 == 0;
    let cut = rest.len() / 2;
    let (stdout, stderr) = if sel & 0x40 != 0 { rest.split_at(cut) } else { (rest, &[][..]) };
    match parse_output(command, exit_ok, stdout, stderr) {
        Ok(Some(r)) => {
            assert_eq!(command, Command::Add);
            assert_eq!(r.raw["cniVersion"].as_str(), Some(r.cni_version.as_str()));
        }
        Ok(None) => assert!(exit_ok && command != Command::Add),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
