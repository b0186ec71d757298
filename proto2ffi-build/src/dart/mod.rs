//! Dart output: a self-contained package (only `dart:` imports) with the
//! wire runtime, one library per proto package, the library class and one
//! client per service; or, in interop mode, clients over `package:protobuf`
//! classes.
//!
//! Layout under the output directory: `lib/<package>.dart` (the barrel),
//! `lib/<proto/package/path>.pb.dart` (messages and enums of one proto
//! package, see [`names`]), `lib/src/{proto2ffi_runtime,proto2ffi_v1,client}.dart`,
//! plus a `pubspec.yaml` written only when none exists.

mod client;
pub mod fixed;
pub mod messages;
pub mod names;

use crate::model::Library;
use messages::HEADER;
use prost_reflect::DescriptorPool;
use proto2ffi_core::Code;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

const RUNTIME: &str = include_str!("runtime.dart");

/// Options of the Dart output.
#[derive(Clone, Debug)]
pub struct DartOptions {
    /// Dart package name (default: the prefix).
    pub package: String,
    /// Base name of the native library file (default: the Cargo package name
    /// with `-` replaced by `_`).
    pub native_name: String,
    /// Interop mode: generate clients over `package:protobuf` classes
    /// imported from these libraries instead of self-contained messages.
    pub protobuf_imports: Option<Vec<String>>,
}

/// Public top-level names declared by a Dart source (classes, enums,
/// typedefs, functions, variables): what an `export` of it brings.
pub fn top_level_names(source: &str) -> Vec<String> {
    let ident = |s: &str| -> Option<String> {
        let id: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        (!id.is_empty() && !id.starts_with('_')).then_some(id)
    };
    let mut out = Vec::new();
    let mut depth = 0i32;
    for line in source.lines() {
        let at_top = depth == 0;
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if !at_top || line.starts_with(char::is_whitespace) || line.starts_with("//") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let keyword = words
            .iter()
            .position(|w| matches!(*w, "class" | "enum" | "typedef" | "extension" | "mixin"));
        let name = match keyword {
            Some(i) => words.get(i + 1).and_then(|w| ident(w)),
            None if words.first().is_some_and(|w| {
                matches!(*w, "import" | "export" | "library" | "part" | "@pragma")
            }) =>
            {
                None
            }
            None => {
                // `Type name(…`, `Type name = …`, `final Type name = …`.
                let end = line.find(['(', '=']).unwrap_or(line.len());
                line[..end]
                    .split_whitespace()
                    .last()
                    .and_then(|w| ident(w.trim_start_matches(['<', '>'])))
                    .filter(|w| !matches!(w.as_str(), "get" | "set" | "operator"))
            }
        };
        out.extend(name);
    }
    out.sort();
    out.dedup();
    out
}

fn runtime_file() -> String {
    let mut out = String::from(HEADER);
    out.push_str(RUNTIME);
    out.push_str(
        "\n/// gRPC canonical status codes (the numbers the C ABI returns).\nenum StatusCode {\n",
    );
    for (i, code) in Code::ALL.iter().enumerate() {
        let sep = if i + 1 == Code::ALL.len() { ";" } else { "," };
        let _ = writeln!(
            out,
            "  /// {}\n  {}({}, '{}'){sep}",
            code.description(),
            code.dart_name(),
            code.as_i32(),
            code.name()
        );
    }
    out.push_str(
        "\n  /// The number.\n  final int value;\n\n  /// The canonical name, e.g. `NOT_FOUND`.\n  final String canonicalName;\n\n  const StatusCode(this.value, this.canonicalName);\n\n  /// The code for a number (out-of-range numbers are [unknown]).\n  static StatusCode fromValue(int value) =>\n      value >= 0 && value < values.length ? values[value] : unknown;\n}\n",
    );
    let _ = writeln!(
        out,
        "\n/// The status event a server stream's callback gets when items wait\n/// (final events carry a status code, 0 or above).\nconst int _proto2ffiStreamItems = {};\n\n/// What `stream_send` returns when the window is full, and the event that\n/// says a client or bidi stream may send again.\nconst int _proto2ffiStreamWritable = {};",
        proto2ffi_core::symbols::STREAM_ITEMS,
        proto2ffi_core::symbols::STREAM_WRITABLE
    );
    out
}

/// The bundled metrics/health protos, compiled for their Dart classes.
fn bundled_pool() -> Result<DescriptorPool, crate::Error> {
    let fds = crate::descriptor_set(
        &["proto2ffi/v1/metrics.proto", "proto2ffi/v1/health.proto"],
        &[] as &[&str],
    )?;
    DescriptorPool::from_file_descriptor_set(fds)
        .map_err(|e| crate::Error::new(format!("bundled protos: {e}")))
}

/// Every file of the Dart package, as (path relative to the output dir, content).
pub fn generate(
    library: &Library,
    options: &DartOptions,
) -> Result<Vec<(String, String)>, crate::Error> {
    let mut files = Vec::new();
    let package = &options.package;
    let runtime = runtime_file();
    // Names the barrel exports no matter what: a generated class with one of
    // these names stays reachable through its package library only.
    let mut taken: Vec<String> = top_level_names(&runtime);

    let no_docs = HashMap::new();
    let bundled = bundled_pool()?;
    let v1 = messages::MessageFile::bundled(
        &bundled,
        &[
            "proto2ffi/v1/metrics.proto".into(),
            "proto2ffi/v1/health.proto".into(),
        ],
        &no_docs,
        "Proto2ffi",
    );
    let v1_source = format!(
        "{HEADER}\nimport 'dart:core' as $core;\nimport 'dart:typed_data' as $typed;\n\nimport 'proto2ffi_runtime.dart' as $pb;\n\n{}",
        v1.render()
    );
    taken.extend(top_level_names(&v1_source));
    files.push(("lib/src/proto2ffi_runtime.dart".to_string(), runtime));
    files.push(("lib/src/proto2ffi_v1.dart".to_string(), v1_source));

    let client_imports = "import 'dart:convert' show utf8;\nimport 'dart:ffi';\nimport 'dart:io' show Platform;\nimport 'dart:isolate';\n\nimport 'proto2ffi_runtime.dart';\nimport 'proto2ffi_v1.dart';\n";
    let mut exports: Vec<String> = vec![
        "export 'src/proto2ffi_runtime.dart';".into(),
        "export 'src/proto2ffi_v1.dart';".into(),
        "export 'src/client.dart';".into(),
    ];
    let mut barrel_notes = String::new();
    let mut client_extra = String::new();
    let client_body = match &options.protobuf_imports {
        None => {
            let user = messages::MessageFile::new(&library.pool, &library.files, &library.docs);
            let libraries = user.libraries();
            client_extra.push_str(&user.imports());
            let body = client::render(
                library,
                &options.native_name,
                &asset_id(options),
                &client::Messages::Generated(&user),
            );
            taken.extend(top_level_names(&body));
            // The barrel: every package library except the well-known types,
            // minus names it cannot export unambiguously (see `names`).
            let mut count: BTreeMap<&str, usize> = BTreeMap::new();
            let exported: Vec<&messages::PackageLibrary> = libraries
                .iter()
                .filter(|l| l.package != "google.protobuf")
                .collect();
            for l in &exported {
                for n in &l.exported {
                    *count.entry(n.as_str()).or_default() += 1;
                }
            }
            for l in &exported {
                let hidden: Vec<&str> = l
                    .exported
                    .iter()
                    .map(String::as_str)
                    .filter(|n| {
                        count[n] > 1 || names::DART_CORE.contains(n) || taken.iter().any(|t| t == n)
                    })
                    .collect();
                if hidden.is_empty() {
                    exports.push(format!("export '{}';", l.path));
                } else {
                    let _ = writeln!(
                        barrel_notes,
                        "/// - `{}` (`{}`): {}",
                        l.package,
                        l.path,
                        hidden
                            .iter()
                            .map(|h| format!("`{h}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    exports.push(format!("export '{}' hide {};", l.path, hidden.join(", ")));
                }
            }
            for l in libraries {
                files.push((format!("lib/{}", l.path), l.source));
            }
            body
        }
        Some(imports) => {
            for i in imports {
                let _ = writeln!(client_extra, "import {} as $m;", names::string_literal(i));
            }
            // protoc_plugin names nested messages Outer_Inner, like ours.
            let name = |full: &str| -> String {
                let package = library
                    .pool
                    .get_message_by_name(full)
                    .map(|m| m.package_name().to_string())
                    .unwrap_or_default();
                names::local_class(full, &package)
            };
            client::render(
                library,
                &options.native_name,
                &asset_id(options),
                &client::Messages::Protobuf(&name),
            )
        }
    };
    let fixed = fixed::render(&library.fixed, &library.docs);
    if !fixed.is_empty() {
        let path = fixed::path(package);
        let _ = writeln!(
            client_extra,
            "import '../{}' as $f;",
            path.trim_start_matches("lib/")
        );
        files.push((path.to_string(), fixed));
    }
    files.push((
        "lib/src/client.dart".to_string(),
        format!("{HEADER}\n{client_imports}{client_extra}\n{client_body}"),
    ));
    let mut main = format!(
        "{HEADER}\n/// Dart client of the `{}` native library, generated from {}.\n///\n/// Open a service client with `XServiceClient.open([path])`; every method\n/// has a synchronous and an `…Async` variant and throws\n/// [Proto2ffiException] on failure.\n///\n/// Messages and enums live in one library per proto package\n/// (`<proto/package/path>.pb.dart`); this barrel exports them all, except the\n/// well-known types (import `google/protobuf.pb.dart` with a prefix) and\n/// names that would shadow `dart:core` or exist twice:\n{}library;\n\n",
        options.native_name,
        library.files.join(", "),
        if barrel_notes.is_empty() {
            "/// none here.\n".to_string()
        } else {
            barrel_notes
        }
    );
    for e in &exports {
        let _ = writeln!(main, "{e}");
    }
    files.push((format!("lib/{package}.dart"), main));
    Ok(files)
}

/// The id of the code asset the build hook bundles and the client binds
/// to: `package:<dart package>/<native library name>`.
pub fn asset_id(options: &DartOptions) -> String {
    format!("package:{}/{}", options.package, options.native_name)
}

/// A `pubspec.yaml` for a new package.
pub fn pubspec(options: &DartOptions) -> String {
    let deps = if options.protobuf_imports.is_some() {
        "dependencies:\n  protobuf: '>=3.0.0 <5.0.0'\n"
    } else {
        ""
    };
    format!(
        "name: {}\ndescription: Dart client of the {} native library (generated by proto2ffi).\nversion: 0.1.0\npublish_to: none\n\nenvironment:\n  sdk: '>=3.0.0 <4.0.0'\n{deps}",
        options.package, options.native_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_names_of_the_runtime() {
        let names = top_level_names(&runtime_file());
        for expected in [
            "Any",
            "ProtoMessage",
            "ProtoWriter",
            "ProtoReader",
            "Proto2ffiException",
            "StatusCode",
            "protoEmptyBytes",
            "protoFrozenBytes",
            "protoListEquals",
            "Proto2ffiMethodNative",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with('_') || n == "get"),
            "{names:?}"
        );
    }
}
