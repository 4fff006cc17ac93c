//! Only to Customer (OTC, type 35, RFC 9234 §5): the AS that marked the
//! route as only to be sent to customers.

/// Parses the OTC value: exactly 4 bytes (RFC 9234 §5: otherwise malformed,
/// treat-as-withdraw).
pub(crate) fn parse(value: &[u8]) -> Result<u32, String> {
    let a: [u8; 4] = value
        .try_into()
        .map_err(|_| format!("OTC length {} (expected 4)", value.len()))?;
    Ok(u32::from_be_bytes(a))
}

#[cfg(test)]
mod tests {
    #[test]
    fn otc_is_four_bytes() {
        assert_eq!(super::parse(&[0xfa, 0x56, 0xea, 0x04]), Ok(4200000004));
        assert!(super::parse(&[0, 0, 1]).is_err());
    }
}
