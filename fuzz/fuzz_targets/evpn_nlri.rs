//! EVPN NLRI parsing (`EvpnRoute::parse`, `EvpnNlriIter`) on arbitrary bytes. Must never panic;
//! every parsed route must re-emit to exactly the bytes it was parsed from (RFC 7432 §7 routes
//! keep their raw label octets, unknown route types are kept raw).
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_evpn::{EvpnNlriIter, EvpnRoute};

fuzz_target!(|data: &[u8]| {
    if let Ok((route, used)) = EvpnRoute::parse(data) {
        assert!(used <= data.len());
        assert_eq!(route.encoded_len(), used);
        let mut out = Vec::new();
        route.emit(&mut out);
        assert_eq!(&out[..], &data[..used], "re-emitted NLRI differs");
        let (again, used2) = EvpnRoute::parse(&out).expect("re-parse of emitted NLRI");
        assert_eq!(used2, used);
        assert_eq!(again, route);
    }
    let mut consumed = 0;
    for r in EvpnNlriIter::new(data) {
        match r {
            Ok(route) => consumed += route.encoded_len(),
            Err(_) => break,
        }
    }
    assert!(consumed <= data.len());
});
