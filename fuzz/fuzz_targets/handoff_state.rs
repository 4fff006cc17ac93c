//! A session-handoff state (`SessionState`, the JSON one perouter process hands the next) read
//! from arbitrary bytes: parsing, the OPENs, the unread bytes and the carried Adj-RIB-In must
//! never panic, whatever a damaged or hostile state holds; a state that parses must serialize
//! back to JSON that parses to the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_bgp::session::handoff::SessionState;
use perouter_bgp::wire::WireContext;

fuzz_target!(|data: &[u8]| {
    let Ok(st) = serde_json::from_slice::<SessionState>(data) else {
        return;
    };
    let _ = st.established();
    let _ = st.conn();
    let _ = st.adj_rib_in(&WireContext::default());
    let _ = st.adj_rib_in(&WireContext::four_octet());
    let again: SessionState =
        serde_json::from_str(&serde_json::to_string(&st).expect("serializes")).expect("reads back");
    assert_eq!(again, st);
});
