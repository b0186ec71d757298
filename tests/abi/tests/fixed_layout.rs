//! Fixed-layout calls as a foreign caller makes them: the `particles`
//! example library is loaded with dlopen and its struct entry points are
//! called with structs declared here by hand (as a C program declares them
//! from the header), including large arrays in memory this side owns.

use abi_tests::{cdylib, Lib};
use proto2ffi_runtime::{Buffer, Status};
use std::sync::OnceLock;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Particle {
    x: f32,
    y: f32,
    z: f32,
    vx: f32,
    vy: f32,
    vz: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ArrayRef {
    data: u64,
    len: u32,
    capacity: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    width: u32,
    height: u32,
    pixels: ArrayRef,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Histogram {
    bins: ArrayRef,
    pixels: u64,
}

type StepFn = unsafe extern "C" fn(*const Particle, *mut Particle, *mut Buffer) -> i32;
type LumaFn = unsafe extern "C" fn(*const Frame, *mut Histogram, *mut Buffer) -> i32;

fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Lib::open(&cdylib("particles"), "particles");
        // Registers the service now (metrics list registered services).
        lib.init().expect("init");
        lib
    })
}

fn error_of(lib: &Lib, error: &mut Buffer) -> String {
    // SAFETY: a buffer the library filled.
    let s = Status::decode(unsafe { error.as_slice() })
        .map(|s| s.message().to_string())
        .unwrap_or_default();
    lib.free(error);
    s
}

#[test]
fn step_moves_a_particle_in_place() {
    let lib = lib();
    // SAFETY: the signature from the header.
    let step: StepFn = unsafe { lib.symbol("particles_particles_step") };
    let request = Particle {
        x: 1.0,
        vx: 60.0,
        vy: 0.0,
        ..Default::default()
    };
    let mut response = Particle::default();
    let mut error = Buffer::empty();
    // SAFETY: two separate, aligned structs.
    let code = unsafe { step(&request, &mut response, &mut error) };
    assert_eq!(code, 0, "{}", error_of(lib, &mut error));
    assert_eq!(response.x, 2.0);
    assert!((response.vy + 9.81 / 60.0).abs() < 1e-6);
    // The layout fingerprint is exported next to it.
    // SAFETY: `uint64_t f(void)`.
    let layout: extern "C" fn() -> u64 =
        unsafe { lib.symbol("particles_proto2ffi_layout_particle") };
    assert_ne!(layout(), 0);
}

#[test]
fn luma_reads_pixels_and_writes_bins_in_caller_memory() {
    let lib = lib();
    // SAFETY: the signature from the header.
    let luma: LumaFn = unsafe { lib.symbol("particles_particles_luma") };
    // SAFETY: the alloc/dealloc exports' signatures.
    let alloc: extern "C" fn(usize, usize) -> *mut u8 =
        unsafe { lib.symbol("particles_proto2ffi_alloc") };
    let dealloc: unsafe extern "C" fn(*mut u8, usize, usize) =
        unsafe { lib.symbol("particles_proto2ffi_dealloc") };
    let (w, h) = (64u32, 48u32);
    let n = (w * h) as usize;
    let storage = alloc(n * 4, 64);
    assert!(!storage.is_null() && (storage as usize).is_multiple_of(64));
    // SAFETY: `n` u32s, zeroed, 64-byte aligned.
    let pixels = unsafe { std::slice::from_raw_parts_mut(storage.cast::<u32>(), n) };
    let mut expected = [0u64; 256];
    for (i, p) in pixels.iter_mut().enumerate() {
        *p = (i as u32).wrapping_mul(2_654_435_761) | 0xff00_0000;
        let (r, g, b) = (*p & 0xff, (*p >> 8) & 0xff, (*p >> 16) & 0xff);
        expected[((77 * r + 150 * g + 29 * b) >> 8) as usize] += 1;
    }
    let mut bins = vec![0u64; 256];
    let frame = Frame {
        width: w,
        height: h,
        pixels: ArrayRef {
            data: storage as usize as u64,
            len: n as u32,
            capacity: n as u32,
        },
    };
    let mut hist = Histogram {
        bins: ArrayRef {
            data: bins.as_mut_ptr() as usize as u64,
            len: 0,
            capacity: 256,
        },
        pixels: 0,
    };
    let mut error = Buffer::empty();
    // SAFETY: the structs and the memory they reference live across the call.
    let code = unsafe { luma(&frame, &mut hist, &mut error) };
    assert_eq!(code, 0, "{}", error_of(lib, &mut error));
    assert_eq!(hist.bins.len, 256);
    assert_eq!(hist.pixels, n as u64);
    assert_eq!(bins, expected);

    // A handler's own refusal, and the guard's: misaligned storage.
    let mut small = Frame { width: 1, ..frame };
    // SAFETY: as above.
    let code = unsafe { luma(&small, &mut hist, &mut error) };
    assert_eq!(code, 3);
    let message = error_of(lib, &mut error);
    assert!(message.contains("a 1x48 frame has 48 pixels"), "{message}");
    small.width = w;
    small.pixels.data += 4;
    small.pixels.len -= 1;
    small.pixels.capacity -= 1;
    // SAFETY: as above; the guard refuses before reading.
    let code = unsafe { luma(&small, &mut hist, &mut error) };
    assert_eq!(code, 3);
    let message = error_of(lib, &mut error);
    assert!(message.contains("not aligned to 64 bytes"), "{message}");
    // Output storage the response lends is checked before the handler
    // writes through it: NULL bins with a capacity never reach the handler.
    let mut bad = Histogram {
        bins: ArrayRef {
            data: 0,
            len: 0,
            capacity: 256,
        },
        pixels: 0,
    };
    // SAFETY: as above; the guard refuses before the handler runs.
    let code = unsafe { luma(&frame, &mut bad, &mut error) };
    assert_eq!(code, 3);
    let message = error_of(lib, &mut error);
    assert!(
        message.contains("response (before the call)") && message.contains("NULL"),
        "{message}"
    );
    // SAFETY: from alloc with this size and alignment.
    unsafe { dealloc(storage, n * 4, 64) };
}

#[test]
fn fixed_calls_are_counted_in_metrics_and_survive_threads() {
    let lib = lib();
    // SAFETY: the signature from the header.
    let step: StepFn = unsafe { lib.symbol("particles_particles_step") };
    let before = lib.method_metrics("Step");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut p = Particle {
                    vx: t as f32,
                    ..Default::default()
                };
                for _ in 0..10_000 {
                    let mut next = Particle::default();
                    // SAFETY: two separate structs; NULL error buffer.
                    let code = unsafe { step(&p, &mut next, std::ptr::null_mut()) };
                    assert_eq!(code, 0);
                    p = next;
                }
                p
            })
        })
        .collect();
    for t in threads {
        let p = t.join().unwrap();
        assert!(p.y < 0.0);
    }
    let after = lib.method_metrics("Step");
    // Other tests of this file may call Step meanwhile: at least ours.
    let calls = after.calls - before.calls;
    assert!(calls >= 40_000, "{calls}");
    assert_eq!(after.bytes_in - before.bytes_in, calls * 24);
    // Fixed-layout calls are timed one in 256 per thread (each thread's
    // first call is one), the protobuf method of the same service one in 16.
    let metrics = lib.metrics();
    assert_eq!(metrics.fixed_latency_sample_every, 256);
    assert_eq!(metrics.latency_sample_every, 16);
    assert_eq!(after.latency_sample_every, 256);
    assert_eq!(lib.method_metrics("StepEncoded").latency_sample_every, 16);
    let samples = after.latency_samples - before.latency_samples;
    assert!(samples >= 4 * (10_000 / 256), "{samples} of {calls}");
    // Other tests' threads add at most one untimely sample each.
    assert!(samples <= calls / 256 + 16, "{samples} of {calls}");
    let text = lib.metrics_text();
    assert!(
        text.contains("\nproto2ffi_fixed_latency_sample_every 256\n"),
        "{text}"
    );
}

type AcquireFn = unsafe extern "C" fn() -> *mut Particle;
type ReleaseFn = unsafe extern "C" fn(*mut Particle) -> i32;

#[test]
fn the_pool_lends_each_object_once_and_refuses_bad_releases() {
    let lib = lib();
    // SAFETY: the signatures from the header.
    let (acquire, release): (AcquireFn, ReleaseFn) = unsafe {
        (
            lib.symbol("particles_proto2ffi_pool_particle_acquire"),
            lib.symbol("particles_proto2ffi_pool_particle_release"),
        )
    };
    // Four threads each hold up to 1000 objects at a time, write a mark in
    // each, and check nobody else wrote it before releasing.
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..20u32 {
                    let held: Vec<usize> = (0..1000u32)
                        .map(|i| {
                            // SAFETY: no arguments.
                            let p = unsafe { acquire() };
                            assert!(!p.is_null());
                            // SAFETY: lent to this thread alone.
                            let p = unsafe { &mut *p };
                            assert_eq!(*p, Particle::default(), "zeroed");
                            p.x = (t * 1_000_000 + round * 1000 + i) as f32;
                            p as *mut Particle as usize
                        })
                        .collect();
                    for (i, p) in held.into_iter().enumerate() {
                        let p = p as *mut Particle;
                        // SAFETY: still lent to this thread.
                        assert_eq!(
                            unsafe { (*p).x },
                            (t * 1_000_000 + round * 1000 + i as u32) as f32
                        );
                        // SAFETY: returned once, not used afterwards.
                        assert_eq!(unsafe { release(p) }, 0);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // SAFETY: a lent object, released twice; a stack address; NULL.
    unsafe {
        let p = acquire();
        assert_eq!(release(p), 0);
        assert_eq!(release(p), 3, "double release");
        let mut local = Particle::default();
        assert_eq!(release(&mut local), 3, "foreign address");
        assert_eq!(release(p.cast::<u8>().add(1).cast()), 3, "inside an object");
        assert_eq!(release(std::ptr::null_mut()), 3);
    }
    let pools = lib.metrics().pools;
    let p = pools
        .iter()
        .find(|p| p.message == "particles.v1.Particle")
        .expect("pool in metrics");
    assert_eq!((p.capacity, p.created), (50_000, 50_000));
    assert!(p.acquired >= 80_001 && p.refused >= 4, "{p:?}");
    let text = lib.metrics_text();
    assert!(
        text.contains("proto2ffi_pool_acquired_total{message=\"particles.v1.Particle\"}"),
        "{text}"
    );
}

/// `sizeof(particles_Probe)` from the header: every field kind (bounded
/// string and bytes, bools, enums, inline arrays of scalars and structs).
const PROBE_SIZE: usize = 320;

#[repr(C, align(8))]
struct RawProbe([u8; PROBE_SIZE]);

type RawFn = unsafe extern "C" fn(*const RawProbe, *mut RawProbe, *mut Buffer) -> i32;

/// Foreign code can write any bytes into a struct: mutated and fully
/// random `Probe`s get OK or `INVALID_ARGUMENT` naming the field, never a
/// crash, a panic or an invalid response (the handler's answer is checked
/// too: `INTERNAL` would fail this test).
#[test]
fn hostile_probe_bytes_get_a_status_never_a_crash() {
    let lib = lib();
    // SAFETY: the signature from the header, with the struct as raw bytes.
    let mirror: RawFn = unsafe { lib.symbol("particles_particles_mirror") };
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut ok, mut refused) = (0u32, 0u32);
    for i in 0..100_000u32 {
        // All zero is a valid Probe; flip a few bytes, or fill it all.
        let mut request = RawProbe([0; PROBE_SIZE]);
        if i % 8 == 0 {
            for b in request.0.iter_mut() {
                *b = next() as u8;
            }
        } else {
            for _ in 0..1 + next() % 4 {
                let at = (next() % PROBE_SIZE as u64) as usize;
                request.0[at] = next() as u8;
            }
        }
        let mut response = RawProbe([0xa5; PROBE_SIZE]);
        let mut error = Buffer::empty();
        // SAFETY: two separate, aligned structs of the header's size; a
        // Probe holds no array references, so any bytes are a legal call.
        let code = unsafe { mirror(&request, &mut response, &mut error) };
        match code {
            0 => ok += 1,
            3 => {
                let message = error_of(lib, &mut error);
                // `request: <Message>.<field>: …` (a nested struct is named
                // by its own message).
                assert!(
                    message.starts_with("request: Probe.")
                        || message.starts_with("request: Scalars.")
                        || message.starts_with("request: Vec3."),
                    "{message}"
                );
                refused += 1;
            }
            other => panic!("code {other}: {}", error_of(lib, &mut error)),
        }
        lib.free(&mut error);
    }
    assert!(
        ok > 10_000 && refused > 10_000,
        "ok {ok}, refused {refused}"
    );
}
