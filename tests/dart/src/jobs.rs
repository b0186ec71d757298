//! `jobs.v1.Jobs`: async calls and streams for the Dart VM tests.

use proto2ffi::{CallContext, Code, RequestStream, Status, StreamSink};
use std::sync::Mutex;
use std::time::Duration;

proto2ffi::include_proto!("jobs.v1");

static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

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

/// What a streamed part asks of its handler: a pause, then a failure.
async fn take(part: &Part) -> Result<(), Status> {
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
}
