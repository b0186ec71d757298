//! Pools: the response-buffer pool against a fresh `Vec`, and `Pool<T>`
//! against `Box::new`/drop, on one thread and contended by two.

use criterion::{criterion_group, criterion_main, Criterion};
use proto2ffi_runtime::__private::buffer;
use proto2ffi_runtime::Pool;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
struct Scratch {
    data: [u64; 32],
}

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
    let pool: Pool<Box<Scratch>> = Pool::new(64, Box::<Scratch>::default, |s| s.data[0] = 0);
    pool.prefill();
    g.bench_function("pool_acquire_release", |b| {
        b.iter(|| {
            let mut s = pool.acquire();
            s.data[0] = black_box(1);
        })
    });
    g.bench_function("pool_local_acquire_release", |b| {
        let local = pool.local(16);
        b.iter(|| {
            let mut s = local.acquire();
            s.data[0] = black_box(1);
        })
    });
    g.bench_function("box_new_drop", |b| {
        b.iter(|| {
            let mut s = Box::<Scratch>::default();
            s.data[0] = black_box(1);
            drop(black_box(s));
        })
    });
    let contend = |name: &str,
                   g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
                   pooled: bool| {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if pooled {
                        let mut x = pool.acquire();
                        x.data[1] = 2;
                    } else {
                        let mut x = Box::<Scratch>::default();
                        x.data[1] = 2;
                        drop(black_box(x));
                    }
                }
            });
            g.bench_function(name, |b| {
                b.iter(|| {
                    if pooled {
                        let mut x = pool.acquire();
                        x.data[0] = black_box(1);
                    } else {
                        let mut x = Box::<Scratch>::default();
                        x.data[0] = black_box(1);
                        drop(black_box(x));
                    }
                })
            });
            stop.store(true, Ordering::Relaxed);
        });
    };
    contend("pool_acquire_release_2_threads", &mut g, true);
    {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let local = pool.local(16);
                while !stop.load(Ordering::Relaxed) {
                    let mut x = local.acquire();
                    x.data[1] = 2;
                }
            });
            g.bench_function("pool_local_acquire_release_2_threads", |b| {
                let local = pool.local(16);
                b.iter(|| {
                    let mut x = local.acquire();
                    x.data[0] = black_box(1);
                })
            });
            stop.store(true, Ordering::Relaxed);
        });
    }
    contend("box_new_drop_2_threads", &mut g, false);
    g.finish();
}

criterion_group!(benches, pools);
criterion_main!(benches);
