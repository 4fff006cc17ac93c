//! Parse → emit → parse on arbitrary bytes (context from the first byte):
//! - every parsed message emits without error, and re-parsing the emitted bytes gives the same
//!   message;
//! - the emitted bytes equal the consumed input bytes, wherever the codec promises exactness:
//!   always, except for UPDATEs in which RFC 7606 handling dropped a malformed attribute
//!   (`attribute_errors` non-empty), whose re-emission leaves that attribute out by design.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use perouter_bgp::wire::Message;

fuzz_target!(|data: &[u8]| {
    let Some((ctx, rest)) = perouter_fuzz::split_context(data) else {
        return;
    };
    let input = Bytes::copy_from_slice(rest);
    let Ok((message, used)) = Message::parse(&input, &ctx) else {
        return;
    };
    let mut out = BytesMut::new();
    message
        .emit(&ctx, &mut out)
        .expect("a parsed message must emit");
    let exact = !matches!(&message, Message::Update(u) if !u.attribute_errors.is_empty());
    if exact {
        assert_eq!(
            &out[..],
            &input[..used],
            "re-emitted bytes differ from the input"
        );
    }
    let emitted = out.freeze();
    let (again, used2) = Message::parse(&emitted, &ctx).expect("emitted message must parse");
    assert_eq!(used2, emitted.len());
    if exact {
        assert_eq!(again, message, "parse(emit(m)) != m");
    }
});
