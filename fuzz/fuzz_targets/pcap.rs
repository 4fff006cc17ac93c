//! The capture reader (pcap/pcapng), link/IP/TCP decoding, TCP reassembly and BGP framing of
//! `perouter decode`, on arbitrary files. Must never panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perouter_capture::CaptureReader;
use perouter_capture::decode::stream::{CaptureMessages, StreamItem};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::new(data) else {
        return;
    };
    for item in CaptureMessages::new(reader, 179) {
        if let StreamItem::Message { message, .. } = item {
            // A message is whole: its header's length is its length.
            assert!(message.bytes.len() >= 19);
            let len = u16::from_be_bytes([message.bytes[16], message.bytes[17]]);
            assert_eq!(usize::from(len), message.bytes.len());
            // Frame numbers come from the file (1-based). With segments out of order, the frame
            // of the first byte may come after the frame of the last one: no ordering holds.
            assert!(message.frame >= 1 && message.first_frame >= 1);
            assert!(message.frame <= items_frames_bound(data));
        }
    }
});

/// No file holds more frames than it has 16-byte record headers (pcap) or 12-byte blocks.
fn items_frames_bound(data: &[u8]) -> u64 {
    data.len() as u64 / 12 + 1
}
