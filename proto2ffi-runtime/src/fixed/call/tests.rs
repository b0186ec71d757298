//! Both paths of the guard, called the way a generated entry point
//! calls them: the lean one (untimed and timed) and the general one
//! (refusals, rate limits, a log sink, shutdown). Each test has its own
//! library, so shutting one down refuses nobody else.

use super::*;
use crate::observe::metrics::{MethodMetrics, Snapshot};
use crate::{Library, Limits, RateLimit};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `op` selects the handler's behaviour; `flag` must be 0 or 1.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Default, Debug)]
struct Pair {
    op: u32,
    flag: u32,
}

impl FixedMessage for Pair {
    const NAME: &'static str = "test.Pair";
    const LAYOUT_FINGERPRINT: u64 = 1;
    unsafe fn validate(&self) -> Result<(), Status> {
        if self.flag > 1 {
            return Err(Status::invalid_argument(format!(
                "Pair.flag: {} is not a bool",
                self.flag
            )));
        }
        Ok(())
    }
}

const OK: u32 = 0;
const REFUSE: u32 = 1;
const ERR_WITH_OK: u32 = 2;
const PANIC: u32 = 3;
const BAD_RESPONSE: u32 = 4;
const NESTED: u32 = 5;

/// A library with one fixed-layout method, and its entry point.
struct Fixture {
    library: &'static Library,
    service: &'static ServiceDef,
    method: &'static MethodDef,
    registered: &'static AtomicBool,
    handled: &'static AtomicU32,
}

macro_rules! fixture {
    ($prefix:literal) => {
        fixture!($prefix, None)
    };
    // `$rate`: the method's rate limit as the schema declares it.
    ($prefix:literal, $rate:expr) => {{
        static LIB: Library = Library::new($prefix, || Ok(()), true);
        static METRICS: MethodMetrics = MethodMetrics::new();
        static METHODS: [MethodDef; 1] = [MethodDef::new(
            "Do",
            concat!($prefix, "_svc_do"),
            Limits::new(0, 0),
            $rate,
            None,
            &METRICS,
        )
        .with_fixed_sizes(8, 8)];
        static SERVICE: ServiceDef =
            ServiceDef::new("test.Svc", 0, &LIB, Limits::new(0, 0), None, &METHODS);
        static REGISTERED: AtomicBool = AtomicBool::new(true);
        static HANDLED: AtomicU32 = AtomicU32::new(0);
        // What the generated `register_*` does first.
        SERVICE.prepare();
        Fixture {
            library: &LIB,
            service: &SERVICE,
            method: &METHODS[0],
            registered: &REGISTERED,
            handled: &HANDLED,
        }
    }};
}

impl Fixture {
    /// The entry point: `fixed` with the generated code's closures.
    fn call(&'static self, request: *const Pair, response: *mut Pair, error: *mut Buffer) -> i32 {
        let peek = || self.registered.load(Ordering::Acquire).then_some(self);
        // SAFETY: the tests pass valid or NULL pointers, never
        // overlapping ones except where they test the refusal.
        unsafe {
            fixed(
                self.service,
                self.method,
                peek,
                peek,
                |f: &'static Fixture, req: &Pair, resp: &mut Pair| f.handle(req, resp),
                request,
                response,
                error,
            )
        }
    }

    fn handle(&'static self, req: &Pair, resp: &mut Pair) -> Result<(), Status> {
        self.handled.fetch_add(1, Ordering::Relaxed);
        match req.op {
            OK => {
                resp.op = 100;
                Ok(())
            }
            REFUSE => Err(Status::invalid_argument("no")),
            ERR_WITH_OK => Err(Status::new(crate::Code::Ok, "fine?")),
            PANIC => panic!("handler panicked"),
            BAD_RESPONSE => {
                resp.flag = 9;
                Ok(())
            }
            NESTED => {
                let mut inner = Pair::default();
                let code = self.call(&Pair::default(), &mut inner, std::ptr::null_mut());
                resp.op = inner.op + code as u32;
                Ok(())
            }
            _ => unreachable!(),
        }
    }

    fn leak(self) -> &'static Fixture {
        Box::leak(Box::new(self))
    }

    /// One call with an error buffer: the code and the error's message.
    fn run(&'static self, op: u32) -> (i32, Pair, String) {
        self.run_raw(&Pair { op, flag: 0 })
    }

    fn run_raw(&'static self, request: &Pair) -> (i32, Pair, String) {
        let mut response = Pair::default();
        let mut error = Buffer::from_vec(b"stale".to_vec());
        let code = self.call(request, &mut response, &mut error);
        // SAFETY: the guard wrote a buffer of this library.
        let bytes = unsafe { error.take_vec() };
        let message = if bytes.is_empty() {
            String::new()
        } else {
            Status::decode(&bytes[..]).unwrap().message().to_string()
        };
        (code, response, message)
    }

    fn metrics(&self) -> Snapshot {
        self.method.snapshot()
    }
}

fn in_guard() -> u32 {
    crate::sys::thread::with(|t| t.unwrap().in_guard.get())
}

/// Every outcome of a call, on whichever path `setup` sends it.
fn outcomes(f: &'static Fixture) {
    crate::error::panic::install_hook();
    let before = f.metrics();
    let (code, resp, message) = f.run(OK);
    assert_eq!((code, resp.op, message.as_str()), (0, 100, ""));
    let (code, _, message) = f.run(REFUSE);
    assert_eq!(
        (code, message.as_str()),
        (Code::InvalidArgument as i32, "no")
    );
    let (code, _, message) = f.run(ERR_WITH_OK);
    assert_eq!(code, Code::Unknown as i32);
    assert!(
        message.contains("returned an error with code OK: fine?"),
        "{message}"
    );
    let (code, _, message) = f.run(PANIC);
    assert_eq!(code, Code::Internal as i32);
    assert!(message.contains("handler panicked"), "{message}");
    assert_eq!(in_guard(), 0, "the guard depth is restored after a panic");
    let (code, _, message) = f.run(BAD_RESPONSE);
    assert_eq!(code, Code::Internal as i32);
    assert!(message.contains("wrote an invalid response"), "{message}");
    let (code, resp, _) = f.run(NESTED);
    assert_eq!((code, resp.op), (0, 100));
    // Refused before the handler: a bad request, NULL, overlap.
    let handled = f.handled.load(Ordering::Relaxed);
    let (code, _, message) = f.run_raw(&Pair { op: OK, flag: 7 });
    assert_eq!(code, Code::InvalidArgument as i32);
    assert_eq!(message, "request: Pair.flag: 7 is not a bool");
    let mut p = Pair::default();
    let code = f.call(std::ptr::null(), &mut p, std::ptr::null_mut());
    assert_eq!(code, Code::InvalidArgument as i32);
    let code = f.call(&p, std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(code, Code::InvalidArgument as i32);
    let code = f.call(&p, &mut p, std::ptr::null_mut());
    assert_eq!(code, Code::InvalidArgument as i32);
    assert_eq!(
        f.handled.load(Ordering::Relaxed),
        handled,
        "refused calls ran no handler"
    );
    assert_eq!(in_guard(), 0);
    assert_eq!(f.library.in_flight(), 0);
    // Metrics: seven calls ran a handler (the nested one counts), four
    // were refused before.
    let after = f.metrics();
    let d = |c: Code| after.codes[c as usize] - before.codes[c as usize];
    assert_eq!(d(Code::Ok), 3, "OK, NESTED and the call inside it");
    assert_eq!(d(Code::InvalidArgument), 5);
    assert_eq!(d(Code::Unknown), 1);
    assert_eq!(d(Code::Internal), 2);
    assert_eq!(after.panics - before.panics, 1);
    assert_eq!(after.calls - before.calls, 11);
    // The struct's size for every call that passed a request, except
    // the NULL one.
    assert_eq!(after.bytes_in - before.bytes_in, 10 * 8);
}

thread_local! {
    /// Calls that took the general path, on this thread.
    pub(super) static FULL_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn full_calls() -> u32 {
    FULL_CALLS.with(std::cell::Cell::get)
}

#[test]
fn the_lean_path_reports_every_outcome() {
    let f = fixture!("fx_lean").leak();
    // Fixed-layout calls have their own rate: timing every protobuf
    // call times none of these.
    f.library.set_latency_sample_every(1).unwrap();
    f.library.set_fixed_latency_sample_every(65536).unwrap();
    // A thread's first call is a timed one (its count starts at 0).
    f.run(OK);
    let (before, full) = (f.metrics(), full_calls());
    outcomes(f);
    assert_eq!(
        f.metrics().latency_samples,
        before.latency_samples,
        "none timed"
    );
    // The four refused before the handler go to the general path to be
    // reported; the rest stay on the lean one.
    assert_eq!(full_calls() - full, 4);
}

#[test]
fn timed_calls_report_every_outcome_and_fill_the_histogram() {
    let f = fixture!("fx_timed").leak();
    f.library.set_fixed_latency_sample_every(1).unwrap();
    let before = f.metrics();
    outcomes(f);
    let after = f.metrics();
    assert_eq!(
        after.latency_samples - before.latency_samples,
        after.calls - before.calls,
        "every call timed"
    );
    assert!(after.latency_sum_ns > before.latency_sum_ns);
}

#[test]
fn with_a_log_sink_calls_take_the_general_path_and_agree() {
    unsafe extern "C" fn sink(
        _: *mut std::ffi::c_void,
        record: *mut crate::observe::log::LogRecord,
    ) {
        // SAFETY: the record is ours to free, once.
        unsafe { crate::observe::log::free_record(record) };
    }
    let f = fixture!("fx_logs").leak();
    f.library.set_log_sink(Some(sink), std::ptr::null_mut());
    let full = full_calls();
    outcomes(f);
    assert_eq!(full_calls() - full, 11, "every call");
    f.library.set_log_sink(None, std::ptr::null_mut());
}

#[test]
fn rate_limits_refuse_on_the_general_path() {
    let f = fixture!("fx_rate").leak();
    f.method
        .rate
        .set(Some(RateLimit {
            per_second: 1.0,
            burst: 3,
        }))
        .unwrap();
    let codes: Vec<i32> = (0..5).map(|_| f.run(OK).0).collect();
    assert_eq!(codes[..3], [0, 0, 0]);
    assert_eq!(codes[3..], [Code::ResourceExhausted as i32; 2]);
    // Lifting the limit puts calls back on the lean path.
    f.method.rate.set(None).unwrap();
    assert_eq!(f.run(OK).0, 0);
}

/// The overlap test against the two-sided definition, for every pair of addresses in a window and several size pairs.
#[test]
fn pointer_overlap_matches_its_definition() {
    fn check<const R: usize, const S: usize>() {
        for req in 1..96usize {
            for resp in 1..96usize {
                let overlap = R > 0 && S > 0 && req < resp + S && resp < req + R;
                assert_eq!(
                    pointers_ok(req as *const [u8; R], resp as *mut [u8; S]),
                    !overlap,
                    "request {req}+{R}, response {resp}+{S}"
                );
            }
        }
    }
    check::<1, 1>();
    check::<3, 5>();
    check::<5, 3>();
    check::<24, 24>();
    check::<8, 40>();
    check::<0, 8>();
    check::<8, 0>();
    // NULL either side.
    assert!(!pointers_ok(
        std::ptr::null::<[u8; 4]>(),
        64 as *mut [u8; 4]
    ));
    assert!(!pointers_ok(
        64 as *const [u8; 4],
        std::ptr::null_mut::<[u8; 4]>()
    ));
    // Far apart, either order, high addresses.
    let high = usize::MAX - 4096;
    assert!(pointers_ok(high as *const [u8; 8], 4096 as *mut [u8; 8]));
    assert!(pointers_ok(4096 as *const [u8; 8], high as *mut [u8; 8]));
    assert!(!pointers_ok(
        high as *const [u8; 8],
        (high + 7) as *mut [u8; 8]
    ));
}

#[test]
fn a_rate_limit_declared_in_the_schema_is_enforced() {
    let f = fixture!(
        "fx_schema_rate",
        Some(RateLimit {
            per_second: 0.001,
            burst: 3,
        })
    )
    .leak();
    // `prepare` (in the fixture, as in `register_*`) found the limit on.
    assert!(f.library.switches().any_on());
    let codes: Vec<i32> = (0..5).map(|_| f.run(OK).0).collect();
    assert_eq!(codes[..3], [0, 0, 0]);
    assert_eq!(codes[3..], [Code::ResourceExhausted as i32; 2]);
}

#[test]
fn switches_belong_to_one_library() {
    let a = fixture!("fx_switch_a").leak();
    let b = fixture!("fx_switch_b").leak();
    assert!(!a.library.switches().any_on() && !b.library.switches().any_on());
    let limit = Some(RateLimit {
        per_second: 0.001,
        burst: 1,
    });
    // A limit set on an attached limiter raises its own library's flag.
    a.method.rate.set(limit).unwrap();
    assert!(a.library.switches().any_on());
    assert!(!b.library.switches().any_on(), "the other library's");
    assert_eq!(a.run(OK).0, 0);
    assert_eq!(a.run(OK).0, Code::ResourceExhausted as i32);
    // A sink likewise.
    unsafe extern "C" fn sink(
        _: *mut std::ffi::c_void,
        record: *mut crate::observe::log::LogRecord,
    ) {
        // SAFETY: the record is ours to free, once.
        unsafe { crate::observe::log::free_record(record) };
    }
    b.library.set_log_sink(Some(sink), std::ptr::null_mut());
    assert!(b.library.switches().any_on());
    b.library.set_log_sink(None, std::ptr::null_mut());
}

#[test]
fn a_limit_set_before_registration_is_found_by_it() {
    static LIB: Library = Library::new("fx_before", || Ok(()), true);
    static METRICS: MethodMetrics = MethodMetrics::new();
    static METHODS: [MethodDef; 1] = [MethodDef::new(
        "Do",
        "fx_before_svc_do",
        Limits::new(0, 0),
        None,
        None,
        &METRICS,
    )
    .with_fixed_sizes(8, 8)];
    static SERVICE: ServiceDef =
        ServiceDef::new("test.Svc", 0, &LIB, Limits::new(0, 0), None, &METHODS);
    SERVICE
        .rate
        .set(Some(RateLimit {
            per_second: 1.0,
            burst: 1,
        }))
        .unwrap();
    assert!(!LIB.switches().any_on(), "not attached yet");
    SERVICE.prepare();
    assert!(LIB.switches().any_on());
}

#[test]
fn unregistered_and_shut_down_libraries_refuse() {
    let f = fixture!("fx_refuse").leak();
    f.registered.store(false, Ordering::Release);
    let (code, _, message) = f.run(OK);
    assert_eq!(code, Code::FailedPrecondition as i32);
    assert!(
        message.contains("no registered implementation"),
        "{message}"
    );
    f.registered.store(true, Ordering::Release);
    assert_eq!(f.run(OK).0, 0);
    assert!(f.library.shutdown(std::time::Duration::from_secs(1)));
    let (code, _, message) = f.run(OK);
    assert_eq!(code, Code::Unavailable as i32);
    assert!(message.contains("shutting down"), "{message}");
    assert_eq!(f.library.in_flight(), 0, "a refused admission is undone");
    f.library.resume();
    assert_eq!(f.run(OK).0, 0);
}
