//! The OVSDB client on arbitrary server bytes: the first byte says where the stream is cut
//! in two reads; after a read transaction, whatever the server "answered" goes through the
//! result check, the snapshot and the planner. Nothing may panic; a plan's transactions are
//! JSON-RPC requests again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_ovsdb::vswitch::{self, Leg, Scope, Snapshot, Wanted};
use perouter_ovsdb::{Connection, Event};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let mut c = Connection::default();
    let id = c.transact(vswitch::DATABASE, &vswitch::read_ops());
    assert_eq!(id, 1);
    let at = usize::from(cut).min(rest.len());
    if c.handle_input(&rest[..at]).is_err() || c.handle_input(&rest[at..]).is_err() {
        return;
    }
    while c.poll_transmit().is_some() {}
    while let Some(Event::Transacted { outcome, .. }) = c.poll_event() {
        let Ok(results) = outcome else { continue };
        let Ok(snap) = Snapshot::from_results(&results) else {
            continue;
        };
        let wanted = Wanted {
            legs: vec![
                Leg { port: "host-e-9".into(), bridge: "brx".into(), managed: false },
                Leg { port: "host-e-10".into(), bridge: "br-hs-10".into(), managed: true },
            ],
            datapath_type: Some("netdev".into()),
        };
        let scope = Scope { port_prefix: "host-e-".into(), bridge_prefix: "br-hs-".into() };
        for t in vswitch::plan(&snap, &wanted, &scope).txns {
            assert!(!t.ops.is_empty());
            c.transact(vswitch::DATABASE, &t.ops);
        }
    }
});
