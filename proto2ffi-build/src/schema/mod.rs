//! The bottom layer: reading `.proto` files and what they say, before any
//! model is built. Resolving imports with the bundled protos and compiling
//! descriptors ([`resolver`]), schema fingerprints ([`fingerprint`]),
//! comments and option fields ([`options`]), and the Dart identifiers proto
//! names become ([`dart_names`], which the model checks for collisions).

pub(crate) mod dart_names;
pub mod fingerprint;
pub(crate) mod options;
pub(crate) mod resolver;
