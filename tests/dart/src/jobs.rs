//! `jobs.v1.Jobs`: async calls and streams for the Dart VM tests.

use proto2ffi::{CallContext, Code, RequestStream, Status, StreamSink};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

proto2ffi::include_proto!("jobs.v1");

static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Gates `OpenGate` opened, by name (a test's own name each).
static OPEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Waits until `OpenGate` opened `gate`: a handler held for as long as a
/// test needs, whatever the schedule (a sleep could end before the test
/// looked).
async fn held(gate: &str) {
    while !OPEN.lock().unwrap().iter().any(|g| g == gate) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A job future alive until dropped, under a tag.
struct Live(String);

impl Live {
    fn new(tag: &str) -> Live {
        LIVE.lock().unwrap().push(tag.to_string());
        Live(tag.to_string())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap();
        if let Some(i) = live.iter().position(|t| *t == self.0) {
            live.swap_remove(i);
        }
    }
}

/// The implementation.
pub struct JobsImpl;

/// What a streamed part asks of its handler: a gate to wait on, a pause,
/// then a failure.
async fn take(part: &Part) -> Result<(), Status> {
    if !part.hold.is_empty() {
        held(&part.hold).await;
    }
    if part.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(part.sleep_ms))).await;
    }
    if part.fail_code != 0 {
        return Err(Status::new(
            Code::from_i32(part.fail_code),
            format!("part {} failed", part.text),
        ));
    }
    Ok(())
}

impl Jobs for JobsImpl {
    async fn sleep(&self, request: JobRequest) -> Result<JobReply, Status> {
        let _live = Live::new(&request.text);
        if request.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(request.sleep_ms))).await;
        }
        if request.panic {
            panic!("job {} panicked", request.text);
        }
        if request.fail_code != 0 {
            return Err(Status::new(
                Code::from_i32(request.fail_code),
                format!("job {} failed", request.text),
            ));
        }
        let deadline_ms = if request.report_deadline {
            CallContext::current()
                .and_then(|c| c.remaining())
                .map_or(0, |d| d.as_millis() as u64 + 1)
        } else {
            0
        };
        Ok(JobReply {
            text: request.text,
            deadline_ms,
        })
    }

    async fn ticks(&self, request: TicksRequest, sink: StreamSink<Tick>) -> Result<(), Status> {
        let _live = Live::new(&request.tag);
        let mut index = 0;
        while !request.end_at_once && (request.count == 0 || index < request.count) {
            if request.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(request.sleep_ms))).await;
            }
            sink.send(Tick { index }).await?;
            index += 1;
        }
        if request.fail_code != 0 {
            return Err(Status::new(
                Code::from_i32(request.fail_code),
                format!("stream {} failed after {index} items", request.tag),
            ));
        }
        Ok(())
    }

    fn live(&self, request: LiveRequest) -> Result<LiveReply, Status> {
        let live = LIVE.lock().unwrap();
        Ok(LiveReply {
            live: live.iter().filter(|t| **t == request.tag).count() as u64,
        })
    }

    fn open_gate(&self, request: GateRequest) -> Result<LiveReply, Status> {
        let mut open = OPEN.lock().unwrap();
        open.push(request.name);
        Ok(LiveReply {
            live: open.len() as u64,
        })
    }

    fn echo(&self, request: Tick) -> Result<Tick, Status> {
        Ok(request)
    }

    async fn bounce(&self, request: Tick) -> Result<Tick, Status> {
        Ok(request)
    }

    async fn gather(&self, mut requests: RequestStream<Part>) -> Result<Summary, Status> {
        let mut _live = None;
        let mut texts = Vec::new();
        while let Some(part) = requests.next().await {
            _live.get_or_insert_with(|| Live::new(&part.tag));
            take(&part).await?;
            texts.push(part.text);
        }
        Ok(Summary {
            count: texts.len() as u64,
            text: texts.join(","),
        })
    }

    async fn relay(
        &self,
        mut requests: RequestStream<Part>,
        sink: StreamSink<Tick>,
    ) -> Result<(), Status> {
        let mut _live = None;
        let mut index = 0;
        while let Some(part) = requests.next().await {
            _live.get_or_insert_with(|| Live::new(&part.tag));
            take(&part).await?;
            sink.send(Tick { index }).await?;
            index += 1;
        }
        Ok(())
    }

    async fn hop(&self, request: Tick) -> Result<Tick, Status> {
        tokio::task::yield_now().await;
        Ok(request)
    }

    async fn bench_host(&self, request: HostBench) -> Result<HostBenchResult, Status> {
        lanes(request, |index| async move {
            let tick = pinger().ping(Tick { index }).await?;
            if tick.index != index {
                return Err(Status::internal("the host answered another tick"));
            }
            Ok(())
        })
        .await
    }

    fn ping_blocking(&self, request: Tick) -> Result<Tick, Status> {
        pinger().ping_blocking(request, Duration::from_secs(5))
    }

    async fn bench_floor(&self, request: HostBench) -> Result<HostBenchResult, Status> {
        let ping = PING.load(Ordering::Acquire);
        if ping == 0 {
            return Err(Status::failed_precondition(
                "rt_test_set_ping was not called",
            ));
        }
        // SAFETY: set by `rt_test_set_ping` from a `void (*)(uint64_t)`.
        let ping: extern "C" fn(u64) =
            unsafe { std::mem::transmute::<usize, extern "C" fn(u64)>(ping) };
        lanes(request, move |index| async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            PONGS.lock().unwrap().insert(index, tx);
            ping(index);
            rx.await
                .map_err(|_| Status::internal("the pong was dropped"))
        })
        .await
    }
}

/// `count` calls of `one`, `in_flight` lanes at once; the mean wall time.
async fn lanes<F, Fut>(request: HostBench, one: F) -> Result<HostBenchResult, Status>
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<(), Status>> + Send + 'static,
{
    let lanes = u64::from(request.in_flight.max(1));
    let per_lane = request.count / lanes;
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..lanes)
        .map(|lane| {
            tokio::spawn(async move {
                for i in 0..per_lane {
                    one(lane * per_lane + i).await?;
                }
                Ok::<(), Status>(())
            })
        })
        .collect();
    for h in handles {
        h.await
            .map_err(|e| Status::internal(format!("lane: {e}")))??;
    }
    let calls = (per_lane * lanes).max(1);
    Ok(HostBenchResult {
        nanos_per_call: started.elapsed().as_nanos() as u64 / calls,
    })
}

/// The Dart function `bench_floor` calls (a `NativeCallable.listener`).
static PING: AtomicUsize = AtomicUsize::new(0);
/// The floor's calls waiting for their pong.
static PONGS: Mutex<std::collections::BTreeMap<u64, tokio::sync::oneshot::Sender<()>>> =
    Mutex::new(std::collections::BTreeMap::new());

/// Registers the floor benchmark's Dart function: `void (*)(uint64_t id)`.
#[unsafe(no_mangle)]
pub extern "C" fn rt_test_set_ping(ping: Option<extern "C" fn(u64)>) {
    PING.store(ping.map_or(0, |f| f as usize), Ordering::Release);
}

/// The floor benchmark's answer to ping `id` (a leaf call from Dart).
#[unsafe(no_mangle)]
pub extern "C" fn rt_test_pong(id: u64) {
    if let Some(tx) = PONGS.lock().unwrap().remove(&id) {
        let _ = tx.send(());
    }
}
