//! [`Status`]: the error a handler returns and the payload that crosses the
//! ABI on failure, wire-compatible with `google.rpc.Status`.

use crate::{Buffer, Code};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use std::borrow::Cow;
use std::fmt;

/// An RPC status: a canonical [`Code`], a message, and optional details.
///
/// Encodes as `google.rpc.Status { int32 code = 1; string message = 2;
/// repeated google.protobuf.Any details = 3; }`.
#[derive(Clone, PartialEq)]
pub struct Status {
    code: Code,
    message: Cow<'static, str>,
    details: Vec<prost_types::Any>,
    /// Detail for the library's logs only (never encoded).
    log_detail: Option<Cow<'static, str>>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<Cow<'static, str>>) -> Self {
                Self::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with a code and a message.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            log_detail: None,
        }
    }

    /// `INTERNAL` for "log internally, return a generic error": `log_detail`
    /// goes to the library's logs (with an incident id the caller also gets)
    /// and reaches the caller only when the library exposes internal errors
    /// (debug builds by default; see `Library::set_expose_internal_errors`).
    pub fn internal_sanitized(log_detail: impl Into<Cow<'static, str>>) -> Self {
        let mut s = Self::new(Code::Internal, "internal error");
        s.log_detail = Some(log_detail.into());
        s
    }

    /// The detail kept for the logs (see [`Status::internal_sanitized`]).
    pub fn log_detail(&self) -> Option<&str> {
        self.log_detail.as_deref()
    }

    /// Replaces the message (keeps the code and details).
    pub(crate) fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Drops the details.
    pub(crate) fn without_details(mut self) -> Self {
        self.details.clear();
        self
    }

    constructors! {
        /// `CANCELLED` (1).
        cancelled => Cancelled,
        /// `UNKNOWN` (2).
        unknown => Unknown,
        /// `INVALID_ARGUMENT` (3).
        invalid_argument => InvalidArgument,
        /// `DEADLINE_EXCEEDED` (4).
        deadline_exceeded => DeadlineExceeded,
        /// `NOT_FOUND` (5).
        not_found => NotFound,
        /// `ALREADY_EXISTS` (6).
        already_exists => AlreadyExists,
        /// `PERMISSION_DENIED` (7).
        permission_denied => PermissionDenied,
        /// `RESOURCE_EXHAUSTED` (8).
        resource_exhausted => ResourceExhausted,
        /// `FAILED_PRECONDITION` (9).
        failed_precondition => FailedPrecondition,
        /// `ABORTED` (10).
        aborted => Aborted,
        /// `OUT_OF_RANGE` (11).
        out_of_range => OutOfRange,
        /// `UNIMPLEMENTED` (12).
        unimplemented => Unimplemented,
        /// `INTERNAL` (13).
        internal => Internal,
        /// `UNAVAILABLE` (14).
        unavailable => Unavailable,
        /// `DATA_LOSS` (15).
        data_loss => DataLoss,
        /// `UNAUTHENTICATED` (16).
        unauthenticated => Unauthenticated,
    }

    /// Adds a detail message, packed into `google.protobuf.Any` with the type
    /// URL `type.googleapis.com/<full name>` (what every protobuf runtime's
    /// `Any.pack` writes; a `prost::Name` without a domain gets this one).
    pub fn with_detail<M: prost::Name>(mut self, detail: &M) -> Self {
        let url = M::type_url();
        let type_url = if url.starts_with('/') {
            format!("{TYPE_URL_DOMAIN}{url}")
        } else {
            url
        };
        self.details.push(prost_types::Any {
            type_url,
            value: detail.encode_to_vec(),
        });
        self
    }

    /// Adds an already packed detail.
    pub fn with_any(mut self, detail: prost_types::Any) -> Self {
        self.details.push(detail);
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details.
    pub fn details(&self) -> &[prost_types::Any] {
        &self.details
    }

    /// Length of the encoded `google.rpc.Status`.
    pub fn encoded_len(&self) -> usize {
        let code = self.code.as_i32();
        (if code != 0 {
            encoding::int32::encoded_len(1, &code)
        } else {
            0
        }) + if self.message.is_empty() {
            0
        } else {
            key_len(2) + len_delimited(self.message.len())
        } + encoding::message::encoded_len_repeated(3, &self.details)
    }

    /// Appends the `google.rpc.Status` encoding to `buf`. Does not allocate
    /// beyond growing `buf`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let code = self.code.as_i32();
        if code != 0 {
            encoding::int32::encode(1, &code, buf);
        }
        if !self.message.is_empty() {
            encoding::encode_key(2, WireType::LengthDelimited, buf);
            encoding::encode_varint(self.message.len() as u64, buf);
            buf.put_slice(self.message.as_bytes());
        }
        encoding::message::encode_repeated(3, &self.details, buf);
    }

    /// Encodes into a new vector.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Decodes a `google.rpc.Status` payload (what a failed call writes to `*out`).
    pub fn decode(mut bytes: &[u8]) -> Result<Status, prost::DecodeError> {
        let mut code = 0i32;
        let mut message = String::new();
        let mut details = Vec::new();
        let ctx = DecodeContext::default();
        while bytes.has_remaining() {
            let (tag, wire_type) = encoding::decode_key(&mut bytes)?;
            match tag {
                1 => encoding::int32::merge(wire_type, &mut code, &mut bytes, ctx.clone())?,
                2 => encoding::string::merge(wire_type, &mut message, &mut bytes, ctx.clone())?,
                3 => encoding::message::merge_repeated(
                    wire_type,
                    &mut details,
                    &mut bytes,
                    ctx.clone(),
                )?,
                _ => encoding::skip_field(wire_type, tag, &mut bytes, ctx.clone())?,
            }
        }
        Ok(Status {
            code: Code::from_i32(code),
            message: message.into(),
            details,
            log_detail: None,
        })
    }
}

/// The domain of `Any` type URLs: `type.googleapis.com/<full name>`.
pub(crate) const TYPE_URL_DOMAIN: &str = "type.googleapis.com";

/// Smallest budget an error payload is cut to: room for the code and a short
/// message, so even a tiny response limit still tells the caller why.
pub(crate) const MIN_ERROR_BYTES: usize = 64;

impl Status {
    /// Shrinks the status so that its encoding fits in `max_bytes` (at least
    /// `MIN_ERROR_BYTES`): details go first, then the message is cut at a
    /// character boundary and marked with `…`. The code never changes.
    pub fn fit(mut self, max_bytes: usize) -> Status {
        let max_bytes = max_bytes.max(MIN_ERROR_BYTES);
        if self.encoded_len() <= max_bytes {
            return self;
        }
        self.details.clear();
        if self.encoded_len() <= max_bytes {
            return self;
        }
        const MARK: &str = "…";
        // code (≤ 11 bytes) + message key and length (≤ 1 + 5 bytes).
        let room = max_bytes.saturating_sub(17 + MARK.len());
        let mut cut = room.min(self.message.len());
        while !self.message.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut text = String::with_capacity(cut + MARK.len());
        text.push_str(&self.message[..cut]);
        text.push_str(MARK);
        self.message = text.into();
        self
    }

    /// Encodes the status into a pooled buffer written to `*out`, cut to fit
    /// `max_bytes` (see [`Status::fit`]); returns the encoded length.
    ///
    /// # Safety
    /// `out` is non-null and writable for one [`Buffer`] (its old content is
    /// overwritten, not freed).
    pub unsafe fn write_to(self, out: *mut Buffer, max_bytes: usize) -> (Code, usize) {
        let status = self.fit(max_bytes);
        let mut v = crate::abi::buffer::take(status.encoded_len());
        status.encode(&mut v);
        let n = v.len();
        // SAFETY: the caller guarantees `out` is non-null and writable.
        unsafe { out.write(Buffer::from_vec(v)) };
        (status.code, n)
    }
}

fn key_len(tag: u32) -> usize {
    encoding::key_len(tag)
}

fn len_delimited(len: usize) -> usize {
    encoding::encoded_len_varint(len as u64) + len
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("details", &self.details.len())
            .finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

impl From<prost::DecodeError> for Status {
    fn from(e: prost::DecodeError) -> Self {
        Status::invalid_argument(format!("request is not a valid protobuf message: {e}"))
    }
}

impl From<prost::EncodeError> for Status {
    fn from(e: prost::EncodeError) -> Self {
        Status::internal(format!("failed to encode response: {e}"))
    }
}

impl From<std::convert::Infallible> for Status {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<prost_types::Any>,
    }

    #[test]
    fn wire_compatible_with_google_rpc_status() {
        let s = Status::not_found("no user 7").with_any(prost_types::Any {
            type_url: "type.googleapis.com/x.Y".into(),
            value: vec![1, 2, 3],
        });
        let bytes = s.encode_to_vec();
        assert_eq!(bytes.len(), s.encoded_len());
        let decoded = RpcStatus::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.code, 5);
        assert_eq!(decoded.message, "no user 7");
        assert_eq!(decoded.details.len(), 1);
        let reference = RpcStatus {
            code: 5,
            message: "no user 7".into(),
            details: decoded.details.clone(),
        };
        assert_eq!(reference.encode_to_vec(), bytes);
        assert_eq!(Status::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn constructors_match_codes() {
        assert_eq!(Status::invalid_argument("x").code(), Code::InvalidArgument);
        assert_eq!(Status::unauthenticated("x").code(), Code::Unauthenticated);
        assert_eq!(Status::internal("x").to_string(), "INTERNAL: x");
    }

    #[test]
    fn unknown_code_numbers_decode_as_unknown() {
        let bytes = RpcStatus {
            code: 99,
            message: "m".into(),
            details: vec![],
        }
        .encode_to_vec();
        assert_eq!(Status::decode(&bytes).unwrap().code(), Code::Unknown);
    }

    #[test]
    fn details_get_the_standard_type_url_domain() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Info {
            #[prost(string, tag = "1")]
            reason: String,
        }
        impl prost::Name for Info {
            const NAME: &'static str = "Info";
            const PACKAGE: &'static str = "acme.x.v1";
        }
        let s = Status::invalid_argument("bad").with_detail(&Info { reason: "r".into() });
        assert_eq!(
            s.details()[0].type_url,
            "type.googleapis.com/acme.x.v1.Info"
        );
    }
}
