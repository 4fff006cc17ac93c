//! The `arbitrary` feature generates only valid values: every generated route
//! emits and parses back equal. Run with `--features arbitrary`.
#![cfg(feature = "arbitrary")]

use arbitrary::{Arbitrary, Unstructured};
use perouter_evpn::{EvpnExtCommunity, EvpnRoute, PmsiTunnel, RouteTarget};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_routes_are_valid(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut u = Unstructured::new(&data);
        if let Ok(route) = EvpnRoute::arbitrary(&mut u) {
            let mut out = Vec::new();
            route.emit(&mut out);
            prop_assert_eq!(out.len(), route.encoded_len());
            let (back, used) = EvpnRoute::parse(&out).unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(back, route);
        }
        let mut u = Unstructured::new(&data);
        if let Ok(p) = PmsiTunnel::arbitrary(&mut u) {
            let mut out = Vec::new();
            p.emit(&mut out);
            prop_assert_eq!(PmsiTunnel::parse(&out).unwrap(), p);
        }
        let mut u = Unstructured::new(&data);
        if let Ok(rt) = RouteTarget::arbitrary(&mut u) {
            prop_assert_eq!(RouteTarget::from_ext_community(&rt.to_ext_community()), Some(rt));
        }
        let mut u = Unstructured::new(&data);
        if let Ok(c) = EvpnExtCommunity::arbitrary(&mut u) {
            prop_assert_eq!(EvpnExtCommunity::from_bytes(&c.to_bytes()), Some(c));
        }
    }
}
