//! Helpers for testing proto2ffi libraries the way a foreign caller uses
//! them: build the fixture `cdylib`s, `dlopen` them with libloading, call
//! the exported symbols with raw bytes and free every returned buffer.
//!
//! The messages here are defined independently of the fixture's (as a
//! foreign client would), which also checks wire compatibility.

use libloading::Library;
pub use proto2ffi_runtime::proto::{Health, MethodMetrics, Metrics};
pub use proto2ffi_runtime::{Buffer, Code, Status};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// `int32_t f(const uint8_t *, size_t, buffer *)`.
pub type MethodFn = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;
type OutFn = unsafe extern "C" fn(*mut Buffer) -> i32;
type FreeFn = unsafe extern "C" fn(*mut Buffer);

/// Moves `value` to the heap for the rest of the process (a callback's
/// context that may outlive a test's frame), keeping its address in a
/// static so that valgrind sees it reachable, not lost.
pub fn keep<T: Send + Sync + 'static>(value: T) -> &'static T {
    static KEPT: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
    let kept: &'static T = Box::leak(Box::new(value));
    KEPT.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(kept as *const T as usize);
    kept
}

/// Multiplier for loop counts (set `PROTO2FFI_TEST_SCALE=0.01` under valgrind).
pub fn scaled(n: u64) -> u64 {
    let scale: f64 = std::env::var("PROTO2FFI_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale) as u64).max(1)
}

/// A command from an environment variable holding a program and its first
/// arguments separated by spaces, or `default`.
fn command_from_env(var: &str, default: &str) -> Command {
    let line = std::env::var(var).unwrap_or_default();
    let mut words = line.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words);
            cmd
        }
        None => Command::new(default),
    }
}

/// The C compiler for the target the tests run on: `PROTO2FFI_TEST_CC`
/// (`cargo xtask cross` sets it, e.g. `clang --target=… -fuse-ld=lld`),
/// else `gcc`.
pub fn c_compiler() -> Command {
    command_from_env("PROTO2FFI_TEST_CC", "gcc")
}

/// A command running `program` built for the target: through
/// `PROTO2FFI_TEST_RUNNER` (e.g. `qemu-arm -L <sysroot>`) under emulation,
/// where no binfmt handler would start it.
pub fn target_command(program: &std::path::Path) -> Command {
    match std::env::var("PROTO2FFI_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut cmd = command_from_env("PROTO2FFI_TEST_RUNNER", "");
            cmd.arg(program);
            cmd
        }
        _ => Command::new(program),
    }
}

/// The directory cargo put this test binary's profile outputs in.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the fixture libraries (once per test process) and returns the
/// path of `lib<name>.so`.
pub fn cdylib(package: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = profile_dir();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // `target/<profile>`, or `target/<triple>/<profile>` when the tests
        // were built with `--target` (then the fixtures are built for it too).
        let parent = dir.parent().expect("target dir");
        let triple = env!("ABI_TESTS_TARGET");
        let cross = parent.file_name().is_some_and(|n| n == triple);
        let target_dir = if cross {
            parent.parent().expect("target dir").to_path_buf()
        } else {
            parent.to_path_buf()
        };
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "abi-fixture",
            "-p",
            "abi-fixture-b",
            "-p",
            "abi-umbrella",
            "-p",
            "particles",
            "-p",
            "abi-host-fixture",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if cross {
            cmd.args(["--target", triple]);
        }
        let status = cmd.status().expect("run cargo build for the fixtures");
        assert!(status.success(), "building the fixture libraries failed");
    });
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    dir.join(file)
}

/// A loaded proto2ffi library.
pub struct Lib {
    lib: Library,
    prefix: String,
    free: OnceLock<FreeFn>,
}

/// The main fixture (`abi-fixture`, prefix `fx`), loaded once per process.
pub fn fixture() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| Lib::open(&cdylib("abi-fixture"), "fx"))
}

/// The second fixture (`abi-fixture-b`, prefix `fxb`).
pub fn fixture_b() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| Lib::open(&cdylib("abi-fixture-b"), "fxb"))
}

/// The umbrella library (`abi-umbrella`): both fixtures in one cdylib, one
/// handle per prefix.
pub fn umbrella() -> &'static (Lib, Lib) {
    static LIBS: OnceLock<(Lib, Lib)> = OnceLock::new();
    LIBS.get_or_init(|| {
        let path = cdylib("abi-umbrella");
        (Lib::open(&path, "fx"), Lib::open(&path, "fxb"))
    })
}

impl Lib {
    /// Opens a library.
    pub fn open(path: &std::path::Path, prefix: &str) -> Lib {
        // SAFETY: loading a proto2ffi test library runs no initialisers
        // beyond Rust's own.
        let lib = unsafe { Library::new(path) }
            .unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
        Lib {
            lib,
            prefix: prefix.to_string(),
            free: OnceLock::new(),
        }
    }

    /// A symbol's address as a typed function pointer.
    ///
    /// # Safety
    /// `T` must be the symbol's real signature.
    pub unsafe fn symbol<T: Copy>(&self, name: &str) -> T {
        // SAFETY: forwarded.
        unsafe {
            *self
                .lib
                .get::<T>(name.as_bytes())
                .unwrap_or_else(|e| panic!("symbol {name}: {e}"))
        }
    }

    /// Whether a symbol exists.
    pub fn has(&self, name: &str) -> bool {
        // SAFETY: only the address is looked at.
        unsafe { self.lib.get::<*const ()>(name.as_bytes()).is_ok() }
    }

    /// A library-wide symbol name: `{prefix}_proto2ffi_{suffix}`.
    pub fn lib_symbol(&self, suffix: &str) -> String {
        format!("{}_proto2ffi_{suffix}", self.prefix)
    }

    /// A method entry point.
    pub fn method(&self, symbol: &str) -> MethodFn {
        // SAFETY: method symbols have the MethodFn signature.
        unsafe { self.symbol::<MethodFn>(symbol) }
    }

    /// Frees a buffer with the library's free function.
    pub fn free(&self, buffer: &mut Buffer) {
        // SAFETY: free's signature; `buffer` came from this library.
        // SAFETY: the library-wide free function has the FreeFn signature.
        let free = *self
            .free
            .get_or_init(|| unsafe { self.symbol::<FreeFn>(&self.lib_symbol("free")) });
        // SAFETY: `buffer` came from this library (the caller's contract).
        unsafe { free(buffer) }
    }

    /// Calls with a byte slice (NULL pointer when empty); returns the code
    /// and a copy of `*out`, which is freed.
    pub fn call_slice(&self, f: MethodFn, request: &[u8]) -> (i32, Vec<u8>) {
        let ptr = if request.is_empty() {
            std::ptr::null()
        } else {
            request.as_ptr()
        };
        // SAFETY: ptr is NULL with len 0, or points at `request.len()` bytes.
        unsafe { self.call_raw(f, ptr, request.len(), false) }
    }

    /// Calls with raw pointers; returns the code and a copy of `*out`
    /// (freed), or no bytes when `null_out` passes a NULL `out`.
    ///
    /// # Safety
    /// `request` must be valid for `len` bytes unless the test means to
    /// exercise the library's NULL checks (NULL with any length).
    pub unsafe fn call_raw(
        &self,
        f: MethodFn,
        request: *const u8,
        len: usize,
        null_out: bool,
    ) -> (i32, Vec<u8>) {
        if null_out {
            // SAFETY: exercising the NULL-out contract.
            let code = unsafe { f(request, len, std::ptr::null_mut()) };
            return (code, Vec::new());
        }
        let mut out = Buffer {
            data: std::ptr::dangling_mut::<u8>(), // garbage the callee must overwrite
            len: 12345,
            capacity: 0,
        };
        // SAFETY: request/len as given by the test; out is writable.
        let code = unsafe { f(request, len, &mut out) };
        // SAFETY: out was filled by the library.
        let bytes = unsafe { out.as_slice() }.to_vec();
        self.free(&mut out);
        assert!(out.data.is_null(), "free zeroes the buffer");
        (code, bytes)
    }

    /// Calls a method with bytes.
    pub fn call_bytes(&self, symbol: &str, request: &[u8]) -> (i32, Vec<u8>) {
        self.call_slice(self.method(symbol), request)
    }

    /// Calls a method with a message; decodes the response or the status.
    pub fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        symbol: &str,
        request: &Req,
    ) -> Result<Resp, Status> {
        let (code, bytes) = self.call_bytes(symbol, &request.encode_to_vec());
        decode_result(code, &bytes)
    }

    fn out_call(&self, suffix: &str) -> (i32, Vec<u8>) {
        // SAFETY: library-wide output functions have the OutFn signature.
        let f = unsafe { self.symbol::<OutFn>(&self.lib_symbol(suffix)) };
        let mut out = Buffer::empty();
        // SAFETY: out is writable.
        let code = unsafe { f(&mut out) };
        // SAFETY: filled by the library.
        let bytes = unsafe { out.as_slice() }.to_vec();
        self.free(&mut out);
        (code, bytes)
    }

    /// Decoded metrics.
    pub fn metrics(&self) -> Metrics {
        let (code, bytes) = self.out_call("metrics");
        assert_eq!(code, 0);
        prost::Message::decode(&bytes[..]).expect("metrics decode")
    }

    /// One method's metrics.
    pub fn method_metrics(&self, method: &str) -> MethodMetrics {
        self.metrics()
            .methods
            .into_iter()
            .find(|m| m.method == method)
            .unwrap_or_else(|| panic!("no metrics for {method}"))
    }

    /// Prometheus text.
    pub fn metrics_text(&self) -> String {
        let (code, bytes) = self.out_call("metrics_text");
        assert_eq!(code, 0);
        String::from_utf8(bytes).expect("utf-8")
    }

    /// Decoded health.
    pub fn health(&self) -> Health {
        let (code, bytes) = self.out_call("health");
        assert_eq!(code, 0);
        prost::Message::decode(&bytes[..]).expect("health decode")
    }

    /// `init`.
    pub fn init(&self) -> Result<(), Status> {
        let (code, bytes) = self.out_call("init");
        decode_result::<()>(code, &bytes).map(|_| ())
    }

    /// `shutdown`.
    pub fn shutdown(&self, timeout_ms: u32) -> i32 {
        // SAFETY: shutdown's signature.
        unsafe {
            self.symbol::<extern "C" fn(u32) -> i32>(&self.lib_symbol("shutdown"))(timeout_ms)
        }
    }

    /// `abi_version`.
    pub fn abi_version(&self) -> u32 {
        // SAFETY: abi_version's signature.
        unsafe { self.symbol::<extern "C" fn() -> u32>(&self.lib_symbol("abi_version"))() }
    }
}

/// Decodes a call's outcome.
pub fn decode_result<Resp: DecodeOrUnit>(code: i32, bytes: &[u8]) -> Result<Resp, Status> {
    if code == 0 {
        Ok(Resp::decode_or_unit(bytes))
    } else {
        let status = Status::decode(bytes).expect("error payload is a google.rpc.Status");
        assert_eq!(
            status.code() as i32,
            code,
            "payload code matches return code"
        );
        Err(status)
    }
}

/// Decodes a response (or nothing).
pub trait DecodeOrUnit {
    /// Decodes.
    fn decode_or_unit(bytes: &[u8]) -> Self;
}

impl<M: prost::Message + Default> DecodeOrUnit for M {
    fn decode_or_unit(bytes: &[u8]) -> Self {
        M::decode(bytes).expect("response decodes")
    }
}

/// Messages mirroring the fixture's (independent definitions).
pub mod messages {
    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlobRequest {
        /// Echoed.
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
        /// Kept by the library.
        #[prost(bytes = "vec", tag = "2")]
        pub kept: Vec<u8>,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlobResponse {
        /// The request's data.
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
        /// The previous call's kept bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub previous_kept: Vec<u8>,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EchoRequest {
        /// Echoed.
        #[prost(string, tag = "1")]
        pub text: String,
        /// Repeats.
        #[prost(uint32, tag = "2")]
        pub repeat: u32,
        /// Limiter key.
        #[prost(string, tag = "3")]
        pub client_id: String,
        /// Panic message.
        #[prost(string, tag = "4")]
        pub panic: String,
        /// Sleep.
        #[prost(uint64, tag = "5")]
        pub sleep_ms: u64,
        /// Failure code.
        #[prost(int32, tag = "6")]
        pub fail_code: i32,
        /// Failure message.
        #[prost(string, tag = "7")]
        pub fail_message: String,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EchoResponse {
        /// Text.
        #[prost(string, tag = "1")]
        pub text: String,
        /// Calls.
        #[prost(uint64, tag = "2")]
        pub calls: u64,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AddRequest {
        /// Left.
        #[prost(int64, tag = "1")]
        pub a: i64,
        /// Right.
        #[prost(int64, tag = "2")]
        pub b: i64,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AddResponse {
        /// Result.
        #[prost(int64, tag = "1")]
        pub sum: i64,
    }

    /// See the fixture.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PanickyRequest {
        /// Mode.
        #[prost(uint32, tag = "1")]
        pub mode: u32,
    }
}

/// Driving `*_start` entry points as a C caller does: a callback that
/// records every event, and helpers that wait for them.
pub mod async_calls {
    use super::{Buffer, Lib};
    use std::collections::HashMap;
    use std::ffi::c_void;
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    /// `uint64_t start(const uint8_t *, size_t, uint32_t timeout_ms, callback, void *)`.
    pub type StartFn =
        unsafe extern "C" fn(*const u8, usize, u32, Option<CallbackFn>, *mut c_void) -> u64;
    /// The completion callback.
    pub type CallbackFn = unsafe extern "C" fn(*mut c_void, u64, i32, *const u8, usize);
    /// `uint64_t start(uint32_t timeout_ms, callback, void *)`: client and
    /// bidi streams.
    pub type StreamingStartFn = unsafe extern "C" fn(u32, Option<CallbackFn>, *mut c_void) -> u64;
    /// `int32_t stream_send(uint64_t call_id, const uint8_t *, size_t)`.
    pub type SendFn = unsafe extern "C" fn(u64, *const u8, usize) -> i32;
    /// `int32_t stream_send_items(uint64_t call_id, const uint8_t *, size_t, size_t *taken)`.
    pub type SendItemsFn = unsafe extern "C" fn(u64, *const u8, usize, *mut usize) -> i32;
    type CancelFn = unsafe extern "C" fn(u64) -> i32;
    type NextFn = unsafe extern "C" fn(u64, u32, *mut Buffer) -> i32;

    /// Polls `f` every 2 ms until it holds; panics after 20 s naming `what`.
    pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// One event a callback got.
    #[derive(Clone, Debug)]
    pub struct Event {
        /// Status, or -1 for "stream items ready".
        pub status: i32,
        /// The data passed with it (copied).
        pub data: Vec<u8>,
        /// The thread it arrived on.
        pub thread: std::thread::ThreadId,
    }

    /// Every event, by call id.
    #[derive(Default)]
    pub struct Events {
        events: Mutex<HashMap<u64, Vec<Event>>>,
        changed: Condvar,
    }

    /// The callback: `context` is a `&'static Events`.
    ///
    /// # Safety
    /// `context` points at a live `Events`; `data` at `len` bytes.
    pub unsafe extern "C" fn record(
        context: *mut c_void,
        call_id: u64,
        status: i32,
        data: *const u8,
        len: usize,
    ) {
        // SAFETY: per the contract.
        let events = unsafe { &*(context as *const Events) };
        let data = if data.is_null() {
            Vec::new()
        } else {
            // SAFETY: per the contract.
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
        };
        events
            .events
            .lock()
            .unwrap()
            .entry(call_id)
            .or_default()
            .push(Event {
                status,
                data,
                thread: std::thread::current().id(),
            });
        events.changed.notify_all();
    }

    impl Events {
        /// A collector that lives as long as the process (callbacks may
        /// outlive a test's frame); kept in a static so that valgrind sees
        /// it reachable.
        pub fn new() -> &'static Events {
            static ALL: Mutex<Vec<&'static Events>> = Mutex::new(Vec::new());
            let events: &'static Events = Box::leak(Box::default());
            ALL.lock().unwrap().push(events);
            events
        }

        /// The context to pass to `start`.
        pub fn context(&'static self) -> *mut c_void {
            self as *const Events as *mut c_void
        }

        /// The events of `id` so far.
        pub fn of(&self, id: u64) -> Vec<Event> {
            self.events
                .lock()
                .unwrap()
                .get(&id)
                .cloned()
                .unwrap_or_default()
        }

        /// Waits for the final event (status ≥ 0) of `id`.
        pub fn final_of(&self, id: u64, timeout: Duration) -> Event {
            let deadline = Instant::now() + timeout;
            let mut events = self.events.lock().unwrap();
            loop {
                if let Some(e) = events
                    .get(&id)
                    .and_then(|v| v.iter().find(|e| e.status >= 0))
                {
                    return e.clone();
                }
                let now = Instant::now();
                assert!(now < deadline, "call {id} never completed");
                events = self.changed.wait_timeout(events, deadline - now).unwrap().0;
            }
        }

        /// Waits until `n` calls have a final event.
        pub fn wait_finals(&self, n: usize, timeout: Duration) {
            let deadline = Instant::now() + timeout;
            let mut events = self.events.lock().unwrap();
            loop {
                let done = events
                    .values()
                    .filter(|v| v.iter().any(|e| e.status >= 0))
                    .count();
                if done >= n {
                    return;
                }
                let now = Instant::now();
                assert!(now < deadline, "only {done} of {n} calls completed");
                events = self.changed.wait_timeout(events, deadline - now).unwrap().0;
            }
        }

        /// Waits for any new event or `timeout`.
        pub fn wait_any(&self, timeout: Duration) {
            let events = self.events.lock().unwrap();
            drop(self.changed.wait_timeout(events, timeout).unwrap());
        }
    }

    impl Lib {
        /// Starts `symbol` with encoded `request`; returns the call id.
        pub fn start(
            &self,
            symbol: &str,
            request: &impl prost::Message,
            timeout_ms: u32,
            events: &'static Events,
        ) -> u64 {
            // SAFETY: `record` with a context that lives for the process.
            unsafe { self.start_with(symbol, request, timeout_ms, record, events.context()) }
        }

        /// Starts `symbol` with encoded `request` and the caller's own
        /// callback and context; returns the call id.
        ///
        /// # Safety
        /// `callback` may be called with `context` from any thread until
        /// its final event.
        pub unsafe fn start_with(
            &self,
            symbol: &str,
            request: &impl prost::Message,
            timeout_ms: u32,
            callback: CallbackFn,
            context: *mut c_void,
        ) -> u64 {
            let bytes = request.encode_to_vec();
            // SAFETY: `symbol` is a start entry point; the rest is the
            // caller's contract.
            unsafe {
                let start: StartFn = self.symbol(symbol);
                start(
                    bytes.as_ptr(),
                    bytes.len(),
                    timeout_ms,
                    Some(callback),
                    context,
                )
            }
        }

        /// Live job futures of the fixture whose (first) request text is
        /// `text`: a cancelled or failed call must have dropped its future.
        pub fn live_jobs(&self, text: &str) -> i64 {
            // SAFETY: the fixture's test hook, `int64_t f(const uint8_t *, size_t)`.
            unsafe {
                self.symbol::<unsafe extern "C" fn(*const u8, usize) -> i64>(
                    "fx_test_live_jobs_named",
                )(text.as_ptr(), text.len())
            }
        }

        /// Lets `collect` calls waiting on `gate:<name>` answer.
        pub fn open_gate(&self, name: &str) {
            // SAFETY: the fixture's test hook, `void f(const uint8_t *, size_t)`.
            unsafe {
                self.symbol::<unsafe extern "C" fn(*const u8, usize)>("fx_test_open_gate")(
                    name.as_ptr(),
                    name.len(),
                )
            }
        }

        /// Starts the client or bidi stream `symbol`; returns the call id.
        pub fn start_streaming(
            &self,
            symbol: &str,
            timeout_ms: u32,
            events: &'static Events,
        ) -> u64 {
            // SAFETY: `symbol` is a streaming start entry point; the
            // callback and context live for the process.
            unsafe {
                let start: StreamingStartFn = self.symbol(symbol);
                start(timeout_ms, Some(record), events.context())
            }
        }

        /// `stream_send(call_id, bytes)`.
        pub fn stream_send(&self, call_id: u64, bytes: &[u8]) -> i32 {
            // SAFETY: the library-wide stream_send export; `bytes` is live.
            unsafe {
                self.symbol::<SendFn>(&self.lib_symbol("stream_send"))(
                    call_id,
                    bytes.as_ptr(),
                    bytes.len(),
                )
            }
        }

        /// `stream_send_items(call_id, items)`: the code and the bytes
        /// taken.
        pub fn stream_send_items(&self, call_id: u64, items: &[u8]) -> (i32, usize) {
            let mut taken = usize::MAX;
            // SAFETY: the library-wide stream_send_items export; `items` is
            // live and `taken` writable.
            let code = unsafe {
                self.symbol::<SendItemsFn>(&self.lib_symbol("stream_send_items"))(
                    call_id,
                    items.as_ptr(),
                    items.len(),
                    &mut taken,
                )
            };
            (code, taken)
        }

        /// `stream_close_send(call_id)`.
        pub fn stream_close_send(&self, call_id: u64) -> i32 {
            // SAFETY: the library-wide stream_close_send export.
            unsafe { self.symbol::<CancelFn>(&self.lib_symbol("stream_close_send"))(call_id) }
        }

        /// `cancel(call_id)`.
        pub fn cancel(&self, call_id: u64) -> i32 {
            // SAFETY: the library-wide cancel export.
            unsafe { self.symbol::<CancelFn>(&self.lib_symbol("cancel"))(call_id) }
        }

        /// `stream_next(call_id, max_items)`: status and the items.
        pub fn stream_next(&self, call_id: u64, max_items: u32) -> (i32, Vec<Vec<u8>>) {
            let mut out = Buffer::empty();
            // SAFETY: the library-wide stream_next export, a writable buffer.
            let code = unsafe {
                self.symbol::<NextFn>(&self.lib_symbol("stream_next"))(call_id, max_items, &mut out)
            };
            // SAFETY: the buffer this library just filled.
            let mut bytes: &[u8] = unsafe { out.as_slice() };
            let mut items = Vec::new();
            if code == 0 {
                while !bytes.is_empty() {
                    let len =
                        prost::encoding::decode_varint(&mut bytes).expect("item length") as usize;
                    items.push(bytes[..len].to_vec());
                    bytes = &bytes[len..];
                }
            }
            self.free(&mut out);
            (code, items)
        }
    }
}
