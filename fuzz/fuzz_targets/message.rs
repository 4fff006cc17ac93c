//! `Message::parse` on arbitrary bytes, with the codec context chosen by the first byte.
//! Must never panic; on success the consumed length must be within the input.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use perouter_bgp::wire::Message;

fuzz_target!(|data: &[u8]| {
    let Some((ctx, rest)) = perouter_fuzz::split_context(data) else {
        return;
    };
    let buf = Bytes::copy_from_slice(rest);
    if let Ok((_, used)) = Message::parse(&buf, &ctx) {
        assert!(used <= buf.len() && used >= 19);
    }
});
