//! Changing a PIN (PROTOCOL.md §2; the `api` module doc, "A PIN change"):
//! the old PIN unlocks the vault through a counted evaluation, exactly as
//! for an approval, and the vault is re-sealed under the new PIN.

use super::Authenticator;
use super::error::ClientError;
use super::transport::{Call, is_path_safe_id};
use crate::pin::{Pin, PinKind};
use crate::protocol::api::{Empty, PinChangeStarted, path};
use crate::role::KeyRole;

impl Authenticator {
    /// Changes the PIN of the `role` key (PIN1 for [`KeyRole::Auth`],
    /// PIN2 for [`KeyRole::Sign`]) from `old_pin` to `new_pin`.
    ///
    /// The old PIN costs an attempt like any unlock: a wrong one counts
    /// towards the lock, a right one resets the counter. Once this
    /// returns `Ok`, only the new PIN works; if the app is stopped midway,
    /// the PIN the device's vault holds is the one that works (the old one
    /// unless the vault was already re-sealed).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] if either PIN breaks the PIN rules or
    /// they are equal (nothing is sent, no attempt counted);
    /// [`ClientError::NotRegistered`] before registration finished;
    /// [`ClientError::WrongPin`], [`ClientError::Locked`],
    /// [`ClientError::KeyDisabled`] for the old PIN as the server counts
    /// it; [`ClientError::Server`] with `CONFLICT` before both PINs were
    /// verified; and the errors of any call.
    pub async fn change_pin(
        &self,
        role: KeyRole,
        old_pin: &[u8],
        new_pin: &[u8],
    ) -> Result<(), ClientError> {
        let kind = PinKind::from(role);
        let invalid = |what: &str, error: crate::pin::PinError| {
            ClientError::invalid_input(format!("{what}: {error}"))
        };
        let old_pin = Pin::new(kind, old_pin).map_err(|e| invalid("the current PIN", e))?;
        let new_pin = Pin::new(kind, new_pin).map_err(|e| invalid("the new PIN", e))?;
        if old_pin.expose() == new_pin.expose() {
            return Err(ClientError::invalid_input(format!(
                "the new {kind} must differ from the current one"
            )));
        }

        // Like an approval, a PIN change reads and replaces a vault.
        let _flow = self.flow.lock().await;
        let record = self.registered()?;
        let sealed = self
            .accounts()
            .sealed(role)?
            .ok_or_else(|| ClientError::Storage(format!("no sealed share for the {role} key")))?;
        let started: PinChangeStarted = self
            .post(&path::pin_change(role), &Empty {}, Call::Step)
            .await?;
        let id = started.transaction_id;
        if !is_path_safe_id(&id) {
            return Err(ClientError::invalid_response(
                "the PIN change transaction id is out of form",
            ));
        }
        let unlocked = self.unlock(&record, &id, role, &old_pin, &sealed).await?;
        drop(old_pin);
        self.set_new_pin(&record, &id, role, &new_pin, unlocked)
            .await?;
        tracing::info!(%role, "PIN changed");
        Ok(())
    }
}
