//! Text input for `perouter decode --hex`: one BGP message per line as hex (whitespace inside a
//! line is ignored), `#` comment lines and blank lines skipped.
//!
//! A comment line right before a message that names two endpoints as `SRC->DST` (the form the
//! captured vectors use: `# x.pcap frame 6 192.0.2.2:53777(gobgp)->192.0.2.1:179(frr) OPEN ...`)
//! gives that message's direction; parenthesised annotations are dropped from the names. With
//! directions known, the decoder can follow OPEN exchanges as it does for captures.

use bytes::Bytes;

/// Where a message was sent from and to, as a comment named them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// Sender, e.g. `192.0.2.2:53777`.
    pub src: String,
    /// Receiver.
    pub dst: String,
}

/// One message line of a hex file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The decoded bytes, or what was wrong with the hex.
    pub bytes: Result<Bytes, HexLineError>,
    /// The direction named by the comment line just before it, if any.
    pub endpoints: Option<Endpoints>,
}

/// A line that is not valid hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexLineError {
    /// A character that is not a hex digit, at this character column (0-based, after
    /// removing whitespace).
    #[error("invalid hex digit {ch:?} at column {column}")]
    InvalidDigit {
        /// The character.
        ch: char,
        /// Its column among the line's non-whitespace characters.
        column: usize,
    },
    /// An odd number of hex digits.
    #[error("odd number of hex digits ({0})")]
    OddLength(usize),
}

fn decode_hex(line: &str) -> Result<Bytes, HexLineError> {
    let digits: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let count = digits.chars().count();
    if !count.is_multiple_of(2) {
        return Err(HexLineError::OddLength(count));
    }
    hex::decode(&digits)
        .map(Bytes::from)
        .map_err(|_| first_invalid_digit(&digits))
}

/// The first character of `digits` that is not a hex digit, by character column (the `hex`
/// crate counts bytes, and reports a line with a multi-byte character as of odd length).
fn first_invalid_digit(digits: &str) -> HexLineError {
    match digits
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        Some((column, ch)) => HexLineError::InvalidDigit { ch, column },
        None => HexLineError::OddLength(digits.chars().count()),
    }
}

fn strip_annotations(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Finds the first `SRC->DST` token of a comment.
fn endpoints(comment: &str) -> Option<Endpoints> {
    comment.split_whitespace().find_map(|tok| {
        let (src, dst) = tok.split_once("->")?;
        let (src, dst) = (strip_annotations(src), strip_annotations(dst));
        (!src.is_empty() && !dst.is_empty()).then_some(Endpoints { src, dst })
    })
}

/// Reads every message line of a hex file.
pub fn parse_hex_lines(text: &str) -> Vec<HexLine> {
    let mut out = Vec::new();
    let mut pending_endpoints = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            pending_endpoints = endpoints(comment);
            continue;
        }
        out.push(HexLine {
            line: i + 1,
            bytes: decode_hex(line),
            endpoints: pending_endpoints.take(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_comments_and_directions() {
        let text = "# a file\n\
                    # x.pcap frame 6 192.0.2.2:53777(gobgp)->192.0.2.1:179(frr) OPEN Message\n\
                    ffffffffffffffffffffffffffffffff001304\n\
                    \n\
                    ffff ffff ffff ffff ffff ffff ffff ffff 0013 04\n\
                    # [2001:db8::1]:179->[2001:db8::2]:40000\n\
                    FFffffffffffffffffffffffffffffff001304\n\
                    fffz\n\
                    fff\n";
        let lines = parse_hex_lines(text);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].line, 3);
        assert_eq!(lines[0].bytes.as_ref().unwrap().len(), 19);
        assert_eq!(
            lines[0].endpoints,
            Some(Endpoints {
                src: "192.0.2.2:53777".into(),
                dst: "192.0.2.1:179".into()
            })
        );
        // The comment applies to the next message only.
        assert_eq!(lines[1].endpoints, None);
        assert_eq!(lines[1].bytes.as_ref().unwrap().len(), 19);
        assert_eq!(
            lines[2].endpoints.as_ref().unwrap().dst,
            "[2001:db8::2]:40000"
        );
        assert_eq!(
            lines[3].bytes,
            Err(HexLineError::InvalidDigit { ch: 'z', column: 3 })
        );
        assert_eq!(lines[4].bytes, Err(HexLineError::OddLength(3)));
        assert_eq!(lines[4].line, 9);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(
            decode_hex("0é"),
            Err(HexLineError::InvalidDigit {
                ch: 'é', column: 1
            })
        );
        assert_eq!(decode_hex("00 é"), Err(HexLineError::OddLength(3)));
        assert_eq!(
            decode_hex("00ZZ"),
            Err(HexLineError::InvalidDigit { ch: 'Z', column: 2 })
        );
        assert_eq!(decode_hex("0A bc"), Ok(Bytes::from_static(&[0x0a, 0xbc])));
    }

    #[test]
    fn comments_without_arrows_name_nothing() {
        assert_eq!(endpoints(" just words"), None);
        assert_eq!(endpoints(" a->"), None);
        assert_eq!(endpoints(" ->b"), None);
    }
}
