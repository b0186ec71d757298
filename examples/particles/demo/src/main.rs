//! Loads the `particles` library with dlopen, as Dart or C would, and
//! passes fixed-layout structs: a particle simulation, the same step on
//! encoded protobuf messages for comparison, and a luma histogram over a
//! 1080p frame whose pixels never leave this process's memory.
//!
//! Then the schema-declared `Particle` pool (`pool_size = 50000`) and its
//! metrics, and, given the `image_pipeline` library too, the guide's image
//! pipeline on 1080p and 4K frames with each kernel this CPU has.
//!
//! Usage: `particles-demo path/to/libparticles.so [path/to/libimage_pipeline.so]`
//! (run by `cargo xtask demo`).

use libloading::Library;
use std::time::Instant;

/// `particles_Particle` from `include/particles.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Particle {
    x: f32,
    y: f32,
    z: f32,
    vx: f32,
    vy: f32,
    vz: f32,
}

/// `particles_array_ref`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ArrayRef {
    data: u64,
    len: u32,
    capacity: u32,
}

/// `particles_Frame`.
#[repr(C)]
struct Frame {
    width: u32,
    height: u32,
    pixels: ArrayRef,
}

/// `particles_Histogram`.
#[repr(C)]
struct Histogram {
    bins: ArrayRef,
    pixels: u64,
}

/// `particles_buffer`.
#[repr(C)]
struct Buffer {
    data: *mut u8,
    len: usize,
    capacity: usize,
}

/// `ParticleMessage`, encoded for the protobuf entry point.
#[derive(Clone, PartialEq, prost::Message)]
struct ParticleMessage {
    #[prost(float, tag = "1")]
    x: f32,
    #[prost(float, tag = "2")]
    y: f32,
    #[prost(float, tag = "3")]
    z: f32,
    #[prost(float, tag = "4")]
    vx: f32,
    #[prost(float, tag = "5")]
    vy: f32,
    #[prost(float, tag = "6")]
    vz: f32,
}

type AcquireFn = unsafe extern "C" fn() -> *mut Particle;
type ReleaseFn = unsafe extern "C" fn(*mut Particle) -> i32;
type StepFn = unsafe extern "C" fn(*const Particle, *mut Particle, *mut Buffer) -> i32;
type EncodedFn = unsafe extern "C" fn(*const u8, usize, *mut Buffer) -> i32;
type LumaFn = unsafe extern "C" fn(*const Frame, *mut Histogram, *mut Buffer) -> i32;
type OutFn = unsafe extern "C" fn(*mut Buffer) -> i32;
type FreeFn = unsafe extern "C" fn(*mut Buffer);

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: particles-demo path/to/libparticles.so");
    // SAFETY: a proto2ffi library; loading runs Rust's own initialisers only.
    let lib = unsafe { Library::new(&path) }.expect("load the particles library");
    // SAFETY: the signatures of include/particles.h.
    let (step, encoded, luma, metrics_text, free) = unsafe {
        (
            *lib.get::<StepFn>(b"particles_particles_step").unwrap(),
            *lib.get::<EncodedFn>(b"particles_particles_step_encoded")
                .unwrap(),
            *lib.get::<LumaFn>(b"particles_particles_luma").unwrap(),
            *lib.get::<OutFn>(b"particles_proto2ffi_metrics_text")
                .unwrap(),
            *lib.get::<FreeFn>(b"particles_proto2ffi_free").unwrap(),
        )
    };

    println!("== fixed-layout structs: 10,000 particles, 100 steps ==");
    let mut particles: Vec<Particle> = (0..10_000)
        .map(|i| Particle {
            vx: (i % 7) as f32,
            vy: 5.0,
            ..Default::default()
        })
        .collect();
    let start = Instant::now();
    for _ in 0..100 {
        for p in &mut particles {
            let mut next = Particle::default();
            // SAFETY: two separate structs; no error buffer wanted.
            let code = unsafe { step(p, &mut next, std::ptr::null_mut()) };
            assert_eq!(code, 0);
            *p = next;
        }
    }
    let fixed = start.elapsed();
    println!(
        "   1,000,000 guarded struct calls in {:.1} ms ({:.0} ns a call); particle 3 at ({:.2}, {:.2})",
        fixed.as_secs_f64() * 1e3,
        fixed.as_nanos() as f64 / 1e6,
        particles[3].x,
        particles[3].y
    );

    println!("== the same step on encoded protobuf messages ==");
    let mut p = ParticleMessage {
        vy: 5.0,
        ..Default::default()
    };
    let mut bytes = Vec::new();
    let start = Instant::now();
    for _ in 0..1_000_000 {
        bytes.clear();
        prost::Message::encode(&p, &mut bytes).unwrap();
        let mut out = Buffer {
            data: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        };
        // SAFETY: live bytes and a writable buffer.
        let code = unsafe { encoded(bytes.as_ptr(), bytes.len(), &mut out) };
        assert_eq!(code, 0);
        // SAFETY: the library filled `out`.
        let response = unsafe { std::slice::from_raw_parts(out.data, out.len) };
        p = prost::Message::decode(if out.data.is_null() {
            &[][..]
        } else {
            response
        })
        .unwrap();
        // SAFETY: freed once.
        unsafe { free(&mut out) };
    }
    let proto = start.elapsed();
    println!(
        "   1,000,000 protobuf calls in {:.1} ms ({:.0} ns a call): structs are {:.1}x faster here",
        proto.as_secs_f64() * 1e3,
        proto.as_nanos() as f64 / 1e6,
        proto.as_secs_f64() / fixed.as_secs_f64()
    );

    println!("== a 1080p RGBA frame: pixels stay where they are ==");
    let (w, h) = (1920u32, 1080u32);
    let mut pixels: Vec<u32> = Vec::with_capacity((w * h) as usize + 16);
    // 64-byte alignment for the SIMD-declared array: skip to an aligned start.
    let skip = pixels.as_ptr().align_offset(64);
    pixels.resize(skip + (w * h) as usize, 0);
    let frame_pixels = &mut pixels[skip..];
    for (i, p) in frame_pixels.iter_mut().enumerate() {
        *p = (i as u32).wrapping_mul(2_654_435_761) | 0xff00_0000;
    }
    let mut bins = [0u64; 256];
    let frame = Frame {
        width: w,
        height: h,
        pixels: ArrayRef {
            data: frame_pixels.as_ptr() as usize as u64,
            len: w * h,
            capacity: w * h,
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
    let start = Instant::now();
    // SAFETY: the frame and bins live across the call.
    let code = unsafe { luma(&frame, &mut hist, std::ptr::null_mut()) };
    let t = start.elapsed();
    assert_eq!(code, 0);
    let peak = bins.iter().enumerate().max_by_key(|(_, n)| **n).unwrap();
    println!(
        "   luma histogram of {} pixels in {:.2} ms ({:.0} Mpx/s); most common luma {} ({} pixels)",
        hist.pixels,
        t.as_secs_f64() * 1e3,
        hist.pixels as f64 / t.as_secs_f64() / 1e6,
        peak.0,
        peak.1
    );

    println!("== the Particle pool (pool_size = 50000): structs the library lends ==");
    // SAFETY: the signatures of include/particles.h.
    let (acquire, release) = unsafe {
        (
            *lib.get::<AcquireFn>(b"particles_proto2ffi_pool_particle_acquire")
                .unwrap(),
            *lib.get::<ReleaseFn>(b"particles_proto2ffi_pool_particle_release")
                .unwrap(),
        )
    };
    let start = Instant::now();
    let mut held = Vec::with_capacity(10_000);
    for round in 0..100 {
        for i in 0..10_000 {
            // SAFETY: no arguments; NULL only when all 50,000 are lent.
            let p = unsafe { acquire() };
            assert!(!p.is_null());
            // SAFETY: lent to us until released; zeroed.
            unsafe { (*p).vx = (i + round) as f32 };
            held.push(p);
        }
        for p in held.drain(..) {
            // SAFETY: lent by the pool, released once.
            assert_eq!(unsafe { release(p) }, 0);
        }
    }
    let pooled = start.elapsed();
    // SAFETY: a stack address is not from the pool: refused, not a crash.
    let mut local = Particle::default();
    let refused = unsafe { release(&mut local) };
    println!(
        "   1,000,000 acquire + release pairs in {:.1} ms ({:.0} ns a pair); releasing a stack address returns {refused} (INVALID_ARGUMENT)",
        pooled.as_secs_f64() * 1e3,
        pooled.as_nanos() as f64 / 1e6
    );

    println!("== metrics (Prometheus text: Step and the pool) ==");
    let mut out = Buffer {
        data: std::ptr::null_mut(),
        len: 0,
        capacity: 0,
    };
    // SAFETY: a writable buffer, freed once below.
    assert_eq!(unsafe { metrics_text(&mut out) }, 0);
    // SAFETY: the library filled `out` with UTF-8.
    let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(out.data, out.len) })
        .into_owned();
    // SAFETY: freed once.
    unsafe { free(&mut out) };
    for line in text.lines().filter(|l| {
        (l.starts_with("proto2ffi_calls_total") && l.contains("\"Step"))
            || l.starts_with("proto2ffi_pool_")
    }) {
        println!("   {line}");
    }
    if let Some(image) = std::env::args().nth(2) {
        image_pipeline(&image);
    }
}

/// `image_ImageBuffer` (include/image_pipeline.h).
#[repr(C)]
struct ImageBuffer {
    width: u32,
    height: u32,
    data: ArrayRef,
}

/// `image_Adjust`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Adjust {
    kernel: i32,
    amount: i32,
    radius: u32,
}

type ImageFn = unsafe extern "C" fn(*const Adjust, *mut ImageBuffer, *mut Buffer) -> i32;
type AllocFn = unsafe extern "C" fn(usize, usize) -> *mut u8;
type DeallocFn = unsafe extern "C" fn(*mut u8, usize, usize);

/// The image pipeline: frames in memory from the library's allocator
/// (64-byte aligned), processed in place by each kernel this CPU has.
fn image_pipeline(path: &str) {
    // SAFETY: a proto2ffi library; loading runs Rust's own initialisers only.
    let lib = unsafe { Library::new(path) }.expect("load the image_pipeline library");
    // SAFETY: the signatures of include/image_pipeline.h.
    let (alloc, dealloc, ops) = unsafe {
        (
            *lib.get::<AllocFn>(b"image_proto2ffi_alloc").unwrap(),
            *lib.get::<DeallocFn>(b"image_proto2ffi_dealloc").unwrap(),
            [
                (
                    "grayscale",
                    *lib.get::<ImageFn>(b"image_image_pipeline_grayscale")
                        .unwrap(),
                ),
                (
                    "brightness",
                    *lib.get::<ImageFn>(b"image_image_pipeline_brightness")
                        .unwrap(),
                ),
                (
                    "box blur r=2",
                    *lib.get::<ImageFn>(b"image_image_pipeline_box_blur")
                        .unwrap(),
                ),
            ],
        )
    };
    println!("== the image pipeline: RGBA frames edited in place (Mpx/s, best of 5) ==");
    for (name, w, h) in [("1080p", 1920u32, 1080u32), ("4K", 3840, 2160)] {
        let n = (w * h) as usize;
        // SAFETY: the allocator export; checked for NULL below.
        let storage = unsafe { alloc(n * 4, 64) }.cast::<u32>();
        assert!(!storage.is_null());
        // SAFETY: n zeroed u32s, ours until dealloc.
        let pixels = unsafe { std::slice::from_raw_parts_mut(storage, n) };
        for (i, p) in pixels.iter_mut().enumerate() {
            *p = (i as u32).wrapping_mul(2_654_435_761);
        }
        let mut image = ImageBuffer {
            width: w,
            height: h,
            data: ArrayRef {
                data: storage as usize as u64,
                len: n as u32,
                capacity: n as u32,
            },
        };
        for (op, f) in ops {
            let mut line = format!("   {name:>5} {op:<13}");
            // KERNEL_SCALAR = 1, KERNEL_AVX2 = 2, KERNEL_NEON = 3.
            for (kernel, label) in [(1, "scalar"), (2, "avx2"), (3, "neon")] {
                let adjust = Adjust {
                    kernel,
                    amount: 1,
                    radius: 2,
                };
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let start = Instant::now();
                    // SAFETY: live structs; the pixels outlive the call.
                    let code = unsafe { f(&adjust, &mut image, std::ptr::null_mut()) };
                    if code != 0 {
                        best = f64::NAN; // not on this CPU (FAILED_PRECONDITION)
                        break;
                    }
                    best = best.min(start.elapsed().as_secs_f64());
                }
                if !best.is_nan() {
                    line.push_str(&format!(" {label} {:>6.0}", n as f64 / best / 1e6));
                }
            }
            println!("{line}");
        }
        // SAFETY: from alloc with this size and alignment.
        unsafe { dealloc(storage.cast(), n * 4, 64) };
    }
}
