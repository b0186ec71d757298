//! Server streams: the handler's [`StreamSink`], the bounded queue of
//! undelivered items, and delivery by pull.
//!
//! The handler sends items; each is encoded and queued. When the queue goes
//! from empty to non-empty the caller's callback gets one `STREAM_ITEMS`
//! event (a doorbell, not the data), and the caller takes everything queued
//! with `stream_next` — one boundary crossing for many items, which is what
//! makes a million small items a second reachable from Dart. At most
//! [`STREAM_WINDOW`] items wait undelivered: a full queue makes `send`
//! wait, so a slow (or paused) consumer pauses the producer and memory
//! stays bounded. When the producer starts waiting it rings once more
//! (so `STREAM_ITEMS` may repeat while items wait): a consumer that is gone
//! — a Dart isolate that exited — is found by that post failing, and the
//! stream is cancelled instead of waiting forever. The final status is
//! delivered only after the consumer took the last item.

use crate::calls::Call;
use crate::Status;
use parking_lot::Mutex;
use prost::Message;
use proto2ffi_core::symbols::{STREAM_ITEMS, STREAM_WINDOW};
use std::collections::VecDeque;
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
    items: VecDeque<Vec<u8>>,
    /// The producers waiting for room: a sink is `Sync`, and tasks sharing
    /// one each wait with their own waker (one per task: a task's
    /// repeated waits replace its own entry).
    producers: Vec<Waker>,
    /// The task waiting for the queue to empty before the final status.
    drain: Option<Waker>,
    /// A doorbell was rung and no take has emptied the queue since.
    rung: bool,
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
        if s.items.is_empty() {
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
            let n = if max == 0 {
                s.items.len()
            } else {
                max.min(s.items.len())
            };
            let total: usize = s.items.iter().take(n).map(|i| i.len() + 5).sum();
            let mut out = crate::buffer::take(total);
            for item in s.items.drain(..n) {
                prost::encoding::encode_varint(item.len() as u64, &mut out);
                out.extend_from_slice(&item);
            }
            let mut wake = Vec::new();
            if n > 0 {
                wake.append(&mut s.producers);
            }
            if s.items.is_empty() {
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

    /// Queues `item` if there is room; returns whether the doorbell must be
    /// rung. When the queue is full, keeps `waker` and returns the item and
    /// whether the producer just started waiting (then the doorbell is rung
    /// again: it is also the liveness probe that finds a consumer gone).
    fn push(
        &self,
        item: Vec<u8>,
        waker: &Waker,
        metrics: &crate::metrics::MethodMetrics,
    ) -> Result<bool, (Vec<u8>, bool)> {
        let mut s = self.state.lock();
        if s.items.len() >= STREAM_WINDOW {
            let first = s.producers.is_empty();
            match s.producers.iter_mut().find(|w| w.will_wake(waker)) {
                Some(w) => w.clone_from(waker),
                None => s.producers.push(waker.clone()),
            }
            return Err((item, first));
        }
        s.items.push_back(item);
        // Counted under the lock: no item is taken before it is counted.
        metrics.stream_item();
        let ring = !s.rung;
        s.rung = true;
        Ok(ring)
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
    pub fn send(&self, item: T) -> SendItem<'_> {
        let len = item.encoded_len();
        let item = if len > self.call.max_response {
            Err(Status::resource_exhausted(format!(
                "stream item of {len} bytes exceeds the limit of {} bytes for {}.{}",
                self.call.max_response, self.call.service.name, self.call.method.name
            )))
        } else {
            let mut bytes = Vec::with_capacity(len);
            item.encode_raw(&mut bytes);
            Ok(bytes)
        };
        SendItem {
            call: &self.call,
            item: Some(item),
        }
    }

    /// Whether the stream is over (sends would fail).
    pub fn is_closed(&self) -> bool {
        self.call.is_done()
    }
}

/// The future of [`StreamSink::send`].
#[must_use = "an item is only sent when the future is awaited"]
pub struct SendItem<'a> {
    call: &'a Arc<Call>,
    item: Option<Result<Vec<u8>, Status>>,
}

impl std::fmt::Debug for SendItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendItem").finish_non_exhaustive()
    }
}

impl Future for SendItem<'_> {
    type Output = Result<(), Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let call = self.call;
        if call.is_done() {
            return Poll::Ready(Err(Status::cancelled(format!(
                "the stream of {}.{} is over",
                call.service.name, call.method.name
            ))));
        }
        let bytes = match self.item.take() {
            Some(Ok(bytes)) => bytes,
            Some(Err(status)) => return Poll::Ready(Err(status)),
            None => return Poll::Ready(Ok(())),
        };
        let queue = call.stream.as_ref().expect("a sink belongs to a stream");
        match queue.push(bytes, cx.waker(), call.method.metrics) {
            Ok(ring) => {
                if ring {
                    call.notify(STREAM_ITEMS);
                }
                Poll::Ready(Ok(()))
            }
            Err((bytes, started_waiting)) => {
                self.item = Some(Ok(bytes));
                if started_waiting {
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
                Poll::Pending
            }
        }
    }
}
