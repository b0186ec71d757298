//! A loop to profile one way of calling the benchmark handler, or to compare
//! them all interleaved (robust on a noisy machine):
//!
//! - `cargo run --release -p proto2ffi-benches --bin profile -- generated 20000000`,
//!   then `perf record` / `perf stat` on the binary;
//! - `… --bin profile -- compare [rounds]`: every variant, 1 M calls per
//!   round, rounds interleaved; prints the best and median ns per call and
//!   the ratios to the hand-written call (`compare-json [rounds]`: the same
//!   as one JSON object);
//! - `… -- count <variant> N`: N calls after a warm-up, inside
//!   `proto2ffi_counted_calls` (for `valgrind --tool=callgrind
//!   --toggle-collect=proto2ffi_counted_calls`: the instructions of those
//!   calls only);
//! - `PROTO2FFI_BENCH_LIB=<path>` loads that build of bench-lib instead of
//!   building it (`cargo xtask layouts` measures shuffled code layouts so).
//!
//! Variants: `generated` (every guard, a method rate limit), `unlimited`
//! (every guard, no rate limit), `handwritten`, `ffi_support`; the request
//! is the small message.

use proto2ffi_benches::{bench_lib, interleaved, request, time_variant, INTERLEAVED_VARIANTS};

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "compare".into());
    bench_lib();
    if variant == "compare" {
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
        let stats = interleaved(rounds, 1_000_000);
        let (_, base_best, base_median) = stats[2];
        for (v, best, median) in &stats {
            println!(
                "{v:>12}: best {best:6.1} ns  median {median:6.1} ns  ÷ handwritten: best {:.3}  median {:.3}",
                best / base_best,
                median / base_median
            );
        }
        return;
    }
    if variant == "compare-size" {
        // `compare-size <payload bytes> [rounds]`: every variant on a
        // request of that size, interleaved (100 calls per round and MiB).
        let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(11);
        let calls = (100 * (1 << 20) / size.max(1)).clamp(100, 1_000_000) as u64;
        for (v, best, median) in proto2ffi_benches::interleaved_sized(size, rounds, calls) {
            println!("{v:>12}: best {best:10.1} ns  median {median:10.1} ns");
        }
        return;
    }
    if variant == "sized" {
        // `sized <variant> <payload bytes> <calls>`: one variant alone (for
        // `perf stat`).
        let v = args.next().unwrap_or_default();
        let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
        let calls: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
        println!(
            "{v}: {:.1} ns/call",
            time_variant(&v, &request(size), calls)
        );
        return;
    }
    if variant == "compare-json" {
        // One JSON object: `{"variant": [best ns, median ns], …}` (used by
        // `cargo xtask layouts`).
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(11);
        let rows: Vec<String> = interleaved(rounds, 500_000)
            .iter()
            .map(|(v, best, median)| format!("\"{v}\":[{best:.3},{median:.3}]"))
            .collect();
        println!("{{{}}}", rows.join(","));
        return;
    }
    if variant == "image" {
        for (size, op, kernel, mpx) in proto2ffi_benches::image_rows(5, 100) {
            println!("{size:>6} {op:>12} {kernel:>7}: {mpx:8.0} Mpx/s");
        }
        return;
    }
    if variant == "compare-pool" {
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
        let stats = proto2ffi_benches::pool_interleaved(rounds, 2_000_000);
        let (_, base_best, base_median) = stats[3];
        for (v, best, median) in &stats {
            println!(
                "{v:>14}: best {best:6.2} ns  median {median:6.2} ns per pair  ÷ malloc: best {:.2}  median {:.2}",
                best / base_best,
                median / base_median,
            );
        }
        return;
    }
    if variant == "compare-fixed" {
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
        let stats = proto2ffi_benches::fixed_interleaved(rounds, 2_000_000);
        let (_, base_best, base_median) = stats[1];
        for (v, best, median) in &stats {
            println!(
                "{v:>18}: best {best:6.2} ns  median {median:6.2} ns  ÷ handwritten: best {:.2}  median {:.2}  (+{:.2} ns)",
                best / base_best,
                median / base_median,
                best - base_best
            );
        }
        return;
    }
    if let Some(v) = variant.strip_prefix("pool-") {
        let n: u64 = args
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50_000_000);
        println!("{v}: {:.2} ns/pair", proto2ffi_benches::time_pool(v, n));
        return;
    }
    if proto2ffi_benches::FIXED_VARIANTS.contains(&variant.as_str()) {
        let n: u64 = args
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000_000);
        println!(
            "{variant}: {:.2} ns/call",
            proto2ffi_benches::time_fixed(&variant, n)
        );
        return;
    }
    if variant == "count" {
        // `count <variant> N`: 1,000 warm-up calls (one-time set-up: the
        // TSC calibration, the thread's state, lazily built tables), then N
        // calls inside `proto2ffi_counted_calls`, which `cargo xtask bench`
        // hands to callgrind's `--toggle-collect` so that only those calls,
        // on this thread, are counted.
        let variant = args.next().unwrap_or_default();
        let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
        if !INTERLEAVED_VARIANTS.contains(&variant.as_str()) {
            eprintln!("unknown variant {variant} (one of {INTERLEAVED_VARIANTS:?})");
            std::process::exit(2);
        }
        let request = request(0);
        time_variant(&variant, &request, 1000);
        println!("{}", proto2ffi_counted_calls(&variant, &request, n));
        return;
    }
    if !INTERLEAVED_VARIANTS.contains(&variant.as_str()) {
        eprintln!("unknown variant {variant} (one of {INTERLEAVED_VARIANTS:?} or `compare`)");
        std::process::exit(2);
    }
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let ns = time_variant(&variant, &request(0), n);
    println!("{variant}: {ns:.1} ns/call");
}

/// The calls `count` measures, in a function of their own for callgrind's
/// `--toggle-collect` (hence the fixed symbol name).
#[unsafe(no_mangle)]
#[inline(never)]
pub fn proto2ffi_counted_calls(variant: &str, request: &[u8], calls: u64) -> usize {
    let mut total = 0usize;
    for _ in 0..calls {
        total = total.wrapping_add(proto2ffi_benches::call_variant(
            variant,
            std::hint::black_box(request),
        ));
    }
    total
}
