//! The sink: counts first-time announcements per route in a bitmap (BGP keeps no order, so
//! there is no "last prefix" sentinel) and notes when each route was first seen.
//!
//! UPDATE bodies are walked directly (NLRI field, MP_REACH_NLRI of IPv4 unicast and EVPN,
//! End-of-RIB markers) without building attribute structures: the sink must cost far less
//! than any device under test.

use crate::table::{Family, TableSpec};

/// One bit per route: set the first time the route is announced.
#[derive(Debug, Clone)]
pub struct Bitmap {
    words: Vec<u64>,
    len: usize,
    count: usize,
}

impl Bitmap {
    /// A bitmap of `len` clear bits.
    pub fn new(len: usize) -> Self {
        Bitmap {
            words: vec![0; len.div_ceil(64)],
            len,
            count: 0,
        }
    }

    /// Sets bit `i`; true if it was clear (a first-time announcement). Out of range: false.
    pub fn set(&mut self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if self.words[w] & b != 0 {
            return false;
        }
        self.words[w] |= b;
        self.count += 1;
        true
    }

    /// Whether bit `i` is set.
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the bitmap has no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when every bit is set.
    pub fn full(&self) -> bool {
        self.count == self.len
    }
}

/// What one UPDATE told the sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Routes of the table announced for the first time.
    pub new: usize,
    /// Routes of the table announced again.
    pub repeated: usize,
    /// Announced NLRI that are not in the table (the DUT's own routes, other families).
    pub foreign: usize,
    /// The End-of-RIB marker of this family, if the UPDATE is one.
    pub end_of_rib: Option<Family>,
}

/// The receiving side: the bitmap, the first-seen time of each route, counters.
#[derive(Debug, Clone)]
pub struct Sink {
    spec: TableSpec,
    seen: Bitmap,
    /// Nanoseconds (on the run's clock) each route was first seen; 0 until then.
    pub first_seen_ns: Vec<u64>,
    /// When the last new route was seen.
    pub last_new_ns: u64,
    /// UPDATE messages received.
    pub updates: u64,
    /// Announcements of routes already seen.
    pub repeated: u64,
    /// Announced NLRI outside the table.
    pub foreign: u64,
    /// Withdrawn NLRI (any), counted only.
    pub withdrawn_blocks: u64,
}

/// A malformed UPDATE (the sink stops: the DUT or the harness is broken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed UPDATE: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

fn u16_at(b: &[u8], at: usize) -> Result<usize, Malformed> {
    b.get(at..at + 2)
        .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
        .ok_or(Malformed("truncated length"))
}

impl Sink {
    /// A sink for the routes of `spec`.
    pub fn new(spec: &TableSpec) -> Self {
        Sink {
            spec: spec.clone(),
            seen: Bitmap::new(spec.routes),
            first_seen_ns: vec![0; spec.routes],
            last_new_ns: 0,
            updates: 0,
            repeated: 0,
            foreign: 0,
            withdrawn_blocks: 0,
        }
    }

    /// Routes seen at least once.
    pub fn count(&self) -> usize {
        self.seen.count()
    }

    /// Every route of the table was seen.
    pub fn complete(&self) -> bool {
        self.seen.full()
    }

    /// The bitmap.
    pub fn bitmap(&self) -> &Bitmap {
        &self.seen
    }

    fn mark(&mut self, addr: u32, len: u8, now_ns: u64, s: &mut UpdateSummary) {
        match self.spec.index_of(addr, len) {
            Some(i) if self.seen.set(i) => {
                self.first_seen_ns[i] = now_ns;
                self.last_new_ns = now_ns;
                s.new += 1;
            }
            Some(_) => s.repeated += 1,
            None => s.foreign += 1,
        }
    }

    /// IPv4 prefixes back to back (RFC 4271 §4.3), no ADD-PATH.
    fn ipv4_prefixes(
        &mut self,
        mut b: &[u8],
        now_ns: u64,
        s: &mut UpdateSummary,
    ) -> Result<(), Malformed> {
        while let Some((&len, rest)) = b.split_first() {
            if len > 32 {
                return Err(Malformed("IPv4 prefix longer than 32"));
            }
            let n = usize::from(len).div_ceil(8);
            let bytes = rest.get(..n).ok_or(Malformed("truncated prefix"))?;
            let mut a = [0u8; 4];
            a[..n].copy_from_slice(bytes);
            self.mark(u32::from_be_bytes(a), len, now_ns, s);
            b = &rest[n..];
        }
        Ok(())
    }

    /// EVPN routes (RFC 7432 §7): type-5 with an IPv4 prefix (RFC 9136 §3.1) are the table's.
    fn evpn_routes(
        &mut self,
        mut b: &[u8],
        now_ns: u64,
        s: &mut UpdateSummary,
    ) -> Result<(), Malformed> {
        while b.len() >= 2 {
            let (rtype, len) = (b[0], usize::from(b[1]));
            let v = b.get(2..2 + len).ok_or(Malformed("truncated EVPN route"))?;
            // RD 8, ESI 10, Ethernet tag 4, prefix length 1, prefix 4, gateway 4, label 3.
            if rtype == 5 && len == 34 {
                let a = u32::from_be_bytes([v[23], v[24], v[25], v[26]]);
                self.mark(a, v[22], now_ns, s);
            } else {
                s.foreign += 1;
            }
            b = &b[2 + len..];
        }
        if b.is_empty() {
            Ok(())
        } else {
            Err(Malformed("trailing EVPN bytes"))
        }
    }

    /// Takes one UPDATE body (after the 19-byte header), received at `now_ns`.
    pub fn on_update(&mut self, body: &[u8], now_ns: u64) -> Result<UpdateSummary, Malformed> {
        self.updates += 1;
        let mut s = UpdateSummary::default();
        let wlen = u16_at(body, 0)?;
        let alen = u16_at(body, 2 + wlen)?;
        let astart = 4 + wlen;
        let attrs = body
            .get(astart..astart + alen)
            .ok_or(Malformed("attributes beyond the body"))?;
        let nlri = &body[astart + alen..];
        if wlen > 0 {
            self.withdrawn_blocks += 1;
        }
        let mut only_empty_unreach = None;
        let mut attr_count = 0;
        let mut a = attrs;
        while !a.is_empty() {
            attr_count += 1;
            let (flags, code) = (a[0], *a.get(1).ok_or(Malformed("truncated attribute"))?);
            let (hl, len) = if flags & 0x10 != 0 {
                (4, u16_at(a, 2)?)
            } else {
                (
                    3,
                    usize::from(*a.get(2).ok_or(Malformed("truncated attribute"))?),
                )
            };
            let v = a
                .get(hl..hl + len)
                .ok_or(Malformed("attribute beyond the list"))?;
            match code {
                14 if v.len() >= 5 => {
                    let (afi, safi, nhl) = (u16::from_be_bytes([v[0], v[1]]), v[2], v[3]);
                    let routes = v
                        .get(5 + usize::from(nhl)..)
                        .ok_or(Malformed("MP_REACH next hop"))?;
                    match (afi, safi) {
                        (1, 1) => self.ipv4_prefixes(routes, now_ns, &mut s)?,
                        (25, 70) => self.evpn_routes(routes, now_ns, &mut s)?,
                        _ => s.foreign += 1,
                    }
                }
                15 if v.len() >= 3 => {
                    if v.len() == 3 {
                        only_empty_unreach = match (u16::from_be_bytes([v[0], v[1]]), v[2]) {
                            (1, 1) => Some(Family::Ipv4),
                            (25, 70) => Some(Family::Evpn),
                            _ => None,
                        };
                    } else {
                        self.withdrawn_blocks += 1;
                    }
                }
                _ => {}
            }
            a = &a[hl + len..];
        }
        self.ipv4_prefixes(nlri, now_ns, &mut s)?;
        if wlen == 0 && nlri.is_empty() {
            if attr_count == 0 {
                s.end_of_rib = Some(Family::Ipv4);
            } else if attr_count == 1 {
                s.end_of_rib = only_empty_unreach;
            }
        }
        self.repeated += s.repeated as u64;
        self.foreign += s.foreign as u64;
        Ok(s)
    }
}

/// The family an UPDATE body is the End-of-RIB marker of (RFC 4724 §2): an empty UPDATE for
/// IPv4 unicast, or one holding only an empty MP_UNREACH_NLRI.
pub fn end_of_rib(body: &[u8]) -> Option<Family> {
    match body {
        [0, 0, 0, 0] => Some(Family::Ipv4),
        [0, 0, 0, alen, attr @ ..] if attr.len() == usize::from(*alen) => {
            let v = match attr {
                [f, 15, 3, v @ ..] if f & 0x10 == 0 => v,
                [f, 15, 0, 3, v @ ..] if f & 0x10 != 0 => v,
                _ => return None,
            };
            match v {
                [0, 1, 1] => Some(Family::Ipv4),
                [0, 25, 70] => Some(Family::Evpn),
                _ => None,
            }
        }
        _ => None,
    }
}
