//! [`Authenticator`]: `kaksik_core::client::Authenticator` over the FFI,
//! one method per core method, with the same names and meaning (the
//! core's documentation is the reference for each flow).
//!
//! What this layer adds is only the crossing: foreign store and key
//! adapted ([`crate::platform`]), records converted ([`crate::types`]),
//! errors mapped ([`KaksikError`]), and PINs taken as bytes that are
//! wiped when the call ends, however it ends.
//!
//! On PINs, exactly: the `Vec<u8>` each method receives is wrapped in
//! [`Zeroizing`] before anything else, and the core copies it only into
//! its own zeroizing `Pin`. What this crate cannot reach is UniFFI's
//! transport buffer: the generated code writes the bytes into a Rust-owned
//! buffer, which UniFFI copies into that `Vec` and frees unwiped (without
//! `unsafe`, forbidden here, no converter of ours can take it over). The
//! app owns the other copy, its `ByteArray` / `Data` / `bytes`, and should
//! overwrite it after the call.
//!
//! Async methods run on UniFFI's tokio support (`async_runtime =
//! "tokio"`): in Kotlin they are `suspend` functions, in Swift and Python
//! `async`. Cancelling the caller's coroutine or task drops the Rust
//! future, which stops the call at its next `.await`; the core is written
//! so that the next call after such a stop still works (its module doc,
//! "Concurrency and crashes").

use std::sync::Arc;
use std::time::Duration;

use kaksik_core::client::{self as core, ClientError};
use zeroize::Zeroizing;

use crate::error::KaksikError;
use crate::platform::{DeviceKey, DeviceKeyAdapter, SecureStore, StoreAdapter};
use crate::types::{
    AccountInfo, Approved, ClientConfig, DeclineReason, KeyRole, LocalStatus, RegistrationCode,
    TransactionSummary, TransactionView,
};

/// The device client of one account home: registration, the transaction
/// inbox, approval and refusal, account state. Create one per account
/// home and keep it for the app's lifetime; calls may run concurrently.
#[derive(uniffi::Object)]
pub struct Authenticator {
    inner: core::Authenticator,
}

#[uniffi::export]
impl Authenticator {
    /// A client for the server `config` names, keeping its state in
    /// `store` and signing with `device_key`. Reads the device key's
    /// public key once; makes no network call.
    ///
    /// Throws `InvalidInput` for a bad configuration and `DeviceKey` if the
    /// keystore cannot give a SEC1 uncompressed P-256 public key.
    #[uniffi::constructor]
    pub fn new(
        config: ClientConfig,
        store: Arc<dyn SecureStore>,
        device_key: Arc<dyn DeviceKey>,
    ) -> Result<Arc<Self>, KaksikError> {
        let device_key = DeviceKeyAdapter::new(device_key)
            .map_err(|e| KaksikError::from(ClientError::from(e)))?;
        // The device id is public (the server's name for this key) and
        // what an app's bug report needs to find the account.
        tracing::debug!(?device_key, "authenticator created");
        let inner = core::Authenticator::new(
            config.into(),
            Arc::new(StoreAdapter(store)),
            Arc::new(device_key),
        )?;
        Ok(Arc::new(Self { inner }))
    }

    /// Where this account home stands, from local state only (one read of
    /// the store, no network).
    pub fn status(&self) -> Result<LocalStatus, KaksikError> {
        Ok(self.inner.status()?.into())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Authenticator {
    /// Starts registration with the enrolment code the operator gave and
    /// returns the registration code to read out. Starting again with the
    /// same code resumes the same registration.
    pub async fn start_registration(
        &self,
        enrolment_code: String,
    ) -> Result<RegistrationCode, KaksikError> {
        Ok(self.inner.start_registration(&enrolment_code).await?.into())
    }

    /// Waits up to `timeout_seconds` for the operator to confirm the
    /// registration code: `true` once confirmed, `false` if the time
    /// passed first.
    pub async fn wait_for_confirmation(&self, timeout_seconds: u32) -> Result<bool, KaksikError> {
        Ok(self
            .inner
            .wait_for_confirmation(Duration::from_secs(u64::from(timeout_seconds)))
            .await?)
    }

    /// Creates both keys and locks them with the PINs (ASCII digits),
    /// then fetches the certificates. The account is `IN_PREPARATION`
    /// until [`Authenticator::verify_pins`].
    pub async fn finish_registration(
        &self,
        pin1: Vec<u8>,
        pin2: Vec<u8>,
    ) -> Result<AccountInfo, KaksikError> {
        let (pin1, pin2) = (Zeroizing::new(pin1), Zeroizing::new(pin2));
        Ok(self.inner.finish_registration(&pin1, &pin2).await?.into())
    }

    /// Approves the two PIN verifications registration left in the inbox,
    /// which makes the account `READY`.
    pub async fn verify_pins(
        &self,
        pin1: Vec<u8>,
        pin2: Vec<u8>,
    ) -> Result<AccountInfo, KaksikError> {
        let (pin1, pin2) = (Zeroizing::new(pin1), Zeroizing::new(pin2));
        Ok(self.inner.verify_pins(&pin1, &pin2).await?.into())
    }

    /// The transactions waiting for this device, oldest first: at once if
    /// there are any, else within `wait_seconds` (at most 60; 0 polls).
    pub async fn pending_transactions(
        &self,
        wait_seconds: u32,
    ) -> Result<Vec<TransactionSummary>, KaksikError> {
        let pending = self.inner.pending_transactions(wait_seconds).await?;
        Ok(pending.into_iter().map(Into::into).collect())
    }

    /// Transaction `id` as the app shows it, with the verification code
    /// computed on the device.
    pub async fn transaction(&self, id: String) -> Result<TransactionView, KaksikError> {
        Ok(self.inner.transaction(&id).await?.into())
    }

    /// Approves transaction `id` with `pin` (PIN1 for an authentication,
    /// PIN2 for a signature). A wrong PIN throws `WrongPin` with the
    /// attempts left, or `Locked` / `KeyDisabled`.
    pub async fn approve(&self, id: String, pin: Vec<u8>) -> Result<Approved, KaksikError> {
        let pin = Zeroizing::new(pin);
        Ok(self.inner.approve(&id, &pin).await?.into())
    }

    /// [`Authenticator::approve`] for a code-choice transaction:
    /// `chosen_code` is the code the person picked.
    pub async fn approve_with_code(
        &self,
        id: String,
        pin: Vec<u8>,
        chosen_code: String,
    ) -> Result<Approved, KaksikError> {
        let pin = Zeroizing::new(pin);
        Ok(self
            .inner
            .approve_with_code(&id, &pin, &chosen_code)
            .await?
            .into())
    }

    /// Refuses transaction `id` (the RP sees `USER_REFUSED_INTERACTION`).
    pub async fn decline(&self, id: String) -> Result<(), KaksikError> {
        Ok(self.inner.decline(&id).await?)
    }

    /// Refuses transaction `id` for `reason`.
    pub async fn decline_with_reason(
        &self,
        id: String,
        reason: DeclineReason,
    ) -> Result<(), KaksikError> {
        Ok(self.inner.decline_with_reason(&id, reason.into()).await?)
    }

    /// Opens a device link: the text of a scanned QR code, or the Web2App
    /// / App2App URL the app was started with. Returns the transaction to
    /// show; `approve` it (its `callback_url` is what to open afterwards in
    /// a same-device flow), or `share_certificate` for a certificate
    /// choice. Throws `LinkInvalid` for a tampered, foreign or stale link.
    pub async fn open_device_link(&self, link: String) -> Result<TransactionView, KaksikError> {
        Ok(self.inner.open_device_link(&link).await?.into())
    }

    /// Answers certificate choice `id`: gives the RP the signing
    /// certificate (no PIN; nothing is signed).
    pub async fn share_certificate(&self, id: String) -> Result<(), KaksikError> {
        Ok(self.inner.share_certificate(&id).await?)
    }

    /// Changes the PIN of the `role` key (PIN1 for `AUTH`, PIN2 for
    /// `SIGN`). The current PIN counts as an attempt like any unlock; a
    /// wrong one throws `WrongPin` with the attempts left.
    pub async fn change_pin(
        &self,
        role: KeyRole,
        old_pin: Vec<u8>,
        new_pin: Vec<u8>,
    ) -> Result<(), KaksikError> {
        let (old_pin, new_pin) = (Zeroizing::new(old_pin), Zeroizing::new(new_pin));
        Ok(self
            .inner
            .change_pin(role.into(), &old_pin, &new_pin)
            .await?)
    }

    /// The account as the server sees it: state, keys and their locks,
    /// certificates.
    pub async fn account(&self) -> Result<AccountInfo, KaksikError> {
        Ok(self.inner.account().await?.into())
    }
}
