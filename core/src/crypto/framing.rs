//! Unambiguous concatenation, the `‖` of every derivation, AAD and signed
//! message in Kaksik: each field is prefixed with its length as two
//! big-endian bytes (RFC 9497's `I2OSP(len, 2)`), so no two different
//! field lists share an encoding (docs/adr/0003).

/// A field of 64 KiB or more cannot be length-prefixed in two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldTooLong {
    /// The length of the field.
    pub len: usize,
}

/// `I2OSP(len(f₁), 2) ‖ f₁ ‖ I2OSP(len(f₂), 2) ‖ f₂ ‖ …`, allocated once at
/// its exact size: the result may hold a PIN or a key, and a reallocation
/// would leave an unwiped copy behind.
pub fn encode_fields(fields: &[&[u8]]) -> Result<Vec<u8>, FieldTooLong> {
    let total = fields.iter().map(|field| 2 + field.len()).sum();
    let mut out = Vec::with_capacity(total);
    for field in fields {
        let len = u16::try_from(field.len()).map_err(|_| FieldTooLong { len: field.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_a_byte_between_fields_changes_the_encoding() {
        let a = encode_fields(&[b"acme1", b"2580"]).unwrap();
        let b = encode_fields(&[b"acme", b"12580"]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, b"\x00\x05acme1\x00\x042580");
    }

    #[test]
    fn a_field_of_64_kib_is_refused() {
        let big = vec![0u8; 65_536];
        assert_eq!(encode_fields(&[&big]), Err(FieldTooLong { len: 65_536 }));
        assert!(encode_fields(&[&big[..65_535]]).is_ok());
    }
}
