//! Errors a user will hit: the build fails with `file:line:col` and a
//! message that says what to do.

use std::path::Path;

fn build(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let err = proto2ffi_build::configure()
        .prefix("t")
        .out_dir(out.path())
        .emit_rerun_if_changed(false)
        .generate(&[files[0].0], &[dir.path()])
        .expect_err("the build must fail");
    // Debug is the readable text (what a build script returning Err prints).
    let debug = format!("{err:?}");
    assert_eq!(debug, err.to_string());
    assert!(!debug.contains("panicked"), "{debug}");
    // The file is named with its include directory in front, as the user
    // wrote it relative to the crate (`proto/a.proto:4:13`); the temporary
    // directory stands for the crate's `proto/` here.
    let include = format!("{}/", dir.path().display());
    assert!(
        err.to_string()
            .starts_with(&format!("proto2ffi-build: {include}"))
            || !err.to_string().contains(".proto:"),
        "{err}"
    );
    err.to_string().replace(&include, "proto/")
}

const HEAD: &str = "syntax = \"proto3\";\npackage t;\n";

#[test]
fn syntax_error_points_at_the_token() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message A {{\n  int32 x = ;\n}}\n"),
    )]);
    assert!(e.contains("a.proto:4:13"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn missing_import() {
    let e = build(&[("a.proto", &format!("{HEAD}import \"nope/b.proto\";\n"))]);
    assert!(e.contains("a.proto:3:1"), "{e}");
    assert!(e.contains("nope/b.proto"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn editions_are_refused_with_a_clear_message() {
    let e = build(&[(
        "a.proto",
        "edition = \"2023\";\npackage t;\nmessage A { int32 x = 1; }\n",
    )]);
    assert!(e.contains("a.proto:1:1"), "{e}");
    assert!(e.contains("editions"), "{e}");
    assert!(e.contains("syntax = \"proto3\""), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn unknown_type() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message A {{\n  Missing m = 1;\n}}\n"),
    )]);
    assert!(e.contains("a.proto:4:3"), "{e}");
    assert!(e.contains("Missing"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn client_streams_cannot_be_leaf_calls() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}import \"proto2ffi/options.proto\";\nmessage M {{}}\nservice S {{\n  rpc Ok(M) returns (M);\n  rpc Upload(stream M) returns (M) {{ option (proto2ffi.method) = {{ leaf: true }}; }}\n}}\n"),
    )]);
    assert!(e.contains("a.proto:7:3"), "{e}");
    assert!(
        e.contains("`Upload`") && e.contains("(it streams)") && e.contains("leaf"),
        "{e}"
    );
    insta::assert_snapshot!(e);
}

#[test]
fn async_rpcs_cannot_be_leaf_calls() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}import \"proto2ffi/options.proto\";\nmessage M {{}}\nservice S {{\n  rpc Watch(M) returns (stream M) {{ option (proto2ffi.method) = {{ leaf: true }}; }}\n}}\n"),
    )]);
    assert!(e.contains("a.proto:6:3"), "{e}");
    assert!(e.contains("cannot be a leaf call"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn dart_method_names_must_not_collide() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message M {{}}\nservice S {{\n  rpc Get(M) returns (M);\n  rpc GetAsync(M) returns (M);\n}}\n"),
    )]);
    assert!(e.contains("`getAsync`") && e.contains("a.proto:6:3"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn duplicate_symbol_after_naming() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message M {{}}\nservice S {{\n  rpc GetUser(M) returns (M);\n  rpc get_user(M) returns (M);\n}}\n"),
    )]);
    assert!(e.contains("`t_s_get_user`"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn a_sync_methods_start_function_is_a_symbol_too() {
    // `Get` is also awaited through `t_s_get_start`, which `GetStart` takes.
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message M {{}}\nservice S {{\n  rpc Get(M) returns (M);\n  rpc GetStart(M) returns (M);\n}}\n"),
    )]);
    assert!(e.contains("`t_s_get_start`"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn duplicate_service_across_packages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.proto"),
        "syntax = \"proto3\";\npackage one;\nmessage M {}\nservice Users { rpc Get(M) returns (M); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.proto"),
        "syntax = \"proto3\";\npackage two;\nmessage M {}\nservice Users { rpc Get(M) returns (M); }\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let e = proto2ffi_build::configure()
        .prefix("t")
        .out_dir(out.path())
        .emit_rerun_if_changed(false)
        .generate(&["a.proto", "b.proto"], &[dir.path()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.proto:4:1: service two.Users"), "{e}");
    assert!(e.contains("t_proto2ffi_fingerprint_users"), "{e}");
}

#[test]
fn bad_rate_limit_key() {
    let e = build(&[(
        "a.proto",
        &format!(
            "{HEAD}import \"proto2ffi/options.proto\";\nmessage M {{ repeated string ids = 1; string name = 2; }}\nservice S {{\n  rpc Get(M) returns (M) {{ option (proto2ffi.method) = {{ rate_limit_key: \"client\", key_rate_per_second: 1 }}; }}\n}}\n"
        ),
    )]);
    assert!(e.contains("a.proto:6:3"), "{e}");
    assert!(e.contains("ids, name"), "{e}");
    insta::assert_snapshot!(e);
}

#[test]
fn reserved_service_name() {
    let e = build(&[(
        "a.proto",
        &format!("{HEAD}message M {{}}\nservice Proto2ffi {{ rpc Get(M) returns (M); }}\n"),
    )]);
    assert!(e.contains("a.proto:4:1"), "{e}");
    assert!(e.contains("reserved"), "{e}");
}

#[test]
fn missing_include_directory_is_reported() {
    let out = tempfile::tempdir().unwrap();
    let err = proto2ffi_build::configure()
        .out_dir(out.path())
        .generate(&["x.proto"], &[Path::new("/definitely/not/here")])
        .unwrap_err();
    assert!(err.to_string().contains("include directory"), "{err}");
}

const FIXED_HEAD: &str = "syntax = \"proto3\";\npackage t;\nimport \"proto2ffi/options.proto\";\n";

/// Each fixed-layout rule fails at the field with the fix in the message.
#[test]
fn fixed_layout_rules_name_the_field_and_the_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unbounded_repeated",
            "message A {\n  option (proto2ffi.fixed) = true;\n  repeated float xs = 1;\n}\n",
            "a.proto:6:3",
        ),
        (
            "unbounded_string",
            "message A {\n  option (proto2ffi.fixed) = true;\n  string name = 1;\n}\n",
            "a.proto:6:3",
        ),
        (
            "map",
            "message A {\n  option (proto2ffi.fixed) = true;\n  map<string, int32> m = 1;\n}\n",
            "a.proto:6:3",
        ),
        (
            "non_fixed_nested",
            "message B { int32 x = 1; }\nmessage A {\n  option (proto2ffi.simd) = true;\n  B b = 1;\n}\n",
            "a.proto:7:3",
        ),
        (
            "recursion",
            "message Node {\n  option (proto2ffi.fixed) = true;\n  repeated Node children = 1 [(proto2ffi.max_count) = 4];\n}\n",
            "a.proto:4:1",
        ),
        (
            "oneof",
            "message A {\n  option (proto2ffi.fixed) = true;\n  oneof k { int32 a = 1; float b = 2; }\n}\n",
            "a.proto:6:",
        ),
        (
            "optional",
            "message A {\n  option (proto2ffi.fixed) = true;\n  optional int32 a = 1;\n}\n",
            "a.proto:6:3",
        ),
        (
            "mixed_method",
            "message A {\n  option (proto2ffi.fixed) = true;\n  int32 a = 1;\n}\nmessage B { int32 b = 1; }\nservice S { rpc M(A) returns (B); }\n",
            "a.proto:9:13",
        ),
        (
            "symbol_clash",
            "message FooBar {\n  option (proto2ffi.pool_size) = 4;\n  int32 a = 1;\n}\nmessage Foo_Bar {\n  option (proto2ffi.fixed) = true;\n  int32 a = 1;\n}\n",
            "a.proto:8:1",
        ),
        (
            "c_keyword",
            "message A {\n  option (proto2ffi.fixed) = true;\n  int32 default = 1;\n}\n",
            "a.proto:6:3",
        ),
        (
            "pool_too_large",
            "message P {\n  option (proto2ffi.pool_size) = 4294967295;\n  int32 a = 1;\n}\n",
            "a.proto:4:1",
        ),
    ];
    let mut all = String::new();
    for (name, body, at) in cases {
        let e = build(&[("a.proto", &format!("{FIXED_HEAD}{body}"))]);
        assert!(e.contains(at), "{name}: {e}");
        all.push_str(&format!("## {name}\n{e}\n\n"));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn implementation_of_an_unknown_service_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.proto"),
        format!("{HEAD}message M {{ int32 x = 1; }}\nservice Svc {{ rpc Get(M) returns (M); }}\n"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let generate = |service: &str| {
        proto2ffi_build::configure()
            .prefix("t")
            .out_dir(out.path())
            .emit_rerun_if_changed(false)
            .implementation(service, "crate::Impl")
            .generate(&["a.proto"], &[dir.path()])
    };
    let e = generate("Svc")
        .expect_err("a short name is not a full name")
        .to_string();
    assert_eq!(
        e,
        "proto2ffi-build: implementation(\"Svc\", ..): no service `Svc` in the compiled files; \
         services are named by proto full name: t.Svc"
    );
    // The full name is accepted, and the trait names its implementation.
    generate("t.Svc").expect("a known service");
    let rust = std::fs::read_to_string(out.path().join("t.rs")).unwrap();
    assert!(rust.contains("implementation = \"crate::Impl\""), "{rust}");
}
