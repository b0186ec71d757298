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
//!
//! Per batch, not per request: a `stream_send_items` batch is framed,
//! checked and decoded in one loop of the method's typed decoder (one
//! dynamic call, one `catch_unwind`, unless a log sink wants a span per
//! request), queued as one allocation, and taken by the handler under one
//! lock; only the window's count moves per request, in an atomic.

use crate::call::calls::{Call, Ending};
use crate::call::guard::{self, Fail};
use crate::library::def::{MethodDef, ServiceDef};
use crate::sys::spin::Spin;
use crate::{Code, Status};
use parking_lot::Mutex;
use proto2ffi_core::symbols::{STREAM_WINDOW, STREAM_WRITABLE};
use std::any::Any;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Decoded requests of one method, in order: a `VecDeque<Req>` behind
/// `Any`. A batch sent in one `stream_send_items` is one allocation, and
/// is freed once by the handler's thread (a box per request, allocated on
/// the sender's thread and freed on the handler's, spent 40% of a small
/// request's time in the allocator).
type Batch = Box<dyn Any + Send>;

/// Decodes (and key-limits) the requests [`Items`] yields, in order, into
/// the batch (made on first use), until they end or one is refused.
pub(crate) type Decode = Box<dyn Fn(&mut Items<'_>, &mut Option<Batch>) + Send + Sync>;

/// The requests of one client or bidi stream not taken by its handler yet.
pub(crate) struct Inbound {
    state: Mutex<State>,
    /// The window: requests queued and not yet taken one by one by the
    /// handler (those in `state.batches` and those of the batch the
    /// handler holds), in the bits under [`REFUSED`], and [`REFUSED`]
    /// itself. The handler takes a whole batch under the lock but counts
    /// its requests out one at a time, without it; the flag sits in the
    /// same word as the count, so the handler's decrement that brings the
    /// count to half the window sees it, whatever the order of a refused
    /// sender's `fetch_or` and that decrement: a `STREAM_WRITABLE` is
    /// never lost, and exactly one party (whoever clears the flag) rings it.
    window: AtomicUsize,
    decode: Decode,
}

/// In [`Inbound::window`]: a send found the window full (or filled it
/// with more to send): ring `STREAM_WRITABLE` when there is room again.
const REFUSED: usize = 1 << (usize::BITS - 1);

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    /// Requests senders are decoding outside the lock, counted against
    /// the window so that concurrent senders never overfill it.
    reserved: usize,
    /// `stream_close_send` was called.
    closed: bool,
    /// The handler waiting for a request.
    consumer: Option<Waker>,
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

/// Where the requests of one send come from.
enum Source<'a> {
    /// `stream_send`: one request, NULL or `len` readable bytes.
    One { ptr: *const u8, len: usize },
    /// `stream_send_items`: framed requests, the next at byte `at`.
    Framed { bytes: &'a [u8], at: usize },
    /// Nothing left.
    Spent,
}

/// The requests of one send, handed one at a time to the method's typed
/// decoder (the loop in [`decoder`]): [`Items::next`] frames the next
/// request and runs its byte checks (NULL with a length, the size limit,
/// the decode budget), the decoder decodes it and key-limits it, and
/// reports a refusal with [`Items::refuse`]. One dynamic call decodes a
/// whole batch; what was queued, what refused the stream and where the
/// framing broke are read back from here.
pub(crate) struct Items<'a> {
    service: &'static ServiceDef,
    method: &'static MethodDef,
    source: Source<'a>,
    /// Requests the decoder may take now: the room reserved in the window,
    /// or one at a time while each is traced.
    limit: usize,
    /// The request the decoder holds: its framed length, its length and
    /// the bytes its checks read. It counts as accepted once the decoder
    /// asks for the next one or returns without refusing it.
    current: Option<(usize, usize, u64)>,
    accepted: usize,
    framed: usize,
    bytes_in: u64,
    refused: Option<Refusal>,
    malformed: Option<Status>,
}

impl<'a> Items<'a> {
    /// The room to make for the requests of this send (at most).
    pub(crate) fn capacity(&self) -> usize {
        self.limit
    }

    /// The next request's bytes, checked; `None` when the send is spent,
    /// the room is used up, or the request was refused or badly framed.
    pub(crate) fn next(&mut self) -> Option<&'a [u8]> {
        self.commit();
        if self.accepted >= self.limit || self.refused.is_some() {
            return None;
        }
        let (ptr, len, framed) = match std::mem::replace(&mut self.source, Source::Spent) {
            Source::Spent => return None,
            Source::One { ptr, len } => (ptr, len, len),
            Source::Framed { bytes, at } => {
                let mut rest = &bytes[at..];
                match prost::encoding::decode_varint(&mut rest) {
                    Ok(n) if n <= rest.len() as u64 => {
                        let n = n as usize;
                        let header = bytes.len() - at - rest.len();
                        if at + header + n < bytes.len() {
                            self.source = Source::Framed {
                                bytes,
                                at: at + header + n,
                            };
                        }
                        (rest.as_ptr(), n, header + n)
                    }
                    _ => {
                        self.malformed = Some(Status::invalid_argument(format!(
                            "the item at byte {at} of {} is not a whole framed request (a \
                             varint length and that many bytes)",
                            bytes.len()
                        )));
                        return None;
                    }
                }
            }
        };
        let mut read = 0;
        // SAFETY: `ptr` is NULL or `len` readable bytes: the caller's
        // contract for a single item, and within `bytes` for a frame.
        match unsafe { guard::check_bytes(self.service, self.method, ptr, len, &mut read) } {
            Ok(bytes) => {
                self.current = Some((framed, len, read));
                Some(bytes)
            }
            Err(failure) => {
                self.refused = Some(Refusal { failure, read });
                None
            }
        }
    }

    /// The request [`Items::next`] returned last is refused: the stream
    /// ends with `failure`, after the requests before it.
    pub(crate) fn refuse(&mut self, failure: Fail) {
        let read = self.current.take().map_or(0, |(_, _, read)| read);
        self.refused = Some(Refusal { failure, read });
    }

    /// Counts the current request as accepted.
    fn commit(&mut self) {
        if let Some((framed, len, _)) = self.current.take() {
            self.accepted += 1;
            self.framed += framed;
            self.bytes_in += len as u64;
        }
    }

    /// Whether requests remain unread (none refused or badly framed).
    fn more(&self) -> bool {
        self.refused.is_none() && self.malformed.is_none() && !matches!(self.source, Source::Spent)
    }
}

impl Inbound {
    pub(crate) fn new(decode: Decode) -> Inbound {
        Inbound {
            state: Mutex::new(State::default()),
            window: AtomicUsize::new(0),
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
        let mut taken = 0;
        // SAFETY: forwarded contract.
        unsafe { self.send_from(call, Source::One { ptr: item, len }, 1, &mut taken) }
    }

    /// `stream_send_items`: checks and decodes each framed request of
    /// `len` bytes at `items` (a varint length and the message, as
    /// `stream_next` hands them out) and queues them in order, as many as
    /// the window has room for. `taken` gets the bytes of the items queued.
    /// Returns `0` (all queued), [`STREAM_WRITABLE`] (the window filled
    /// first), or the status that refused an item or its framing (which
    /// ended the call; the items before it were queued).
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
        if len == 0 {
            // Nothing to queue; the window's and the stream's refusals
            // still answer.
            // SAFETY: an empty source reads nothing.
            return unsafe { self.send_from(call, Source::Spent, 0, taken) };
        }
        // SAFETY: non-null (checked above) and `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(items, len) };
        // Every framed request takes at least its one-byte length.
        // SAFETY: frames lie within `bytes`.
        unsafe { self.send_from(call, Source::Framed { bytes, at: 0 }, len, taken) }
    }

    /// Checks, decodes and queues the requests of `source` (at most
    /// `most` of them) in order, as many as the window has room for, and
    /// ends the call with the first refusal or broken framing after the
    /// requests before it. `taken` gets the framed bytes queued.
    ///
    /// # Safety
    /// A single item is NULL or points at its `len` readable bytes.
    unsafe fn send_from(
        &self,
        call: &Call,
        source: Source<'_>,
        most: usize,
        taken: &mut usize,
    ) -> i32 {
        // Room is reserved before decoding (outside the lock): the cheap
        // refusals first, and nothing is decoded for a full window.
        let reserved = {
            let mut s = self.state.lock();
            if s.closed {
                return Code::FailedPrecondition as i32;
            }
            // The count only falls outside the lock: the room is never
            // overestimated.
            let room = STREAM_WINDOW.saturating_sub(self.queued() + s.reserved);
            if room == 0 {
                let ring = self.ask_writable(&s);
                drop(s);
                if ring {
                    call.notify(STREAM_WRITABLE);
                }
                return STREAM_WRITABLE;
            }
            let k = most.min(room);
            s.reserved += k;
            k
        };
        let (service, method) = (call.service, call.method);
        let mut items = Items {
            service,
            method,
            source,
            limit: reserved,
            current: None,
            accepted: 0,
            framed: 0,
            bytes_in: 0,
            refused: None,
            malformed: None,
        };
        let mut batch = None;
        let dispatch = service.library.logs().dispatch();
        loop {
            // With a log sink each request is decoded in its own span, as
            // a unary request is; without one, all in one call.
            let trace = dispatch
                .as_ref()
                .map(|d| guard::trace_async(d, service, method, call.id));
            if trace.is_some() {
                items.limit = items.accepted + 1;
            }
            let decoded = guard::guarded(service, method, &mut false, || {
                (self.decode)(&mut items, &mut batch);
                Ok(())
            });
            if let Err(panicked) = decoded {
                items.refuse(panicked);
            }
            items.commit();
            if trace.is_some() {
                if let Some(r) = &items.refused {
                    guard::log_refusal(service, method, &r.failure);
                }
            }
            drop(trace);
            if dispatch.is_none() || !items.more() || items.accepted >= reserved {
                break;
            }
        }
        let decoded = items.accepted;
        let more = items.more();
        let (refused, malformed) = (items.refused.take(), items.malformed.take());
        let (consumer, ring) = {
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
                Some(_) => (None, false),
                None => {
                    if let Some(b) = batch.take().filter(|_| decoded > 0) {
                        s.batches.push_back(b);
                        self.window.fetch_add(decoded, Ordering::AcqRel);
                        // Counted under the lock: no request is taken
                        // before it is counted.
                        call.method
                            .metrics
                            .add_stream_items_received(decoded as u64);
                        call.bytes_in.fetch_add(items.bytes_in, Ordering::Relaxed);
                        *taken = items.framed;
                    }
                    // What did not fit goes after STREAM_WRITABLE, asked
                    // for under the same lock as the push.
                    let ring = more && self.ask_writable(&s);
                    (s.consumer.take(), ring)
                }
            }
        };
        if let Some(w) = consumer {
            w.wake();
        }
        if ring {
            call.notify(STREAM_WRITABLE);
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

    /// Requests in the window now.
    fn queued(&self) -> usize {
        self.window.load(Ordering::Acquire) & !REFUSED
    }

    /// Asks for `STREAM_WRITABLE` once there is room; `s` is the locked
    /// state. Returns whether the caller must ring it at once (after
    /// unlocking): when the window is empty and no sender is about to fill
    /// it, no decrement of the handler's will ever ring it.
    fn ask_writable(&self, s: &State) -> bool {
        let before = self.window.fetch_or(REFUSED, Ordering::AcqRel);
        before & !REFUSED == 0 && s.reserved == 0 && self.take_refused()
    }

    /// Clears [`REFUSED`]; true for the one party that cleared it (and so
    /// rings `STREAM_WRITABLE`).
    fn take_refused(&self) -> bool {
        self.window.fetch_and(!REFUSED, Ordering::AcqRel) & REFUSED != 0
    }

    /// The handler took one request out of the window.
    fn took_one(&self, call: &Call) {
        let before = self.window.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(
            before & !REFUSED > 0,
            "a request was taken that was never counted"
        );
        if before & REFUSED != 0 && writable((before & !REFUSED) - 1) && self.take_refused() {
            call.notify(STREAM_WRITABLE);
        }
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

    /// The next request, `None` at the end of the stream. `taken` is the
    /// batch the handler holds: when it is empty, the next queued batch
    /// replaces it (one lock per batch, not per request). With nothing
    /// queued, `park` registers the handler's waker for the next send to
    /// wake; otherwise the task is woken at once and polls again without
    /// registering (see [`Spin`]).
    fn poll_next<T: Send + 'static>(
        &self,
        call: &Call,
        taken: &mut VecDeque<T>,
        cx: &mut Context<'_>,
        park: bool,
    ) -> Poll<Option<T>> {
        loop {
            if let Some(item) = taken.pop_front() {
                self.took_one(call);
                return Poll::Ready(Some(item));
            }
            let batch = {
                let mut s = self.state.lock();
                match s.batches.pop_front() {
                    Some(batch) => batch,
                    None => {
                        if s.closed || call.is_done() {
                            return Poll::Ready(None);
                        }
                        if park {
                            s.consumer = Some(cx.waker().clone());
                        } else {
                            drop(s);
                            cx.waker().wake_by_ref();
                        }
                        return Poll::Pending;
                    }
                }
            };
            // The emptied batch is freed here, outside the lock.
            *taken = *batch
                .downcast::<VecDeque<T>>()
                .expect("requests are decoded as the method's request type");
        }
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
    /// The batch being read: still counted in the window, request by
    /// request, until each is returned.
    taken: VecDeque<T>,
    /// How long the handler has found nothing queued.
    idle: Spin,
}

// The held batch is never pinned: it is moved in and out freely.
impl<T> Unpin for RequestStream<T> {}

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
            taken: VecDeque::new(),
            idle: Spin::new(),
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
        let park = !self.idle.spins();
        let polled = inbound.poll_next(&self.call, &mut self.taken, cx, park);
        match polled {
            Poll::Pending => self.idle.wait(),
            Poll::Ready(_) => self.idle = Spin::new(),
        }
        polled
    }
}

impl<T: Send + 'static> futures_core::Stream for RequestStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_item(cx)
    }
}

/// The decoder of a method's requests: decodes what [`Items`] yields,
/// each then key-limited, into the batch, in one loop.
pub(crate) fn decoder<Req, K>(
    service: &'static ServiceDef,
    method: &'static MethodDef,
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
    Box::new(move |items: &mut Items<'_>, batch: &mut Option<Batch>| {
        let queue = batch
            .get_or_insert_with(|| Box::new(VecDeque::<Req>::with_capacity(items.capacity())))
            .downcast_mut::<VecDeque<Req>>()
            .expect("a batch holds the method's request type");
        while let Some(bytes) = items.next() {
            match guard::decode_request::<Req, K>(service, method, bytes, &key) {
                Ok(request) => queue.push_back(request),
                Err(failure) => return items.refuse(failure),
            }
        }
    })
}
