//! Finds `.proto` files: the user's include directories, then the files
//! proto2ffi ships (`proto2ffi/options.proto`, `proto2ffi/v1/*.proto`), then
//! the well-known types bundled with protox.

use crate::Error;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use std::path::{Path, PathBuf};

struct Bundled;

impl FileResolver for Bundled {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let source = match name {
            "proto2ffi/options.proto" => crate::schema::resolver::OPTIONS_PROTO,
            "proto2ffi/v1/metrics.proto" => crate::schema::resolver::METRICS_PROTO,
            "proto2ffi/v1/health.proto" => crate::schema::resolver::HEALTH_PROTO,
            "proto2ffi/v1/status.proto" => crate::schema::resolver::STATUS_PROTO,
            _ => return Err(protox::Error::file_not_found(name)),
        };
        File::from_source(name, source)
    }
}

/// The resolver chain for a set of include directories.
pub(crate) fn resolver(includes: &[PathBuf]) -> impl FileResolver {
    let mut chain = ChainFileResolver::new();
    for include in includes {
        chain.add(IncludeFileResolver::new(include.clone()));
    }
    chain.add(Bundled);
    chain.add(GoogleFileResolver::new());
    chain
}

/// Whether a file name belongs to protobuf or proto2ffi rather than the user.
pub(crate) fn is_bundled(name: &str) -> bool {
    name.starts_with("google/protobuf/") || name.starts_with("proto2ffi/")
}

/// Paths are compared as given; this helper makes error text stable.
pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// When the file `name` (relative to an include directory) declares an
/// edition (`edition = "2023";`), the error to report instead of the
/// parser's: protox parses `syntax = "proto2"`/`"proto3"` files only.
pub(crate) fn edition_declaration(name: &str, includes: &[PathBuf]) -> Option<crate::Error> {
    let path = includes
        .iter()
        .map(|i| i.join(name))
        .find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&path).ok()?;
    let (line, column, edition) = text.lines().enumerate().find_map(|(i, l)| {
        let trimmed = l.trim_start();
        let rest = trimmed.strip_prefix("edition")?;
        let value = rest.trim_start().strip_prefix('=')?.trim();
        Some((
            i + 1,
            l.len() - trimmed.len() + 1,
            value.trim_end_matches(';').trim().to_string(),
        ))
    })?;
    Some(crate::Error::at(
        &display(&path),
        line,
        column,
        format!(
            "this file uses protobuf editions (edition = {edition}), which proto2ffi's \
             .proto parser (protox) does not support yet\n  help: declare `syntax = \"proto3\";` \
             (or \"proto2\") instead; supported: proto2 (groups, required, defaults, \
             extensions), proto3 (optional), and the well-known types"
        ),
    ))
}

/// Compiles `.proto` files (with proto2ffi's bundled files and the
/// well-known types importable) into a `FileDescriptorSet` that includes
/// imports: for hosts that generate their own message types (prost, Python's
/// `protobuf`, …) from the same contract.
pub fn descriptor_set(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<prost_types::FileDescriptorSet, Error> {
    let includes: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let mut compiler = protox::Compiler::with_file_resolver(resolver(&includes));
    compiler.include_imports(true);
    for proto in protos {
        compiler
            .open_file(proto.as_ref())
            .map_err(Error::from_protox)?;
    }
    Ok(compiler.file_descriptor_set())
}

/// The bundled `proto2ffi/options.proto` (importable without include paths).
pub const OPTIONS_PROTO: &str = include_str!("../../proto/proto2ffi/options.proto");
/// The bundled `proto2ffi/v1/metrics.proto`.
pub const METRICS_PROTO: &str = include_str!("../../proto/proto2ffi/v1/metrics.proto");
/// The bundled `proto2ffi/v1/health.proto`.
pub const HEALTH_PROTO: &str = include_str!("../../proto/proto2ffi/v1/health.proto");
/// The bundled `proto2ffi/v1/status.proto`.
pub const STATUS_PROTO: &str = include_str!("../../proto/proto2ffi/v1/status.proto");
