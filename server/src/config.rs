//! Server settings: defaults, overridden by an optional TOML file, then by
//! `KAKSIK_*` environment variables (the twelve-factor order: the
//! environment wins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything an operator can set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Scheme name, the first field of ACSP_V2 and of authCode.
    pub scheme: String,
    /// How long an RP session waits for the person, in seconds.
    pub session_timeout_secs: i64,
    /// How long an enrolment code is valid, in seconds.
    pub enrolment_ttl_secs: i64,
    /// Oldest device-API client version served.
    pub min_client_version: u32,
    /// Refresh a key after this many signatures (PROTOCOL.md §4).
    pub refresh_after_signatures: i64,
    /// Refresh a key this long after its last refresh, in seconds.
    pub refresh_after_secs: i64,
    /// Allowed clock difference for signed device requests, in seconds.
    pub max_request_skew_secs: i64,
    /// `deviceLinkBase` given to RPs; empty: this server's own https URL
    /// followed by `/device-link`.
    pub device_link_base: String,
    /// Serve the demo relying party's pages at `/demo/`.
    pub demo_rp: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            scheme: "kaksik".into(),
            session_timeout_secs: 120,
            enrolment_ttl_secs: 15 * 60,
            min_client_version: 1,
            refresh_after_signatures: 10,
            refresh_after_secs: 24 * 3600,
            max_request_skew_secs: 300,
            device_link_base: String::new(),
            demo_rp: true,
        }
    }
}

/// Configuration errors, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file cannot be read or parsed.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// An environment variable has a value of the wrong type.
    #[error("{name}: {detail}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What failed.
        detail: String,
    },
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.to_owned(),
                    detail: e.to_string(),
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::File {
                    path: path.to_owned(),
                    detail: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                name,
                detail: e.to_string(),
            })
        }
        if let Some(v) = var("KAKSIK_LISTEN") {
            self.listen = parse("KAKSIK_LISTEN", v)?;
        }
        if let Some(v) = var("KAKSIK_SCHEME") {
            self.scheme = v;
        }
        if let Some(v) = var("KAKSIK_SESSION_TIMEOUT_SECS") {
            self.session_timeout_secs = parse("KAKSIK_SESSION_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = var("KAKSIK_ENROLMENT_TTL_SECS") {
            self.enrolment_ttl_secs = parse("KAKSIK_ENROLMENT_TTL_SECS", v)?;
        }
        if let Some(v) = var("KAKSIK_MIN_CLIENT_VERSION") {
            self.min_client_version = parse("KAKSIK_MIN_CLIENT_VERSION", v)?;
        }
        if let Some(v) = var("KAKSIK_REFRESH_AFTER_SIGNATURES") {
            self.refresh_after_signatures = parse("KAKSIK_REFRESH_AFTER_SIGNATURES", v)?;
        }
        if let Some(v) = var("KAKSIK_REFRESH_AFTER_SECS") {
            self.refresh_after_secs = parse("KAKSIK_REFRESH_AFTER_SECS", v)?;
        }
        if let Some(v) = var("KAKSIK_DEVICE_LINK_BASE") {
            self.device_link_base = v;
        }
        if let Some(v) = var("KAKSIK_DEMO_RP") {
            self.demo_rp = parse("KAKSIK_DEMO_RP", v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file() {
        let mut config: Config =
            toml::from_str("scheme = \"from-file\"\nsession_timeout_secs = 30").unwrap();
        config
            .apply_env(|name| (name == "KAKSIK_SCHEME").then(|| "from-env".to_owned()))
            .unwrap();
        assert_eq!(config.scheme, "from-env");
        assert_eq!(config.session_timeout_secs, 30);
    }

    #[test]
    fn a_malformed_variable_is_named_in_the_error() {
        let error = Config::default()
            .apply_env(|name| (name == "KAKSIK_LISTEN").then(|| "nowhere".to_owned()))
            .unwrap_err();
        assert!(error.to_string().starts_with("KAKSIK_LISTEN"));
    }

    #[test]
    fn unknown_settings_in_the_file_are_refused() {
        assert!(toml::from_str::<Config>("sheme = \"typo\"").is_err());
    }
}
