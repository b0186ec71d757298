//! What the library-wide exports report: the messages they encode
//! ([`proto`]), metrics as a message and as Prometheus text
//! ([`exposition`]) and health ([`health`]). Read-only over the layers
//! below.

pub(crate) mod exposition;
pub(crate) mod health;
pub(crate) mod proto;
