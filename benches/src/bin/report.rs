//! Measurements criterion does not make: heap allocations per call (counted
//! inside the library) and call throughput with 1, 2, 4 and 8 threads on one
//! shared service. Prints one JSON object for `cargo xtask bench`.

use proto2ffi_benches::{bench_lib, request};
use std::time::{Duration, Instant};

fn per_call(mut f: impl FnMut(), calls: u64) -> f64 {
    let lib = bench_lib();
    for _ in 0..1000 {
        f();
    }
    let before = (lib.allocations)();
    for _ in 0..calls {
        f();
    }
    ((lib.allocations)() - before) as f64 / calls as f64
}

fn main() {
    let lib = bench_lib();
    let small = request(0);
    let kib = request(1024);
    let calls = 100_000;
    let generated = per_call(
        || {
            lib.generated(&small);
        },
        calls,
    );
    let handwritten = per_call(
        || {
            lib.handwritten(&small);
        },
        calls,
    );
    let ffi_support = per_call(
        || {
            lib.ffi_support(&small);
        },
        calls,
    );
    let decode = per_call(
        || {
            lib.decode_only(&small);
        },
        calls,
    );
    let generated_kib = per_call(
        || {
            lib.generated(&kib);
        },
        calls,
    );
    let decode_kib = per_call(
        || {
            lib.decode_only(&kib);
        },
        calls,
    );

    // Scaling: calls/s with N threads, each calling for a fixed time.
    let window = Duration::from_millis(
        std::env::var("PROTO2FFI_BENCH_SCALING_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    let mut scaling = Vec::new();
    for (variant, rate_limited) in [("rate_limited", true), ("no_rate_limit", false)] {
        for threads in [1usize, 2, 4, 8] {
            // The median of three windows: a shared 2-core machine is noisy.
            let mut runs: Vec<f64> = (0..3)
                .map(|_| {
                    let start = Instant::now();
                    let total: u64 = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                s.spawn(|| {
                                    let mut n = 0u64;
                                    while start.elapsed() < window {
                                        for _ in 0..64 {
                                            if rate_limited {
                                                lib.generated(&small);
                                            } else {
                                                lib.generated_unlimited(&small);
                                            }
                                        }
                                        n += 64;
                                    }
                                    n
                                })
                            })
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).sum()
                    });
                    total as f64 / start.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            let per_sec = runs[1];
            scaling.push(format!(
            "{{\"variant\":\"{variant}\",\"threads\":{threads},\"calls_per_sec\":{per_sec:.0}}}"
        ));
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds = if window >= Duration::from_millis(2000) {
        21
    } else {
        11
    };
    let interleaved: Vec<String> = proto2ffi_benches::interleaved(rounds, 500_000)
        .iter()
        .map(|(v, best, median)| {
            format!("{{\"variant\":\"{v}\",\"best_ns\":{best:.2},\"median_ns\":{median:.2}}}")
        })
        .collect();
    let fixed: Vec<String> = proto2ffi_benches::fixed_interleaved(rounds, 1_000_000)
        .iter()
        .map(|(v, best, median)| {
            format!("{{\"variant\":\"{v}\",\"best_ns\":{best:.2},\"median_ns\":{median:.2}}}")
        })
        .collect();
    let pool: Vec<String> = proto2ffi_benches::pool_interleaved(rounds, 1_000_000)
        .iter()
        .map(|(v, best, median)| {
            format!("{{\"variant\":\"{v}\",\"best_ns\":{best:.2},\"median_ns\":{median:.2}}}")
        })
        .collect();
    let image: Vec<String> = proto2ffi_benches::image_rows(if rounds > 11 { 7 } else { 3 }, 60)
        .iter()
        .map(|(size, op, kernel, mpx)| {
            format!("{{\"size\":\"{size}\",\"op\":\"{op}\",\"kernel\":\"{kernel}\",\"mpx_s\":{mpx:.1}}}")
        })
        .collect();
    println!(
        "{{\"image\":[{}],\"pool\":[{}],\"fixed\":[{}],\"interleaved_rounds\":{rounds},\"interleaved\":[{}],\"cores\":{cores},\"allocations_per_call\":{{\"generated\":{generated:.3},\"handwritten\":{handwritten:.3},\"ffi_support\":{ffi_support:.3},\"decode_only\":{decode:.3},\"generated_1KiB\":{generated_kib:.3},\"decode_only_1KiB\":{decode_kib:.3}}},\"scaling\":[{}]}}",
        image.join(","),
        pool.join(","),
        fixed.join(","),
        interleaved.join(","),
        scaling.join(",")
    );
}
