//! gRPC canonical status codes, with the same numbers as `tonic::Code`.

/// A gRPC canonical status code. The discriminant is the number that crosses
/// the C ABI and that `google.rpc.Status.code` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Code {
    /// The call completed successfully.
    Ok = 0,
    /// The call was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The request is invalid (bad bytes, failed validation, NULL pointers).
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// A requested entity was not found.
    NotFound = 5,
    /// The entity a caller tried to create already exists.
    AlreadyExists = 6,
    /// The caller lacks permission for the operation.
    PermissionDenied = 7,
    /// A resource (rate limit, size limit, quota) is exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted (concurrency conflict).
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// An internal invariant was broken (including a caught panic).
    Internal = 13,
    /// The service is currently unavailable (shutting down).
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The caller is not authenticated.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order. `Code::ALL[n] as i32 == n`.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// Number of canonical codes.
    pub const COUNT: usize = 17;

    /// The code for a number; numbers outside `0..=16` map to [`Code::Unknown`],
    /// as gRPC specifies.
    pub const fn from_i32(value: i32) -> Code {
        if value >= 0 && (value as usize) < Self::COUNT {
            Self::ALL[value as usize]
        } else {
            Code::Unknown
        }
    }

    /// The numeric value that crosses the ABI.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical upper-snake name, e.g. `"INVALID_ARGUMENT"`, as used in C
    /// constants (`<PREFIX>_STATUS_INVALID_ARGUMENT`), Prometheus labels and
    /// `google.rpc.Code`.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The lower-camel name used for the Dart enum value, e.g. `"invalidArgument"`.
    pub fn dart_name(self) -> String {
        heck::AsLowerCamelCase(self.name()).to_string()
    }

    /// A one-line description, used in generated doc comments.
    pub const fn description(self) -> &'static str {
        match self {
            Code::Ok => "The call completed successfully.",
            Code::Cancelled => "The call was cancelled.",
            Code::Unknown => "Unknown error.",
            Code::InvalidArgument => "The request is invalid.",
            Code::DeadlineExceeded => "The deadline expired.",
            Code::NotFound => "A requested entity was not found.",
            Code::AlreadyExists => "The entity already exists.",
            Code::PermissionDenied => "The caller lacks permission.",
            Code::ResourceExhausted => "A rate or size limit was hit.",
            Code::FailedPrecondition => "The system is not in the required state.",
            Code::Aborted => "The operation was aborted.",
            Code::OutOfRange => "The operation went past the valid range.",
            Code::Unimplemented => "Not implemented.",
            Code::Internal => "Internal error (including a caught panic).",
            Code::Unavailable => "The library is unavailable (shutting down).",
            Code::DataLoss => "Unrecoverable data loss.",
            Code::Unauthenticated => "The caller is not authenticated.",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_numeric_order() {
        for (n, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_i32(), n as i32);
            assert_eq!(Code::from_i32(n as i32), *code);
        }
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(17), Code::Unknown);
    }

    #[test]
    fn dart_names() {
        assert_eq!(Code::InvalidArgument.dart_name(), "invalidArgument");
        assert_eq!(Code::Ok.dart_name(), "ok");
    }
}
