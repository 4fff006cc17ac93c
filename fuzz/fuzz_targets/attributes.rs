//! Path-attribute parsing (RFC 4271 §4.3 with RFC 7606 error handling) on arbitrary attribute
//! blocks. The wire module has no public parser for a bare attribute block, so the input is
//! wrapped in an UPDATE (no withdrawn routes, the input as path attributes, one IPv4 prefix as
//! NLRI so the mandatory-attribute rules apply) and parsed whole, with the context chosen by the
//! first byte. Must never panic; a parsed UPDATE must keep its NLRI and its typed accessors must
//! not panic either.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use perouter_bgp::wire::Message;

fuzz_target!(|data: &[u8]| {
    let Some((ctx, attrs)) = perouter_fuzz::split_context(data) else {
        return;
    };
    let Ok(attr_len) = u16::try_from(attrs.len()) else {
        return;
    };
    let mut body = Vec::with_capacity(attrs.len() + 8);
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&attr_len.to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[24, 192, 0, 2]);
    let msg = Bytes::from(perouter_fuzz::message(2, &body));
    if let Ok((Message::Update(u), _)) = Message::parse(&msg, &ctx) {
        let a = &u.attributes;
        let _ = (
            a.origin(),
            a.as_path(),
            a.next_hop(),
            a.med(),
            a.local_pref(),
            a.aggregator(),
        );
        let _ = (
            a.communities().len(),
            a.ext_communities().len(),
            a.large_communities().len(),
        );
        let _ = (
            a.route_targets().count(),
            a.mp_reach(),
            a.mp_unreach(),
            a.pmsi_tunnel(),
            a.aigp(),
            a.otc(),
        );
        if let Some(mp) = a.mp_reach() {
            let _ = mp.nlri.iter().count() + mp.nlri.evpn_routes().count();
        }
        assert!(u.nlri.iter().count() <= 1);
    }
});
