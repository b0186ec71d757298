//! Client streams: the requests a caller sends into a client-streaming or
//! bidirectional call with `stream_send`, and the handler's
//! [`RequestStream`].
//!
//! Each item is checked on the sender's thread before `stream_send`
//! returns, as a unary request is (NULL with a length, the size limit, the
//! decode budget, decoding, the keyed limit); the method's rate limits were
//! paid once when the call started. A refused item ends the call with its
//! status — the sender gets the code, the callback the message — so a
//! handler only ever sees well-formed requests. Accepted items wait decoded,
//! at most [`STREAM_WINDOW`] of them: a sender that finds the window full
//! gets [`STREAM_WRITABLE`] back (nothing queued, nothing blocked: a Dart
//! isolate's thread must never wait on Rust) and the callback gets a
//! `STREAM_WRITABLE` event once the handler has taken half the window.
//! `stream_close_send` ends the stream after the queued items.

use crate::calls::{Call, Ending};
use crate::guard::{self, Fail};
use crate::Code;
use parking_lot::Mutex;
use proto2ffi_core::symbols::{STREAM_WINDOW, STREAM_WRITABLE};
use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A decoded request, typed by the method that decoded it.
type Item = Box<dyn Any + Send>;

/// Decodes (and key-limits) one request of the call's method.
pub(crate) type Decode = Box<dyn Fn(&[u8]) -> Result<Item, Fail> + Send + Sync>;

/// The requests of one client or bidi stream not taken by its handler yet.
pub(crate) struct Inbound {
    state: Mutex<State>,
    decode: Decode,
}

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    /// `stream_close_send` was called.
    closed: bool,
    /// The handler waiting for a request.
    consumer: Option<Waker>,
    /// A send found the window full: ring `STREAM_WRITABLE` when there is
    /// room again.
    refused: bool,
}

/// Whether a queue of `len` items has room enough to tell a refused sender.
fn writable(len: usize) -> bool {
    len <= STREAM_WINDOW / 2
}

impl Inbound {
    pub(crate) fn new(decode: Decode) -> Inbound {
        Inbound {
            state: Mutex::new(State::default()),
            decode,
        }
    }

    /// `stream_send`: checks and decodes `len` bytes at `item` and queues
    /// the request. Returns `0`, [`STREAM_WRITABLE`] (window full), or a
    /// status code (closed for sending, or the item refused — which ends
    /// the call with that status).
    ///
    /// # Safety
    /// `item` is NULL or points at `len` readable bytes.
    pub(crate) unsafe fn send(&self, call: &Call, item: *const u8, len: usize) -> i32 {
        // The cheap refusals first: nothing is decoded for a full window.
        {
            let mut s = self.state.lock();
            if let Some(code) = self.refuse(&mut s) {
                return code;
            }
        }
        let (service, method) = (call.service, call.method);
        let mut read = 0;
        let checked = || -> Result<Item, Fail> {
            // SAFETY: forwarded contract.
            let bytes = unsafe { guard::check_bytes(service, method, item, len, &mut read) }?;
            (self.decode)(bytes)
        };
        let trace = service
            .library
            .logs()
            .dispatch()
            .map(|d| guard::trace_async(d, service, method, call.id));
        let outcome = match catch_unwind(AssertUnwindSafe(checked)) {
            Ok(r) => r,
            Err(p) => Err(guard::Failure::new(
                guard::panic_status(service, method, p),
                None,
            )),
        };
        if let Some(t) = trace {
            t.finish(service, method, &outcome);
        }
        let decoded = match outcome {
            Ok(decoded) => decoded,
            Err(f) => {
                call.bytes_in.fetch_add(read, Ordering::Relaxed);
                let code = f.status.code() as i32;
                call.abort_with(
                    f.status,
                    Ending {
                        rejection: f.rejection,
                        panicked: false,
                    },
                );
                return code;
            }
        };
        let consumer = {
            let mut s = self.state.lock();
            // Another sender may have filled the window (or closed it)
            // while this one decoded: the bound stays exact.
            if let Some(code) = self.refuse(&mut s) {
                return code;
            }
            // Cancelled (or answered) while this one decoded: the request
            // has nobody to go to.
            if call.is_done() {
                return Code::NotFound as i32;
            }
            s.items.push_back(decoded);
            // Counted under the lock: no item is taken before it is counted.
            method.metrics.stream_item_received();
            call.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
            s.consumer.take()
        };
        if let Some(w) = consumer {
            w.wake();
        }
        Code::Ok as i32
    }

    /// Why nothing can be queued now, if so.
    fn refuse(&self, s: &mut State) -> Option<i32> {
        if s.closed {
            return Some(Code::FailedPrecondition as i32);
        }
        if s.items.len() >= STREAM_WINDOW {
            s.refused = true;
            return Some(STREAM_WRITABLE);
        }
        None
    }

    /// `stream_close_send`: the stream ends after the queued items.
    pub(crate) fn close(&self) {
        let consumer = {
            let mut s = self.state.lock();
            s.closed = true;
            s.consumer.take()
        };
        if let Some(w) = consumer {
            w.wake();
        }
    }

    /// Wakes a handler waiting for a request (after a cancellation).
    pub(crate) fn wake_consumer(&self) {
        let waker = self.state.lock().consumer.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The next request, `None` at the end of the stream.
    fn poll_next(&self, call: &Call, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let (item, ring) = {
            let mut s = self.state.lock();
            match s.items.pop_front() {
                Some(item) => {
                    let ring = s.refused && writable(s.items.len());
                    if ring {
                        s.refused = false;
                    }
                    (item, ring)
                }
                None if s.closed || call.is_done() => return Poll::Ready(None),
                None => {
                    s.consumer = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        if ring {
            call.notify(STREAM_WRITABLE);
        }
        Poll::Ready(Some(item))
    }
}

/// The requests of a client-streaming or bidirectional call, in the order
/// the caller sent them:
/// `async fn upload(&self, requests: RequestStream<Chunk>) -> Result<Summary, Status>`.
///
/// Read it with [`RequestStream::next`] or as a [`futures_core::Stream`].
/// It ends (`None`) after the caller's `stream_close_send` and every item
/// sent before it. Each request was checked and decoded before the caller's
/// `stream_send` returned; a refused one ended the call, so the handler's
/// future is dropped instead of seeing it. A handler may return before the
/// stream ends: the call completes with its result and later sends get
/// `NOT_FOUND`.
pub struct RequestStream<T> {
    call: Arc<Call>,
    _item: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RequestStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStream")
            .field("call", &self.call)
            .finish()
    }
}

impl<T: Send + 'static> RequestStream<T> {
    pub(crate) fn new(call: Arc<Call>) -> RequestStream<T> {
        RequestStream {
            call,
            _item: PhantomData,
        }
    }

    /// The next request; `None` once the caller closed the stream and
    /// every request was taken (or the call is over).
    pub async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Polls for the next request (what [`RequestStream::next`] awaits).
    pub fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let inbound = self
            .call
            .inbound
            .as_ref()
            .expect("a request stream belongs to a client stream");
        inbound.poll_next(&self.call, cx).map(|item| {
            item.map(|item| {
                *item
                    .downcast::<T>()
                    .expect("requests are decoded as the method's request type")
            })
        })
    }
}

impl<T: Send + 'static> futures_core::Stream for RequestStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_item(cx)
    }
}

/// The decoder of a method's requests: decode, then its keyed limit.
pub(crate) fn decoder<Req, K>(
    service: &'static crate::library::ServiceDef,
    method: &'static crate::library::MethodDef,
    key: K,
) -> Decode
where
    Req: prost::Message + Default + Send + 'static,
    K: Fn(&Req, &crate::rate::KeyedRateLimiter, u64) -> Result<(), crate::rate::Rejected>
        + Send
        + Sync
        + 'static,
{
    Box::new(move |bytes: &[u8]| {
        guard::decode_request::<Req, K>(service, method, bytes, &key).map(|r| Box::new(r) as Item)
    })
}
