//! Shared pieces of the benchmarks: loading `bench-lib` with dlopen, the
//! four ways to call the same handler through the C ABI, request payloads,
//! and the large schema of the code-generation benchmark.

use ffi_support::{ByteBuffer, ExternError};
use libloading::Library;
use prost::Message;
use proto2ffi_runtime::Buffer;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The benchmark message (mirrors `bench-lib`'s).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoMessage {
    /// An id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// A short name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The payload.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

/// Payload sizes: the small 3-field message, then 1 KiB, 64 KiB, 1 MiB.
pub const SIZES: [(&str, usize); 4] = [
    ("small", 0),
    ("1KiB", 1 << 10),
    ("64KiB", 64 << 10),
    ("1MiB", 1 << 20),
];

/// An encoded request with a payload of `payload` bytes.
pub fn request(payload: usize) -> Vec<u8> {
    EchoMessage {
        id: 42,
        name: "bench".into(),
        payload: (0..payload).map(|i| i as u8).collect(),
    }
    .encode_to_vec()
}

type MethodFn = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;
type FreeFn = unsafe extern "C" fn(*mut Buffer);
type FfiSupportFn = unsafe extern "C" fn(*const u8, i32, *mut ExternError) -> ByteBuffer;
type FfiSupportFree = extern "C" fn(ByteBuffer);

/// `bench-lib`, loaded once.
pub struct BenchLib {
    _lib: Library,
    generated: MethodFn,
    unlimited: MethodFn,
    generated_free: FreeFn,
    handwritten: MethodFn,
    handwritten_free: FreeFn,
    ffi_support: FfiSupportFn,
    ffi_support_free: FfiSupportFree,
    copy_floor: MethodFn,
    /// `int32_t bench_noop(void)`.
    pub noop: extern "C" fn() -> i32,
    /// Heap allocations made inside the library so far.
    pub allocations: extern "C" fn() -> u64,
    decode_only: unsafe extern "C" fn(*const u8, usize) -> u64,
    /// `particles_particles_step`: the guarded fixed-layout entry point.
    pub fixed_step: FixedStepFn,
    /// `bench_handwritten_step`: the same step, unguarded.
    pub handwritten_step: unsafe extern "C" fn(*const Particle, *mut Particle) -> i32,
    /// `bench_minimal_guard_step`: the same step under the smallest guard
    /// that keeps the guarantees (static dispatch, no sampling).
    pub minimal_guard_step: FixedStepFn,
    /// `particles_particles_step_encoded`: the same step on protobuf bytes.
    pub encoded_step: unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32,
    /// `particles_proto2ffi_free`.
    pub particles_free: unsafe extern "C" fn(*mut Buffer),
    /// The Particle pool's acquire export.
    pub pool_acquire: unsafe extern "C" fn() -> *mut Particle,
    /// The Particle pool's release export.
    pub pool_release: unsafe extern "C" fn(*mut Particle) -> i32,
    /// `Box::new` of a zeroed particle behind an export.
    pub box_new: unsafe extern "C" fn() -> *mut Particle,
    /// Its drop.
    pub box_free: unsafe extern "C" fn(*mut Particle),
    /// The library's `alloc` export.
    pub alloc: unsafe extern "C" fn(usize, usize) -> *mut u8,
    /// The library's `dealloc` export.
    pub dealloc: unsafe extern "C" fn(*mut u8, usize, usize),
}

/// A guarded fixed-layout entry point on [`Particle`]s.
pub type FixedStepFn = unsafe extern "C" fn(*const Particle, *mut Particle, *mut Buffer) -> i32;

/// `particles_Particle` (six floats), declared as a C caller would.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Particle {
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Position.
    pub z: f32,
    /// Velocity.
    pub vx: f32,
    /// Velocity.
    pub vy: f32,
    /// Velocity.
    pub vz: f32,
}

/// `particles.v1.ParticleMessage`, the same particle as a protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParticleMessage {
    /// Position.
    #[prost(float, tag = "1")]
    pub x: f32,
    /// Position.
    #[prost(float, tag = "2")]
    pub y: f32,
    /// Position.
    #[prost(float, tag = "3")]
    pub z: f32,
    /// Velocity.
    #[prost(float, tag = "4")]
    pub vx: f32,
    /// Velocity.
    #[prost(float, tag = "5")]
    pub vy: f32,
    /// Velocity.
    #[prost(float, tag = "6")]
    pub vz: f32,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `bench-lib` in release mode (once) and loads it.
pub fn bench_lib() -> &'static BenchLib {
    static LIB: OnceLock<BenchLib> = OnceLock::new();
    LIB.get_or_init(|| {
        // A prebuilt copy (e.g. one of `cargo xtask bench`'s shuffled code
        // layouts) is loaded as it is.
        if let Some(path) = std::env::var_os("PROTO2FFI_BENCH_LIB") {
            // SAFETY: loading the benchmark library runs no foreign initialisers.
            let lib = unsafe { Library::new(&path) }.expect("load PROTO2FFI_BENCH_LIB");
            return BenchLib::load(lib);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "--release", "-p", "bench-lib"])
            .current_dir(workspace())
            .status()
            .expect("run cargo build -p bench-lib");
        assert!(status.success(), "building bench-lib failed");
        // In the profile directory of this binary (`target/release/deps/<bench>`
        // or `target/release/<bin>`), so a custom CARGO_TARGET_DIR is honoured.
        let file = format!(
            "{}bench_lib{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let exe = std::env::current_exe().unwrap_or_default();
        let path = exe
            .ancestors()
            .skip(1)
            .take(2)
            .map(|d| d.join(&file))
            .find(|p| p.exists())
            .unwrap_or_else(|| workspace().join("target/release").join(&file));
        // SAFETY: loading the benchmark library runs no foreign initialisers.
        let lib = unsafe { Library::new(&path) }.expect("load bench-lib");
        BenchLib::load(lib)
    })
}

impl BenchLib {
    /// Looks up every benchmark symbol of a loaded bench-lib.
    fn load(lib: Library) -> BenchLib {
        // SAFETY: each symbol has the declared signature (see bench-lib).
        unsafe {
            BenchLib {
                generated: *lib.get(b"bench_echo_bench_echo").unwrap(),
                unlimited: *lib.get(b"bench_echo_bench_echo_unlimited").unwrap(),
                generated_free: *lib.get(b"bench_proto2ffi_free").unwrap(),
                handwritten: *lib.get(b"bench_handwritten_echo").unwrap(),
                handwritten_free: *lib.get(b"bench_handwritten_free").unwrap(),
                ffi_support: *lib.get(b"bench_ffi_support_echo").unwrap(),
                ffi_support_free: *lib.get(b"bench_ffi_support_free").unwrap(),
                copy_floor: *lib.get(b"bench_copy_floor").unwrap(),
                noop: *lib.get(b"bench_noop").unwrap(),
                allocations: *lib.get(b"bench_allocations").unwrap(),
                decode_only: *lib.get(b"bench_decode_only").unwrap(),
                fixed_step: *lib.get(b"particles_particles_step").unwrap(),
                handwritten_step: *lib.get(b"bench_handwritten_step").unwrap(),
                minimal_guard_step: *lib.get(b"bench_minimal_guard_step").unwrap(),
                encoded_step: *lib.get(b"particles_particles_step_encoded").unwrap(),
                particles_free: *lib.get(b"particles_proto2ffi_free").unwrap(),
                pool_acquire: *lib
                    .get(b"particles_proto2ffi_pool_particle_acquire")
                    .unwrap(),
                pool_release: *lib
                    .get(b"particles_proto2ffi_pool_particle_release")
                    .unwrap(),
                box_new: *lib.get(b"bench_box_particle_new").unwrap(),
                box_free: *lib.get(b"bench_box_particle_free").unwrap(),
                alloc: *lib.get(b"particles_proto2ffi_alloc").unwrap(),
                dealloc: *lib.get(b"particles_proto2ffi_dealloc").unwrap(),
                _lib: lib,
            }
        }
    }

    /// Calls `method` on `request` and frees its buffer with `free`, as a C
    /// caller would; returns the response length.
    #[inline(always)]
    fn round_trip(method: MethodFn, free: FreeFn, request: &[u8]) -> usize {
        let mut out = Buffer::empty();
        // SAFETY: request is valid for its length; out is writable.
        let code = unsafe { method(request.as_ptr(), request.len(), &mut out) };
        assert_eq!(code, 0);
        let n = out.len;
        // SAFETY: returned by the library `free` belongs to.
        unsafe { free(&mut out) };
        n
    }

    /// The generated entry point; returns the response length.
    #[inline]
    pub fn generated(&self, request: &[u8]) -> usize {
        Self::round_trip(self.generated, self.generated_free, request)
    }

    /// The generated entry point of the method without a rate limit.
    #[inline]
    pub fn generated_unlimited(&self, request: &[u8]) -> usize {
        Self::round_trip(self.unlimited, self.generated_free, request)
    }

    /// The hand-written entry point; returns the response length.
    #[inline]
    pub fn handwritten(&self, request: &[u8]) -> usize {
        Self::round_trip(self.handwritten, self.handwritten_free, request)
    }

    /// The two copies a large call cannot avoid, and nothing else (freed
    /// like the generated call's buffer); returns the response length.
    #[inline]
    pub fn copy_floor(&self, request: &[u8]) -> usize {
        Self::round_trip(self.copy_floor, self.generated_free, request)
    }

    /// The ffi-support pattern; returns the response length.
    #[inline]
    pub fn ffi_support(&self, request: &[u8]) -> usize {
        let mut error = ExternError::success();
        // SAFETY: request is valid for its length.
        let buffer =
            unsafe { (self.ffi_support)(request.as_ptr(), request.len() as i32, &mut error) };
        assert!(error.get_code().is_success());
        let n = buffer.as_slice().len();
        (self.ffi_support_free)(buffer);
        n
    }

    /// Decoding alone, inside the library.
    pub fn decode_only(&self, request: &[u8]) -> u64 {
        // SAFETY: request is valid for its length.
        unsafe { (self.decode_only)(request.as_ptr(), request.len()) }
    }
}

/// The direct Rust call (no FFI, no encoding): the handler on a decoded message.
#[inline]
pub fn direct(message: EchoMessage) -> EchoMessage {
    message
}

/// A `.proto` with `messages` messages and `methods` methods across 10 services.
pub fn large_schema(messages: usize, methods: usize) -> String {
    let mut s = String::from("syntax = \"proto3\";\npackage bench.large.v1;\n\n");
    for i in 0..messages {
        s.push_str(&format!(
            "// Message {i}.\nmessage M{i} {{\n  uint64 id = 1;\n  string name = 2;\n  repeated int32 values = 3;\n  map<string, string> labels = 4;\n  oneof choice {{ string text = 5; bytes raw = 6; }}\n  optional double score = 7;\n{}}}\n\n",
            if i > 0 { format!("  M{} previous = 8;\n", i - 1) } else { String::new() }
        ));
    }
    let services = 10;
    for s_i in 0..services {
        s.push_str(&format!("service Service{s_i} {{\n"));
        for m in (s_i..methods).step_by(services) {
            s.push_str(&format!(
                "  // Method {m}.\n  rpc Call{m}(M{}) returns (M{});\n",
                m % messages,
                (m * 7) % messages
            ));
        }
        s.push_str("}\n\n");
    }
    s
}

/// The small-message variants [`interleaved`] compares, in order.
pub const INTERLEAVED_VARIANTS: [&str; 4] =
    ["generated", "unlimited", "handwritten", "ffi_support"];

/// Calls one variant of the small-message round trip.
pub fn call_variant(variant: &str, request: &[u8]) -> usize {
    let lib = bench_lib();
    match variant {
        "generated" => lib.generated(request),
        "unlimited" => lib.generated_unlimited(request),
        "handwritten" => lib.handwritten(request),
        "ffi_support" => lib.ffi_support(request),
        "copy_floor" => lib.copy_floor(request),
        other => panic!("unknown variant {other}"),
    }
}

/// ns per call of `calls` calls of one variant.
pub fn time_variant(variant: &str, request: &[u8], calls: u64) -> f64 {
    let start = std::time::Instant::now();
    let mut total = 0usize;
    for _ in 0..calls {
        total = total.wrapping_add(call_variant(variant, std::hint::black_box(request)));
    }
    std::hint::black_box(total);
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// Every small-message variant, `calls` calls per round, rounds interleaved
/// (so a noisy neighbour hits all variants alike): `(variant, best ns,
/// median ns)` in [`INTERLEAVED_VARIANTS`] order.
pub fn interleaved(rounds: usize, calls: u64) -> Vec<(&'static str, f64, f64)> {
    interleaved_sized(0, rounds, calls)
}

/// [`INTERLEAVED_VARIANTS`] and the copy floor, for large requests.
pub const SIZED_VARIANTS: [&str; 5] = [
    "generated",
    "unlimited",
    "handwritten",
    "ffi_support",
    "copy_floor",
];

/// [`interleaved`] with a request of `size` payload bytes (and, when it is
/// not the small message, the copy floor too).
pub fn interleaved_sized(size: usize, rounds: usize, calls: u64) -> Vec<(&'static str, f64, f64)> {
    let request = request(size);
    let variants: &[&'static str] = if size == 0 {
        &INTERLEAVED_VARIANTS
    } else {
        &SIZED_VARIANTS
    };
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds.max(1) {
        for (i, v) in variants.iter().enumerate() {
            times[i].push(time_variant(v, &request, calls));
        }
    }
    best_and_median(variants, times)
}

/// `(variant, best, median)` of each variant's round times.
fn best_and_median(
    variants: &[&'static str],
    mut times: Vec<Vec<f64>>,
) -> Vec<(&'static str, f64, f64)> {
    variants
        .iter()
        .zip(times.iter_mut())
        .map(|(v, t)| {
            t.sort_by(f64::total_cmp);
            (*v, t[0], t[t.len() / 2])
        })
        .collect()
}

/// The fixed-layout variants [`fixed_interleaved`] compares, in order: the
/// guarded struct call, the hand-written one on the same struct, and the
/// protobuf entry point for the same message (encode, call, decode, free).
pub const FIXED_VARIANTS: [&str; 6] = [
    "fixed",
    "fixed_handwritten",
    "fixed_protobuf",
    "fixed_independent",
    "fixed_handwritten_independent",
    "fixed_minimal_guard_independent",
];

/// ns per call of `calls` steps of one fixed-layout variant, each call's
/// response feeding the next request.
pub fn time_fixed(variant: &str, calls: u64) -> f64 {
    let lib = bench_lib();
    let mut p = Particle {
        vx: 1.0,
        vy: 5.0,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    match variant {
        "fixed" => {
            for _ in 0..calls {
                let mut next = Particle::default();
                // SAFETY: two separate structs; NULL error buffer.
                let code = unsafe { (lib.fixed_step)(&p, &mut next, std::ptr::null_mut()) };
                debug_assert_eq!(code, 0);
                p = std::hint::black_box(next);
            }
        }
        "fixed_handwritten" => {
            for _ in 0..calls {
                let mut next = Particle::default();
                // SAFETY: two separate structs.
                let code = unsafe { (lib.handwritten_step)(&p, &mut next) };
                debug_assert_eq!(code, 0);
                p = std::hint::black_box(next);
            }
        }
        // Throughput: every call steps the same particle into one of two
        // responses, so calls do not wait for each other's arithmetic.
        "fixed_independent" | "fixed_minimal_guard_independent" => {
            let step = if variant == "fixed_independent" {
                lib.fixed_step
            } else {
                lib.minimal_guard_step
            };
            let mut out = [Particle::default(); 2];
            for i in 0..calls {
                let next = &mut out[(i & 1) as usize];
                // SAFETY: two separate structs; NULL error buffer.
                let code = unsafe { step(std::hint::black_box(&p), next, std::ptr::null_mut()) };
                debug_assert_eq!(code, 0);
            }
            std::hint::black_box(&out);
        }
        "fixed_handwritten_independent" => {
            let mut out = [Particle::default(); 2];
            for i in 0..calls {
                let next = &mut out[(i & 1) as usize];
                // SAFETY: two separate structs.
                let code = unsafe { (lib.handwritten_step)(std::hint::black_box(&p), next) };
                debug_assert_eq!(code, 0);
            }
            std::hint::black_box(&out);
        }
        "fixed_protobuf" => {
            let mut m = ParticleMessage {
                vx: 1.0,
                vy: 5.0,
                ..Default::default()
            };
            let mut bytes = Vec::with_capacity(64);
            for _ in 0..calls {
                bytes.clear();
                prost::Message::encode(&m, &mut bytes).unwrap();
                let mut out = Buffer::empty();
                // SAFETY: live bytes, writable out.
                let code = unsafe { (lib.encoded_step)(bytes.as_ptr(), bytes.len(), &mut out) };
                debug_assert_eq!(code, 0);
                // SAFETY: filled by the library.
                m = prost::Message::decode(unsafe { out.as_slice() }).unwrap();
                // SAFETY: freed once.
                unsafe { (lib.particles_free)(&mut out) };
            }
            std::hint::black_box(&m);
        }
        other => panic!("unknown fixed variant {other}"),
    }
    std::hint::black_box(p);
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// [`FIXED_VARIANTS`], rounds interleaved: `(variant, best ns, median ns)`.
pub fn fixed_interleaved(rounds: usize, calls: u64) -> Vec<(&'static str, f64, f64)> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); FIXED_VARIANTS.len()];
    for _ in 0..rounds.max(1) {
        for (i, v) in FIXED_VARIANTS.iter().enumerate() {
            times[i].push(time_fixed(v, calls));
        }
    }
    best_and_median(&FIXED_VARIANTS, times)
}

/// The allocation variants [`pool_interleaved`] compares, each an
/// acquire/release pair of one 24-byte `Particle` through exported `extern
/// "C"` functions of the loaded library: the schema-declared pool, the
/// library's `alloc`/`dealloc`, `Box::new`/drop behind two exports, and the
/// C allocator's `malloc`/`free` called the same way.
pub const POOL_VARIANTS: [&str; 4] = ["pool", "library_alloc", "box", "malloc"];

/// ns per acquire+release pair of one [`POOL_VARIANTS`] variant, writing
/// one field of each object (as a caller filling it would).
pub fn time_pool(variant: &str, pairs: u64) -> f64 {
    let lib = bench_lib();
    let size = std::mem::size_of::<Particle>();
    // The C allocator, through a function pointer like the others.
    let (malloc, free): (
        unsafe extern "C" fn(usize) -> *mut u8,
        unsafe extern "C" fn(*mut u8),
    ) = (libc_malloc, libc_free);
    let start = std::time::Instant::now();
    // SAFETY (all arms): each object is written while held and released
    // once, by the function that matches its allocator.
    unsafe {
        match variant {
            "pool" => {
                for i in 0..pairs {
                    let p = (lib.pool_acquire)();
                    (*p).x = i as f32;
                    let code = (lib.pool_release)(std::hint::black_box(p));
                    debug_assert_eq!(code, 0);
                }
            }
            "library_alloc" => {
                for i in 0..pairs {
                    let p = (lib.alloc)(size, 8).cast::<Particle>();
                    (*p).x = i as f32;
                    (lib.dealloc)(std::hint::black_box(p).cast(), size, 8);
                }
            }
            "box" => {
                for i in 0..pairs {
                    let p = (lib.box_new)();
                    (*p).x = i as f32;
                    (lib.box_free)(std::hint::black_box(p));
                }
            }
            "malloc" => {
                for i in 0..pairs {
                    let p = malloc(size).cast::<Particle>();
                    p.write_bytes(0, 1);
                    (*p).x = i as f32;
                    free(std::hint::black_box(p).cast());
                }
            }
            other => panic!("unknown pool variant {other}"),
        }
    }
    start.elapsed().as_nanos() as f64 / pairs as f64
}

unsafe extern "C" {
    #[link_name = "malloc"]
    fn libc_malloc(size: usize) -> *mut u8;
    #[link_name = "free"]
    fn libc_free(p: *mut u8);
}

/// [`POOL_VARIANTS`], rounds interleaved: `(variant, best ns, median ns)`.
pub fn pool_interleaved(rounds: usize, pairs: u64) -> Vec<(&'static str, f64, f64)> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); POOL_VARIANTS.len()];
    for _ in 0..rounds.max(1) {
        for (i, v) in POOL_VARIANTS.iter().enumerate() {
            times[i].push(time_pool(v, pairs));
        }
    }
    best_and_median(&POOL_VARIANTS, times)
}

/// Frame sizes of the image benchmark: 1 MP (fits this machine's 8 MiB L3),
/// 1080p (about its size) and 4K (four times it).
pub const IMAGE_SIZES: [(&str, usize, usize); 3] = [
    ("1MP", 1024, 1024),
    ("1080p", 1920, 1080),
    ("4K", 3840, 2160),
];

/// One image benchmark row: `(size, operation, kernel, best Mpx/s)`.
pub type ImageRow = (&'static str, &'static str, &'static str, f64);

/// Mpx/s of the image operations, scalar and the best SIMD kernel, plus the
/// read-only pass (`read_sum`) and `memcpy` over the same bytes: best of
/// `rounds`, each round as many passes as fill about `budget_ms`.
pub fn image_rows(rounds: usize, budget_ms: u64) -> Vec<ImageRow> {
    use image_pipeline::kernels::{self, Impl};
    let best = Impl::best();
    let mut rows = Vec::new();
    for (size, w, h) in IMAGE_SIZES {
        let n = w * h;
        let mut x = 0x9e37_79b9_u32;
        let mut px: Vec<u32> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        let mut copy = vec![0u32; n];
        let mut bins = [0u32; 256];
        let mut time = |op: &'static str, kernel: &'static str, f: &mut dyn FnMut()| {
            f();
            let once = std::time::Instant::now();
            f();
            let per = once.elapsed().as_nanos().max(1) as u64;
            let passes = ((budget_ms * 1_000_000) / per).clamp(1, 1000);
            let mut best_ns = f64::MAX;
            for _ in 0..rounds.max(1) {
                let start = std::time::Instant::now();
                for _ in 0..passes {
                    f();
                }
                best_ns = best_ns.min(start.elapsed().as_nanos() as f64 / passes as f64);
            }
            rows.push((size, op, kernel, n as f64 / best_ns * 1e3));
        };
        time("read", best.name(), &mut || {
            std::hint::black_box(kernels::read_sum(std::hint::black_box(&px)));
        });
        time("memcpy", "libc", &mut || {
            copy.copy_from_slice(std::hint::black_box(&px));
            std::hint::black_box(&copy);
        });
        for k in [Impl::Scalar, best] {
            time("grayscale", k.name(), &mut || {
                kernels::grayscale(k, std::hint::black_box(&mut px)).unwrap();
            });
            time("brightness", k.name(), &mut || {
                kernels::brightness(k, std::hint::black_box(&mut px), 1).unwrap();
            });
            time("histogram", k.name(), &mut || {
                kernels::histogram(k, std::hint::black_box(&px), &mut bins).unwrap();
            });
            time("box_blur_r2", k.name(), &mut || {
                kernels::box_blur(k, std::hint::black_box(&mut px), w, h, 2).unwrap();
            });
            if best == Impl::Scalar {
                break;
            }
        }
    }
    rows
}
