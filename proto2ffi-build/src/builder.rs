//! The `build.rs` API: [`configure`] / [`compile_protos`], in the style of
//! `tonic_build` and `prost_build`.

use crate::model::{self, Library, MethodDefaults};
use crate::rust::packages;
use crate::schema::resolver::{self, descriptor_set};
use crate::{c_header, rust, write, Error};
use std::path::{Path, PathBuf};

/// A deferred change to the prost-build configuration.
type ProstTweak = Box<dyn Fn(&mut prost_build::Config)>;

/// Builder for code generation; see [`configure`].
pub struct Builder {
    prefix: Option<String>,
    c_header: Option<PathBuf>,
    descriptor_set_out: Option<PathBuf>,
    dart_out: Option<PathBuf>,
    dart_package: Option<String>,
    dart_native_name: Option<String>,
    dart_protobuf_imports: Option<Vec<String>>,
    dart_hook: bool,
    dart_hook_crate: Option<PathBuf>,
    dart_hook_features: Vec<String>,
    out_dir: Option<PathBuf>,
    prost: Option<prost_build::Config>,
    tweaks: Vec<ProstTweak>,
    defaults: MethodDefaults,
    implementations: std::collections::BTreeMap<String, String>,
    rerun: Option<bool>,
}

/// What a compilation produced.
#[derive(Debug)]
pub struct Generated {
    /// The checked schema model.
    pub library: Library,
    /// Every `.proto` file read from disk (for `rerun-if-changed`).
    pub inputs: Vec<PathBuf>,
    /// The C header text.
    pub header: String,
    /// Warnings also printed as `cargo:warning`.
    pub warnings: Vec<String>,
    /// The Dart package files (relative path, content), when `dart_out` was set.
    pub dart: Vec<(String, String)>,
    /// How long each stage took, in order: `parse` (protox), `model`
    /// (checks, fingerprints, layouts), `rust` (prost messages and service
    /// traits, written), `header` (the C header), `dart` (the Dart package, written). The benchmarks report
    /// them so a slowdown shows where it is.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

/// Where the build hook finds the crate (`hook_crate`, else the crate
/// running the build script), relative to the Dart package `dart_dir`, and
/// what it builds.
fn hook_options(
    hook_crate: Option<&Path>,
    features: &[String],
    dart_dir: &Path,
) -> Result<crate::dart::HookOptions, Error> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let krate = match (hook_crate, &manifest) {
        (Some(dir), Some(m)) => m.join(dir),
        (Some(dir), None) => dir.to_path_buf(),
        (None, Some(m)) => m.clone(),
        (None, None) => unreachable!("callers check that one of them is set"),
    };
    // Relative to the working directory: the crate's, in a build script.
    let dart_abs = std::path::absolute(dart_dir)
        .map_err(|e| Error::new(format!("{}: {e}", dart_dir.display())))?;
    std::fs::create_dir_all(&dart_abs)
        .map_err(|e| Error::new(format!("create {}: {e}", dart_abs.display())))?;
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| Error::new(format!("the Dart build hook: {}: {e}", p.display())))
    };
    let crate_dir = relative_path(&canonical(&dart_abs)?, &canonical(&krate)?);
    let package = match (hook_crate, std::env::var("CARGO_PKG_NAME")) {
        (None, Ok(name)) => name,
        _ => package_name(&krate.join("Cargo.toml"))?,
    };
    Ok(crate::dart::HookOptions {
        crate_dir,
        cargo_package: package,
        features: features.to_vec(),
    })
}

/// `to` relative to `from` (both absolute), with `/` separators.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// The `[package] name` of a `Cargo.toml`.
fn package_name(manifest: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| Error::new(format!("the Dart build hook: {}: {e}", manifest.display())))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name").map(str::trim_start) {
                if let Some(value) = value.strip_prefix('=') {
                    return Ok(value.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    Err(Error::new(format!(
        "the Dart build hook: no [package] name in {}",
        manifest.display()
    )))
}

/// A builder with default options.
pub fn configure() -> Builder {
    Builder {
        prefix: None,
        c_header: None,
        descriptor_set_out: None,
        dart_out: None,
        dart_package: None,
        dart_native_name: None,
        dart_protobuf_imports: None,
        dart_hook: true,
        dart_hook_crate: None,
        dart_hook_features: Vec::new(),
        out_dir: None,
        prost: None,
        tweaks: Vec::new(),
        defaults: MethodDefaults::default(),
        implementations: std::collections::BTreeMap::new(),
        rerun: None,
    }
}

/// Compiles `protos` (looked up in `includes`) with default options.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    configure().compile_protos(protos, includes)
}

impl Builder {
    /// The symbol prefix (default: the package name in snake case). Must match
    /// `proto2ffi::library!(prefix = ...)` when given there.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Also write the C header to this path (relative to the package).
    pub fn c_header(mut self, path: impl Into<PathBuf>) -> Self {
        self.c_header = Some(path.into());
        self
    }

    /// Also write the encoded `FileDescriptorSet` (with imports) to this path,
    /// for clients that build their message types at run time.
    pub fn descriptor_set_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.descriptor_set_out = Some(path.into());
        self
    }

    /// Also write a Dart package to this directory: `lib/<package>.dart` (the
    /// barrel), one `lib/<proto/package/path>.pb.dart` per proto package,
    /// `lib/src/*.dart`, and a `pubspec.yaml` when none exists.
    pub fn dart_out(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dart_out = Some(dir.into());
        self
    }

    /// The Dart package name (default: the prefix).
    pub fn dart_package(mut self, name: impl Into<String>) -> Self {
        self.dart_package = Some(name.into());
        self
    }

    /// Base name of the native library the Dart client loads by default
    /// (default: the Cargo package name with `-` replaced by `_`).
    pub fn dart_native_library(mut self, name: impl Into<String>) -> Self {
        self.dart_native_name = Some(name.into());
        self
    }

    /// Interop mode: generate the Dart clients over `package:protobuf`
    /// message classes (from `protoc_plugin`) imported from `imports`, e.g.
    /// `["package:my_app/src/generated/user.pb.dart"]`, instead of the
    /// self-contained message classes.
    pub fn dart_protobuf_interop(mut self, imports: &[&str]) -> Self {
        self.dart_protobuf_imports = Some(imports.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Whether the Dart package gets a build hook (`hook/build.dart`,
    /// default on): since Dart 3.10 and Flutter 3.38, `flutter run`/`build`
    /// and `dart run`/`test` run it, and it builds this crate with cargo for
    /// the target being built (Android ABIs, iOS device or simulator,
    /// macOS, Windows, Linux) and bundles the library as the code asset the
    /// client's `bundled()` constructors bind. Off: no hook is written (the
    /// host loads the library itself and uses `open(path)`).
    pub fn dart_build_hook(mut self, enabled: bool) -> Self {
        self.dart_hook = enabled;
        self
    }

    /// The crate the build hook builds (default: the crate running this
    /// build script, `CARGO_MANIFEST_DIR`); written into the hook relative
    /// to the Dart package, so the pair can move together.
    pub fn dart_hook_crate(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dart_hook_crate = Some(dir.into());
        self
    }

    /// Cargo features the build hook enables.
    pub fn dart_hook_features(mut self, features: &[&str]) -> Self {
        self.dart_hook_features = features.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Where the Rust code goes (default: `OUT_DIR`).
    pub fn out_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(path.into());
        self
    }

    /// Starts from an existing prost-build configuration.
    pub fn with_prost_config(mut self, config: prost_build::Config) -> Self {
        self.prost = Some(config);
        self
    }

    /// Applies any prost-build option (escape hatch for everything below).
    pub fn prost(mut self, tweak: impl Fn(&mut prost_build::Config) + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// `prost_build::Config::type_attribute`.
    pub fn type_attribute(self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        let (p, a) = (path.as_ref().to_string(), attribute.as_ref().to_string());
        self.prost(move |c| {
            c.type_attribute(&p, &a);
        })
    }

    /// `prost_build::Config::field_attribute`.
    pub fn field_attribute(self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        let (p, a) = (path.as_ref().to_string(), attribute.as_ref().to_string());
        self.prost(move |c| {
            c.field_attribute(&p, &a);
        })
    }

    /// `prost_build::Config::bytes`: these `bytes` fields become `Bytes`.
    ///
    /// A request's `Bytes` field always holds a copy: the caller's bytes are
    /// valid only during the call. Large `Vec<u8>` fields are copied once
    /// (lent to prost, `proto2ffi-runtime/src/policy/request_buf.rs`); a method whose
    /// requests hold a `Bytes` field decodes its first large request twice,
    /// then stops lending and decodes as prost alone does (each large
    /// `Vec<u8>` field of its requests copied twice).
    pub fn bytes(self, paths: &[&str]) -> Self {
        let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        self.prost(move |c| {
            c.bytes(&paths);
        })
    }

    /// `prost_build::Config::btree_map`.
    pub fn btree_map(self, paths: &[&str]) -> Self {
        let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        self.prost(move |c| {
            c.btree_map(&paths);
        })
    }

    /// `prost_build::Config::extern_path`.
    pub fn extern_path(self, proto_path: impl AsRef<str>, rust_path: impl AsRef<str>) -> Self {
        let (p, r) = (
            proto_path.as_ref().to_string(),
            rust_path.as_ref().to_string(),
        );
        self.prost(move |c| {
            c.extern_path(&p, &r);
        })
    }

    /// Also write `name` in the output directory: a module tree that
    /// includes every generated package (`prost_build::Config::include_file`),
    /// handy when several packages refer to each other.
    ///
    /// `proto2ffi::include_protos!()` needs no such file: the builder always
    /// writes its own module tree.
    pub fn include_file(self, name: impl AsRef<str>) -> Self {
        let name = name.as_ref().to_string();
        self.prost(move |c| {
            c.include_file(&name);
        })
    }

    /// Default request byte limit for methods that set none.
    pub fn default_max_request_bytes(mut self, bytes: u64) -> Self {
        self.defaults.max_request_bytes = bytes;
        self
    }

    /// Default response byte limit for methods that set none.
    pub fn default_max_response_bytes(mut self, bytes: u64) -> Self {
        self.defaults.max_response_bytes = bytes;
        self
    }

    /// Default per-method rate limit for methods that set none.
    pub fn default_rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.defaults.rate = Some((per_second, burst.max(1)));
        self
    }

    /// Names the Rust type that implements a service (by proto full name,
    /// e.g. `("particles.v1.Particles", "crate::Sim")`). Its entry points
    /// then call that type's methods directly instead of through a trait
    /// object, so the compiler can inline each handler into its guard
    /// (a fixed-layout call of a few nanoseconds is then mostly the
    /// guard's own work), and `register_<service>` takes exactly that type.
    /// Without it, any implementation can be registered at run time.
    pub fn implementation(
        mut self,
        service: impl Into<String>,
        rust_type: impl Into<String>,
    ) -> Self {
        self.implementations
            .insert(service.into(), rust_type.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default: when
    /// running in a build script, i.e. when `OUT_DIR` is set).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.rerun = Some(yes);
        self
    }

    /// Compiles and writes all outputs.
    pub fn compile_protos(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        self.generate(protos, includes).map(|_| ())
    }

    /// Compiles and writes all outputs, returning what was produced. Errors
    /// name files relative to the crate (`proto/x.proto:3:26`).
    pub fn generate(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Generated, Error> {
        let dirs: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_path_buf()).collect();
        self.generate_inner(protos, includes)
            .map_err(|e| e.relative_to_crate(&dirs))
    }

    fn generate_inner(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Generated, Error> {
        let in_build_script = std::env::var_os("OUT_DIR").is_some();
        let out_dir =
            match (&self.out_dir, std::env::var_os("OUT_DIR")) {
                (Some(d), _) => d.clone(),
                (None, Some(d)) => PathBuf::from(d),
                (None, None) => return Err(Error::new(
                    "OUT_DIR is not set: call proto2ffi-build from build.rs, or set out_dir(..)",
                )),
            };
        let prefix = match &self.prefix {
            Some(p) => p.clone(),
            None => proto2ffi_core::symbols::default_prefix(
                &std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "proto2ffi_lib".into()),
            ),
        };
        let includes: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_path_buf()).collect();
        for dir in &includes {
            if !dir.is_dir() {
                return Err(Error::new(format!(
                    "include directory `{}` does not exist (paths are relative to the package root)",
                    resolver::display(dir)
                )));
            }
        }
        if protos.is_empty() {
            return Err(Error::new("no .proto files given to compile_protos"));
        }

        let mut timings = Vec::new();
        let mut stage = std::time::Instant::now();
        let mut lap = |name: &'static str| {
            let now = std::time::Instant::now();
            timings.push((name, now - stage));
            stage = now;
        };
        let mut compiler = protox::Compiler::with_file_resolver(resolver::resolver(&includes));
        compiler.include_source_info(true).include_imports(true);
        let mut files = Vec::new();
        for proto in protos {
            let path = proto.as_ref();
            compiler.open_file(path).map_err(|e| {
                let failing = e.file().map(str::to_string);
                if let Some(edition) = failing
                    .as_deref()
                    .and_then(|f| resolver::edition_declaration(f, &includes))
                {
                    return edition;
                }
                let e = Error::from_protox(e);
                if includes.is_empty() {
                    Error::new(format!(
                        "{}\n  help: pass the directory that holds it as an include",
                        e.message()
                    ))
                } else {
                    e
                }
            })?;
        }
        // The names (relative to an include directory) of the files asked for.
        for meta in compiler.files() {
            if !meta.is_import() && !files.contains(&meta.name().to_string()) {
                files.push(meta.name().to_string());
            }
        }
        let inputs: Vec<PathBuf> = compiler
            .files()
            .filter(|f| !resolver::is_bundled(f.name()))
            .filter_map(|f| f.path().map(Path::to_path_buf))
            .collect();
        if self.rerun.unwrap_or(in_build_script) {
            // `cargo xtask codegen` sets this to force regeneration.
            println!("cargo:rerun-if-env-changed=PROTO2FFI_FORCE_REGENERATE");
            for input in &inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
        }

        let pool = compiler.descriptor_pool();
        lap("parse");
        let mut warnings = Vec::new();
        let library = model::build(&pool, &files, &prefix, &self.defaults, &mut warnings)?;
        lap("model");
        for (service, rust_type) in &self.implementations {
            if library.service(service).is_none() {
                let known: Vec<&str> = library
                    .services
                    .iter()
                    .map(|s| s.full_name.as_str())
                    .collect();
                return Err(Error::new(format!(
                    "implementation(\"{service}\", ..): no service `{service}` in the compiled \
                     files; services are named by proto full name: {}",
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if rust_type.trim().is_empty() {
                return Err(Error::new(format!(
                    "implementation(\"{service}\", ..): the Rust type is empty"
                )));
            }
        }
        if in_build_script {
            for w in &warnings {
                println!("cargo:warning={w}");
            }
            if std::env::var("CARGO_CFG_PANIC").as_deref() == Ok("abort") {
                println!(
                    "cargo:warning=proto2ffi: this crate is built with panic = \"abort\": a panic in a handler will end the host process instead of returning INTERNAL; set panic = \"unwind\" in the profile"
                );
            }
        }

        // Rust: prost messages + service traits, for the user's files and
        // their non-bundled imports.
        let mut fds = compiler.file_descriptor_set();
        if let Some(path) = &self.descriptor_set_out {
            // Clients also need the error payload's schema (google.rpc.Status
            // wire format, shipped as proto2ffi/v1/status.proto).
            let mut plain = fds.clone();
            for f in descriptor_set(&["proto2ffi/v1/status.proto"], &includes)?.file {
                if !plain.file.iter().any(|g| g.name == f.name) {
                    plain.file.push(f);
                }
            }
            for f in &mut plain.file {
                f.source_code_info = None;
            }
            write::write_if_changed(path, &prost::Message::encode_to_vec(&plain))?;
        }
        // Well-known types stay in the set (prost needs them to analyse
        // fields) and map to prost-types; proto2ffi's own option messages
        // are of no use to user code.
        fds.file.retain(|f| !f.name().starts_with("proto2ffi/"));
        let mut config = self.prost.unwrap_or_default();
        config
            .prost_path("::proto2ffi::prost")
            .prost_types_path("::proto2ffi::prost_types")
            // `prost::Name` lets messages travel as google.rpc.Status details.
            .enable_type_names()
            // `Any` type URLs as every protobuf runtime writes them.
            .type_name_domain(["."], "type.googleapis.com")
            .format(false)
            .service_generator(Box::new(rust::ServiceTraits::new(
                library.clone(),
                self.implementations.clone(),
            )))
            .out_dir(&out_dir);
        for tweak in &self.tweaks {
            tweak(&mut config);
        }
        std::fs::create_dir_all(&out_dir)?;
        // prost-build writes files unconditionally; generate into a scratch
        // directory and copy only what changed.
        let scratch = out_dir.join(".proto2ffi-scratch");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        config.out_dir(&scratch);
        config
            .compile_fds(fds)
            .map_err(|e| Error::new(format!("generating Rust code failed: {e}")))?;
        let mut written = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&scratch)? {
            let entry = entry?;
            let content = std::fs::read(entry.path())?;
            written.insert(entry.file_name().to_string_lossy().into_owned());
            write::write_if_changed(&out_dir.join(entry.file_name()), &content)?;
        }
        // The proto packages prost wrote a file for.
        let packages: std::collections::BTreeSet<String> = pool
            .files()
            .map(|f| f.package_name().to_string())
            .filter(|p| packages::generated(p) && written.contains(&packages::package_file(p)))
            .collect();
        let _ = std::fs::remove_dir_all(&scratch);
        // How the packages are included: the module tree for
        // `include_protos!()`, and a wrapper per package for `include_proto!`.
        let references = packages::references(&pool);
        write::write_if_changed(
            &out_dir.join(packages::TREE_FILE),
            packages::tree(&packages).as_bytes(),
        )?;
        let none = std::collections::BTreeSet::new();
        for package in &packages {
            let refs = references.get(package).unwrap_or(&none);
            write::write_if_changed(
                &out_dir.join(packages::wrapper_file(package)),
                packages::wrapper(package, refs).as_bytes(),
            )?;
        }

        lap("rust");
        let header = c_header::generate(&library);
        if let Some(path) = &self.c_header {
            write::write_if_changed(path, header.as_bytes())?;
        }
        lap("header");
        let mut dart_files = Vec::new();
        if let Some(dir) = &self.dart_out {
            let options = crate::dart::DartOptions {
                package: self.dart_package.clone().unwrap_or_else(|| prefix.clone()),
                native_name: self.dart_native_name.clone().unwrap_or_else(|| {
                    std::env::var("CARGO_PKG_NAME")
                        .map(|n| n.replace('-', "_"))
                        .unwrap_or_else(|_| prefix.clone())
                }),
                protobuf_imports: self.dart_protobuf_imports.clone(),
                hook: match (
                    self.dart_hook,
                    self.dart_hook_crate.is_some()
                        || std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
                ) {
                    (true, true) => Some(hook_options(
                        self.dart_hook_crate.as_deref(),
                        &self.dart_hook_features,
                        dir,
                    )?),
                    (true, false) => {
                        // Outside cargo (a tool generating code itself)
                        // there is no crate to point the hook at.
                        warnings.push(
                            "proto2ffi: no Dart build hook: outside a cargo build the crate's \
                             directory is unknown; set .dart_hook_crate(..) (or \
                             .dart_build_hook(false) to silence this)"
                                .to_string(),
                        );
                        None
                    }
                    (false, _) => None,
                },
            };
            dart_files = crate::dart::generate(&library, &options)?;
            for (path, content) in &dart_files {
                write::write_if_changed(&dir.join(path), content.as_bytes())?;
            }
            let pubspec = dir.join("pubspec.yaml");
            if !pubspec.exists() {
                write::write_if_changed(&pubspec, crate::dart::pubspec(&options).as_bytes())?;
            } else if let Some(missing) = options.hook.as_ref().and_then(|_| {
                let text = std::fs::read_to_string(&pubspec).unwrap_or_default();
                crate::dart::hook_pubspec_gap(&text)
            }) {
                let w = format!(
                    "proto2ffi: {} has a build hook but {missing}; add them or turn the hook off \
                     with .dart_build_hook(false)",
                    pubspec.display()
                );
                if in_build_script {
                    println!("cargo:warning={w}");
                }
                warnings.push(w);
            }
        }
        lap("dart");
        Ok(Generated {
            library,
            inputs,
            header,
            warnings,
            dart: dart_files,
            timings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_a_dart_package_and_its_crate() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(relative_path(&p("/w/app/dart"), &p("/w/app")), "..");
        assert_eq!(relative_path(&p("/w/app"), &p("/w/app")), ".");
        assert_eq!(
            relative_path(&p("/w/flutter/packages/x"), &p("/w/rust/core")),
            "../../../rust/core"
        );
        assert_eq!(relative_path(&p("/w/app"), &p("/w/app/native")), "native");
    }

    #[test]
    fn the_package_name_comes_from_the_package_table() {
        let dir = std::env::temp_dir().join(format!("p2f-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[workspace]\nname = \"no\"\n\n[package]\nversion = \"1.0.0\"\nname = \"my-core\"\n",
        )
        .unwrap();
        assert_eq!(package_name(&manifest).unwrap(), "my-core");
        std::fs::write(&manifest, "[lib]\nname = \"x\"\n").unwrap();
        assert!(package_name(&manifest).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
