//! Writing outputs only when their content changed (keeps mtimes stable so
//! nothing downstream rebuilds for nothing).

use crate::Error;
use std::path::Path;

/// Writes `content` to `path` unless the file already holds exactly that.
/// Creates parent directories. Returns whether it wrote.
pub(crate) fn write_if_changed(path: &Path, content: &[u8]) -> Result<bool, Error> {
    if std::fs::read(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    std::fs::write(path, content)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(true)
}
