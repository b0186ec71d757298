//! How every exported symbol is named.
//!
//! Every symbol starts with the library's prefix, so two proto2ffi libraries
//! can live in one process or be linked into one binary. The layout is:
//!
//! | symbol | example |
//! |---|---|
//! | unary method | `{prefix}_{service}_{method}` → `demo_user_service_get_user` |
//! | library-wide | `{prefix}_proto2ffi_{name}` → `demo_proto2ffi_free` |
//! | service fingerprint | `{prefix}_proto2ffi_fingerprint_{service}` |
//!
//! `{service}` and `{method}` are snake case. A service whose snake-case name
//! is `proto2ffi` is refused, which keeps the library-wide namespace free.

use heck::ToSnakeCase;

/// Infix of library-wide symbols; reserved as a service name.
pub const RESERVED_SERVICE: &str = "proto2ffi";

/// Snake-case form of a Rust or proto identifier (`r#` stripped).
pub fn snake(name: &str) -> String {
    name.trim_start_matches("r#").to_snake_case()
}

/// Checks a symbol prefix: ASCII lower-case letter first, then lower-case
/// letters, digits or `_`, not ending in `_`, at most 64 characters.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let ok_first = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    let ok_rest = prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok_first || !ok_rest || prefix.ends_with('_') || prefix.len() > 64 {
        return Err(format!(
            "invalid symbol prefix `{prefix}`: use a lower-case letter followed by lower-case \
             letters, digits or `_` (at most 64 characters, not ending in `_`), e.g. `my_app`"
        ));
    }
    Ok(())
}

/// The default prefix for a crate: its name in snake case.
pub fn default_prefix(crate_name: &str) -> String {
    crate_name.replace('-', "_").to_snake_case()
}

/// Checks a service name after snake-casing.
pub fn validate_service(service: &str) -> Result<(), String> {
    let s = snake(service);
    if s.is_empty() {
        return Err(format!("service name `{service}` has no letters"));
    }
    if s == RESERVED_SERVICE {
        return Err(format!(
            "service name `{service}` is reserved: its symbols would collide with the \
             library-wide `{RESERVED_SERVICE}` functions; rename the service"
        ));
    }
    Ok(())
}

/// Symbol of one unary method's entry point.
pub fn method_symbol(prefix: &str, service: &str, method: &str) -> String {
    format!("{prefix}_{}_{}", snake(service), snake(method))
}

/// Symbol of a service's fingerprint getter: `uint64_t f(void)`.
pub fn fingerprint_symbol(prefix: &str, service: &str) -> String {
    format!("{prefix}_{RESERVED_SERVICE}_fingerprint_{}", snake(service))
}

/// Symbol of a library-wide function.
pub fn library_symbol(prefix: &str, function: LibraryFn) -> String {
    format!("{prefix}_{RESERVED_SERVICE}_{}", function.suffix())
}

/// Name of the C buffer typedef for a prefix: `{prefix}_buffer`.
pub fn buffer_type(prefix: &str) -> String {
    crate::c_structs::BUFFER.c_name(prefix)
}

/// The C name of the log record struct: `{prefix}_log_record`.
pub fn log_record_type(prefix: &str) -> String {
    crate::c_structs::LOG_RECORD.c_name(prefix)
}

/// The C name of the log callback type: `{prefix}_log_fn`.
pub fn log_fn_type(prefix: &str) -> String {
    format!("{prefix}_log_fn")
}

/// A C type in an exported signature, mapped by the header and Dart writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CType {
    /// `void` (returns only).
    Void,
    /// `int32_t`: a status code.
    I32,
    /// `uint32_t`.
    U32,
    /// `uint64_t`.
    U64,
    /// `size_t`.
    Usize,
    /// `const uint8_t *`.
    BytesPtr,
    /// `{prefix}_buffer *`.
    BufferPtr,
    /// `void *`: a context pointer handed back unchanged.
    VoidPtr,
    /// `{prefix}_log_fn`: `void (*)(void *context, {prefix}_log_record *record)`.
    LogFn,
    /// `{prefix}_log_record *`.
    LogRecordPtr,
    /// `void *` returned by an allocator.
    MutVoidPtr,
    /// `int64_t`.
    I64,
    /// `{prefix}_callback`: `void (*)(void *context, uint64_t call_id,
    /// int32_t status, const uint8_t *data, size_t len)`.
    CallbackFn,
    /// `const void *`: a function pointer handed over as data.
    ConstVoidPtr,
    /// `size_t *`: where a function writes a count back.
    UsizeOutPtr,
    /// `{prefix}_host_fn`: `int32_t (*)(void *context, uint64_t call_id,
    /// int32_t method, const uint8_t *request, size_t len)`.
    HostFn,
}

/// One parameter of an exported function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Parameter name (C and Dart).
    pub name: &'static str,
    /// Its type.
    pub ty: CType,
}

/// Signature of every unary method entry point:
/// `int32_t f(const uint8_t *request, size_t request_len, buffer *out)`.
pub const METHOD_PARAMS: [Param; 3] = [
    Param {
        name: "request",
        ty: CType::BytesPtr,
    },
    Param {
        name: "request_len",
        ty: CType::Usize,
    },
    Param {
        name: "out",
        ty: CType::BufferPtr,
    },
];

/// The event a server stream's callback gets when items wait for
/// `stream_next` (final events carry a status code, 0 or above).
pub const STREAM_ITEMS: i32 = -1;

/// Most undelivered items of one stream, in either direction: a server
/// stream's producer waits beyond; `stream_send` on a client stream
/// returns [`STREAM_WRITABLE`] beyond.
pub const STREAM_WINDOW: usize = 256;

/// A client stream's window is full: what `stream_send` returns when it
/// queued nothing, and the event the callback gets once the handler took
/// enough items (half the window) for the caller to send again.
pub const STREAM_WRITABLE: i32 = -2;

/// Name of the C completion callback typedef: `{prefix}_callback`.
pub fn callback_type(prefix: &str) -> String {
    format!("{prefix}_callback")
}

/// Parameters of the completion callback.
pub const CALLBACK_PARAMS: [Param; 5] = [
    Param {
        name: "context",
        ty: CType::VoidPtr,
    },
    Param {
        name: "call_id",
        ty: CType::U64,
    },
    Param {
        name: "status",
        ty: CType::I32,
    },
    Param {
        name: "data",
        ty: CType::BytesPtr,
    },
    Param {
        name: "len",
        ty: CType::Usize,
    },
];

/// Name of the C typedef of a host implementation's callback:
/// `{prefix}_host_fn`.
pub fn host_fn_type(prefix: &str) -> String {
    format!("{prefix}_host_fn")
}

/// Parameters of the host callback; it returns `int32_t` (0: the host
/// took the request and will complete it with `host_complete`).
pub const HOST_FN_PARAMS: [Param; 5] = [
    Param {
        name: "context",
        ty: CType::VoidPtr,
    },
    Param {
        name: "call_id",
        ty: CType::U64,
    },
    Param {
        name: "method",
        ty: CType::I32,
    },
    Param {
        name: "request",
        ty: CType::BytesPtr,
    },
    Param {
        name: "request_len",
        ty: CType::Usize,
    },
];

/// The `method` a host callback gets when a call it took is cancelled
/// (the Rust caller gave up, its deadline passed, or the library shut
/// down): no request follows, and completing the call is no longer needed
/// (`host_complete` answers `NOT_FOUND`).
pub const HOST_CANCELLED: i32 = -1;

/// The `method` a host callback gets, with no request, every
/// [`HOST_PING_EVERY_MS`] while calls wait for it: the library checks the
/// host is still there. Return 0, or `UNAVAILABLE` (14) when the host is
/// gone (the binding is then removed and its waiting calls fail).
pub const HOST_PING: i32 = -2;

/// How often a host with waiting calls is pinged ([`HOST_PING`]).
pub const HOST_PING_EVERY_MS: u64 = 200;

/// Symbol that binds the host's implementation of a service the host
/// implements: `{prefix}_{service}_host_bind`.
pub fn host_bind_symbol(prefix: &str, service: &str) -> String {
    format!("{prefix}_{}_host_bind", snake(service))
}

/// Parameters of a `*_host_bind` function; it returns the binding
/// (`uint64_t`, 0 when refused).
pub const HOST_BIND_PARAMS: [Param; 2] = [
    Param {
        name: "callback",
        ty: CType::HostFn,
    },
    Param {
        name: "context",
        ty: CType::VoidPtr,
    },
];

/// Documentation of a `*_host_bind` function, for the header and Dart.
pub fn host_bind_doc(service_full_name: &str) -> String {
    format!(
        "Binds the host's implementation of {service_full_name}: from now on Rust's calls of \
         its methods reach callback(context, call_id, method, request, request_len), on the \
         calling Rust thread; method is the rpc's index in the service (in declaration order). \
         The callback returns 0 when it took the request, and then completes the call exactly \
         once, from any thread, with host_complete; it must not block (hand the request to \
         your own thread or event loop). Any other return completes the call with that status \
         (UNAVAILABLE (14) also removes the binding: the host is gone). With no request, the \
         callback also gets method = HOST_CANCELLED (-1) when a call it took is cancelled, and \
         method = HOST_PING (-2) every 200 ms while calls wait for it (return 0, or UNAVAILABLE \
         if the host is gone); these may come from a thread of the library. A new \
         binding replaces the previous one, whose pending calls complete with UNAVAILABLE. \
         Returns the binding (pass it to host_unbind), or 0 when callback is NULL or the \
         library cannot be used (forked)."
    )
}

/// Symbol that starts an async or streaming method:
/// `{method symbol}_start`.
pub fn start_symbol(method_symbol: &str) -> String {
    format!("{method_symbol}_start")
}

/// Parameters of every `*_start` entry point; it returns the call id
/// (`uint64_t`, 0 only when `callback` is NULL).
pub const START_PARAMS: [Param; 5] = [
    Param {
        name: "request",
        ty: CType::BytesPtr,
    },
    Param {
        name: "request_len",
        ty: CType::Usize,
    },
    Param {
        name: "timeout_ms",
        ty: CType::U32,
    },
    Param {
        name: "callback",
        ty: CType::CallbackFn,
    },
    Param {
        name: "context",
        ty: CType::VoidPtr,
    },
];

/// Parameters of the `*_start` entry point of a client-streaming or
/// bidirectional method: no request (the caller sends the requests with
/// `stream_send`); it returns the call id like [`START_PARAMS`].
pub const STREAMING_START_PARAMS: [Param; 3] = [
    Param {
        name: "timeout_ms",
        ty: CType::U32,
    },
    Param {
        name: "callback",
        ty: CType::CallbackFn,
    },
    Param {
        name: "context",
        ty: CType::VoidPtr,
    },
];

/// The library-wide functions every proto2ffi library exports exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LibraryFn {
    /// `void free(buffer *buffer)`: releases a buffer the library returned and
    /// zeroes it; a zero buffer (or NULL) is a no-op.
    Free,
    /// `void *buffer_detach(buffer *out)`: moves a returned buffer into a
    /// handle the caller owns (and zeroes `*out`), to release later.
    BufferDetach,
    /// `void buffer_release(void *handle)`: releases a detached buffer;
    /// also a finalizer callback (Dart's `NativeFinalizer`).
    BufferRelease,
    /// `uint32_t abi_version(void)`.
    AbiVersion,
    /// `int32_t init(buffer *out)`: runs the library's init function (it also
    /// runs lazily on the first call); on failure `*out` holds the error.
    Init,
    /// `int32_t metrics(buffer *out)`: encoded `proto2ffi.v1.Metrics`.
    Metrics,
    /// `int32_t metrics_text(buffer *out)`: Prometheus text exposition (UTF-8).
    MetricsText,
    /// `int32_t health(buffer *out)`: encoded `proto2ffi.v1.Health`.
    Health,
    /// `int32_t shutdown(uint32_t timeout_ms)`: stops admitting calls and waits
    /// for in-flight ones; 0 when drained, `DEADLINE_EXCEEDED` otherwise.
    Shutdown,
    /// `int32_t set_log_sink(log_fn callback, void *context)`: delivers the
    /// library's log records to `callback` (NULL removes it).
    SetLogSink,
    /// `int32_t set_log_filter(const uint8_t *filter, size_t filter_len,
    /// buffer *out)`: sets which records are delivered.
    SetLogFilter,
    /// `void log_record_free(log_record *record)`: releases a delivered record.
    LogRecordFree,
    /// `void *alloc(size_t size, size_t align)`: zeroed memory for
    /// fixed-layout structs and the arrays they point at.
    Alloc,
    /// `void dealloc(void *ptr, size_t size, size_t align)`: releases it.
    Dealloc,
    /// `int32_t cancel(uint64_t call_id)`: cancels an async call or stream.
    Cancel,
    /// `int32_t stream_next(uint64_t call_id, uint32_t max_items, buffer
    /// *out)`: takes a server stream's delivered items.
    StreamNext,
    /// `int32_t stream_send(uint64_t call_id, const uint8_t *item, size_t
    /// len)`: sends one request of a client-streaming or bidi call.
    StreamSend,
    /// `int32_t stream_send_items(uint64_t call_id, const uint8_t *items,
    /// size_t len, size_t *taken)`: sends several requests in one call.
    StreamSendItems,
    /// `int32_t stream_close_send(uint64_t call_id)`: no more requests.
    StreamCloseSend,
    /// `void *dart_open(const void *post_cobject, int64_t port)`: a
    /// completion context that posts to a Dart port.
    DartOpen,
    /// `void dart_close(void *context)`: closes it.
    DartClose,
    /// The completion callback that posts to the Dart port of its context.
    DartCallback,
    /// `int32_t dart_take(uint64_t call_id, buffer *out)`: the final event
    /// of a call that completed inside its `*_start` on this thread.
    DartTake,
    /// `int32_t host_complete(uint64_t call_id, int32_t status, const
    /// uint8_t *data, size_t len)`: the host's answer to a call.
    HostComplete,
    /// `int32_t host_unbind(uint64_t binding)`: removes a host binding.
    HostUnbind,
    /// `void host_finalize(void *binding)`: `host_unbind` for finalizers.
    HostFinalize,
    /// The host callback for Dart: posts each request to the Dart port of
    /// a context from `dart_open`.
    DartHostCallback,
    /// `int32_t dart_init_api(void *api_dl_data)`: lets the library ask the
    /// Dart VM which isolate a thread runs.
    DartInitApi,
}

impl LibraryFn {
    /// Every library-wide function, in header order.
    pub const ALL: [LibraryFn; 28] = [
        LibraryFn::Free,
        LibraryFn::BufferDetach,
        LibraryFn::BufferRelease,
        LibraryFn::AbiVersion,
        LibraryFn::Init,
        LibraryFn::Metrics,
        LibraryFn::MetricsText,
        LibraryFn::Health,
        LibraryFn::Shutdown,
        LibraryFn::SetLogSink,
        LibraryFn::SetLogFilter,
        LibraryFn::LogRecordFree,
        LibraryFn::Alloc,
        LibraryFn::Dealloc,
        LibraryFn::Cancel,
        LibraryFn::StreamNext,
        LibraryFn::StreamSend,
        LibraryFn::StreamSendItems,
        LibraryFn::StreamCloseSend,
        LibraryFn::DartOpen,
        LibraryFn::DartClose,
        LibraryFn::DartCallback,
        LibraryFn::DartTake,
        LibraryFn::HostComplete,
        LibraryFn::HostUnbind,
        LibraryFn::HostFinalize,
        LibraryFn::DartHostCallback,
        LibraryFn::DartInitApi,
    ];

    /// The part after `{prefix}_proto2ffi_`.
    pub const fn suffix(self) -> &'static str {
        match self {
            LibraryFn::Free => "free",
            LibraryFn::BufferDetach => "buffer_detach",
            LibraryFn::BufferRelease => "buffer_release",
            LibraryFn::AbiVersion => "abi_version",
            LibraryFn::Init => "init",
            LibraryFn::Metrics => "metrics",
            LibraryFn::MetricsText => "metrics_text",
            LibraryFn::Health => "health",
            LibraryFn::Shutdown => "shutdown",
            LibraryFn::SetLogSink => "set_log_sink",
            LibraryFn::SetLogFilter => "set_log_filter",
            LibraryFn::LogRecordFree => "log_record_free",
            LibraryFn::Alloc => "alloc",
            LibraryFn::Dealloc => "dealloc",
            LibraryFn::Cancel => "cancel",
            LibraryFn::StreamNext => "stream_next",
            LibraryFn::StreamSend => "stream_send",
            LibraryFn::StreamSendItems => "stream_send_items",
            LibraryFn::StreamCloseSend => "stream_close_send",
            LibraryFn::DartOpen => "dart_open",
            LibraryFn::DartClose => "dart_close",
            LibraryFn::DartCallback => "dart_callback",
            LibraryFn::DartTake => "dart_take",
            LibraryFn::HostComplete => "host_complete",
            LibraryFn::HostUnbind => "host_unbind",
            LibraryFn::HostFinalize => "host_finalize",
            LibraryFn::DartHostCallback => "dart_host_callback",
            LibraryFn::DartInitApi => "dart_init_api",
        }
    }

    /// Return type.
    pub const fn returns(self) -> CType {
        match self {
            LibraryFn::Free
            | LibraryFn::BufferRelease
            | LibraryFn::LogRecordFree
            | LibraryFn::Dealloc
            | LibraryFn::DartClose
            | LibraryFn::DartCallback
            | LibraryFn::HostFinalize => CType::Void,
            LibraryFn::Alloc | LibraryFn::DartOpen | LibraryFn::BufferDetach => CType::MutVoidPtr,
            LibraryFn::AbiVersion => CType::U32,
            _ => CType::I32,
        }
    }

    /// Parameters.
    pub const fn params(self) -> &'static [Param] {
        const OUT: &[Param] = &[Param {
            name: "out",
            ty: CType::BufferPtr,
        }];
        match self {
            LibraryFn::Free | LibraryFn::BufferDetach => &[Param {
                name: "buffer",
                ty: CType::BufferPtr,
            }],
            LibraryFn::BufferRelease => &[Param {
                name: "handle",
                ty: CType::MutVoidPtr,
            }],
            LibraryFn::AbiVersion => &[],
            LibraryFn::Shutdown => &[Param {
                name: "timeout_ms",
                ty: CType::U32,
            }],
            LibraryFn::SetLogSink => &[
                Param {
                    name: "callback",
                    ty: CType::LogFn,
                },
                Param {
                    name: "context",
                    ty: CType::VoidPtr,
                },
            ],
            LibraryFn::SetLogFilter => &[
                Param {
                    name: "filter",
                    ty: CType::BytesPtr,
                },
                Param {
                    name: "filter_len",
                    ty: CType::Usize,
                },
                Param {
                    name: "out",
                    ty: CType::BufferPtr,
                },
            ],
            LibraryFn::LogRecordFree => &[Param {
                name: "record",
                ty: CType::LogRecordPtr,
            }],
            LibraryFn::Alloc => &[
                Param {
                    name: "size",
                    ty: CType::Usize,
                },
                Param {
                    name: "align",
                    ty: CType::Usize,
                },
            ],
            LibraryFn::Dealloc => &[
                Param {
                    name: "ptr",
                    ty: CType::MutVoidPtr,
                },
                Param {
                    name: "size",
                    ty: CType::Usize,
                },
                Param {
                    name: "align",
                    ty: CType::Usize,
                },
            ],
            LibraryFn::Cancel | LibraryFn::StreamCloseSend => &[Param {
                name: "call_id",
                ty: CType::U64,
            }],
            LibraryFn::StreamSend => &[
                Param {
                    name: "call_id",
                    ty: CType::U64,
                },
                Param {
                    name: "item",
                    ty: CType::BytesPtr,
                },
                Param {
                    name: "item_len",
                    ty: CType::Usize,
                },
            ],
            LibraryFn::StreamSendItems => &[
                Param {
                    name: "call_id",
                    ty: CType::U64,
                },
                Param {
                    name: "items",
                    ty: CType::BytesPtr,
                },
                Param {
                    name: "len",
                    ty: CType::Usize,
                },
                Param {
                    name: "taken",
                    ty: CType::UsizeOutPtr,
                },
            ],
            LibraryFn::StreamNext => &[
                Param {
                    name: "call_id",
                    ty: CType::U64,
                },
                Param {
                    name: "max_items",
                    ty: CType::U32,
                },
                Param {
                    name: "out",
                    ty: CType::BufferPtr,
                },
            ],
            LibraryFn::DartOpen => &[
                Param {
                    name: "post_cobject",
                    ty: CType::ConstVoidPtr,
                },
                Param {
                    name: "port",
                    ty: CType::I64,
                },
            ],
            LibraryFn::DartClose => &[Param {
                name: "context",
                ty: CType::MutVoidPtr,
            }],
            LibraryFn::DartCallback => &CALLBACK_PARAMS,
            LibraryFn::DartHostCallback => &HOST_FN_PARAMS,
            LibraryFn::HostComplete => &[
                Param {
                    name: "call_id",
                    ty: CType::U64,
                },
                Param {
                    name: "status",
                    ty: CType::I32,
                },
                Param {
                    name: "data",
                    ty: CType::BytesPtr,
                },
                Param {
                    name: "len",
                    ty: CType::Usize,
                },
            ],
            LibraryFn::HostUnbind => &[Param {
                name: "binding",
                ty: CType::U64,
            }],
            LibraryFn::HostFinalize => &[Param {
                name: "binding",
                ty: CType::MutVoidPtr,
            }],
            LibraryFn::DartInitApi => &[Param {
                name: "api_dl_data",
                ty: CType::MutVoidPtr,
            }],
            LibraryFn::DartTake => &[
                Param {
                    name: "call_id",
                    ty: CType::U64,
                },
                Param {
                    name: "out",
                    ty: CType::BufferPtr,
                },
            ],
            _ => OUT,
        }
    }

    /// One-paragraph documentation, used in the header and the Dart bindings.
    pub const fn doc(self) -> &'static str {
        match self {
            LibraryFn::Free => "Releases a buffer returned by this library and zeroes it. Freeing a zero buffer or NULL is a no-op.",
            LibraryFn::BufferDetach => "Moves a buffer returned by this library into a handle the caller owns, and zeroes *buffer: the bytes stay where they are, valid until the handle is passed to buffer_release (a language with a garbage collector can hand out views of them and release the handle from a finalizer). Returns NULL, detaching nothing, for NULL or a zero buffer.",
            LibraryFn::BufferRelease => "Releases a handle from buffer_detach, from any thread; its bytes are gone once this returns. NULL is a no-op. Its signature is a finalizer's: void (*)(void *), as Dart's NativeFinalizer and Pointer.asTypedList(finalizer:) take.",
            LibraryFn::AbiVersion => "The C ABI version this library speaks.",
            LibraryFn::Init => "Runs the library's init function now (it otherwise runs on the first call). Returns a status code; on failure *out holds an encoded google.rpc.Status.",
            LibraryFn::Metrics => "Writes the encoded proto2ffi.v1.Metrics message to *out.",
            LibraryFn::MetricsText => "Writes the metrics as Prometheus text exposition (UTF-8) to *out.",
            LibraryFn::Health => "Writes the encoded proto2ffi.v1.Health message to *out.",
            LibraryFn::Shutdown => "Stops admitting calls and waits up to timeout_ms for in-flight calls. Returns 0 when all drained, DEADLINE_EXCEEDED (4) otherwise.",
            LibraryFn::SetLogSink => "Delivers this library's log records to callback(context, record), one at a time, in order, on a thread of the library; the callback owns each record and frees it with log_record_free. Records wait in a bounded queue (1024); when it is full they are dropped and counted (log_records_dropped in the metrics). NULL removes the sink. Returns 0.",
            LibraryFn::SetLogFilter => "Sets which records are delivered: UTF-8 directives such as \"info\" or \"warn,my_crate=debug\" (target=level, comma-separated; default \"info\"). Returns 0, or INVALID_ARGUMENT (3) with the reason in *out.",
            LibraryFn::LogRecordFree => "Releases a log record delivered to the callback. NULL is a no-op.",
            LibraryFn::Alloc => "Allocates size bytes, zeroed, aligned to align (a power of two up to 4096), for fixed-layout structs and the arrays they point at. Returns NULL when size is 0, align is invalid or memory is exhausted.",
            LibraryFn::Dealloc => "Releases memory from alloc, given the same size and align. NULL is a no-op.",
            LibraryFn::Cancel => "Cancels an async call or a stream started with a *_start function: the library completes it with CANCELLED (1) at once, exactly once, and drops its Rust future at the future's next await point. Returns 0, or NOT_FOUND (5) when the call is unknown or already completed.",
            LibraryFn::StreamNext => "Takes up to max_items (0: all) delivered items of a server stream, in order, into *out: each item is a varint length followed by the encoded message. Call it after the callback reported STREAM_ITEMS (-1); taking items makes room for the producer (at most 256 wait undelivered). Returns 0 (possibly with no items), or NOT_FOUND (5) when the call is unknown or completed.",
            LibraryFn::StreamSendItems => "Sends several requests of a client-streaming or bidirectional call in one crossing: items holds len bytes of requests, each a varint length and the encoded message (the format stream_next hands out). Each is checked as stream_send checks one, in order. Returns 0 when all were queued; STREAM_WRITABLE (-2) when the window filled first: the items before *taken bytes were queued, send the rest after the callback got STREAM_WRITABLE (-2); otherwise as stream_send, for the first item refused (a refused item ends the call; items before it were queued), and INVALID_ARGUMENT (3), ending the call, when the bytes are not whole framed items. *taken (when taken is not NULL) is always set to the bytes of the items queued.",
            LibraryFn::StreamSend => "Sends one encoded request of a client-streaming or bidirectional call. The item is checked as a unary request is (NULL with a length, the method's request size limit, the decode budget, decoding, the keyed limit) before this returns; at most 256 wait for the handler. Returns 0 when queued; STREAM_WRITABLE (-2) when that window is full and nothing was queued: send it again after the callback got STREAM_WRITABLE (-2); FAILED_PRECONDITION (9) after stream_close_send; NOT_FOUND (5) when the call is unknown, completed or does not take a request stream. A refused item ends the call: its status is returned and the callback gets it with the message.",
            LibraryFn::StreamCloseSend => "Ends the requests of a client-streaming or bidirectional call: the handler's request stream ends after the items already sent. Returns 0 (also when already closed), or NOT_FOUND (5) when the call is unknown, completed or does not take a request stream.",
            LibraryFn::DartOpen => "For Dart: a completion context that posts each event to a Dart port, with post_cobject = NativeApi.postCObject. Pass it with dart_callback to the *_start functions. Each event arrives as a Uint8List: call id (8 bytes, little endian), status (4 bytes), data. Returns NULL when post_cobject is NULL or too many contexts are open (65536).",
            LibraryFn::DartClose => "Closes a context from dart_open: its calls still running are cancelled (their futures dropped), and later events for it are dropped. NULL or an unknown context is a no-op.",
            LibraryFn::DartCallback => "The completion callback for contexts from dart_open (look its address up; do not call it). When a post fails (the isolate is gone), the call is cancelled. A final event of a call that completes inside its *_start (a handler ready without waiting) is kept for dart_take instead of posted.",
            LibraryFn::HostComplete => "Completes a call the host took (see *_host_bind), from any thread: status 0 with data = the encoded response, or a status code (1-16) with data = a UTF-8 message (may be empty). The library copies data before returning. Returns 0; NOT_FOUND (5) when the call is unknown, already completed or cancelled (nothing changes); INVALID_ARGUMENT (3) when status is not 0-16 or data is NULL with a length (the call stays pending); RESOURCE_EXHAUSTED (8) when the response exceeds the method's response limit (the call then completes with RESOURCE_EXHAUSTED).",
            LibraryFn::HostUnbind => "Removes a binding from *_host_bind: its pending calls complete with UNAVAILABLE and, once this returns, its callback is not called again (except when called from inside that callback, where callbacks already running on other threads may still finish). Returns 0, or NOT_FOUND (5) when the binding is unknown or already replaced or removed.",
            LibraryFn::HostFinalize => "host_unbind for finalizers (Dart's NativeFinalizer): binding is the id from *_host_bind cast to a pointer; no result.",
            LibraryFn::DartHostCallback => "The host callback for Dart (look its address up; do not call it): with a context from dart_open, posts each request to the context's port as a Uint8List (call id, 8 bytes little endian; method, 4 bytes; the request), and returns UNAVAILABLE (14) when the post fails (the isolate is gone).",
            LibraryFn::DartInitApi => "For Dart, once per process before binding a host implementation: api_dl_data = NativeApi.initializeApiDLData. The library then asks the VM which isolate a thread runs (Dart_CurrentIsolate), so that a blocking call into a host implementation from the isolate that serves it fails at once instead of waiting for itself, wherever the VM schedules isolates. Returns 0, or FAILED_PRECONDITION (9) when the data is NULL or lacks Dart_CurrentIsolate.",
            LibraryFn::DartTake => "For Dart, right after a *_start with dart_callback returned call_id on this thread: when the call already completed (its handler was ready without waiting), returns its final status and writes its data to *out (free it), and nothing is posted for it; otherwise returns -1 and the final event will be posted.",
        }
    }
}

/// The C name of a fixed-layout message's struct: `{prefix}_{Name}`, where
/// `Name` joins the message's proto name and those of the messages it is
/// nested in with `_` (`Outer.Inner` → `Outer_Inner`).
pub fn fixed_struct_type(prefix: &str, name: &str) -> String {
    format!("{prefix}_{name}")
}

/// The Rust and Dart name of a fixed-layout message: `Outer_Inner` for
/// `pkg.Outer.Inner` (`full_name` without the package).
pub fn fixed_name(name_in_package: &str) -> String {
    name_in_package.replace('.', "_")
}

/// The C name of the array reference struct large fixed-layout arrays use:
/// `{prefix}_array_ref`.
pub fn fixed_array_type(prefix: &str) -> String {
    crate::c_structs::ARRAY_REF.c_name(prefix)
}

/// Symbol of a fixed-layout message's layout fingerprint:
/// `uint64_t {prefix}_proto2ffi_layout_{name}(void)`, `name` in snake case.
pub fn fixed_layout_symbol(prefix: &str, name: &str) -> String {
    format!("{prefix}_{RESERVED_SERVICE}_layout_{}", snake(name))
}

/// The exports of a fixed-layout message's pool (`pool_size`), named by
/// [`fixed_pool_symbol`]. `T` is the message's struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolFn {
    /// `T *acquire(void)`: a zeroed object, or NULL when all are in use.
    Acquire,
    /// `int32_t release(T *object)`: 0, or INVALID_ARGUMENT (3).
    Release,
    /// `void finalize(void *object)`: release for finalizers and destructors.
    Finalize,
}

impl PoolFn {
    /// Every pool function, in header order.
    pub const ALL: [PoolFn; 3] = [PoolFn::Acquire, PoolFn::Release, PoolFn::Finalize];

    /// The last word of the symbol.
    pub const fn suffix(self) -> &'static str {
        match self {
            PoolFn::Acquire => "acquire",
            PoolFn::Release => "release",
            PoolFn::Finalize => "finalize",
        }
    }

    /// One-paragraph documentation, used in the header and the Dart bindings.
    pub const fn doc(self) -> &'static str {
        match self {
            PoolFn::Acquire => "Lends a zeroed object from the message's pool (pool_size objects, preallocated on first use, 64-byte aligned slab). Returns NULL when every object is in use: the pool never grows. Thread-safe, lock-free, never blocks.",
            PoolFn::Release => "Returns an object to the pool. Returns 0, or INVALID_ARGUMENT (3) when object is NULL, not one of this pool's objects, or not lent out (released twice); a refused release changes nothing and is counted in the metrics. The object must not be used afterwards.",
            PoolFn::Finalize => "release with no result, for finalizers and destructors (e.g. Dart's NativeFinalizer). Refusals are counted in the metrics.",
        }
    }
}

/// Symbol of a pool function of a fixed-layout message:
/// `{prefix}_proto2ffi_pool_{name}_{acquire|release|finalize}`, `name` in
/// snake case.
pub fn fixed_pool_symbol(prefix: &str, name: &str, function: PoolFn) -> String {
    format!(
        "{prefix}_{RESERVED_SERVICE}_pool_{}_{}",
        snake(name),
        function.suffix()
    )
}

/// Parameter names of a fixed-layout method entry point:
/// `int32_t f(const Req *request, Resp *response, buffer *error)`.
pub const FIXED_METHOD_PARAMS: [&str; 3] = ["request", "response", "error"];

/// Finds duplicates in a list of `(symbol, origin)` pairs; returns the first
/// clash as `(symbol, first origin, second origin)`.
pub fn find_duplicate<'a>(
    symbols: impl IntoIterator<Item = (String, &'a str)>,
) -> Option<(String, &'a str, &'a str)> {
    let mut seen = std::collections::HashMap::new();
    for (symbol, origin) in symbols {
        if let Some(first) = seen.insert(symbol.clone(), origin) {
            return Some((symbol, first, origin));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            method_symbol("demo", "UserService", "GetUser"),
            "demo_user_service_get_user"
        );
        assert_eq!(
            method_symbol("demo", "UserService", "r#type"),
            "demo_user_service_type"
        );
        assert_eq!(
            library_symbol("demo", LibraryFn::Free),
            "demo_proto2ffi_free"
        );
        assert_eq!(
            fingerprint_symbol("demo", "UserService"),
            "demo_proto2ffi_fingerprint_user_service"
        );
        assert_eq!(default_prefix("user-service"), "user_service");
        assert_eq!(
            fixed_pool_symbol("demo", "Particle", PoolFn::Release),
            "demo_proto2ffi_pool_particle_release"
        );
    }

    #[test]
    fn prefixes() {
        assert!(validate_prefix("demo").is_ok());
        assert!(validate_prefix("my_app2").is_ok());
        for bad in ["", "Demo", "1x", "a-b", "x_", "é"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_service() {
        assert!(validate_service("Proto2ffi").is_err());
        assert!(validate_service("UserService").is_ok());
    }

    #[test]
    fn duplicates() {
        let d = find_duplicate([
            ("a".to_string(), "x"),
            ("b".to_string(), "y"),
            ("a".to_string(), "z"),
        ]);
        assert_eq!(d, Some(("a".to_string(), "x", "z")));
    }
}
