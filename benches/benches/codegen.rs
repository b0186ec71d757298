//! Code generation: `proto2ffi-build` on a 300-message, 100-method schema
//! (parse, check, Rust, C header and Dart).

use criterion::{criterion_group, criterion_main, Criterion};
use proto2ffi_benches::large_schema;

fn codegen(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("large.proto"), large_schema(300, 100)).unwrap();
    let mut g = c.benchmark_group("codegen");
    g.sample_size(10);
    g.bench_function("300_messages_100_methods", |b| {
        b.iter(|| {
            let out = tempfile::tempdir().unwrap();
            proto2ffi_build::configure()
                .prefix("large")
                .out_dir(out.path())
                .dart_out(out.path().join("dart"))
                .emit_rerun_if_changed(false)
                .generate(&["large.proto"], &[dir.path()])
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, codegen);
criterion_main!(benches);
