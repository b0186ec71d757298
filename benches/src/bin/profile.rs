//! A loop to profile one way of calling the benchmark handler, or to compare
//! them all interleaved (robust on a noisy machine):
//!
//! - `cargo run --release -p proto2ffi-benches --bin profile -- generated 20000000`,
//!   then `perf record` / `perf stat` on the binary;
//! - `… --bin profile -- compare [rounds]`: every variant, 1 M calls per
//!   round, rounds interleaved; prints the best and median ns per call and
//!   the ratios to the hand-written call.
//!
//! Variants: `generated` (every guard, a method rate limit), `unlimited`
//! (every guard, no rate limit), `handwritten`, `ffi_support`; the request
//! is the small message.

use proto2ffi_benches::{bench_lib, request};
use std::hint::black_box;

const VARIANTS: [&str; 4] = ["generated", "unlimited", "handwritten", "ffi_support"];

fn call_of(variant: &str) -> fn(&[u8]) -> usize {
    match variant {
        "generated" => |r| bench_lib().generated(r),
        "unlimited" => |r| bench_lib().generated_unlimited(r),
        "handwritten" => |r| bench_lib().handwritten(r),
        "ffi_support" => |r| bench_lib().ffi_support(r),
        other => {
            eprintln!("unknown variant {other} (one of {VARIANTS:?} or `compare`)");
            std::process::exit(2);
        }
    }
}

fn run(call: fn(&[u8]) -> usize, req: &[u8], n: u64) -> f64 {
    let start = std::time::Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total = total.wrapping_add(call(black_box(req)));
    }
    black_box(total);
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "compare".into());
    let req = request(0);
    bench_lib();
    if variant == "compare" {
        let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for _ in 0..rounds {
            for (i, v) in VARIANTS.iter().enumerate() {
                times[i].push(run(call_of(v), &req, 1_000_000));
            }
        }
        let stats: Vec<(f64, f64)> = times
            .iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                (t[0], t[t.len() / 2])
            })
            .collect();
        let base = stats[2];
        for (v, (best, median)) in VARIANTS.iter().zip(&stats) {
            println!(
                "{v:>12}: best {best:6.1} ns  median {median:6.1} ns  ÷ handwritten: best {:.3}  median {:.3}",
                best / base.0,
                median / base.1
            );
        }
        return;
    }
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let ns = run(call_of(&variant), &req, n);
    println!("{variant}: {ns:.1} ns/call");
}
