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
