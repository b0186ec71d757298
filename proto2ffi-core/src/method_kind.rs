//! The kind of a method: how its requests and responses cross the boundary.
//!
//! One enum, used by the `#[proto2ffi::service]` macro (which reads it off
//! the handler's signature), the build model (which reads it off the
//! `.proto` RPC) and the runtime (which starts and completes the call), so
//! the three cannot disagree on what a kind means or which entry point it
//! gets.

use crate::symbols::{Param, START_PARAMS, STREAMING_START_PARAMS};

/// How a method's requests and responses flow, and so which entry points it
/// exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// A sync protobuf call: `int32_t {symbol}(request, request_len, out)`,
    /// plus `{symbol}_start` that runs the same handler on the library's
    /// worker threads and completes through a callback.
    Unary,
    /// A sync fixed-layout call: `int32_t {symbol}(const Req *, Resp *,
    /// error)`, no encoding either way.
    Fixed,
    /// An `async fn` with one request and one response: `{symbol}` is its
    /// `*_start` function, completed through a callback.
    AsyncUnary,
    /// One request, a stream of responses (`returns (stream R)`).
    ServerStream,
    /// A stream of requests (`(stream Req)`), one response.
    ClientStream,
    /// Streams both ways.
    Bidi,
}

impl MethodKind {
    /// Every kind.
    pub const ALL: [MethodKind; 6] = [
        MethodKind::Unary,
        MethodKind::Fixed,
        MethodKind::AsyncUnary,
        MethodKind::ServerStream,
        MethodKind::ClientStream,
        MethodKind::Bidi,
    ];

    /// The kind of a method from what its declaration says: fixed-layout
    /// messages, an `async` handler, streamed requests, streamed responses.
    /// A streaming method is async whatever `asynchronous` says. `None` for
    /// a fixed-layout method that is async or streams: fixed-layout calls
    /// are synchronous pointer calls.
    pub const fn of(
        fixed: bool,
        asynchronous: bool,
        streams_requests: bool,
        streams_responses: bool,
    ) -> Option<MethodKind> {
        Some(match (streams_requests, streams_responses) {
            _ if fixed && (asynchronous || streams_requests || streams_responses) => return None,
            (true, true) => MethodKind::Bidi,
            (true, false) => MethodKind::ClientStream,
            (false, true) => MethodKind::ServerStream,
            (false, false) if fixed => MethodKind::Fixed,
            (false, false) if asynchronous => MethodKind::AsyncUnary,
            (false, false) => MethodKind::Unary,
        })
    }

    /// Passes fixed-layout structs by pointer instead of encoded messages.
    pub const fn is_fixed(self) -> bool {
        matches!(self, MethodKind::Fixed)
    }

    /// Its method symbol is a `*_start` function completed through a
    /// callback (an `async fn` handler, or a stream): it has no sync entry
    /// point.
    pub const fn is_async(self) -> bool {
        !matches!(self, MethodKind::Unary | MethodKind::Fixed)
    }

    /// The caller streams its requests with `stream_send` after a
    /// request-less start.
    pub const fn streams_requests(self) -> bool {
        matches!(self, MethodKind::ClientStream | MethodKind::Bidi)
    }

    /// Its responses are items taken with `stream_next`, then a status.
    pub const fn streams_responses(self) -> bool {
        matches!(self, MethodKind::ServerStream | MethodKind::Bidi)
    }

    /// Has a `*_start` entry point: every kind but [`MethodKind::Fixed`].
    pub const fn has_start(self) -> bool {
        !self.is_fixed()
    }

    /// The parameters of its `*_start` entry point: the request comes in
    /// the call ([`START_PARAMS`]) unless the caller streams the requests
    /// ([`STREAMING_START_PARAMS`]).
    pub const fn start_params(self) -> &'static [Param] {
        if self.streams_requests() {
            &STREAMING_START_PARAMS
        } else {
            &START_PARAMS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MethodKind;

    #[test]
    fn every_declaration_has_one_kind_and_reads_back() {
        for fixed in [false, true] {
            for asynchronous in [false, true] {
                for requests in [false, true] {
                    for responses in [false, true] {
                        let kind = MethodKind::of(fixed, asynchronous, requests, responses);
                        if fixed && (asynchronous || requests || responses) {
                            assert_eq!(kind, None);
                            continue;
                        }
                        let kind = kind.expect("a kind");
                        assert_eq!(kind.is_fixed(), fixed);
                        assert_eq!(kind.streams_requests(), requests);
                        assert_eq!(kind.streams_responses(), responses);
                        assert_eq!(kind.is_async(), asynchronous || requests || responses);
                    }
                }
            }
        }
        for kind in MethodKind::ALL {
            assert_eq!(kind.has_start(), !kind.is_fixed());
            let expected = if kind.streams_requests() { 3 } else { 5 };
            assert_eq!(kind.start_params().len(), expected, "{kind:?}");
        }
    }
}
