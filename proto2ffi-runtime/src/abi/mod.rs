//! The types C sees that are not messages: the library-owned [`Buffer`]
//! and its per-thread and shared pools ([`buffer`]). Depends only on
//! `sys`.
//!
//! [`Buffer`]: buffer::Buffer

pub(crate) mod buffer;
