//! Services the host implements, through the C ABI: the test plays a C
//! host of `hostfx.v1.Oracle` (a callback bound with `hfx_oracle_host_bind`,
//! answers through `hfx_proto2ffi_host_complete` from its own threads) and
//! calls `Relay`, whose handlers call the Oracle from Rust.
//!
//! The library has one Oracle binding, so the tests take turns (`serial`).

mod host;

use abi_tests::async_calls::{wait_until, Events};
use abi_tests::{scaled, Code};
use host::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn without_a_host_calls_fail_at_once_naming_the_bind_function() {
    let _s = serial();
    let (host, binding) = fresh_host();
    done(host, binding);
    assert!(!bound());
    let before = host_metrics("Ask");
    let events = Events::new();
    let err = final_status(events, start("forward", &question("anyone?"), events)).unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.message().contains("hfx_oracle_host_bind"),
        "{}",
        err.message()
    );
    let err = lib()
        .call::<_, Answer>("hfx_relay_forward_blocking", &question("anyone?"))
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let after = host_metrics("Ask");
    assert_eq!(after.calls, before.calls + 2);
    assert_eq!(after.rejected_admission, before.rejected_admission + 2);
    // Unbinding twice, or a binding that never was: NOT_FOUND.
    assert_eq!(unbind(binding), Code::NotFound as i32);
    assert_eq!(unbind(u64::MAX), Code::NotFound as i32);
    // A NULL callback binds nothing.
    // SAFETY: the bind export's signature.
    let none =
        unsafe { lib().symbol::<BindFn>("hfx_oracle_host_bind")(None, std::ptr::null_mut()) };
    assert_eq!(none, 0);
    assert!(!bound());
}

#[test]
fn async_and_blocking_calls_get_the_hosts_answers() {
    let _s = serial();
    let (host, binding) = fresh_host();
    assert!(bound());
    let events = Events::new();
    let id = start("forward", &question("hello"), events);
    let r = host.next();
    assert_eq!((r.method, r.question.text.as_str()), (ASK, "hello"));
    assert_eq!(answer(r.call_id, "hello back"), 0);
    assert_eq!(final_status(events, id).unwrap().text, "hello back");
    // The blocking variant, from a thread the host does not run on.
    let caller = std::thread::spawn(|| {
        lib().call::<_, Answer>("hfx_relay_forward_blocking", &question("sync"))
    });
    let r = host.next();
    assert_eq!(answer(r.call_id, "sync back"), 0);
    assert_eq!(caller.join().unwrap().unwrap().text, "sync back");
    // Answering from inside the callback's thread right away also works:
    // a host that completes before returning 0.
    let m = host_metrics("Ask");
    assert_eq!(m.in_flight, 0);
    assert!(m.latency_samples >= 2);
    done(host, binding);
}

#[test]
fn many_rust_threads_call_at_once_and_every_call_completes_once() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let before = host_metrics("Ask").calls;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // Two host threads answer whatever arrives.
    let responders: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let next = {
                        let mut q = host.requests.lock().unwrap();
                        if q.is_empty() {
                            q = host
                                .arrived
                                .wait_timeout(q, Duration::from_millis(5))
                                .unwrap()
                                .0;
                        }
                        q.pop_front()
                    };
                    if let Some(r) = next {
                        let text = format!("{}!", r.question.text);
                        assert_eq!(answer(r.call_id, &text), 0, "answered once");
                        // A second answer is refused.
                        assert_eq!(answer(r.call_id, "again"), Code::NotFound as i32);
                    }
                }
            })
        })
        .collect();
    let per_thread = scaled(200);
    let threads = 8;
    let callers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let text = format!("t{t}-{i}");
                    let a = lib()
                        .call::<_, Answer>("hfx_relay_forward_blocking", &question(&text))
                        .unwrap();
                    assert_eq!(a.text, format!("{text}!"));
                }
            })
        })
        .collect();
    // Meanwhile async fans: each asks 16 questions at once.
    let events = Events::new();
    let fans = scaled(20);
    let ids: Vec<u64> = (0..fans)
        .map(|i| {
            let q = Question {
                copies: 16,
                ..question(&format!("fan{i}"))
            };
            start("fan", &q, events)
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        let a = final_status(events, *id).unwrap();
        let expected: Vec<String> = (0..16).map(|k| format!("fan{i}#{k}!")).collect();
        assert_eq!(a.text, expected.join(","));
    }
    stop.store(true, Ordering::Release);
    for r in responders {
        r.join().unwrap();
    }
    let m = host_metrics("Ask");
    assert_eq!(m.calls - before, threads * per_thread + fans * 16);
    assert_eq!(m.in_flight, 0);
    done(host, binding);
    assert_eq!(host.violations.load(Ordering::Relaxed), 0);
}

#[test]
fn the_hosts_errors_keep_their_code_and_message() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("secret?"), events);
    let r = host.next();
    assert_eq!(
        complete(
            r.call_id,
            Code::PermissionDenied as i32,
            b"the user said no"
        ),
        0
    );
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.message(), "the user said no");
    // Invalid UTF-8 in the message is replaced, not refused.
    let id = start("forward", &question("again?"), events);
    let r = host.next();
    assert_eq!(
        complete(r.call_id, Code::Aborted as i32, b"bad \xff bytes"),
        0
    );
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().starts_with("bad "));
    done(host, binding);
}

#[test]
fn completions_are_checked_and_count_exactly_once() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("check"), events);
    let r = host.next();
    // Refused arguments leave the call pending.
    assert_eq!(complete(r.call_id, 17, b""), Code::InvalidArgument as i32);
    assert_eq!(complete(r.call_id, -3, b""), Code::InvalidArgument as i32);
    // SAFETY: NULL with a length is what the export must refuse.
    let null_with_len = unsafe {
        lib().symbol::<CompleteFn>("hfx_proto2ffi_host_complete")(r.call_id, 0, std::ptr::null(), 4)
    };
    assert_eq!(null_with_len, Code::InvalidArgument as i32);
    assert_eq!(complete(u64::MAX, 0, b""), Code::NotFound as i32);
    assert!(events.of(id).is_empty(), "still pending");
    // Bytes that do not decode: INTERNAL, sanitized.
    assert_eq!(complete(r.call_id, 0, &[0xff, 0xff, 0xff]), 0);
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    // Late: NOT_FOUND, nothing changes.
    assert_eq!(answer(r.call_id, "late"), Code::NotFound as i32);
    // An answer over the method's limit (64 bytes): RESOURCE_EXHAUSTED for
    // the host and for the caller.
    let before = host_metrics("Small");
    let id = start("forward_small", &question("tiny"), events);
    let r = host.next();
    assert_eq!(r.method, SMALL);
    assert_eq!(
        answer(r.call_id, &"x".repeat(100)),
        Code::ResourceExhausted as i32
    );
    assert_eq!(
        final_status(events, id).unwrap_err().code(),
        Code::ResourceExhausted
    );
    // A request over it is never sent.
    let id = start("forward_small", &question(&"y".repeat(100)), events);
    assert_eq!(
        final_status(events, id).unwrap_err().code(),
        Code::ResourceExhausted
    );
    let after = host_metrics("Small");
    assert_eq!(
        after.rejected_response_size,
        before.rejected_response_size + 1
    );
    assert_eq!(
        after.rejected_request_size,
        before.rejected_request_size + 1
    );
    assert!(host.requests.lock().unwrap().is_empty());
    done(host, binding);
}

#[test]
fn deadlines_end_calls_and_tell_the_host() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let events = Events::new();
    let q = Question {
        text: "slow".into(),
        timeout_ms: 30,
        ..Default::default()
    };
    let id = start("forward", &q, events);
    let r = host.next();
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    wait_until("the host hears of the cancellation", || {
        host.was_cancelled(r.call_id)
    });
    assert_eq!(answer(r.call_id, "too late"), Code::NotFound as i32);
    // The blocking variant keeps its own deadline (called from another
    // thread: this one bound the host).
    let err = std::thread::spawn(move || {
        lib()
            .call::<_, Answer>("hfx_relay_forward_blocking", &q)
            .unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let r = host.next();
    wait_until("the host hears of it", || host.was_cancelled(r.call_id));
    done(host, binding);
}

#[test]
fn cancelling_the_rust_call_cancels_the_host_call() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("never mind"), events);
    let r = host.next();
    assert_eq!(lib().cancel(id), 0);
    assert_eq!(
        final_status(events, id).unwrap_err().code(),
        Code::Cancelled
    );
    // The handler's future is dropped at its await, and with it the call
    // into the host.
    wait_until("the host hears of the cancellation", || {
        host.was_cancelled(r.call_id)
    });
    assert_eq!(answer(r.call_id, "too late"), Code::NotFound as i32);
    assert_eq!(host_metrics("Ask").in_flight, 0);
    done(host, binding);
}

#[test]
fn unbinding_fails_pending_calls_and_the_callback_never_runs_after() {
    let _s = serial();
    for round in 0..scaled(20) {
        let (host, binding) = fresh_host();
        let events = Events::new();
        // Calls keep arriving from two threads while the host unbinds.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut ids = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        ids.push(start("forward", &question("racing"), events));
                        std::thread::yield_now();
                    }
                    ids
                })
            })
            .collect();
        wait_until("calls reach the host", || {
            host.requests.lock().unwrap().len() >= 4
        });
        assert_eq!(unbind(binding), 0, "round {round}");
        host.unbound.store(true, Ordering::Release);
        std::thread::sleep(Duration::from_millis(1));
        stop.store(true, Ordering::Release);
        let ids: Vec<u64> = callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        for id in ids {
            let err = final_status(events, id).unwrap_err();
            assert_eq!(err.code(), Code::Unavailable);
        }
        assert_eq!(
            host.violations.load(Ordering::Relaxed),
            0,
            "callback after unbind"
        );
        // Their late answers are refused.
        let r = host.next();
        assert_eq!(answer(r.call_id, "late"), Code::NotFound as i32);
        assert_eq!(pending_host_calls(), 0);
    }
}

#[test]
fn a_host_that_says_it_is_gone_is_unbound() {
    let _s = serial();
    let (host, _binding) = fresh_host();
    host.refuse
        .store(Code::Unavailable as i32, Ordering::Relaxed);
    let events = Events::new();
    let err = final_status(events, start("forward", &question("hello?"), events)).unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        !bound(),
        "UNAVAILABLE from the callback removes the binding"
    );
    // Another refusal code fails only that call.
    let (host, binding) = fresh_host();
    host.refuse
        .store(Code::ResourceExhausted as i32, Ordering::Relaxed);
    let err = final_status(events, start("forward", &question("busy?"), events)).unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(bound());
    host.refuse.store(0, Ordering::Relaxed);
    done(host, binding);
}

#[test]
fn a_host_that_vanished_is_found_out_by_the_ping() {
    let _s = serial();
    let (host, _binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("still there?"), events);
    let r = host.next();
    // Pings come while the call waits (every 200 ms); then the host goes
    // away without unbinding, as an exited Dart isolate does.
    wait_until("a ping", || host.pings.load(Ordering::Relaxed) > 0);
    host.gone.store(true, Ordering::Release);
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(!bound(), "the ping's UNAVAILABLE removed the binding");
    assert_eq!(answer(r.call_id, "too late"), Code::NotFound as i32);
}

#[test]
fn a_blocking_call_on_the_hosts_own_thread_fails_at_once() {
    let _s = serial();
    // This thread binds, so it is the host's thread: a blocking call from
    // it would wait for an answer only it could give.
    let (host, binding) = fresh_host();
    let err = lib()
        .call::<_, Answer>("hfx_relay_forward_blocking", &question("self"))
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("would wait for itself"),
        "{}",
        err.message()
    );
    assert!(
        host.requests.lock().unwrap().is_empty(),
        "nothing reached the host"
    );
    // No timing assertion: "at once" shows as nothing sent and
    // FAILED_PRECONDITION, not the 1 h timeout's DEADLINE_EXCEEDED.
    done(host, binding);
}

#[test]
fn a_new_binding_replaces_the_old_one() {
    let _s = serial();
    let (old, _old_binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("to the old host"), events);
    let r = old.next();
    let (new, binding) = fresh_host();
    old.unbound.store(true, Ordering::Release);
    let err = final_status(events, id).unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(answer(r.call_id, "late"), Code::NotFound as i32);
    let id = start("forward", &question("to the new host"), events);
    let r = new.next();
    assert_eq!(answer(r.call_id, "new"), 0);
    assert_eq!(final_status(events, id).unwrap().text, "new");
    assert_eq!(old.violations.load(Ordering::Relaxed), 0);
    done(new, binding);
}

#[test]
fn metrics_text_shows_host_methods() {
    let _s = serial();
    let (host, binding) = fresh_host();
    let events = Events::new();
    let id = start("forward", &question("counted"), events);
    let r = host.next();
    let text = lib().metrics_text();
    assert!(
        text.contains(
            "proto2ffi_host_calls_in_flight{service=\"hostfx.v1.Oracle\",method=\"Ask\",implemented_by=\"host\"} 1"
        ),
        "{text}"
    );
    assert_eq!(host_metrics("Ask").in_flight, 1);
    assert_eq!(answer(r.call_id, "ok"), 0);
    final_status(events, id).unwrap();
    assert_eq!(host_metrics("Ask").in_flight, 0);
    done(host, binding);
}
