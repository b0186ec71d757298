//! Two proto2ffi libraries with the same service names load into one
//! process side by side: every symbol carries its library's prefix.

use abi_tests::messages::*;
use abi_tests::{fixture, fixture_b};

#[test]
fn two_libraries_in_one_process() {
    let a = fixture();
    let b = fixture_b();
    let ra: AddResponse = a
        .call("fx_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    let rb: AddResponse = b
        .call("fxb_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    assert_eq!((ra.sum, rb.sum), (8, 2));
    assert!(!b.has("fx_echo_service_add"));
    // Separate runtimes: separate metrics and health.
    assert_eq!(b.metrics().methods.len(), 1);
    assert!(a.metrics().methods.len() > 1);
    assert_eq!(b.health().services, vec!["EchoService".to_string()]);
}

#[test]
fn two_libraries_link_into_one_binary() {
    // Both libraries linked into one executable: any symbol clash would fail
    // the link (or silently bind one library's function for both).
    let a = abi_tests::cdylib("abi-fixture");
    let b = abi_tests::cdylib("abi-fixture-b");
    let dir = std::env::temp_dir().join(format!("p2f-two-libs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = r#"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
typedef struct { uint8_t *data; size_t len; size_t capacity; } buffer;
int32_t fx_echo_service_add(const uint8_t *, size_t, buffer *);
int32_t fxb_echo_service_add(const uint8_t *, size_t, buffer *);
void fx_proto2ffi_free(buffer *);
void fxb_proto2ffi_free(buffer *);
uint32_t fx_proto2ffi_abi_version(void);
uint32_t fxb_proto2ffi_abi_version(void);
int main(void) {
    const uint8_t req[] = {0x08, 0x05, 0x10, 0x03}; /* a = 5, b = 3 */
    buffer out = {0};
    int ok = fx_proto2ffi_abi_version() == 1 && fxb_proto2ffi_abi_version() == 1;
    ok = ok && fx_echo_service_add(req, sizeof req, &out) == 0 && out.len == 2 && out.data[1] == 8;
    fx_proto2ffi_free(&out);
    ok = ok && fxb_echo_service_add(req, sizeof req, &out) == 0 && out.len == 2 && out.data[1] == 2;
    fxb_proto2ffi_free(&out);
    printf(ok ? "both libraries answered\n" : "wrong answers\n");
    return ok ? 0 : 1;
}
"#;
    std::fs::write(dir.join("main.c"), c).unwrap();
    let exe = dir.join("two");
    let mut cmd = abi_tests::c_compiler();
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror"])
        .arg(dir.join("main.c"))
        .arg("-o")
        .arg(&exe);
    for lib in [&a, &b] {
        let parent = lib.parent().unwrap();
        cmd.arg("-L")
            .arg(parent)
            .arg(format!("-Wl,-rpath,{}", parent.display()));
    }
    cmd.args(["-labi_fixture", "-labi_fixture_b"]);
    let out = cmd.output().expect("gcc");
    assert!(
        out.status.success(),
        "link failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = abi_tests::target_command(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two proto2ffi library crates linked into ONE cdylib (an umbrella crate,
/// or two staticlibs in one iOS app) share the runtime's code but not its
/// state: each keeps its own init, registry, health, metrics and shutdown.
#[test]
fn two_libraries_in_one_artifact_keep_separate_state() {
    let (a, b) = abi_tests::umbrella();
    // Both inits run (before per-library state only the first did, and the
    // second library answered FAILED_PRECONDITION forever).
    b.init().unwrap();
    let rb: AddResponse = b
        .call("fxb_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    assert_eq!(rb.sum, 2);
    let b_health = b.health();
    assert!(b_health.healthy, "{}", b_health.reason);
    assert_eq!(b_health.services, vec!["EchoService".to_string()]);
    // `fx` has not been initialised yet: its health says so, `fxb`'s call
    // did not initialise it.
    let a_health = a.health();
    assert!(!a_health.healthy);
    assert!(
        a_health.reason.contains("fx_proto2ffi_init"),
        "{}",
        a_health.reason
    );
    a.init().unwrap();
    let ra: AddResponse = a
        .call("fx_echo_service_add", &AddRequest { a: 5, b: 3 })
        .unwrap();
    assert_eq!(ra.sum, 8);
    // Metrics: each library reports its own services only.
    assert_eq!(b.metrics().methods.len(), 1);
    assert!(a.metrics().methods.len() > 1);
    assert!(!b.metrics_text().contains("method=\"echo\""));
    // Shutting one down leaves the other serving.
    assert_eq!(a.shutdown(100), 0);
    let refused = a.call::<_, AddResponse>("fx_echo_service_add", &AddRequest { a: 1, b: 1 });
    assert_eq!(
        refused.unwrap_err().code(),
        proto2ffi_runtime::Code::Unavailable
    );
    assert!(a.health().shutting_down);
    let still: AddResponse = b
        .call("fxb_echo_service_add", &AddRequest { a: 9, b: 1 })
        .unwrap();
    assert_eq!(still.sum, 8);
    assert!(!b.health().shutting_down);
}
