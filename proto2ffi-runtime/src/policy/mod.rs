//! What a call may do before it reaches a handler: byte limits
//! ([`limits`]), the decode budget's pre-pass ([`shape`]), admission and
//! graceful shutdown ([`admission`]), rate limits ([`rate`]) and the
//! buffer requests are decoded from, which lends large `bytes` fields
//! ([`request_buf`]). Each is a mechanism; the call layer applies them.
//! Depends on `sys`, `abi` and `error`.

pub(crate) mod admission;
pub(crate) mod limits;
pub(crate) mod rate;
pub(crate) mod request_buf;
pub(crate) mod shape;
