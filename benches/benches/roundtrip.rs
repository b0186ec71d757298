//! Round trip through the C ABI for each payload size: the generated entry
//! point (all guards on) against a hand-written unguarded `extern "C"`, the
//! ffi-support pattern, the direct Rust call, a no-op FFI call and, for the
//! large sizes, the copies alone (the floor).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use prost::Message;
use proto2ffi_benches::{bench_lib, direct, request, EchoMessage, SIZES};
use std::hint::black_box;

fn roundtrip(c: &mut Criterion) {
    let lib = bench_lib();
    let mut group = c.benchmark_group("roundtrip");
    for (label, size) in SIZES {
        let req = request(size);
        group.throughput(Throughput::Bytes(req.len() as u64));
        group.bench_with_input(BenchmarkId::new("generated", label), &req, |b, r| {
            b.iter(|| lib.generated(black_box(r)))
        });
        group.bench_with_input(
            BenchmarkId::new("generated_no_rate_limit", label),
            &req,
            |b, r| b.iter(|| lib.generated_unlimited(black_box(r))),
        );
        group.bench_with_input(BenchmarkId::new("handwritten", label), &req, |b, r| {
            b.iter(|| lib.handwritten(black_box(r)))
        });
        group.bench_with_input(BenchmarkId::new("ffi_support", label), &req, |b, r| {
            b.iter(|| lib.ffi_support(black_box(r)))
        });
        if size > 0 {
            group.bench_with_input(BenchmarkId::new("copy_floor", label), &req, |b, r| {
                b.iter(|| lib.copy_floor(black_box(r)))
            });
        }
        let message = EchoMessage::decode(&req[..]).unwrap();
        group.bench_with_input(BenchmarkId::new("direct_rust", label), &message, |b, m| {
            b.iter_batched(
                || m.clone(),
                |m| black_box(direct(m)),
                BatchSize::SmallInput,
            )
        });
    }
    group.bench_function("noop_ffi", |b| b.iter(|| black_box((lib.noop)())));
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
