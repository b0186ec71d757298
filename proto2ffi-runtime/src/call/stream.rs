//! Server streams: the handler's [`StreamSink`], the bounded queue of
//! undelivered items, and delivery by pull.
//!
//! The handler sends items; each is encoded and queued. When the queue goes
//! from empty to non-empty the caller's callback gets one `STREAM_ITEMS`
//! event (a doorbell, not the data) — at the end of the handler task's poll
//! when the handler sent the item itself, so a burst rings once, or when
//! half the window waits, whichever comes first — and the caller takes everything queued
//! with `stream_next` — one boundary crossing for many items, which is what
//! makes a million small items a second reachable from Dart. At most
//! [`STREAM_WINDOW`] items wait undelivered: a full queue makes `send`
//! wait, so a slow (or paused) consumer pauses the producer and memory
//! stays bounded. When the producer starts waiting it rings once more
//! (so `STREAM_ITEMS` may repeat while items wait): a consumer that is gone
//! — a Dart isolate that exited — is found by that post failing, and the
//! stream is cancelled instead of waiting forever. The final status is
//! delivered only after the consumer took the last item.

use crate::call::calls::Call;
use crate::sys::spin::Spin;
use crate::Status;
use parking_lot::Mutex;
use prost::Message;
use proto2ffi_core::symbols::{STREAM_ITEMS, STREAM_WINDOW};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The undelivered items of one stream.
pub(crate) struct StreamQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    /// The items, each a varint length and the encoded message: the very
    /// bytes `stream_next` hands over, so a take moves them out without a
    /// copy and a send allocates nothing once the buffer has grown.
    bytes: Vec<u8>,
    /// Items in `bytes`.
    count: usize,
    /// The producers waiting for room: a sink is `Sync`, and tasks sharing
    /// one each wait with their own waker (one per task: a task's
    /// repeated waits replace its own entry).
    producers: Vec<Waker>,
    /// The task waiting for the queue to empty before the final status.
    drain: Option<Waker>,
    /// A doorbell was rung (or is deferred) and no take has emptied the
    /// queue since.
    rung: bool,
    /// The doorbell is owed but deferred to the end of the call task's
    /// poll ([`StreamQueue::take_deferred`]).
    deferred: bool,
}

/// What became of a push.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pushed {
    /// Queued; ring the doorbell now.
    Ring,
    /// Queued; the doorbell was rung already, or is deferred to the end
    /// of the task's poll.
    Quiet,
    /// The window is full; the producer waits (`true`: it just started
    /// to, so the doorbell rings again).
    Full(bool),
    /// Not queued: the message's `encode_raw` wrote this many bytes where
    /// its `encoded_len` promised another number.
    Misencoded(usize),
}

/// Cuts a partly encoded item off the queue when its encoding unwinds
/// (a user's `Message` impl that panics): the framing stays whole.
struct Uncommitted<'a> {
    bytes: &'a mut Vec<u8>,
    len: usize,
}

impl Drop for Uncommitted<'_> {
    fn drop(&mut self) {
        self.bytes.truncate(self.len);
    }
}

impl StreamQueue {
    pub(crate) fn new() -> StreamQueue {
        StreamQueue {
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Wakes a producer waiting for room (after a cancellation).
    pub(crate) fn wake_producer(&self) {
        let wakers = std::mem::take(&mut self.state.lock().producers);
        for w in wakers {
            w.wake();
        }
    }

    /// Whether every item was taken; if not, `waker` is woken when it is.
    pub(crate) fn drained(&self, waker: &Waker) -> bool {
        let mut s = self.state.lock();
        if s.count == 0 {
            return true;
        }
        s.drain = Some(waker.clone());
        false
    }

    /// Takes up to `max` items (0: all), each written as a varint length
    /// and the encoded message; returns the bytes and the item count.
    pub(crate) fn take(&self, max: usize) -> (Vec<u8>, usize) {
        let (out, n, wake) = {
            let mut s = self.state.lock();
            let (out, n) = if max == 0 || max >= s.count {
                // Everything: the queue's own buffer goes out as it is, and
                // a pooled one (likely the last batch, freed by this thread)
                // takes its place.
                let fresh = crate::abi::buffer::take(s.bytes.len().min(1 << 16));
                (std::mem::replace(&mut s.bytes, fresh), s.count)
            } else {
                let mut at = 0;
                for _ in 0..max {
                    let mut rest = &s.bytes[at..];
                    let before = rest.len();
                    let len = prost::encoding::decode_varint(&mut rest)
                        .expect("the queue holds only whole, framed items");
                    at += before - rest.len() + len as usize;
                }
                let mut out = crate::abi::buffer::take(at);
                out.extend_from_slice(&s.bytes[..at]);
                s.bytes.drain(..at);
                (out, max)
            };
            s.count -= n;
            let mut wake = Vec::new();
            if n > 0 {
                wake.append(&mut s.producers);
            }
            if s.count == 0 {
                s.rung = false;
                wake.extend(s.drain.take());
            }
            (out, n, wake)
        };
        for w in wake {
            w.wake();
        }
        (out, n)
    }

    /// Encodes `item` (`len` bytes) into the queue if there is room; says
    /// whether the doorbell must be rung now. `own_task`: the push comes
    /// from the call's own task while it is polled, which rings any
    /// doorbell owed when the poll ends — so a handler that sends a burst
    /// rings once for it, not once per item the consumer happened to drain
    /// in between (each doorbell is a message to the consumer). It still
    /// rings at once when half the window waits, so the consumer drains
    /// while the producer goes on. When the queue is full, keeps `waker`
    /// (none: the producer spins, see [`Spin`]) and returns whether the
    /// producer just started waiting (then the doorbell is rung again: it
    /// is also the liveness probe that finds a consumer gone).
    fn push<T: Message>(
        &self,
        item: &T,
        len: usize,
        waker: Option<&Waker>,
        metrics: &crate::observe::metrics::MethodMetrics,
        own_task: bool,
    ) -> Pushed {
        let mut s = self.state.lock();
        if s.count >= STREAM_WINDOW {
            let Some(waker) = waker else {
                return Pushed::Full(false);
            };
            let first = s.producers.is_empty();
            match s.producers.iter_mut().find(|w| w.will_wake(waker)) {
                Some(w) => w.clone_from(waker),
                None => s.producers.push(waker.clone()),
            }
            if first {
                s.deferred = false;
            }
            return Pushed::Full(first);
        }
        {
            let before = s.bytes.len();
            let pending = Uncommitted {
                bytes: &mut s.bytes,
                len: before,
            };
            pending.bytes.reserve(len + 5);
            prost::encoding::encode_varint(len as u64, pending.bytes);
            let start = pending.bytes.len();
            item.encode_raw(pending.bytes);
            // The frame's length is the promise; a message that breaks it
            // would corrupt every item after it.
            let written = pending.bytes.len() - start;
            if written != len {
                return Pushed::Misencoded(written);
            }
            std::mem::forget(pending);
        }
        s.count += 1;
        // Counted under the lock: no item is taken before it is counted.
        metrics.stream_item();
        if !s.rung {
            s.rung = true;
            if !own_task {
                return Pushed::Ring;
            }
            s.deferred = true;
        }
        if s.deferred && s.count >= STREAM_WINDOW / 2 {
            s.deferred = false;
            return Pushed::Ring;
        }
        Pushed::Quiet
    }

    /// Whether a deferred doorbell must be rung now (the call's task ends
    /// its poll): only when items still wait.
    pub(crate) fn take_deferred(&self) -> bool {
        let mut s = self.state.lock();
        std::mem::take(&mut s.deferred) && s.count > 0
    }
}

/// Where a server-streaming handler sends its items:
/// `async fn watch(&self, request: Req, sink: StreamSink<Item>) -> Result<(), Status>`.
///
/// [`StreamSink::send`] waits while the consumer has
/// [`STREAM_WINDOW`] items it has not taken (backpressure), and fails with
/// `CANCELLED` once the call is over (the consumer cancelled, the deadline
/// passed, or the library shut down). Returning from the handler ends the
/// stream: `Ok(())` delivers `OK` after the last item, an error delivers
/// that status.
pub struct StreamSink<T> {
    call: Arc<Call>,
    _item: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for StreamSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSink")
            .field("call", &self.call)
            .finish()
    }
}

impl<T: Message> StreamSink<T> {
    pub(crate) fn new(call: Arc<Call>) -> StreamSink<T> {
        StreamSink {
            call,
            _item: PhantomData,
        }
    }

    /// Sends one item, waiting while the consumer is [`STREAM_WINDOW`]
    /// items behind. Fails with `CANCELLED` when the stream is over, and
    /// with `RESOURCE_EXHAUSTED` when the item exceeds the method's
    /// response limit (the stream goes on: the handler decides).
    pub fn send(&self, item: T) -> SendItem<'_, T> {
        let len = item.encoded_len();
        let item = if len > self.call.max_response {
            Err(crate::call::guard::too_large(
                self.call.service,
                self.call.method,
                "stream item",
                len,
                self.call.max_response,
            ))
        } else {
            Ok((item, len))
        };
        SendItem {
            call: &self.call,
            item: Some(item),
            full: Spin::new(),
        }
    }

    /// Whether the stream is over (sends would fail).
    pub fn is_closed(&self) -> bool {
        self.call.is_done()
    }
}

/// The future of [`StreamSink::send`]: the item is encoded into the
/// stream's queue when there is room for it.
#[must_use = "an item is only sent when the future is awaited"]
pub struct SendItem<'a, T> {
    call: &'a Arc<Call>,
    item: Option<Result<(T, usize), Status>>,
    /// How long the window has been full for this item.
    full: Spin,
}

impl<T> std::fmt::Debug for SendItem<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendItem").finish_non_exhaustive()
    }
}

// Nothing in a `SendItem` is pinned structurally.
impl<T> Unpin for SendItem<'_, T> {}

impl<T: Message> Future for SendItem<'_, T> {
    type Output = Result<(), Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let call = self.call;
        if call.is_done() {
            return Poll::Ready(Err(Status::cancelled(format!(
                "the stream of {}.{} is over",
                call.service.name, call.method.name
            ))));
        }
        let (item, len) = match self.item.take() {
            Some(Ok(item)) => item,
            Some(Err(status)) => return Poll::Ready(Err(status)),
            None => return Poll::Ready(Ok(())),
        };
        let queue = call.stream.as_ref().expect("a sink belongs to a stream");
        let own_task = crate::call::calls::is_current(call);
        // A full window: poll again at once for a while before waiting
        // for the consumer to wake this task (see `Spin`).
        let spins = self.full.spins();
        let waker = (!spins).then(|| cx.waker());
        match queue.push(&item, len, waker, call.method.metrics, own_task) {
            pushed @ (Pushed::Ring | Pushed::Quiet) => {
                drop(item);
                if pushed == Pushed::Ring {
                    call.notify(STREAM_ITEMS);
                }
                Poll::Ready(Ok(()))
            }
            Pushed::Misencoded(written) => Poll::Ready(Err(Status::internal(format!(
                "a stream item of {}.{} encoded to {written} bytes, but its encoded_len said \
                 {len}: the item was not sent",
                call.service.name, call.method.name
            )))),
            Pushed::Full(started_waiting) => {
                self.item = Some(Ok((item, len)));
                // Rung when the wait begins, spinning or not, and again
                // when a spinning producer parks.
                let started_spinning = spins && self.full.is_new();
                self.full.wait();
                if started_waiting || started_spinning {
                    // A consumer that died (a Dart isolate that exited)
                    // never takes again: ringing once more lets its
                    // completion context report it, which cancels the call.
                    call.notify(STREAM_ITEMS);
                }
                // A cancellation between the check above and the push wakes
                // the producer slot we just set.
                if call.is_done() {
                    return Poll::Ready(Err(Status::cancelled("the stream is over")));
                }
                if spins {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}
