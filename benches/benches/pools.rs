//! The response-buffer pool against a fresh `Vec`.

use criterion::{criterion_group, criterion_main, Criterion};
use proto2ffi_runtime::__private::buffer;
use std::hint::black_box;

fn pools(c: &mut Criterion) {
    let mut g = c.benchmark_group("pools");
    g.bench_function("buffer_pool_take_give_back", |b| {
        b.iter(|| {
            let mut v = buffer::take(black_box(512));
            v.push(1);
            buffer::give_back(black_box(v));
        })
    });
    g.bench_function("buffer_fresh_vec", |b| {
        b.iter(|| {
            let mut v: Vec<u8> = Vec::with_capacity(black_box(512));
            v.push(1);
            drop(black_box(v));
        })
    });
    g.finish();
}

criterion_group!(benches, pools);
criterion_main!(benches);
