//! Test library for the host-service ABI tests: `Relay`'s handlers call
//! `Oracle`, which the test implements as a C host would (bind a callback,
//! complete calls with `hfx_proto2ffi_host_complete`).

use proto2ffi::Status;
use std::time::Duration;

/// Messages, the `Relay` trait and the `Oracle` client.
pub mod hostfx {
    proto2ffi::include_proto!("hostfx.v1");
}

use hostfx::*;

proto2ffi::library!(prefix = "hfx", init = || register_relay(Fixture));

struct Fixture;

fn timeout(q: &Question) -> Option<Duration> {
    (q.timeout_ms != 0).then(|| Duration::from_millis(q.timeout_ms.into()))
}

/// `Oracle.Ask` with the question's deadline (the default without one).
async fn ask(request: Question) -> Result<Answer, Status> {
    match timeout(&request) {
        Some(t) => oracle().ask_with_timeout(request, t).await,
        None => oracle().ask(request).await,
    }
}

impl Relay for Fixture {
    async fn forward(&self, request: Question) -> Result<Answer, Status> {
        ask(request).await
    }

    async fn fan(&self, request: Question) -> Result<Answer, Status> {
        let calls = (0..request.copies).map(|i| {
            ask(Question {
                text: format!("{}#{i}", request.text),
                ..request.clone()
            })
        });
        let answers = futures_util::future::try_join_all(calls).await?;
        let texts: Vec<String> = answers.into_iter().map(|a| a.text).collect();
        Ok(Answer {
            text: texts.join(","),
            payload: Vec::new(),
        })
    }

    async fn forward_small(&self, request: Question) -> Result<Answer, Status> {
        oracle().small(request).await
    }

    fn forward_blocking(&self, request: Question) -> Result<Answer, Status> {
        let t = timeout(&request).unwrap_or(Duration::from_secs(10));
        oracle().ask_blocking(request, t)
    }
}

/// Whether an `Oracle` implementation is bound (test hook).
#[unsafe(no_mangle)]
pub extern "C" fn hfx_test_oracle_bound() -> bool {
    oracle().is_bound()
}

/// Calls into the host waiting for an answer (test hook).
#[unsafe(no_mangle)]
pub extern "C" fn hfx_test_host_calls() -> u64 {
    proto2ffi::this_library!().host_calls() as u64
}
