//! A bounds-checked reader over a `Bytes` buffer that knows its absolute
//! offset in the message, so every parse error can say exactly where it is.
//!
//! Every accessor checks the remaining length first and never panics; slices
//! are zero-copy (`Bytes::slice`).

use bytes::Bytes;

/// What a read needed but did not find: the absolute offset where the read
/// started, how many bytes were needed and how many were left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    /// Absolute offset (from the start of the message) of the failed read.
    pub offset: usize,
    /// Bytes the read needed.
    pub needed: usize,
    /// Bytes that were left.
    pub available: usize,
}

/// A cursor over a window of a message.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    buf: Bytes,
    pos: usize,
    base: usize,
}

impl Cursor {
    /// A cursor over `buf`, whose first byte is at absolute offset `base` in the message.
    pub fn new(buf: Bytes, base: usize) -> Self {
        Cursor { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to be read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn need(&self, n: usize) -> Result<(), Short> {
        if self.remaining() < n {
            Err(Short {
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            })
        } else {
            Ok(())
        }
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, Short> {
        self.need(1)?;
        let v = self.buf[self.pos];
        self.pos += 1;
        Ok(v)
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Short> {
        let a = self.array::<2>()?;
        Ok(u16::from_be_bytes(a))
    }

    /// Reads a big-endian 24-bit integer.
    pub fn u24(&mut self) -> Result<u32, Short> {
        let a = self.array::<3>()?;
        Ok(u32::from_be_bytes([0, a[0], a[1], a[2]]))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Short> {
        let a = self.array::<4>()?;
        Ok(u32::from_be_bytes(a))
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        self.need(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    pub fn take(&mut self, n: usize) -> Result<Bytes, Short> {
        self.need(n)?;
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    /// Takes the next `n` bytes as a sub-cursor that keeps absolute offsets.
    pub fn sub(&mut self, n: usize) -> Result<Cursor, Short> {
        let base = self.offset();
        let b = self.take(n)?;
        Ok(Cursor::new(b, base))
    }

    /// Skips the next `n` bytes without slicing (no reference count change);
    /// read them afterwards with [`Cursor::window`] or [`Cursor::bytes_of`].
    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.need(n)?;
        self.pos += n;
        Ok(())
    }

    /// Borrows `len` already-read bytes starting at absolute offset `start`
    /// (empty if the range is not inside what was read).
    pub fn window(&self, start: usize, len: usize) -> &[u8] {
        let from = start.saturating_sub(self.base);
        self.buf
            .get(from..from.saturating_add(len).min(self.pos))
            .unwrap_or_default()
    }

    /// Like [`Cursor::window`], as a zero-copy `Bytes`.
    pub fn bytes_of(&self, start: usize, len: usize) -> Bytes {
        let from = start.saturating_sub(self.base).min(self.pos);
        let to = from.saturating_add(len).min(self.pos);
        self.buf.slice(from..to)
    }

    /// The bytes from absolute offset `start` (a previous [`Cursor::offset`]
    /// of this cursor) up to the current position.
    pub fn since(&self, start: usize) -> Bytes {
        let from = start.saturating_sub(self.base).min(self.pos);
        self.buf.slice(from..self.pos)
    }

    /// Takes everything that is left.
    pub fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_short_reads_with_offsets() {
        let mut c = Cursor::new(Bytes::from_static(&[1, 2, 3, 4, 5]), 19);
        assert_eq!(c.u8().unwrap(), 1);
        assert_eq!(c.u16().unwrap(), 0x0203);
        assert_eq!(c.offset(), 22);
        let e = c.u32().unwrap_err();
        assert_eq!(
            e,
            Short {
                offset: 22,
                needed: 4,
                available: 2
            }
        );
        let mut s = c.sub(2).unwrap();
        assert_eq!(s.offset(), 22);
        assert_eq!(s.rest().as_ref(), &[4, 5]);
        assert!(c.is_empty());
        assert!(c.take(1).is_err());
    }
}
