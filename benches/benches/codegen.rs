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
    stages(dir.path());
}

/// The median time of each stage over 15 runs, written next to criterion's
/// estimates (`<target>/criterion/codegen/stages.txt`, `stage ms` lines)
/// for the report: where the time goes, so the next slowdown shows where.
fn stages(dir: &std::path::Path) {
    let mut runs: Vec<Vec<(&'static str, f64)>> = Vec::new();
    for _ in 0..15 {
        let out = tempfile::tempdir().unwrap();
        let generated = proto2ffi_build::configure()
            .prefix("large")
            .out_dir(out.path())
            .dart_out(out.path().join("dart"))
            .emit_rerun_if_changed(false)
            .generate(&["large.proto"], &[dir])
            .unwrap();
        runs.push(
            generated
                .timings
                .iter()
                .map(|(name, d)| (*name, d.as_secs_f64() * 1e3))
                .collect(),
        );
    }
    let mut text = String::new();
    for (i, (name, _)) in runs[0].iter().enumerate() {
        let mut times: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
        times.sort_by(f64::total_cmp);
        text.push_str(&format!("{name} {:.2}\n", times[times.len() / 2]));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("criterion/codegen/stages.txt");
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    std::fs::write(&path, text).unwrap();
}

criterion_group!(benches, codegen);
criterion_main!(benches);
