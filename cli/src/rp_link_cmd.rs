//! `kaksik rp … auth --qr | --web2app`: a login by device link, the way an
//! RP's web page does it.
//!
//! `--qr` draws the QR code in the terminal and redraws it every second
//! (SK requires a fresh `elapsedSeconds` each second), until the session
//! ends; on a pipe it prints the link text instead, one line per second.
//! `--web2app` prints the link to open on the phone, waits, and then reads
//! the callback URL the phone opened from standard input and checks its
//! `sessionSecretDigest` and `userChallengeVerifier` as an RP must. Either
//! way the result gets every check `rp auth` runs.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use kaksik_core::rp::DeviceLinkType;
use kaksik_server::rp_client::{self, LinkSession, RpClient};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::cli_error::CliError;
use crate::console::{say, unix_now};
use crate::rp_client_cmd::{
    AuthArgs, SESSION_WAIT, ServerArgs, check_document, completed_ok, person, rp_error,
};
use crate::serve_cmd::runtime;

/// The app language put in the links.
const LANG: &str = "eng";

/// The QR code of `link`, as terminal text (two modules per character).
pub fn qr_text(link: &str) -> Result<String, CliError> {
    let code = QrCode::new(link.as_bytes())
        .map_err(|e| CliError::failed(format!("cannot draw the QR code: {e}")))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Runs the login; the lines to print at the end.
pub fn auth(rp: RpClient, server: &ServerArgs, args: &AuthArgs) -> Result<String, CliError> {
    let expected = args.whom.optional()?;
    let callback = args.web2app.then_some(args.callback.as_str());
    runtime()?.block_on(async {
        let link = rp
            .authenticate_device_link(expected.as_ref().map(|e| &e.target), &args.text, callback)
            .await
            .map_err(rp_error)?;
        let wait = completed_ok(&rp, &link.started.session_id);
        let completed = if args.qr {
            show_qr_until(&link, wait).await?
        } else {
            let web2app = link
                .link(DeviceLinkType::Web2App, None, LANG)
                .map_err(rp_error)?;
            say(&format!("device link: {web2app}"))?;
            wait.await?
        };
        let chain = rp.ca_chain().await.map_err(rp_error)?;
        let signer = rp_client::verify_authentication(
            &link.started,
            &completed,
            &args.scheme,
            &server.rp_name,
            &chain,
            expected.as_ref().map(|e| e.semantics_id.as_str()),
            unix_now(),
        )
        .map_err(rp_error)?;
        if let Some(expected) = &expected {
            check_document(expected, &completed)?;
        }
        let mut out = format!(
            "authenticated: {}\ndocument number: {}\n",
            person(&signer),
            completed.document_number
        );
        if args.web2app {
            out.push_str(&check_callback(&link, &completed)?);
        }
        Ok(out)
    })
}

/// Redraws the QR code every second until `wait` ends.
async fn show_qr_until(
    link: &LinkSession,
    wait: impl std::future::Future<Output = Result<rp_client::Completed, CliError>>,
) -> Result<rp_client::Completed, CliError> {
    let terminal = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let deadline = tokio::time::sleep(SESSION_WAIT);
    tokio::pin!(wait, deadline);
    loop {
        tokio::select! {
            completed = &mut wait => return completed,
            () = &mut deadline => return Err(CliError::failed("the session did not end in time")),
            _ = tick.tick() => {
                let qr = link.qr_link(LANG).map_err(rp_error)?;
                if terminal {
                    // Clear the screen and draw the current code.
                    let mut stdout = std::io::stdout().lock();
                    write!(stdout, "\x1b[2J\x1b[H{}\nscan with the Kaksik app: {qr}\n", qr_text(&qr)?)
                        .and_then(|()| stdout.flush())
                        .map_err(CliError::Output)?;
                } else {
                    say(&format!("device link: {qr}"))?;
                }
            }
        }
    }
}

/// Reads the callback URL from standard input and checks it.
fn check_callback(
    link: &LinkSession,
    completed: &rp_client::Completed,
) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        eprint!("callback URL the phone opened (empty to skip): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failed(format!("cannot read the callback URL: {e}")))?;
    let callback = line.trim();
    if callback.is_empty() {
        return Ok("callback: not checked (none given)\n".into());
    }
    link.verify_callback(callback, completed)
        .map_err(rp_error)?;
    Ok("callback: sessionSecretDigest and userChallengeVerifier verified\n".into())
}
