//! The fixed vocabularies of RP API v3, spelled exactly as SK spells them.
//!
//! Each enum parses only SK's exact spelling (case-sensitive: published RP
//! clients send `displayTextAndPIN`, and accepting `displayTextAndPin` would
//! let two spellings of one value into hashed strings), prints it back
//! byte-for-byte, and serialises to it with serde. Which value is allowed
//! where is decided by the modules that use them, not here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use sha3::{Sha3_256, Sha3_384, Sha3_512};

use super::error::{RpError, RpErrorKind, field};

/// Declares an enum whose variants each have one SK spelling, with
/// `as_str`, `ALL`, `Display`, `FromStr` (error in `$field`) and serde.
macro_rules! sk_vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $field:path {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in SK's documentation order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// SK's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = RpError;

            /// Exactly SK's spelling, case-sensitive.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(RpError::new($field, RpErrorKind::unknown_value(s))),
                }
            }
        }
    };
}

sk_vocabulary! {
    /// `signatureProtocol`: how the signed data is formed.
    pub enum SignatureProtocol in field::SIGNATURE_PROTOCOL {
        /// Authentication: the phone signs an ACSP_V2 message.
        AcspV2 = "ACSP_V2",
        /// Signing: the phone signs the RP's digest as given.
        RawDigestSignature = "RAW_DIGEST_SIGNATURE",
    }
}

sk_vocabulary! {
    /// `hashAlgorithm`: the hash over the data to be signed. With Kaksik's
    /// P-256 keys ECDSA uses the leftmost 256 bits (PROTOCOL.md §6).
    pub enum HashAlgorithm in field::HASH_ALGORITHM {
        /// SHA-256.
        Sha256 = "SHA-256",
        /// SHA-384.
        Sha384 = "SHA-384",
        /// SHA-512.
        Sha512 = "SHA-512",
        /// SHA3-256.
        Sha3_256 = "SHA3-256",
        /// SHA3-384.
        Sha3_384 = "SHA3-384",
        /// SHA3-512.
        Sha3_512 = "SHA3-512",
    }
}

impl HashAlgorithm {
    /// The hash of `data` under this algorithm.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
            Self::Sha3_256 => Sha3_256::digest(data).to_vec(),
            Self::Sha3_384 => Sha3_384::digest(data).to_vec(),
            Self::Sha3_512 => Sha3_512::digest(data).to_vec(),
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Sha3_256 => 32,
            Self::Sha384 | Self::Sha3_384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }
}

sk_vocabulary! {
    /// `flowType`: how the session reached the phone, as ACSP_V2 records it.
    pub enum FlowType in field::FLOW_TYPE {
        /// A QR code scanned from another device.
        Qr = "QR",
        /// A link opened from another app on the same phone.
        App2App = "App2App",
        /// A link opened from a browser on the same phone.
        Web2App = "Web2App",
        /// A push notification (no device link).
        Notification = "Notification",
    }
}

impl FlowType {
    /// Whether the flow returns to the RP through `initialCallbackUrl`:
    /// only the same-device link flows do.
    pub fn uses_callback(self) -> bool {
        matches!(self, Self::App2App | Self::Web2App)
    }
}

sk_vocabulary! {
    /// `deviceLinkType`: what kind of device link this is.
    pub enum DeviceLinkType in field::DEVICE_LINK_TYPE {
        /// Shown as a QR code; carries `elapsedSeconds`.
        Qr = "QR",
        /// Opened from a browser on the phone.
        Web2App = "Web2App",
        /// Opened from another app on the phone.
        App2App = "App2App",
    }
}

impl DeviceLinkType {
    /// The ACSP_V2 flow type a session started through this link has.
    pub fn flow_type(self) -> FlowType {
        match self {
            Self::Qr => FlowType::Qr,
            Self::Web2App => FlowType::Web2App,
            Self::App2App => FlowType::App2App,
        }
    }
}

sk_vocabulary! {
    /// `sessionType` in a device link.
    pub enum SessionType in field::SESSION_TYPE {
        /// Authentication (ACSP_V2).
        Auth = "auth",
        /// Signing (RAW_DIGEST_SIGNATURE).
        Sign = "sign",
        /// Certificate choice (nothing signed).
        Cert = "cert",
    }
}

impl SessionType {
    /// The signature protocol this session type uses; `None` for
    /// certificate choice, which signs nothing.
    pub fn signature_protocol(self) -> Option<SignatureProtocol> {
        match self {
            Self::Auth => Some(SignatureProtocol::AcspV2),
            Self::Sign => Some(SignatureProtocol::RawDigestSignature),
            Self::Cert => None,
        }
    }
}

sk_vocabulary! {
    /// An interaction `type`: what the phone shows before the PIN.
    pub enum InteractionType in field::INTERACTION_TYPE {
        /// Up to 60 characters and the PIN on one screen.
        DisplayTextAndPin = "displayTextAndPIN",
        /// Up to 200 characters with Confirm/Cancel, then the PIN.
        ConfirmationMessage = "confirmationMessage",
        /// Up to 200 characters and a three-way verification code choice,
        /// then the PIN. Notification flows only.
        ConfirmationMessageAndVerificationCodeChoice =
            "confirmationMessageAndVerificationCodeChoice",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + fmt::Display + FromStr<Err = RpError> + PartialEq + fmt::Debug + Serialize,
    {
        for &value in all {
            let text = value.to_string();
            assert_eq!(text.parse::<T>(), Ok(value));
            assert_eq!(serde_json::to_string(&value).unwrap(), format!("{text:?}"));
        }
    }

    #[test]
    fn every_value_round_trips_through_its_sk_spelling() {
        round_trips(SignatureProtocol::ALL);
        round_trips(HashAlgorithm::ALL);
        round_trips(FlowType::ALL);
        round_trips(DeviceLinkType::ALL);
        round_trips(SessionType::ALL);
        round_trips(InteractionType::ALL);
    }

    #[test]
    fn spellings_are_case_sensitive() {
        let err = "displayTextAndPin".parse::<InteractionType>().unwrap_err();
        assert_eq!(err.field(), field::INTERACTION_TYPE);
        assert_eq!(err.kind(), &RpErrorKind::unknown_value("displayTextAndPin"));
        assert!("qr".parse::<DeviceLinkType>().is_err());
        assert!("sha-256".parse::<HashAlgorithm>().is_err());
        assert!("AUTH".parse::<SessionType>().is_err());
    }

    #[test]
    fn unknown_value_error_names_the_field() {
        assert_eq!(
            "Notification"
                .parse::<DeviceLinkType>()
                .unwrap_err()
                .field(),
            field::DEVICE_LINK_TYPE
        );
        assert_eq!(
            "RSA".parse::<SignatureProtocol>().unwrap_err().field(),
            field::SIGNATURE_PROTOCOL
        );
    }

    #[test]
    fn digest_lengths_match_output_len() {
        for &alg in HashAlgorithm::ALL {
            assert_eq!(alg.digest(b"abc").len(), alg.output_len(), "{alg}");
        }
    }

    #[test]
    fn sha3_256_is_not_sha_256() {
        assert_ne!(
            HashAlgorithm::Sha256.digest(b""),
            HashAlgorithm::Sha3_256.digest(b"")
        );
        // FIPS 202 SHA3-256("") begins a7ffc6f8.
        assert_eq!(
            HashAlgorithm::Sha3_256.digest(b"")[..4],
            [0xa7, 0xff, 0xc6, 0xf8]
        );
    }
}
