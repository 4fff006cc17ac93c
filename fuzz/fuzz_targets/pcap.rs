//! The capture reader (pcap/pcapng), link/IP/TCP decoding, TCP reassembly and BGP framing of
//! `perouter decode`, on arbitrary files. Must never panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_fuzz::capture::CaptureReader;
use perouter_fuzz::decode::stream::{CaptureMessages, StreamItem};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::new(data) else {
        return;
    };
    let mut frames_seen = 0u64;
    for item in CaptureMessages::new(reader, 179) {
        if let StreamItem::Message { message, .. } = item {
            assert!(message.bytes.len() >= 19);
            assert!(message.first_frame <= message.frame);
            frames_seen = frames_seen.max(message.frame);
        }
    }
    let _ = frames_seen;
});
