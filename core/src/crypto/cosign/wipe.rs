//! Zeroize-on-drop for the dkls23 keep-state types that do not wipe
//! themselves.
//!
//! dkls23's signing states zeroize on drop, but its DKG and refresh keep
//! types (zero-share seeds, OT sender secrets, chain-code shares) are plain
//! `Clone + Debug` structs. [`Wiped`] wraps one of them, wipes its secret
//! fields when dropped, serializes exactly like the wrapped value and never
//! prints it.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use dkls23_secp256r1::protocols::dkg::{
    KeepInitMulPhase3to4, KeepInitZeroSharePhase2to3, KeepInitZeroSharePhase3to4,
    UniqueKeepDerivationPhase2to3,
};
use dkls23_secp256r1::protocols::refresh::{KeepRefreshPhase2to3, KeepRefreshPhase3to4};
use p256::NistP256;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// The secret fields of a dkls23 type, wiped in place.
pub(super) trait Wipe {
    fn wipe(&mut self);
}

impl Wipe for KeepInitZeroSharePhase2to3 {
    fn wipe(&mut self) {
        self.seed.zeroize();
        self.salt.zeroize();
    }
}

impl Wipe for KeepInitZeroSharePhase3to4 {
    fn wipe(&mut self) {
        self.seed.zeroize();
    }
}

impl Wipe for KeepInitMulPhase3to4<NistP256> {
    fn wipe(&mut self) {
        self.ot_sender.s.zeroize();
        self.nonce.zeroize();
        self.ot_receiver.seed.zeroize();
        self.correlation.zeroize();
        self.vec_r.zeroize();
    }
}

impl Wipe for UniqueKeepDerivationPhase2to3 {
    fn wipe(&mut self) {
        self.aux_chain_code.zeroize();
        self.cc_salt.zeroize();
    }
}

impl Wipe for KeepRefreshPhase2to3 {
    fn wipe(&mut self) {
        self.seed.zeroize();
        self.salt.zeroize();
    }
}

impl Wipe for KeepRefreshPhase3to4 {
    fn wipe(&mut self) {
        self.seed.zeroize();
    }
}

impl<K: Ord, V: Wipe> Wipe for BTreeMap<K, V> {
    fn wipe(&mut self) {
        self.values_mut().for_each(Wipe::wipe);
    }
}

/// A dkls23 value whose secret fields are wiped on drop.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Wiped<T: Wipe>(pub(super) T);

impl<T: Wipe> Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Wipe> Drop for Wiped<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

impl<T: Wipe> fmt::Debug for Wiped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}
