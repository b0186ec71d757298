//! Build errors that say where and what to do: `file:line:col: message`.

use std::fmt;

/// A build error. Its `Debug` form is its readable message, so a build
/// script returning `Result<(), Error>` prints text, not a struct dump.
pub struct Error {
    message: String,
}

impl Error {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// An error at a source position (1-based line and column).
    pub fn at(file: &str, line: usize, column: usize, message: impl fmt::Display) -> Error {
        Error::new(format!("{file}:{line}:{column}: {message}"))
    }

    /// Converts a protox diagnostic, resolving its first label to line:col.
    pub(crate) fn from_protox(e: protox::Error) -> Error {
        use miette::Diagnostic;
        let file = e.file().unwrap_or("<input>").to_string();
        let mut position = None;
        let mut label_text = None;
        if let (Some(source), Some(label)) =
            (e.source_code(), e.labels().and_then(|mut l| l.next()))
        {
            if let Ok(contents) = source.read_span(label.inner(), 0, 0) {
                position = Some((contents.line() + 1, contents.column() + 1));
            }
            label_text = label.label().map(str::to_string);
        }
        let mut message = e.to_string();
        if let Some(l) = label_text.filter(|l| !message.contains(l.as_str())) {
            message = format!("{message} ({l})");
        }
        if let Some(help) = e.help() {
            message = format!("{message}\n  help: {help}");
        } else if e.is_file_not_found() {
            message = format!(
                "{message}\n  help: check the path, and that its directory is in the include list \
                 passed to compile_protos (imports resolve against the include directories)"
            );
        }
        match position {
            Some((line, col)) => Error::at(&file, line, col, message),
            None if message.contains(&file) => Error::new(message),
            None => Error::new(format!("{file}: {message}")),
        }
    }

    /// Names the file as the user wrote it: a message starting with
    /// `name.proto:line:col` (a path relative to an include directory, as
    /// protox and descriptors name files) gets the include directory in front
    /// (`proto/name.proto:3:26`), so editors can jump to it from the crate.
    pub(crate) fn relative_to_crate(self, includes: &[std::path::PathBuf]) -> Error {
        let Some((file, rest)) = self.message.split_once(':') else {
            return self;
        };
        if !file.ends_with(".proto") || std::path::Path::new(file).is_absolute() {
            return self;
        }
        match includes.iter().map(|i| i.join(file)).find(|p| p.is_file()) {
            Some(path) if path.as_path() != std::path::Path::new(file) => Error {
                message: format!("{}:{rest}", path.display()),
            },
            _ => self,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proto2ffi-build: {}", self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}
