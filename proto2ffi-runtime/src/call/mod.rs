//! Calls of protobuf methods, from the C entry point to the handler and
//! back: the sync guard ([`guard`]), async calls with their ids, exactly-once
//! completion, cancellation and deadlines ([`calls`]), the `*_start` entry
//! points of async and streaming methods ([`start`]), server streams
//! ([`stream`]), client streams ([`inbound`]), completion by posting to
//! Dart ports ([`dart`]) and services the host implements ([`host`]).

pub(crate) mod calls;
pub(crate) mod dart;
pub(crate) mod guard;
pub(crate) mod host;
pub(crate) mod inbound;
pub(crate) mod start;
pub(crate) mod stream;
