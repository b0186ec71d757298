//! The test's C host of `hostfx.v1.Oracle`, shared by the host tests.
#![allow(dead_code)]

use abi_tests::async_calls::Events;
use abi_tests::{cdylib, Lib, MethodMetrics, Status};
use prost::Message;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, PartialEq, Message)]
pub struct Question {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint32, tag = "2")]
    pub timeout_ms: u32,
    #[prost(uint32, tag = "3")]
    pub copies: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Answer {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

pub const WAIT: Duration = Duration::from_secs(20);
pub const HOST_CANCELLED: i32 = -1;
pub const HOST_PING: i32 = -2;
pub const ASK: i32 = 0;
pub const SMALL: i32 = 1;

pub type HostFn = unsafe extern "C" fn(*mut c_void, u64, i32, *const u8, usize) -> i32;
pub type BindFn = unsafe extern "C" fn(Option<HostFn>, *mut c_void) -> u64;
pub type UnbindFn = unsafe extern "C" fn(u64) -> i32;
pub type CompleteFn = unsafe extern "C" fn(u64, i32, *const u8, usize) -> i32;

pub fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| Lib::open(&cdylib("abi-host-fixture"), "hfx"))
}

/// One test at a time: they share the library's one Oracle binding.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request the host got.
#[derive(Debug)]
pub struct Request {
    pub call_id: u64,
    pub method: i32,
    pub question: Question,
}

/// The test's host: requests queue up for the test's threads to answer.
#[derive(Default)]
pub struct Host {
    pub requests: Mutex<VecDeque<Request>>,
    pub arrived: Condvar,
    pub cancelled: Mutex<Vec<u64>>,
    /// Nonzero: the callback refuses with this code.
    pub refuse: AtomicI32,
    /// Set once `host_unbind` returned: the callback must not run any more.
    pub unbound: AtomicBool,
    pub violations: AtomicU64,
    pub pings: AtomicU64,
    /// Pings answer UNAVAILABLE (a host that vanished without unbinding).
    pub gone: AtomicBool,
    pub calls: AtomicU64,
}

pub unsafe extern "C" fn host_callback(
    context: *mut c_void,
    call_id: u64,
    method: i32,
    data: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the context is a leaked `Host`.
    let host = unsafe { &*(context as *const Host) };
    if host.unbound.load(Ordering::Acquire) {
        host.violations.fetch_add(1, Ordering::Relaxed);
    }
    host.calls.fetch_add(1, Ordering::Relaxed);
    if method == HOST_PING {
        // Still here: the library pings while calls wait.
        host.pings.fetch_add(1, Ordering::Relaxed);
        return if host.gone.load(Ordering::Acquire) {
            14 // UNAVAILABLE: the host is gone
        } else {
            0
        };
    }
    if method == HOST_CANCELLED {
        assert_eq!(len, 0, "a cancellation carries no request");
        host.cancelled.lock().unwrap().push(call_id);
        host.arrived.notify_all();
        return 0;
    }
    let refuse = host.refuse.load(Ordering::Relaxed);
    if refuse != 0 {
        return refuse;
    }
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: the library passes `len` readable bytes.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    let question = Question::decode(bytes).expect("the library sends an encoded request");
    host.requests.lock().unwrap().push_back(Request {
        call_id,
        method,
        question,
    });
    host.arrived.notify_all();
    0
}

impl Host {
    /// A host that lives as long as the process (the library may call it
    /// until unbinding returns), kept in a static so that valgrind sees it
    /// reachable.
    pub fn new() -> &'static Host {
        static ALL: Mutex<Vec<&'static Host>> = Mutex::new(Vec::new());
        let host: &'static Host = Box::leak(Box::default());
        ALL.lock().unwrap().push(host);
        host
    }

    pub fn context(&'static self) -> *mut c_void {
        self as *const Host as *mut c_void
    }

    /// The next request, waiting for it.
    pub fn next(&self) -> Request {
        let deadline = Instant::now() + WAIT;
        let mut q = self.requests.lock().unwrap();
        loop {
            if let Some(r) = q.pop_front() {
                return r;
            }
            let now = Instant::now();
            assert!(now < deadline, "no request reached the host");
            q = self.arrived.wait_timeout(q, deadline - now).unwrap().0;
        }
    }

    pub fn was_cancelled(&self, call_id: u64) -> bool {
        self.cancelled.lock().unwrap().contains(&call_id)
    }
}

pub fn bind(host: &'static Host) -> u64 {
    // SAFETY: the bind export's signature; the host lives forever.
    let id = unsafe {
        lib().symbol::<BindFn>("hfx_oracle_host_bind")(Some(host_callback), host.context())
    };
    assert_ne!(id, 0);
    id
}

pub fn unbind(binding: u64) -> i32 {
    // SAFETY: the unbind export's signature.
    unsafe { lib().symbol::<UnbindFn>("hfx_proto2ffi_host_unbind")(binding) }
}

pub fn complete(call_id: u64, status: i32, data: &[u8]) -> i32 {
    let ptr = if data.is_empty() {
        std::ptr::null()
    } else {
        data.as_ptr()
    };
    // SAFETY: the complete export's signature; `data` is live.
    unsafe {
        lib().symbol::<CompleteFn>("hfx_proto2ffi_host_complete")(call_id, status, ptr, data.len())
    }
}

pub fn answer(call_id: u64, text: &str) -> i32 {
    let a = Answer {
        text: text.into(),
        payload: Vec::new(),
    };
    complete(call_id, 0, &a.encode_to_vec())
}

/// A question whose call into the host may wait an hour: only a hang
/// ends it, never a slow machine (valgrind, QEMU). Deadline tests set
/// their own.
pub fn question(text: &str) -> Question {
    Question {
        text: text.into(),
        timeout_ms: 3_600_000,
        ..Default::default()
    }
}

pub fn bound() -> bool {
    // SAFETY: the test hook's signature.
    unsafe { lib().symbol::<extern "C" fn() -> bool>("hfx_test_oracle_bound")() }
}

pub fn pending_host_calls() -> u64 {
    // SAFETY: the test hook's signature.
    unsafe { lib().symbol::<extern "C" fn() -> u64>("hfx_test_host_calls")() }
}

pub fn host_metrics(method: &str) -> MethodMetrics {
    lib()
        .metrics()
        .methods
        .into_iter()
        .find(|m| m.host && m.service == "hostfx.v1.Oracle" && m.method == method)
        .unwrap_or_else(|| panic!("no host metrics for {method}"))
}

/// Starts `Relay.<method>` asynchronously.
pub fn start(method: &str, q: &Question, events: &'static Events) -> u64 {
    let id = lib().start(&format!("hfx_relay_{method}_start"), q, 0, events);
    assert_ne!(id, 0);
    id
}

pub fn final_status(events: &Events, id: u64) -> Result<Answer, Status> {
    let e = events.final_of(id, WAIT);
    abi_tests::decode_result::<Answer>(e.status, &e.data)
}

/// Removes any binding a previous test left, through a fresh one.
pub fn fresh_host() -> (&'static Host, u64) {
    let host = Host::new();
    let id = bind(host);
    (host, id)
}

pub fn done(host: &Host, binding: u64) {
    assert_eq!(unbind(binding), 0);
    host.unbound.store(true, Ordering::Release);
    assert_eq!(pending_host_calls(), 0, "no call left waiting");
}
