//! The error of a config that does not hold: the key at fault and why. It sits at the bottom
//! of the crate, below the experiment's config and each model kind's, so that every one of
//! them reports a bad key the same way without importing another.

/// A config error that names the key at fault (`models.sigmoid.depth`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

/// The error for `key`.
pub(crate) fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), message: message.into() }
}
