//! Finds `.proto` files: the user's include directories, then the files
//! proto2ffi ships (`proto2ffi/options.proto`, `proto2ffi/v1/*.proto`), then
//! the well-known types bundled with protox.

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use std::path::{Path, PathBuf};

struct Bundled;

impl FileResolver for Bundled {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let source = match name {
            "proto2ffi/options.proto" => crate::OPTIONS_PROTO,
            "proto2ffi/v1/metrics.proto" => crate::METRICS_PROTO,
            "proto2ffi/v1/health.proto" => crate::HEALTH_PROTO,
            "proto2ffi/v1/status.proto" => crate::STATUS_PROTO,
            _ => return Err(protox::Error::file_not_found(name)),
        };
        File::from_source(name, source)
    }
}

/// The resolver chain for a set of include directories.
pub fn resolver(includes: &[PathBuf]) -> impl FileResolver {
    let mut chain = ChainFileResolver::new();
    for include in includes {
        chain.add(IncludeFileResolver::new(include.clone()));
    }
    chain.add(Bundled);
    chain.add(GoogleFileResolver::new());
    chain
}

/// Whether a file name belongs to protobuf or proto2ffi rather than the user.
pub fn is_bundled(name: &str) -> bool {
    name.starts_with("google/protobuf/") || name.starts_with("proto2ffi/")
}

/// Paths are compared as given; this helper makes error text stable.
pub fn display(path: &Path) -> String {
    path.display().to_string()
}

/// When the file `name` (relative to an include directory) declares an
/// edition (`edition = "2023";`), the error to report instead of the
/// parser's: protox parses `syntax = "proto2"`/`"proto3"` files only.
pub fn edition_declaration(name: &str, includes: &[PathBuf]) -> Option<crate::Error> {
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
