//! Demo host for the `user-service` example library.
//!
//! It loads the built `cdylib` with dlopen and calls its exported C symbols
//! with protobuf bytes — exactly what the generated Dart client does — then
//! prints each path: calls, a validation error, NOT_FOUND, a rate-limited
//! burst, a caught panic, the Prometheus metrics and the decoded health.
//!
//! Usage: `user-service-demo [path/to/libuser_service.so]` (`cargo xtask demo`
//! builds the library with its `demo` feature and runs this).

use libloading::Library;
use prost::Message;
use std::path::PathBuf;

mod user {
    include!(concat!(env!("OUT_DIR"), "/user.v1.rs"));
}
mod demo {
    include!(concat!(env!("OUT_DIR"), "/demo.v1.rs"));
}

/// `{ uint8_t *data; size_t len; size_t capacity; }`
#[repr(C)]
struct Buffer {
    data: *mut u8,
    len: usize,
    capacity: usize,
}

type MethodFn = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;
type OutFn = unsafe extern "C" fn(*mut Buffer) -> i32;

/// google.rpc.Status, decoded with our own prost type (independent of the library).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, Message)]
struct Health {
    #[prost(bool, tag = "1")]
    healthy: bool,
    #[prost(string, tag = "2")]
    reason: String,
    #[prost(uint64, tag = "3")]
    uptime_ms: u64,
    #[prost(uint64, tag = "4")]
    in_flight: u64,
    #[prost(uint64, tag = "5")]
    panics: u64,
    #[prost(string, repeated, tag = "6")]
    services: Vec<String>,
    #[prost(bool, tag = "7")]
    shutting_down: bool,
    #[prost(bool, tag = "8")]
    panic_unwind: bool,
    #[prost(uint32, tag = "9")]
    abi_version: u32,
}

const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

struct Client {
    lib: Library,
    free: unsafe extern "C" fn(*mut Buffer),
}

impl Client {
    fn open(path: &PathBuf) -> Client {
        // SAFETY: loading the example library runs no foreign initialisers.
        let lib = unsafe { Library::new(path) }.unwrap_or_else(|e| {
            eprintln!(
                "cannot load {}: {e}\nbuild it first: cargo build -p user-service --features demo",
                path.display()
            );
            std::process::exit(1)
        });
        // SAFETY: `users_proto2ffi_free` has this signature (see the header).
        let free = unsafe { *lib.get(b"users_proto2ffi_free").expect("free symbol") };
        Client { lib, free }
    }

    /// Calls `symbol` and returns (code, bytes of *out), freeing the buffer.
    fn raw(&self, symbol: &str, request: &[u8]) -> (i32, Vec<u8>) {
        // SAFETY: every method symbol has the MethodFn signature.
        let f: MethodFn = unsafe { *self.lib.get(symbol.as_bytes()).expect(symbol) };
        let mut out = Buffer {
            data: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        };
        let ptr = if request.is_empty() {
            std::ptr::null()
        } else {
            request.as_ptr()
        };
        // SAFETY: ptr/len describe `request`; `out` is writable.
        let code = unsafe { f(ptr, request.len(), &mut out) };
        let bytes = if out.data.is_null() {
            Vec::new()
        } else {
            // SAFETY: the library filled `out` with `len` bytes.
            unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec()
        };
        // SAFETY: releasing the buffer this library returned, once.
        unsafe { (self.free)(&mut out) };
        (code, bytes)
    }

    fn call<Resp: Message + Default>(
        &self,
        symbol: &str,
        request: &impl Message,
    ) -> Result<Resp, RpcStatus> {
        let (code, bytes) = self.raw(symbol, &request.encode_to_vec());
        if code == 0 {
            Ok(Resp::decode(&bytes[..]).expect("response decodes"))
        } else {
            Err(RpcStatus::decode(&bytes[..]).expect("status decodes"))
        }
    }

    fn out(&self, symbol: &str) -> Vec<u8> {
        // SAFETY: library-wide output functions have the OutFn signature.
        let f: OutFn = unsafe { *self.lib.get(symbol.as_bytes()).expect(symbol) };
        let mut out = Buffer {
            data: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        };
        // SAFETY: `out` is writable.
        assert_eq!(unsafe { f(&mut out) }, 0, "{symbol}");
        // SAFETY: filled by the library.
        let bytes = unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec();
        // SAFETY: released once.
        unsafe { (self.free)(&mut out) };
        bytes
    }
}

fn show_error(e: &RpcStatus) -> String {
    let mut s = format!(
        "{} ({}): {}",
        CODE_NAMES.get(e.code as usize).unwrap_or(&"?"),
        e.code,
        e.message
    );
    for d in &e.details {
        if d.type_url.ends_with("user.v1.ErrorInfo") {
            if let Ok(info) = user::ErrorInfo::decode(&d.value[..]) {
                s.push_str(&format!(
                    " [detail ErrorInfo: field={}, reason={}]",
                    info.field, info.reason
                ));
            }
        }
    }
    s
}

/// `users_log_record` (see the header).
#[repr(C)]
struct LogRecord {
    level: i32,
    reserved: u32,
    timestamp_ms: u64,
    target: *const std::ffi::c_char,
    message: *const std::ffi::c_char,
    fields: *const std::ffi::c_char,
}

type LogFn = unsafe extern "C" fn(*mut std::ffi::c_void, *mut LogRecord);
type RecordFree = unsafe extern "C" fn(*mut LogRecord);

static LOGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static RECORD_FREE: std::sync::OnceLock<RecordFree> = std::sync::OnceLock::new();

/// The host's log callback: formats the record, then frees it.
unsafe extern "C" fn on_log(_context: *mut std::ffi::c_void, record: *mut LogRecord) {
    // SAFETY: the library hands over a valid record with NUL-terminated
    // strings, owned by us until freed.
    let r = unsafe { &*record };
    let text = |p| {
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    };
    let level = ["?", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
        .get(r.level as usize)
        .unwrap_or(&"?");
    LOGS.lock().unwrap().push(format!(
        "{level} {}: {} {{{}}}",
        text(r.target),
        text(r.message),
        text(r.fields)
    ));
    // SAFETY: freed once, with the library's function.
    unsafe { RECORD_FREE.get().expect("set before the sink")(record) };
}

/// `uint64_t start(const uint8_t *, size_t, uint32_t timeout_ms, callback, void *context)`.
type StartFn =
    unsafe extern "C" fn(*const u8, usize, u32, Option<EventFn>, *mut std::ffi::c_void) -> u64;
/// `void callback(void *context, uint64_t call_id, int32_t status, const uint8_t *data, size_t len)`.
type EventFn = unsafe extern "C" fn(*mut std::ffi::c_void, u64, i32, *const u8, usize);

/// One event from the library's threads: (call id, status, data).
type Event = (u64, i32, Vec<u8>);

/// The completion callback: forwards each event to the channel in `context`.
unsafe extern "C" fn on_event(
    context: *mut std::ffi::c_void,
    call_id: u64,
    status: i32,
    data: *const u8,
    len: usize,
) {
    // SAFETY: `context` is the leaked `Sender` of `async_demo`; `data`
    // points at `len` bytes for the duration of the callback.
    let tx = unsafe { &*(context as *const std::sync::Mutex<std::sync::mpsc::Sender<Event>>) };
    let bytes = if data.is_null() {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
    };
    let _ = tx.lock().unwrap().send((call_id, status, bytes));
}

/// Async calls, a server stream, cancellation and a deadline, through the C
/// completion ABI (what the Dart client's `Future`s and `Stream`s use).
fn async_demo(c: &Client) {
    section("async call, server stream, cancel, deadline, client stream");
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let context = Box::leak(Box::new(std::sync::Mutex::new(tx))) as *mut _ as *mut std::ffi::c_void;
    // SAFETY: signatures from the header.
    let (search, stream, cancel, next): (
        StartFn,
        StartFn,
        extern "C" fn(u64) -> i32,
        unsafe extern "C" fn(u64, u32, *mut Buffer) -> i32,
    ) = unsafe {
        (
            *c.lib.get(b"users_user_service_search_users_start").unwrap(),
            *c.lib.get(b"users_user_service_stream_users_start").unwrap(),
            *c.lib.get(b"users_proto2ffi_cancel").unwrap(),
            *c.lib.get(b"users_proto2ffi_stream_next").unwrap(),
        )
    };
    let start = |f: StartFn, request: &[u8], timeout_ms: u32| {
        // SAFETY: `request` is live for the call; `context` lives forever.
        unsafe {
            f(
                request.as_ptr(),
                request.len(),
                timeout_ms,
                Some(on_event),
                context,
            )
        }
    };
    let final_of = |id: u64| loop {
        let (got, status, data) = rx.recv().expect("an event");
        if got == id && status >= 0 {
            return (status, data);
        }
    };

    let req = user::SearchUsersRequest {
        query: "example".into(),
        limit: 0,
    }
    .encode_to_vec();
    let id = start(search, &req, 1000);
    let (status, data) = final_of(id);
    let found = user::SearchUsersResponse::decode(&data[..]).map_or(0, |r| r.users.len());
    println!(
        "SearchUsers(\"example\") call {id} -> {} ({found} users)",
        CODE_NAMES[status as usize]
    );

    // A stream: the callback says items wait (-1); stream_next takes them.
    let id = start(
        stream,
        &user::StreamUsersRequest::default().encode_to_vec(),
        0,
    );
    let mut users = Vec::new();
    let status = loop {
        let (got, status, _) = rx.recv().expect("an event");
        if got != id {
            continue;
        }
        if status >= 0 {
            break status;
        }
        let mut out = Buffer {
            data: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        };
        // SAFETY: a writable buffer; freed below.
        if unsafe { next(id, 0, &mut out) } == 0 {
            // SAFETY: the library filled `out`.
            let mut bytes = unsafe { std::slice::from_raw_parts(out.data, out.len) };
            while !bytes.is_empty() {
                let len = prost::encoding::decode_varint(&mut bytes).unwrap() as usize;
                users.push(user::User::decode(&bytes[..len]).unwrap().name);
                bytes = &bytes[len..];
            }
        }
        // SAFETY: `out` came from this library.
        unsafe { (c.free)(&mut out) };
    };
    println!(
        "StreamUsers call {id} -> {} users {:?}, then {}",
        users.len(),
        users,
        CODE_NAMES[status as usize]
    );

    let slow = user::StreamUsersRequest {
        after_id: 0,
        pause_ms: 200,
    }
    .encode_to_vec();
    let id = start(stream, &slow, 0);
    println!("cancel(call {id}) -> {}", CODE_NAMES[cancel(id) as usize]);
    println!(
        "  the stream ended with {}",
        CODE_NAMES[final_of(id).0 as usize]
    );
    let id = start(stream, &slow, 50);
    let status = loop {
        let (got, status, _) = rx.recv().expect("an event");
        if got == id && status >= 0 {
            break status;
        }
        if got == id {
            let mut out = Buffer {
                data: std::ptr::null_mut(),
                len: 0,
                capacity: 0,
            };
            // SAFETY: as above.
            unsafe { next(id, 0, &mut out) };
            // SAFETY: `out` came from this library.
            unsafe { (c.free)(&mut out) };
        }
    };
    println!(
        "StreamUsers with a 50 ms deadline, 200 ms per user -> {}",
        CODE_NAMES[status as usize]
    );

    // A client stream: the start takes no request; each goes with
    // stream_send (checked and decoded before it returns), and
    // stream_close_send ends them.
    // SAFETY: signatures from the header.
    let (import, send, close_send): (
        unsafe extern "C" fn(u32, Option<EventFn>, *mut std::ffi::c_void) -> u64,
        unsafe extern "C" fn(u64, *const u8, usize) -> i32,
        extern "C" fn(u64) -> i32,
    ) = unsafe {
        (
            *c.lib.get(b"users_user_service_import_users_start").unwrap(),
            *c.lib.get(b"users_proto2ffi_stream_send").unwrap(),
            *c.lib.get(b"users_proto2ffi_stream_close_send").unwrap(),
        )
    };
    // SAFETY: `context` lives forever.
    let id = unsafe { import(0, Some(on_event), context) };
    for (name, email) in [
        ("Import One", "one@import.example"),
        ("Import Two", "two@import.example"),
        ("Import Bad", "not an email"),
    ] {
        let request = user::CreateUserRequest {
            name: name.into(),
            email: email.into(),
            ..Default::default()
        }
        .encode_to_vec();
        // SAFETY: `request` is live for the call.
        let code = unsafe { send(id, request.as_ptr(), request.len()) };
        println!(
            "ImportUsers call {id}: stream_send({name}) -> {}",
            CODE_NAMES[code as usize]
        );
    }
    println!(
        "ImportUsers call {id}: stream_close_send -> {}",
        CODE_NAMES[close_send(id) as usize]
    );
    let (status, data) = final_of(id);
    let summary = user::ImportUsersResponse::decode(&data[..]).unwrap_or_default();
    println!(
        "  -> {}: {} created, {} refused {:?}",
        CODE_NAMES[status as usize], summary.created, summary.failed, summary.errors
    );
}

/// `int32_t callback(void *context, uint64_t call_id, int32_t method, const uint8_t *request, size_t len)`.
type HostFn = unsafe extern "C" fn(*mut std::ffi::c_void, u64, i32, *const u8, usize) -> i32;

/// The host's KeyStore: each request goes to the host's own thread (the
/// callback must not block), which answers with `host_complete`.
unsafe extern "C" fn key_store(
    context: *mut std::ffi::c_void,
    call_id: u64,
    method: i32,
    request: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: `context` is the leaked `Sender` of `host_demo`; `request`
    // points at `len` bytes for the duration of the callback.
    let tx = unsafe { &*(context as *const std::sync::Mutex<std::sync::mpsc::Sender<Event>>) };
    let bytes = if request.is_null() {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(request, len) }.to_vec()
    };
    // method < 0: a cancellation (-1) or a ping (-2); 0: ReadSecret.
    if method >= 0 {
        let _ = tx.lock().unwrap().send((call_id, method, bytes));
    }
    0
}

/// The other direction: the library's IssueToken handler asks the host's
/// KeyStore for its signing key.
fn host_demo(c: &Client) {
    section("the host implements KeyStore; Rust calls it (host_bind, host_complete)");
    // SAFETY: signatures from the header.
    type BindFn = unsafe extern "C" fn(Option<HostFn>, *mut std::ffi::c_void) -> u64;
    type CompleteFn = unsafe extern "C" fn(u64, i32, *const u8, usize) -> i32;
    let (bind, unbind, complete, issue): (BindFn, extern "C" fn(u64) -> i32, CompleteFn, StartFn) = unsafe {
        (
            *c.lib.get(b"users_key_store_host_bind").unwrap(),
            *c.lib.get(b"users_proto2ffi_host_unbind").unwrap(),
            *c.lib.get(b"users_proto2ffi_host_complete").unwrap(),
            *c.lib.get(b"users_user_service_issue_token_start").unwrap(),
        )
    };
    let (events_tx, events) = std::sync::mpsc::channel::<Event>();
    let on_done =
        Box::leak(Box::new(std::sync::Mutex::new(events_tx))) as *mut _ as *mut std::ffi::c_void;
    let user = c
        .call::<user::CreateUserResponse>(
            "users_user_service_create_user",
            &user::CreateUserRequest {
                name: "Token Holder".into(),
                email: "token@example.com".into(),
                ..Default::default()
            },
        )
        .ok()
        .and_then(|r| r.user)
        .expect("a new user");
    let request = user::IssueTokenRequest { user_id: user.id }.encode_to_vec();
    let issue_token = || {
        // SAFETY: `request` is live for the call; `on_done` lives forever.
        let id = unsafe { issue(request.as_ptr(), request.len(), 0, Some(on_event), on_done) };
        loop {
            let (got, status, data) = events.recv().expect("an event");
            if got == id && status >= 0 {
                return (status, data);
            }
        }
    };
    let (status, data) = issue_token();
    let e = RpcStatus::decode(&data[..]).unwrap_or_default();
    println!(
        "IssueToken before the host binds -> {}: {}",
        CODE_NAMES[status as usize], e.message
    );

    let (requests_tx, requests) = std::sync::mpsc::channel::<Event>();
    let context =
        Box::leak(Box::new(std::sync::Mutex::new(requests_tx))) as *mut _ as *mut std::ffi::c_void;
    // SAFETY: `key_store` and `context` stay valid until unbind returns.
    let binding = unsafe { bind(Some(key_store), context) };
    let host = std::thread::spawn(move || {
        for (call_id, _method, bytes) in requests {
            let name = user::ReadSecretRequest::decode(&bytes[..])
                .unwrap_or_default()
                .name;
            println!("  host thread: ReadSecret(\"{name}\") for call {call_id}");
            let answer = user::ReadSecretResponse {
                value: b"0123456789abcdef-demo-signing-key".to_vec(),
            }
            .encode_to_vec();
            // SAFETY: `answer` is live for the call.
            let code = unsafe { complete(call_id, 0, answer.as_ptr(), answer.len()) };
            if code != 0 {
                println!(
                    "  host thread: host_complete -> {}",
                    CODE_NAMES[code as usize]
                );
            }
        }
    });
    let (status, data) = issue_token();
    let token = user::IssueTokenResponse::decode(&data[..])
        .unwrap_or_default()
        .token;
    println!(
        "IssueToken({}) with the host bound (binding {binding}) -> {} {token}",
        user.id, CODE_NAMES[status as usize]
    );
    println!("host_unbind -> {}", CODE_NAMES[unbind(binding) as usize]);
    // The callback's sender is leaked with its context; the host thread
    // lives on, idle, until the process exits.
    drop(host);
}

fn section(title: &str) {
    println!("\n== {title} ==");
}

fn default_library() -> PathBuf {
    let exe = std::env::current_exe().expect("exe path");
    let dir = exe.parent().expect("target dir");
    dir.join(format!(
        "{}user_service{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(default_library);
    let c = Client::open(&path);
    section(&format!("loaded {}", path.display()));
    // SAFETY: `uint32_t f(void)` / `uint64_t f(void)` per the header.
    let abi: extern "C" fn() -> u32 =
        unsafe { *c.lib.get(b"users_proto2ffi_abi_version").unwrap() };
    let fp: extern "C" fn() -> u64 = unsafe {
        *c.lib
            .get(b"users_proto2ffi_fingerprint_user_service")
            .unwrap()
    };
    println!(
        "ABI version {}, user.v1.UserService fingerprint {:#018x}",
        abi(),
        fp()
    );

    // Logs: the library's `tracing` records go to this host's callback.
    // SAFETY: signatures from the header.
    let (set_sink, record_free): (
        extern "C" fn(Option<LogFn>, *mut std::ffi::c_void) -> i32,
        RecordFree,
    ) = unsafe {
        (
            *c.lib.get(b"users_proto2ffi_set_log_sink").unwrap(),
            *c.lib.get(b"users_proto2ffi_log_record_free").unwrap(),
        )
    };
    let _ = RECORD_FREE.set(record_free);
    set_sink(Some(on_log), std::ptr::null_mut());

    section("calls");
    let mut ids = Vec::new();
    for (name, email, role) in [
        ("Ada Lovelace", "ada@example.com", user::Role::Admin),
        ("Alan Turing", "alan@example.com", user::Role::Member),
        ("Grace Hopper", "grace@example.com", user::Role::Member),
    ] {
        let r: user::CreateUserResponse = c
            .call(
                "users_user_service_create_user",
                &user::CreateUserRequest {
                    name: name.into(),
                    email: email.into(),
                    role: role as i32,
                    tags: vec!["demo".into()],
                    client_id: "demo-app".into(),
                },
            )
            .unwrap_or_else(|e| panic!("create failed: {}", show_error(&e)));
        let u = r.user.unwrap();
        println!(
            "CreateUser -> id={} name={:?} role={:?}",
            u.id,
            u.name,
            u.role()
        );
        ids.push(u.id);
    }
    let got: user::GetUserResponse = c
        .call(
            "users_user_service_get_user",
            &user::GetUserRequest {
                id: ids[1],
                client_id: "demo-app".into(),
            },
        )
        .unwrap();
    println!(
        "GetUser({}) -> {:?}",
        ids[1],
        got.user.map(|u| (u.name, u.email))
    );
    let mut token = String::new();
    loop {
        let page: user::ListUsersResponse = c
            .call(
                "users_user_service_list_users",
                &user::ListUsersRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    client_id: "demo-app".into(),
                },
            )
            .unwrap();
        let names: Vec<_> = page.users.iter().map(|u| u.name.as_str()).collect();
        println!(
            "ListUsers(page_size=2) -> {names:?} next_page_token={:?}",
            page.next_page_token
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let del: user::DeleteUserResponse = c
        .call(
            "users_user_service_delete_user",
            &user::DeleteUserRequest {
                id: ids[2],
                client_id: "demo-app".into(),
            },
        )
        .unwrap();
    println!("DeleteUser({}) -> deleted={}", ids[2], del.deleted);

    section("validation error");
    let e = c
        .call::<user::CreateUserResponse>(
            "users_user_service_create_user",
            &user::CreateUserRequest {
                name: "  ".into(),
                email: "x@example.com".into(),
                client_id: "demo-app".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    println!("CreateUser(name=\"  \") -> {}", show_error(&e));
    let e = c
        .call::<user::GetUserResponse>(
            "users_user_service_get_user",
            &user::GetUserRequest::default(),
        )
        .unwrap_err();
    println!("GetUser(id=0) -> {}", show_error(&e));

    section("not found");
    let e = c
        .call::<user::GetUserResponse>(
            "users_user_service_get_user",
            &user::GetUserRequest {
                id: 999,
                client_id: "demo-app".into(),
            },
        )
        .unwrap_err();
    println!("GetUser(999) -> {}", show_error(&e));

    section("rate-limited burst (CreateUser: 2/s per client_id, burst 5)");
    let mut admitted = 0;
    let mut last = None;
    for i in 0..10 {
        match c.call::<user::CreateUserResponse>(
            "users_user_service_create_user",
            &user::CreateUserRequest {
                name: format!("Burst {i}"),
                email: format!("burst{i}@example.com"),
                client_id: "noisy-client".into(),
                ..Default::default()
            },
        ) {
            Ok(_) => admitted += 1,
            Err(e) => last = Some(e),
        }
    }
    println!(
        "10 calls from client_id=noisy-client: {admitted} admitted, {} refused",
        10 - admitted
    );
    if let Some(e) = last {
        println!("last refusal -> {}", show_error(&e));
    }
    let other: Result<user::CreateUserResponse, _> = c.call(
        "users_user_service_create_user",
        &user::CreateUserRequest {
            name: "Quiet".into(),
            email: "quiet@example.com".into(),
            client_id: "quiet-client".into(),
            ..Default::default()
        },
    );
    println!(
        "another client is unaffected -> {}",
        if other.is_ok() { "OK" } else { "refused" }
    );

    section("caught panic (demo-only method)");
    match c.call::<demo::PanicResponse>(
        "users_demo_only_service_trigger_panic",
        &demo::PanicRequest {
            message: "deliberate panic for the demo".into(),
        },
    ) {
        Err(e) => println!("DemoOnlyService.TriggerPanic -> {}", show_error(&e)),
        Ok(_) => println!("unexpected OK"),
    }
    let after: Result<user::GetUserResponse, _> = c.call(
        "users_user_service_get_user",
        &user::GetUserRequest {
            id: ids[0],
            client_id: "demo-app".into(),
        },
    );
    println!(
        "next call after the panic -> {}",
        if after.is_ok() {
            "OK, the library keeps serving"
        } else {
            "failed"
        }
    );

    async_demo(&c);
    host_demo(&c);

    section("logs the library delivered to this host (set_log_sink)");
    for _ in 0..200 {
        if LOGS.lock().unwrap().iter().any(|l| l.starts_with("ERROR")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for line in LOGS.lock().unwrap().iter() {
        println!("{line}");
    }

    section("metrics (Prometheus text, UserService.GetUser and totals)");
    let text = String::from_utf8(c.out("users_proto2ffi_metrics_text")).expect("utf-8");
    for line in text.lines().filter(|l| {
        l.starts_with("# TYPE")
            || (l.contains("method=\"GetUser\"") && !l.contains("_bucket"))
            || l.starts_with("proto2ffi_in_flight")
            || (l.starts_with("proto2ffi_panics_total") && !l.ends_with(" 0"))
            || (l.starts_with("proto2ffi_rejections_total") && !l.ends_with(" 0"))
    }) {
        println!("{line}");
    }
    println!("({} lines in all)", text.lines().count());

    section("health");
    let h = Health::decode(&c.out("users_proto2ffi_health")[..]).expect("health decodes");
    println!("{h:#?}");

    section("shutdown");
    // SAFETY: `int32_t shutdown(uint32_t)`.
    let shutdown: extern "C" fn(u32) -> i32 =
        unsafe { *c.lib.get(b"users_proto2ffi_shutdown").unwrap() };
    println!(
        "shutdown(1000 ms) -> {}",
        CODE_NAMES[shutdown(1000) as usize]
    );
    let e = c
        .call::<user::GetUserResponse>(
            "users_user_service_get_user",
            &user::GetUserRequest {
                id: ids[0],
                client_id: "demo-app".into(),
            },
        )
        .unwrap_err();
    println!("GetUser after shutdown -> {}", show_error(&e));
}
