//! Zeroizing containers for secrets: PINs, PIN-derived keys, OPRF outputs,
//! serialized shares.
//!
//! Both types wipe their memory on drop and print as `[REDACTED]` in
//! `Debug`, so a secret can never reach a log line or an error message by
//! accident. Neither implements `Display`, `Clone` of the inner buffer is
//! explicit, and equality is constant-time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A variable-length secret (a serialized share state, a PIN's digits).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret. Wipe the source yourself if it
    /// was secret too.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short and never copy them into a
    /// non-zeroizing buffer.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([REDACTED])")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

/// A 32-byte secret: an OPRF output, a key-encryption key, an epoch token.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// 32 fresh bytes from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32([REDACTED])")
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret32 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let bytes = SecretBytes::from_slice(b"1234");
        let key = Secret32::new([0x41; 32]);
        assert_eq!(format!("{bytes:?}"), "SecretBytes([REDACTED])");
        assert_eq!(format!("{key:?}"), "Secret32([REDACTED])");
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"ab")
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"ac")
        );
        assert_ne!(Secret32::random(), Secret32::random());
    }
}
