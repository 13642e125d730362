//! `kaksik rp …`: offline relying-party tools over `kaksik_core`'s RP
//! formats, for integrators checking their own code against ours, and the
//! networked `auth` and `sign` of [`crate::rp_client_cmd`].
//!
//! Every value is checked by the core's parsers and rules; this module only
//! maps flags to fields and core errors back to flags.

use clap::{Args, Subcommand};
use kaksik_core::rp::{
    self, AcspV2, AuthCodeBinding, DeviceLink, DeviceLinkType, FlowType, HashAlgorithm,
    InteractionType, RpError, SessionSecret, SessionType, SignatureProtocol, encoding, field,
};
use kaksik_core::vc;

use crate::cli_error::CliError;
use crate::rp_client_cmd::{self, AuthArgs, ServerArgs, SignArgs};

/// Longest digest `rp vc --digest` takes: SHA-512, the longest hash the RP
/// API signs.
const MAX_DIGEST_BYTES: usize = 64;

/// `kaksik rp`: relying-party tools.
#[derive(Debug, Args)]
#[command(arg_required_else_help = false)]
pub struct RpArgs {
    /// Where `auth` and `sign` reach the server, and as which RP.
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: RpCommand,
}

/// The `rp` subcommands.
#[derive(Debug, Subcommand)]
enum RpCommand {
    /// Print the 4-digit verification code of a digest (v2) or an
    /// rpChallenge (v3).
    Vc(VcArgs),
    /// Print a device link with its authCode.
    DeviceLink(DeviceLinkArgs),
    /// Print an ACSP_V2 message and, on the next line, its Base64 digest.
    AcspV2(AcspV2Args),
    /// Log a person in (notification flow) and verify the result: print
    /// the verification code, wait, check signature, chain and identity.
    Auth(AuthArgs),
    /// Sign a file's SHA-256 (notification flow), verify the result, and
    /// write the DER signature and the signer's certificate.
    Sign(SignArgs),
}

/// `rp vc`: exactly one of the two inputs.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct VcArgs {
    /// Signing digest, standard Base64 (Smart-ID v2 digest code).
    #[arg(long, value_name = "BASE64")]
    digest: Option<String>,
    /// rpChallenge, standard Base64 of 32–64 bytes (v3 authentication code).
    #[arg(long, value_name = "BASE64")]
    rp_challenge: Option<String>,
}

/// `rp device-link`: the link fields and the values its authCode binds.
#[derive(Debug, Args)]
struct DeviceLinkArgs {
    /// Scheme name (`kaksik`, `smart-id`).
    #[arg(long)]
    scheme: String,
    /// sessionSecret, standard Base64.
    #[arg(long, value_name = "BASE64")]
    session_secret: String,
    /// ACSP_V2 (auth), RAW_DIGEST_SIGNATURE (sign), or '' (cert).
    #[arg(long)]
    protocol: String,
    /// rpChallenge (auth) or digest (sign), standard Base64; '' for cert.
    #[arg(long, value_name = "BASE64")]
    challenge: String,
    /// relyingPartyName.
    #[arg(long)]
    rp_name: String,
    /// brokeredRpName.
    #[arg(long, default_value = "")]
    broker_name: String,
    /// interactions as the RP sends them (Base64 JSON); '' for cert.
    #[arg(long, value_name = "BASE64")]
    interactions: String,
    /// initialCallbackUrl (Web2App and App2App only).
    #[arg(long, default_value = "", value_name = "URL")]
    callback: String,
    /// deviceLinkBase.
    #[arg(long, value_name = "URL")]
    base: String,
    /// QR, Web2App or App2App.
    #[arg(long)]
    link_type: DeviceLinkType,
    /// elapsedSeconds (QR only).
    #[arg(long, value_name = "N")]
    elapsed: Option<u32>,
    /// sessionToken.
    #[arg(long)]
    session_token: String,
    /// auth, sign or cert.
    #[arg(long)]
    session_type: SessionType,
    /// Language, three lowercase letters (eng, est, …).
    #[arg(long)]
    lang: String,
}

/// `rp acsp-v2`: the fields of the message and the hash to apply.
#[derive(Debug, Args)]
struct AcspV2Args {
    /// Scheme name (`kaksik`, `smart-id`).
    #[arg(long)]
    scheme: String,
    /// serverRandom.
    #[arg(long)]
    server_random: String,
    /// rpChallenge, standard Base64.
    #[arg(long, value_name = "BASE64")]
    rp_challenge: String,
    /// userChallenge, unpadded Base64URL.
    #[arg(long)]
    user_challenge: String,
    /// relyingPartyName.
    #[arg(long)]
    rp_name: String,
    /// brokeredRpName.
    #[arg(long, default_value = "")]
    broker_name: String,
    /// interactions as the RP sent them (Base64 JSON).
    #[arg(long, value_name = "BASE64")]
    interactions: String,
    /// interactionTypeUsed: displayTextAndPIN, confirmationMessage or
    /// confirmationMessageAndVerificationCodeChoice.
    #[arg(long, value_name = "TYPE")]
    interaction_used: InteractionType,
    /// initialCallbackUrl (Web2App and App2App only).
    #[arg(long, default_value = "", value_name = "URL")]
    callback: String,
    /// QR, App2App, Web2App or Notification.
    #[arg(long)]
    flow_type: FlowType,
    /// SHA-256, SHA-384, SHA-512, SHA3-256, SHA3-384 or SHA3-512.
    #[arg(long)]
    hash: HashAlgorithm,
}

impl RpArgs {
    /// Runs the chosen tool; returns its stdout.
    pub fn run(self) -> Result<String, CliError> {
        match self.command {
            RpCommand::Vc(args) => args.run(),
            RpCommand::DeviceLink(args) => args.run(),
            RpCommand::AcspV2(args) => args.run(),
            RpCommand::Auth(args) => rp_client_cmd::auth(&self.server, &args),
            RpCommand::Sign(args) => rp_client_cmd::sign(&self.server, &args),
        }
    }
}

impl VcArgs {
    fn run(self) -> Result<String, CliError> {
        let code = match (self.digest, self.rp_challenge) {
            (Some(digest), None) => vc::digest_code(
                &encoding::decode_std(field::DIGEST, &digest, 1..=MAX_DIGEST_BYTES)
                    .map_err(input)?,
            ),
            (None, Some(challenge)) => vc::rp_challenge_code(
                &encoding::decode_std(field::RP_CHALLENGE, &challenge, rp::CHALLENGE_OR_DIGEST_LEN)
                    .map_err(input)?,
            ),
            // clap's group makes this unreachable; answer like clap would.
            _ => {
                return Err(CliError::Input {
                    flag: "--digest|--rp-challenge".into(),
                    reason: "exactly one is required".into(),
                });
            }
        };
        Ok(format!("{code}\n"))
    }
}

impl DeviceLinkArgs {
    fn run(self) -> Result<String, CliError> {
        let secret = SessionSecret::from_base64(&self.session_secret).map_err(input)?;
        let signature_protocol = if self.protocol.is_empty() {
            None
        } else {
            Some(self.protocol.parse::<SignatureProtocol>().map_err(input)?)
        };
        let link = DeviceLink {
            base: self.base,
            link_type: self.link_type,
            elapsed_seconds: self.elapsed,
            session_token: self.session_token,
            session_type: self.session_type,
            lang: self.lang,
        };
        let binding = AuthCodeBinding {
            scheme: self.scheme,
            signature_protocol,
            rp_challenge_or_digest: self.challenge,
            rp_name: self.rp_name,
            brokered_rp_name: self.broker_name,
            interactions: self.interactions,
            initial_callback_url: self.callback,
        };
        let built = link.build(&secret, &binding).map_err(input)?;
        Ok(format!("{built}\n"))
    }
}

impl AcspV2Args {
    fn run(self) -> Result<String, CliError> {
        let acsp = AcspV2 {
            scheme: self.scheme,
            server_random: self.server_random,
            rp_challenge: self.rp_challenge,
            user_challenge: self.user_challenge,
            rp_name: self.rp_name,
            brokered_rp_name: self.broker_name,
            interactions: self.interactions,
            interaction_type_used: self.interaction_used,
            initial_callback_url: self.callback,
            flow_type: self.flow_type,
        };
        let message = acsp.message().map_err(input)?;
        let digest = self.hash.digest(message.as_bytes());
        Ok(format!("{message}\n{}\n", encoding::encode_std(&digest)))
    }
}

/// A core error as an input error on the flag that carried the field.
fn input(err: RpError) -> CliError {
    let flag = flag_for(err.field());
    // Sub-fields (one interaction's text) keep their name: the flag alone
    // would not say which part of the JSON is wrong.
    let reason = if err.field().starts_with("interactions[]") {
        format!("{}: {}", err.field(), err.kind())
    } else {
        err.kind().to_string()
    };
    CliError::Input {
        flag: flag.to_owned(),
        reason,
    }
}

/// The flag that carries a core field, in any `rp` subcommand.
fn flag_for(name: &'static str) -> &'static str {
    match name {
        field::SCHEME => "--scheme",
        field::SESSION_SECRET => "--session-secret",
        field::SIGNATURE_PROTOCOL => "--protocol",
        field::RP_CHALLENGE_OR_DIGEST => "--challenge",
        field::RP_CHALLENGE => "--rp-challenge",
        field::DIGEST => "--digest",
        field::RP_NAME => "--rp-name",
        field::BROKERED_RP_NAME => "--broker-name",
        field::INTERACTIONS
        | field::INTERACTION_TYPE
        | field::DISPLAY_TEXT_60
        | field::DISPLAY_TEXT_200 => "--interactions",
        field::INTERACTION_TYPE_USED => "--interaction-used",
        field::INITIAL_CALLBACK_URL => "--callback",
        field::DEVICE_LINK_BASE => "--base",
        field::DEVICE_LINK_TYPE => "--link-type",
        field::ELAPSED_SECONDS => "--elapsed",
        field::SESSION_TOKEN => "--session-token",
        field::SESSION_TYPE => "--session-type",
        field::LANG => "--lang",
        field::SERVER_RANDOM => "--server-random",
        field::USER_CHALLENGE => "--user-challenge",
        field::FLOW_TYPE => "--flow-type",
        field::HASH_ALGORITHM => "--hash",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Harness {
        #[command(subcommand)]
        command: RpCommand,
    }

    #[test]
    fn clap_definition_is_consistent() {
        Harness::command().debug_assert();
    }

    #[test]
    fn every_field_a_subcommand_can_fail_on_maps_to_a_flag() {
        let fields = [
            field::SCHEME,
            field::SESSION_SECRET,
            field::SIGNATURE_PROTOCOL,
            field::RP_CHALLENGE_OR_DIGEST,
            field::RP_CHALLENGE,
            field::DIGEST,
            field::RP_NAME,
            field::BROKERED_RP_NAME,
            field::INTERACTIONS,
            field::INTERACTION_TYPE,
            field::DISPLAY_TEXT_60,
            field::DISPLAY_TEXT_200,
            field::INTERACTION_TYPE_USED,
            field::INITIAL_CALLBACK_URL,
            field::DEVICE_LINK_BASE,
            field::DEVICE_LINK_TYPE,
            field::ELAPSED_SECONDS,
            field::SESSION_TOKEN,
            field::SESSION_TYPE,
            field::LANG,
            field::SERVER_RANDOM,
            field::USER_CHALLENGE,
            field::FLOW_TYPE,
            field::HASH_ALGORITHM,
        ];
        for name in fields {
            assert!(flag_for(name).starts_with("--"), "{name}");
        }
    }
}
