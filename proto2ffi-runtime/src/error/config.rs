//! [`ConfigError`]: the one error every setting of a library returns when
//! it refuses a value, whatever the setting.

use crate::error::status::Status;
use proto2ffi_core::Code;

/// A setting the library refused, and why: a value out of range
/// ([`Code::InvalidArgument`]), or a setting that can no longer change
/// ([`Code::FailedPrecondition`], e.g. an executor once calls used one).
/// Converts into the [`Status`] an export would answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    code: Code,
    message: String,
}

impl ConfigError {
    /// A value the setting does not accept.
    pub(crate) fn invalid(message: impl Into<String>) -> ConfigError {
        ConfigError {
            code: Code::InvalidArgument,
            message: message.into(),
        }
    }

    /// A setting that can no longer change.
    pub(crate) fn too_late(message: impl Into<String>) -> ConfigError {
        ConfigError {
            code: Code::FailedPrecondition,
            message: message.into(),
        }
    }

    /// `INVALID_ARGUMENT` or `FAILED_PRECONDITION`.
    pub fn code(&self) -> Code {
        self.code
    }

    /// What was refused and why.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Status {
    fn from(e: ConfigError) -> Status {
        Status::new(e.code, e.message)
    }
}
