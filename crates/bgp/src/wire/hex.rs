//! Hex rendering of raw byte fields (unknown attributes, capabilities,
//! NOTIFICATION data) for JSON output and `Display`.

use serde::Serializer;

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Serializes raw bytes as a lowercase hex string (serde `serialize_with`).
pub fn serialize_hex<B: AsRef<[u8]> + ?Sized, S: Serializer>(
    bytes: &B,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(bytes.as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_lowercase_hex() {
        assert_eq!(super::to_hex(&[0x00, 0xab, 0x1f]), "00ab1f");
        assert_eq!(super::to_hex(&[]), "");
    }
}
