//! Blocking BGP sessions for the harness: connect from a chosen source address, exchange
//! OPEN and KEEPALIVE, then hand the stream to a reader thread that frames messages.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use perouter_bgp::wire::{Message, Open, WireContext, HEADER_LEN};

use crate::table::Family;

/// BGP message type codes (RFC 4271 §4.1).
pub mod kind {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
}

/// The file naming network namespace `name`: `name` itself when it is a path (holds a `/`),
/// else `/run/netns/NAME`, where `ip netns add` puts it.
pub fn netns_path(name: &str) -> std::path::PathBuf {
    if name.contains('/') {
        name.into()
    } else {
        std::path::Path::new("/run/netns").join(name)
    }
}

/// Moves the calling thread into network namespace `name` (see [`netns_path`]), with
/// `setns(2)`: the sockets it opens afterwards live there, and keep living there when used
/// from other threads. The PE job's sink session runs in the node's host namespace while the
/// blaster stays in the fabric's.
pub fn enter_netns(name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let path = netns_path(name);
    let f = std::fs::File::open(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("network namespace {name} ({}): {e}", path.display()),
        )
    })?;
    // SAFETY: setns takes a valid descriptor (f is open for the call) and a namespace type.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns into {name}: {e}")));
    }
    Ok(())
}

/// A KEEPALIVE message.
pub fn keepalive() -> [u8; 19] {
    let mut m = [0xffu8; 19];
    m[16] = 0;
    m[17] = 19;
    m[18] = kind::KEEPALIVE;
    m
}

/// Splits a byte stream into BGP messages, reading in large chunks.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader with a 1 MiB buffer.
    pub fn new() -> Self {
        FrameReader {
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
        }
    }

    /// Reads once from `r` (after compacting); returns the bytes read (0 at end of stream).
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next whole message: (type, body), or None until more bytes are read.
    pub fn next_frame(&mut self) -> io::Result<Option<(u8, &[u8])>> {
        let avail = &self.buf[self.start..self.end];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([avail[16], avail[17]]));
        if !(HEADER_LEN..=65535).contains(&len) || avail[..16] != [0xff; 16] {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad BGP header"));
        }
        if avail.len() < len {
            return Ok(None);
        }
        let t = avail[18];
        let body = self.start + HEADER_LEN..self.start + len;
        self.start += len;
        Ok(Some((t, &self.buf[body])))
    }
}

/// One side of the harness facing the DUT.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The harness' source address for this session.
    pub local: Ipv4Addr,
    /// The DUT's address and port.
    pub remote: SocketAddr,
    /// The harness' AS on this session.
    pub asn: u32,
    /// The family to negotiate.
    pub family: Family,
    /// Hold time offered (seconds).
    pub hold: u16,
}

/// An Established session.
#[derive(Debug)]
pub struct Established {
    /// The TCP stream.
    pub stream: TcpStream,
    /// The hold time both sides agreed (the smaller one).
    pub hold: u16,
    /// The DUT's OPEN.
    pub peer_open: Open,
    /// Messages already read past the handshake (UPDATEs the DUT sent at once).
    pub reader: FrameReader,
}

fn connect_from(local: Ipv4Addr, remote: SocketAddr) -> io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(local, 0)).into())?;
    s.connect_timeout(&remote.into(), Duration::from_secs(3))?;
    let s: TcpStream = s.into();
    s.set_nodelay(true)?;
    Ok(s)
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Connects (retrying until `deadline`), sends OPEN, waits for the DUT's OPEN and KEEPALIVE.
pub fn establish(p: &PeerSpec, deadline: Instant) -> io::Result<Established> {
    let ctx = WireContext::four_octet();
    let open = Open::new(p.asn, p.hold, p.local, p.family.capabilities(p.asn));
    let open_bytes = Message::Open(open)
        .to_bytes(&ctx)
        .map_err(|e| invalid(format!("OPEN: {e}")))?;
    loop {
        let mut stream = match connect_from(p.local, p.remote) {
            Ok(s) => s,
            // The DUT is not listening yet: try again until the deadline.
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(300));
                continue;
            }
            Err(e) => return Err(e),
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(&open_bytes)?;
        match handshake(&mut stream, p) {
            Ok((hold, peer_open, reader)) => {
                stream.set_read_timeout(None)?;
                return Ok(Established {
                    stream,
                    hold,
                    peer_open,
                    reader,
                });
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("session from {} to {}: {e}; retrying", p.local, p.remote);
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

fn handshake(stream: &mut TcpStream, p: &PeerSpec) -> io::Result<(u16, Open, FrameReader)> {
    let ctx = WireContext::four_octet();
    let mut reader = FrameReader::new();
    let mut peer_open: Option<Open> = None;
    loop {
        while let Some((t, body)) = reader.next_frame()? {
            match t {
                kind::OPEN => {
                    let mut whole = Vec::with_capacity(HEADER_LEN + body.len());
                    whole.extend_from_slice(&[0xff; 16]);
                    whole.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
                    whole.push(kind::OPEN);
                    whole.extend_from_slice(body);
                    let (m, _) = Message::parse(&Bytes::from(whole), &ctx)
                        .map_err(|e| invalid(format!("DUT's OPEN: {e}")))?;
                    let Message::Open(o) = m else {
                        return Err(invalid("not an OPEN".into()));
                    };
                    if o.four_octet_as().is_none() {
                        return Err(invalid("the DUT has no 4-octet AS capability".into()));
                    }
                    if !o.families().contains(&p.family.afi_safi()) {
                        return Err(invalid(format!(
                            "the DUT does not offer {}",
                            p.family.afi_safi()
                        )));
                    }
                    stream.write_all(&keepalive())?;
                    peer_open = Some(o);
                }
                kind::KEEPALIVE => {
                    if let Some(o) = peer_open.take() {
                        let hold = o.hold_time.min(p.hold);
                        return Ok((hold, o, reader));
                    }
                }
                kind::NOTIFICATION => {
                    return Err(invalid(format!(
                        "NOTIFICATION {:?} during the handshake",
                        body.get(..2)
                    )))
                }
                _ => return Err(invalid(format!("message type {t} during the handshake"))),
            }
        }
        if reader.fill(stream)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the handshake",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_names_resolve_under_run_netns_and_paths_stay() {
        assert_eq!(
            netns_path("pehost"),
            std::path::Path::new("/run/netns/pehost")
        );
        assert_eq!(
            netns_path("/proc/1/ns/net"),
            std::path::Path::new("/proc/1/ns/net")
        );
    }

    #[test]
    fn a_missing_namespace_is_an_error_naming_it() {
        let e = std::thread::spawn(|| enter_netns("no-such-netns-h16").unwrap_err())
            .join()
            .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-such-netns-h16"), "{e}");
    }
}
