//! Device links on the phone (PROTOCOL.md §6): opening a QR code or a
//! Web2App/App2App link, and answering a certificate choice.
//!
//! The phone checks the link's form (SK's parameters, in SK's order, and
//! nothing else) before it sends it; the authCode, the freshness of a QR
//! code and whether the session is still open are for the server, which
//! alone holds the session secret besides the RP. The link is sent whole:
//! the authCode covers every byte of it.

use super::Authenticator;
use super::error::ClientError;
use super::transactions::check_id;
use super::transport::Call;
use super::view::TransactionView;
use crate::protocol::api::{Empty, OpenDeviceLink, Transaction, TransactionKind, path};
use crate::rp::ParsedDeviceLink;

impl Authenticator {
    /// Opens a device link: the text of a scanned QR code, or a Web2App /
    /// App2App URL the app was started with. Returns the transaction to
    /// show; approve it with [`Authenticator::approve`] (whose
    /// [`super::Approved::callback_url`] is the URL to open afterwards in a
    /// same-device flow) or answer a certificate choice with
    /// [`Authenticator::share_certificate`].
    ///
    /// # Errors
    ///
    /// [`ClientError::LinkInvalid`] for a link that is malformed (nothing
    /// sent), or that the server refuses: tampered, for another server, a
    /// stale QR code; [`ClientError::TransactionExpired`] when its session
    /// is over; [`ClientError::InteractionNotSupported`] (declined on the
    /// way); the errors of any call.
    pub async fn open_device_link(&self, link: &str) -> Result<TransactionView, ClientError> {
        self.registered()?;
        ParsedDeviceLink::parse(link.trim()).map_err(|e| ClientError::LinkInvalid {
            reason: e.to_string(),
        })?;
        let transaction: Transaction = self
            .post(
                path::DEVICE_LINKS,
                &OpenDeviceLink {
                    link: link.trim().to_owned(),
                },
                Call::Step,
            )
            .await?;
        self.shown(&transaction).await
    }

    /// Gives the RP of certificate choice `id` the signing certificate
    /// (no PIN: nothing is signed). Refuse with
    /// [`Authenticator::decline`] (the RP sees USER_REFUSED_CERT_CHOICE).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] if `id` is not a certificate choice;
    /// [`ClientError::TransactionExpired`] and the errors of any call.
    pub async fn share_certificate(&self, id: &str) -> Result<(), ClientError> {
        check_id(id)?;
        let view = self.transaction(id).await?;
        if view.kind != TransactionKind::CertificateChoice {
            return Err(ClientError::invalid_input(
                "only a certificate choice shares the certificate",
            ));
        }
        self.post::<_, Empty>(&path::share_certificate(id), &Empty {}, Call::Step)
            .await
            .map(|_| ())
    }
}
