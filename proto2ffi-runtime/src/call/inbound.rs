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

use crate::call::calls::{Call, Ending};
use crate::call::guard::{self, Fail};
use crate::{Code, Status};
use parking_lot::Mutex;
use proto2ffi_core::symbols::{STREAM_WINDOW, STREAM_WRITABLE};
use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Decoded requests of one method, in order: a `VecDeque<Req>` behind
/// `Any`. A batch sent in one `stream_send_items` is one allocation, and
/// is freed once by the handler's thread (a box per request, allocated on
/// the sender's thread and freed on the handler's, spent 40% of a small
/// request's time in the allocator).
type Batch = Box<dyn Any + Send>;

/// Decodes (and key-limits) one request of the call's method and appends
/// it to the batch (made, with room for the given number of requests, on
/// first use).
pub(crate) type Decode =
    Box<dyn Fn(&[u8], &mut Option<Batch>, usize) -> Result<(), Fail> + Send + Sync>;

/// The requests of one client or bidi stream not taken by its handler yet.
pub(crate) struct Inbound {
    state: Mutex<State>,
    decode: Decode,
}

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    /// Requests in `batches`.
    len: usize,
    /// Requests senders are decoding outside the lock, counted against
    /// the window so that concurrent senders never overfill it.
    reserved: usize,
    /// `stream_close_send` was called.
    closed: bool,
    /// The handler waiting for a request.
    consumer: Option<Waker>,
    /// A send found the window full: ring `STREAM_WRITABLE` when there is
    /// room again.
    refused: bool,
}

/// One request of a send: its message bytes and the bytes it took in the
/// batch (with its length prefix).
struct Frame {
    ptr: *const u8,
    len: usize,
    framed: usize,
}

/// An item that failed its checks: the bytes read of it, and why.
struct Refusal {
    failure: Fail,
    read: u64,
}

impl Refusal {
    /// Ends the call with the refusal's status; returns its code.
    fn end(self, call: &Call) -> i32 {
        call.bytes_in.fetch_add(self.read, Ordering::Relaxed);
        let f = *self.failure;
        let code = f.status.code() as i32;
        call.abort_with(
            f.status,
            Ending {
                rejection: f.rejection,
                panicked: false,
            },
        );
        code
    }
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
        let frame = Frame {
            ptr: item,
            len,
            framed: len,
        };
        let mut taken = 0;
        // SAFETY: forwarded contract.
        unsafe { self.send_frames(call, &[frame], false, None, &mut taken) }
    }

    /// `stream_send_items`: checks and decodes each framed request of
    /// `len` bytes at `items` (a varint length and the message, as
    /// `stream_next` hands them out) and queues them in order, as many as
    /// the window has room for. `taken` gets the bytes of the items queued.
    /// Returns `0` (all queued), [`STREAM_WRITABLE`] (the window filled
    /// first), or the status that refused an item (which ended the call;
    /// the items before it were queued).
    ///
    /// # Safety
    /// `items` is NULL or points at `len` readable bytes.
    pub(crate) unsafe fn send_items(
        &self,
        call: &Call,
        items: *const u8,
        len: usize,
        taken: &mut usize,
    ) -> i32 {
        *taken = 0;
        if items.is_null() && len != 0 {
            let status = Status::invalid_argument(format!("items is NULL but len is {len}"));
            return Refusal {
                failure: guard::Failure::new(
                    status,
                    Some(crate::observe::metrics::Rejection::RequestSize),
                ),
                read: 0,
            }
            .end(call);
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: non-null (checked above) and `len` readable bytes.
            unsafe { std::slice::from_raw_parts(items, len) }
        };
        // The framing first (no more than a window's worth: the rest could
        // not be queued anyway); a malformed frame ends the call after the
        // requests before it.
        let mut frames = Vec::new();
        let mut at = 0;
        let mut malformed = None;
        while at < bytes.len() && frames.len() < STREAM_WINDOW {
            let mut rest = &bytes[at..];
            match prost::encoding::decode_varint(&mut rest) {
                Ok(n) if n <= rest.len() as u64 => {
                    let header = bytes.len() - at - rest.len();
                    frames.push(Frame {
                        ptr: rest.as_ptr(),
                        len: n as usize,
                        framed: header + n as usize,
                    });
                    at += header + n as usize;
                }
                _ => {
                    malformed = Some(Status::invalid_argument(format!(
                        "the item at byte {at} of {len} is not a whole framed request (a \
                         varint length and that many bytes)"
                    )));
                    break;
                }
            }
        }
        let unparsed = malformed.is_none() && at < bytes.len();
        // SAFETY: every frame lies within `bytes`.
        unsafe { self.send_frames(call, &frames, unparsed, malformed, taken) }
    }

    /// Checks, decodes and queues `frames` in order, as many as the window
    /// has room for, then ends the call with `malformed` if given (a batch
    /// whose framing broke after these frames). `unparsed`: more requests
    /// follow these in the batch. `taken` gets the framed bytes queued.
    ///
    /// # Safety
    /// Each frame is NULL or points at its `len` readable bytes.
    unsafe fn send_frames(
        &self,
        call: &Call,
        frames: &[Frame],
        unparsed: bool,
        malformed: Option<Status>,
        taken: &mut usize,
    ) -> i32 {
        // Room is reserved before decoding (outside the lock): the cheap
        // refusals first, and nothing is decoded for a full window.
        let reserved = {
            let mut s = self.state.lock();
            if let Some(code) = self.refuse(&mut s) {
                return code;
            }
            let k = frames.len().min(STREAM_WINDOW - s.len - s.reserved);
            s.reserved += k;
            k
        };
        let mut batch = None;
        let (mut decoded, mut framed, mut bytes_in) = (0, 0, 0u64);
        let mut refused = None;
        for f in &frames[..reserved] {
            // SAFETY: forwarded contract.
            match unsafe { self.check(call, f.ptr, f.len, &mut batch, reserved) } {
                Ok(()) => {
                    decoded += 1;
                    framed += f.framed;
                    bytes_in += f.len as u64;
                }
                Err(refusal) => {
                    refused = Some(refusal);
                    break;
                }
            }
        }
        let more = refused.is_none() && malformed.is_none() && (decoded < frames.len() || unparsed);
        let consumer = {
            let mut s = self.state.lock();
            s.reserved -= reserved;
            // Closed, cancelled or answered while this one decoded: the
            // requests have nobody to go to.
            let gone = if s.closed {
                Some(Code::FailedPrecondition as i32)
            } else if call.is_done() {
                Some(Code::NotFound as i32)
            } else {
                None
            };
            match gone {
                Some(code) if refused.is_none() => return code,
                Some(_) => None,
                None => {
                    if let Some(b) = batch.take().filter(|_| decoded > 0) {
                        s.batches.push_back(b);
                        s.len += decoded;
                        // Counted under the lock: no request is taken
                        // before it is counted.
                        call.method
                            .metrics
                            .add_stream_items_received(decoded as u64);
                        call.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
                        *taken = framed;
                    }
                    if more {
                        // What did not fit goes after STREAM_WRITABLE, asked
                        // for under the same lock as the push: a handler
                        // that drains at once still rings it.
                        s.refused = true;
                    }
                    s.consumer.take()
                }
            }
        };
        if let Some(w) = consumer {
            w.wake();
        }
        if let Some(refusal) = refused {
            // The call ends with the refusal's status, after the requests
            // before it.
            return refusal.end(call);
        }
        if let Some(status) = malformed {
            return Refusal {
                failure: guard::Failure::new(status, None),
                read: 0,
            }
            .end(call);
        }
        if more {
            STREAM_WRITABLE
        } else {
            Code::Ok as i32
        }
    }

    /// One item's checks and decode, on the sender's thread (NULL with a
    /// length, the size limit, the decode budget, decoding, the keyed
    /// limit), logged as a unary request's. A refusal must end the call
    /// ([`Refusal::end`]).
    ///
    /// # Safety
    /// `item` is NULL or points at `len` readable bytes.
    unsafe fn check(
        &self,
        call: &Call,
        item: *const u8,
        len: usize,
        batch: &mut Option<Batch>,
        capacity: usize,
    ) -> Result<(), Refusal> {
        let (service, method) = (call.service, call.method);
        let mut read = 0;
        let checked = || -> Result<(), Fail> {
            // SAFETY: forwarded contract.
            let bytes = unsafe { guard::check_bytes(service, method, item, len, &mut read) }?;
            (self.decode)(bytes, batch, capacity)
        };
        let trace = service
            .library
            .logs()
            .dispatch()
            .map(|d| guard::trace_async(d, service, method, call.id));
        let outcome = guard::guarded(service, method, &mut false, checked);
        if let Some(t) = trace {
            t.finish(service, method, &outcome);
        }
        outcome.map_err(|failure| Refusal { failure, read })
    }

    /// Why nothing can be queued now, if so.
    fn refuse(&self, s: &mut State) -> Option<i32> {
        if s.closed {
            return Some(Code::FailedPrecondition as i32);
        }
        if s.len + s.reserved >= STREAM_WINDOW {
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
    fn poll_next<T: Send + 'static>(&self, call: &Call, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let (item, ring, spent) = {
            let mut s = self.state.lock();
            loop {
                let Some(front) = s.batches.front_mut() else {
                    if s.closed || call.is_done() {
                        return Poll::Ready(None);
                    }
                    s.consumer = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                let queue = front
                    .downcast_mut::<VecDeque<T>>()
                    .expect("requests are decoded as the method's request type");
                let Some(item) = queue.pop_front() else {
                    s.batches.pop_front();
                    continue;
                };
                // An emptied batch is freed outside the lock.
                let spent = queue.is_empty().then(|| s.batches.pop_front());
                s.len -= 1;
                let ring = s.refused && writable(s.len);
                if ring {
                    s.refused = false;
                }
                break (item, ring, spent);
            }
        };
        drop(spent);
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
        inbound.poll_next::<T>(&self.call, cx)
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
    service: &'static crate::library::def::ServiceDef,
    method: &'static crate::library::def::MethodDef,
    key: K,
) -> Decode
where
    Req: prost::Message + Default + Send + 'static,
    K: Fn(
            &Req,
            &crate::policy::rate::KeyedRateLimiter,
            u64,
        ) -> Result<(), crate::policy::rate::Rejected>
        + Send
        + Sync
        + 'static,
{
    Box::new(
        move |bytes: &[u8], batch: &mut Option<Batch>, capacity: usize| {
            let request = guard::decode_request::<Req, K>(service, method, bytes, &key)?;
            batch
                .get_or_insert_with(|| Box::new(VecDeque::<Req>::with_capacity(capacity)))
                .downcast_mut::<VecDeque<Req>>()
                .expect("a batch holds the method's request type")
                .push_back(request);
            Ok(())
        },
    )
}
