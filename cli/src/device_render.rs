//! How `kaksik device` shows what the server and the core report:
//! transactions, account and key states. Lines are `name: value` (or tab
//! separated for lists) so scripts can read them; every text that comes
//! from the server or an RP is cleaned of control characters first, so it
//! can neither break a line apart nor send escape sequences to a
//! terminal.

use kaksik_core::client::TransactionView;
use kaksik_core::protocol::api::{
    AccountInfo, AccountState, KeyState, TransactionKind, TransactionSummary,
};
use kaksik_core::role::KeyRole;

use crate::console::utc;

/// `text` with each control character replaced by a space.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A kind as one lowercase word.
pub fn kind_name(kind: TransactionKind) -> &'static str {
    match kind {
        TransactionKind::Authentication => "authentication",
        TransactionKind::Signature => "signature",
        TransactionKind::PinVerification => "pin-verification",
        TransactionKind::CertificateChoice => "certificate-choice",
    }
}

/// The PIN that unlocks `role`.
pub fn pin_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Auth => "PIN1",
        KeyRole::Sign => "PIN2",
    }
}

/// The device API's spelling of an account state.
pub fn account_state_name(state: AccountState) -> &'static str {
    match state {
        AccountState::InPreparation => "IN_PREPARATION",
        AccountState::Ready => "READY",
        AccountState::Frozen => "FROZEN",
        AccountState::Disabled => "DISABLED",
    }
}

fn key_state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Active => "ACTIVE",
        KeyState::Timelocked => "TIMELOCKED",
        KeyState::Disabled => "DISABLED",
    }
}

/// One inbox line: id, kind, RP name, expiry, tab separated.
pub fn inbox_line(summary: &TransactionSummary) -> String {
    format!(
        "{}\t{}\t{}\t{}\n",
        printable(&summary.id),
        kind_name(summary.kind),
        printable(&summary.rp_name),
        utc(summary.expires_at)
    )
}

/// A transaction as the person should see it before typing a PIN.
pub fn transaction(view: &TransactionView) -> String {
    let mut out = format!(
        "id: {}\nkind: {}\nrp: {}\n",
        printable(&view.id),
        kind_name(view.kind),
        printable(&view.rp_name)
    );
    if !view.brokered_rp_name.is_empty() {
        out.push_str(&format!(
            "brokered rp: {}\n",
            printable(&view.brokered_rp_name)
        ));
    }
    if let Some(interaction) = view.interaction {
        out.push_str(&format!("interaction: {interaction}\n"));
    }
    if let Some(text) = &view.display_text {
        out.push_str(&format!("text: {}\n", printable(text)));
    }
    if let Some(code) = &view.verification_code {
        out.push_str(&format!("verification code: {}\n", printable(code)));
    }
    if let Some(choices) = &view.code_choice {
        let choices: Vec<String> = choices.iter().map(|c| printable(c)).collect();
        out.push_str(&format!(
            "code choice: {} (approve with --code, the one the RP shows)\n",
            choices.join(" ")
        ));
    }
    let pin = if view.kind == TransactionKind::CertificateChoice {
        "none (share-certificate gives the signing certificate)"
    } else {
        pin_name(view.role)
    };
    out.push_str(&format!("pin: {pin}\nexpires: {}\n", utc(view.expires_at)));
    out
}

/// The account as the server reports it: state and each key.
pub fn account(account: &AccountInfo) -> String {
    let mut out = format!(
        "document number: {}\nperson: {} {} ({})\nstate: {}\n",
        printable(&account.document_number),
        printable(&account.identity.given_name),
        printable(&account.identity.surname),
        printable(&account.identity.semantics_identifier()),
        account_state_name(account.state)
    );
    for key in &account.keys {
        out.push_str(&format!(
            "key {} ({}): {}, failed attempts {}",
            key.role,
            pin_name(key.role),
            key_state_name(key.state),
            key.failed_attempts
        ));
        if let Some(until) = key.locked_until {
            out.push_str(&format!(", locked until {}", utc(until)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_break_a_line_or_reach_the_terminal() {
        assert_eq!(printable("a\nb\tc\u{1b}[2J"), "a b c [2J");
    }

    #[test]
    fn an_inbox_line_is_four_tab_separated_fields() {
        let line = inbox_line(&TransactionSummary {
            id: "tx1".into(),
            kind: TransactionKind::Signature,
            rp_name: "My\tBank".into(),
            expires_at: 0,
        });
        assert_eq!(line, "tx1\tsignature\tMy Bank\t1970-01-01T00:00:00Z\n");
    }
}
