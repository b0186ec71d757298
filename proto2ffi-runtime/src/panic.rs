//! Panic payloads: their text, and dropping them without a second unwind.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Extracts the text of a panic payload and drops the payload without
/// letting a panicking `Drop` escape.
pub fn message(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    drop_quietly(payload);
    text
}

/// Drops a payload; a payload whose `Drop` panics again is leaked rather than
/// risk a third panic (string payloads drop safely).
pub fn drop_quietly(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        if again.is::<&'static str>() || again.is::<String>() {
            drop(again);
        } else {
            std::mem::forget(again);
        }
    }
}
