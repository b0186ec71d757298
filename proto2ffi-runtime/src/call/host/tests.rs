//! The host side played by the tests themselves: a callback that queues
//! requests, answered through [`super::complete`] as the export does.
//! Small enough for Miri (the binding's raw context, the callback
//! pointer, the gate and the timer's weak references).

use super::*;
use std::sync::atomic::AtomicI32;

static LIBRARY: Library = Library::new("hosttest", || Ok(()), true);
static METRICS: [MethodMetrics; 1] = [const { MethodMetrics::new() }; 1];
static METHODS: [HostMethodDef; 1] = [HostMethodDef::new("Echo", Limits::new(0, 64), &METRICS[0])];
static SERVICE: HostServiceDef = HostServiceDef::new(
    "test.Echo",
    &LIBRARY,
    "hosttest_echo_host_bind",
    Limits::new(0, 0),
    &METHODS,
);

/// One test at a time: they share the service's one binding.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Default)]
struct Host {
    requests: Mutex<Vec<(u64, i32, Vec<u8>)>>,
    events: Mutex<Vec<(u64, i32)>>,
    refuse: AtomicI32,
}

unsafe extern "C" fn callback(
    context: *mut c_void,
    call_id: u64,
    method: i32,
    data: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the context is a `Host` the test keeps alive until it
    // unbinds; the runtime passes `len` readable bytes.
    let host = unsafe { &*(context as *const Host) };
    if method < 0 {
        host.events.lock().push((call_id, method));
        return 0;
    }
    let refuse = host.refuse.load(Ordering::Relaxed);
    if refuse != 0 {
        return refuse;
    }
    let bytes = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
    };
    host.requests.lock().push((call_id, method, bytes));
    0
}

/// A host that outlives any binding a failed test leaves behind.
fn new_host() -> &'static Host {
    Box::leak(Box::default())
}

fn bind(host: &'static Host) -> u64 {
    SERVICE.bind(Some(callback), host as *const Host as *mut c_void)
}

fn take(host: &Host) -> (u64, String) {
    let (id, method, bytes) = host.requests.lock().pop().expect("a request");
    assert_eq!(method, 0);
    (id, String::decode(bytes.as_slice()).unwrap())
}

fn answer(id: u64, text: &str) -> Code {
    super::complete(&LIBRARY, id, 0, &text.to_string().encode_to_vec())
}

/// Polls a future once with a no-op waker.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = Waker::noop();
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn a_call_is_answered_once_and_late_answers_are_refused() {
    let _s = SERIAL.lock();
    let host = new_host();
    let binding = bind(host);
    assert_ne!(binding, 0);
    let mut call = SERVICE.call::<String>(0, &"ping".to_string(), None);
    assert!(poll_once(&mut call).is_pending());
    let (id, text) = take(host);
    assert_eq!(text, "ping");
    assert_eq!(Some(id), call.call_id());
    assert_eq!(
        super::complete(&LIBRARY, id, 17, b""),
        Code::InvalidArgument
    );
    assert_eq!(answer(id, "pong"), Code::Ok);
    assert_eq!(answer(id, "again"), Code::NotFound);
    match poll_once(&mut call) {
        Poll::Ready(Ok(text)) => assert_eq!(text, "pong"),
        other => panic!("{other:?}"),
    }
    assert_eq!(METHODS[0].in_flight(), 0);
    assert!(super::unbind(&LIBRARY, binding));
    assert!(!super::unbind(&LIBRARY, binding));
}

#[test]
fn dropping_the_future_tells_the_host() {
    let _s = SERIAL.lock();
    let host = new_host();
    let binding = bind(host);
    let mut call = SERVICE.call::<String>(0, &"bye".to_string(), None);
    assert!(poll_once(&mut call).is_pending());
    let (id, _) = take(host);
    drop(call);
    assert!(host
        .events
        .lock()
        .contains(&(id, proto2ffi_core::symbols::HOST_CANCELLED)));
    assert_eq!(answer(id, "late"), Code::NotFound);
    assert!(super::unbind(&LIBRARY, binding));
}

#[test]
fn blocking_calls_wait_time_out_and_refuse_the_hosts_thread() {
    let _s = SERIAL.lock();
    let host = new_host();
    let binding = bind(host);
    // This thread bound the host: it would wait for itself.
    let err = SERVICE
        .call_blocking::<String>(0, &"self".to_string(), Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // From another thread: answered by this one.
    let caller = std::thread::spawn(|| {
        SERVICE.call_blocking::<String>(0, &"other".to_string(), Duration::from_secs(20))
    });
    let id = loop {
        if let Some((id, _, _)) = host.requests.lock().pop() {
            break id;
        }
        std::thread::yield_now();
    };
    assert_eq!(answer(id, "answered"), Code::Ok);
    assert_eq!(caller.join().unwrap().unwrap(), "answered");
    // Nobody answers: the caller's own deadline ends it.
    let caller = std::thread::spawn(|| {
        SERVICE.call_blocking::<String>(0, &"lost".to_string(), Duration::from_millis(20))
    });
    assert_eq!(
        caller.join().unwrap().unwrap_err().code(),
        Code::DeadlineExceeded
    );
    assert!(super::unbind(&LIBRARY, binding));
    assert_eq!(LIBRARY.state.hosts.len(), 0);
}

#[test]
fn the_timer_ends_an_unanswered_call() {
    let _s = SERIAL.lock();
    let host = new_host();
    let binding = bind(host);
    let mut call = SERVICE.call::<String>(0, &"slow".to_string(), Some(Duration::from_millis(10)));
    let (id, _) = take(host);
    let err = loop {
        if let Poll::Ready(r) = poll_once(&mut call) {
            break r.unwrap_err();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(host
        .events
        .lock()
        .contains(&(id, proto2ffi_core::symbols::HOST_CANCELLED)));
    assert!(super::unbind(&LIBRARY, binding));
}

#[test]
fn refusals_unbinding_and_limits() {
    let _s = SERIAL.lock();
    let host = new_host();
    let binding = bind(host);
    // Too large an answer: RESOURCE_EXHAUSTED both ways.
    let mut call = SERVICE.call::<String>(0, &"big".to_string(), None);
    let (id, _) = take(host);
    assert_eq!(answer(id, &"x".repeat(100)), Code::ResourceExhausted);
    match poll_once(&mut call) {
        Poll::Ready(Err(e)) => assert_eq!(e.code(), Code::ResourceExhausted),
        other => panic!("{other:?}"),
    }
    // Unbinding fails what waits.
    let mut call = SERVICE.call::<String>(0, &"wait".to_string(), None);
    assert!(super::unbind(&LIBRARY, binding));
    match poll_once(&mut call) {
        Poll::Ready(Err(e)) => assert_eq!(e.code(), Code::Unavailable),
        other => panic!("{other:?}"),
    }
    // UNAVAILABLE from the callback: the host is gone, unbound.
    let binding = bind(host);
    host.refuse
        .store(Code::Unavailable as i32, Ordering::Relaxed);
    let mut call = SERVICE.call::<String>(0, &"gone?".to_string(), None);
    assert!(matches!(poll_once(&mut call), Poll::Ready(Err(e)) if e.code() == Code::Unavailable));
    assert!(!SERVICE.is_bound());
    assert!(!super::unbind(&LIBRARY, binding));
    // Nothing bound: refused with the bind symbol's name.
    let mut call = SERVICE.call::<String>(0, &"anyone?".to_string(), None);
    match poll_once(&mut call) {
        Poll::Ready(Err(e)) => assert!(e.message().contains("hosttest_echo_host_bind")),
        other => panic!("{other:?}"),
    }
    assert_eq!(host_message(&[b'a'; 5000]).len(), MAX_HOST_MESSAGE);
}

/// Two libraries in one artifact number their bindings alike (each
/// starts at 1) and share this runtime's thread-locals: unbinding
/// library B's binding 1 from inside library A's binding 1 must still
/// wait for B's callbacks running on other threads.
#[test]
fn unbinding_from_another_librarys_callback_still_waits() {
    static LIB_A: Library = Library::new("hosta", || Ok(()), true);
    static LIB_B: Library = Library::new("hostb", || Ok(()), true);
    static METRICS_AB: [MethodMetrics; 2] = [const { MethodMetrics::new() }; 2];
    static METHODS_A: [HostMethodDef; 1] =
        [HostMethodDef::new("A", Limits::new(0, 0), &METRICS_AB[0])];
    static METHODS_B: [HostMethodDef; 1] =
        [HostMethodDef::new("B", Limits::new(0, 0), &METRICS_AB[1])];
    static SERVICE_A: HostServiceDef =
        HostServiceDef::new("a.A", &LIB_A, "a_bind", Limits::new(0, 0), &METHODS_A);
    static SERVICE_B: HostServiceDef =
        HostServiceDef::new("b.B", &LIB_B, "b_bind", Limits::new(0, 0), &METHODS_B);
    static B_ENTERED: AtomicBool = AtomicBool::new(false);
    static A_ENTERED: AtomicBool = AtomicBool::new(false);
    static RELEASE: Mutex<bool> = Mutex::new(false);
    static RELEASED: Condvar = Condvar::new();
    static B_DONE: AtomicBool = AtomicBool::new(false);
    static B_DONE_AFTER_UNBIND: AtomicI32 = AtomicI32::new(-1);
    static B_BINDING: AtomicU64 = AtomicU64::new(0);

    unsafe extern "C" fn in_b(_: *mut c_void, _: u64, method: i32, _: *const u8, _: usize) -> i32 {
        if method >= 0 {
            B_ENTERED.store(true, Ordering::Release);
            let mut released = RELEASE.lock();
            while !*released {
                RELEASED.wait(&mut released);
            }
            B_DONE.store(true, Ordering::Release);
        }
        0
    }
    unsafe extern "C" fn in_a(_: *mut c_void, _: u64, method: i32, _: *const u8, _: usize) -> i32 {
        if method >= 0 {
            A_ENTERED.store(true, Ordering::Release);
            super::unbind(&LIB_B, B_BINDING.load(Ordering::Acquire));
            let done = B_DONE.load(Ordering::Acquire);
            B_DONE_AFTER_UNBIND.store(i32::from(done), Ordering::Release);
        }
        0
    }

    let a = SERVICE_A.bind(Some(in_a), std::ptr::null_mut());
    let b = SERVICE_B.bind(Some(in_b), std::ptr::null_mut());
    assert_eq!(a, b, "both libraries' first binding");
    B_BINDING.store(b, Ordering::Release);
    // B's callback runs on another thread until released.
    let caller = std::thread::spawn(|| {
        SERVICE_B.call_blocking::<String>(0, &"b".to_string(), Duration::from_secs(3600))
    });
    while !B_ENTERED.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    // Released well after A's callback took B's binding out of its
    // slot: an unbind that does not wait has returned by then. The
    // correct code passes whatever the timing (unbind waits for this
    // release); the sleep only gives the broken one time to show.
    let releaser = std::thread::spawn(|| {
        while !A_ENTERED.load(Ordering::Acquire) || SERVICE_B.is_bound() {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(50));
        *RELEASE.lock() = true;
        RELEASED.notify_all();
    });
    let call = SERVICE_A.call::<String>(0, &"a".to_string(), None);
    assert_eq!(
        B_DONE_AFTER_UNBIND.load(Ordering::Acquire),
        1,
        "host_unbind returned while B's callback still ran"
    );
    releaser.join().unwrap();
    assert_eq!(
        caller.join().unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    drop(call);
    assert!(super::unbind(&LIB_A, a));
}
