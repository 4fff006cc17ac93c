//! `ControlPacket::parse` on arbitrary bytes: must never panic; a parsed packet
//! must survive emit → parse unchanged, and feeding it to a session (in the
//! state chosen by the first byte) must not panic either.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use perouter_bfd::{Config, ControlPacket, Session};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(p) = ControlPacket::parse(rest) else {
        return;
    };
    assert_eq!(ControlPacket::parse(&p.emit()).as_ref(), Ok(&p));
    let t0 = Instant::now();
    let cfg = Config {
        passive: sel & 1 != 0,
        admin_down: sel & 2 != 0,
        ..Config::default()
    };
    let mut s = Session::new(t0, cfg, p.your_discriminator.max(1), u64::from(sel));
    let now = t0 + Duration::from_millis(u64::from(sel >> 2));
    let _ = s.handle_packet(now, &p);
    while let Some(out) = s.poll_transmit(now) {
        assert!(ControlPacket::parse(&out.emit()).is_ok());
    }
    s.handle_timeout(now + Duration::from_secs(1));
    let _ = s.poll_event();
});
