//! What goes wrong at the boundary and how it crosses it: [`Status`] and
//! its `google.rpc.Status` payload ([`status`]), panics caught and
//! reported without unwinding into the caller ([`mod@panic`]) with the
//! stack's return addresses ([`frames`]), and the one error a refused
//! setting returns ([`config`]). Depends on `sys` and `abi`.
//!
//! [`Status`]: status::Status

pub(crate) mod config;
pub(crate) mod frames;
pub(crate) mod panic;
pub(crate) mod status;
