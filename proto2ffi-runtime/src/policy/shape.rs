//! The decode budget: how much memory decoding a request would take,
//! estimated from its wire bytes and its schema before anything is decoded.
//!
//! The request byte limit bounds bytes, not what decoding allocates: two
//! wire bytes make one element of a repeated message (`0x0a 0x00`), which
//! decodes to a whole struct, and a map entry costs a hash-table slot. A 4 MiB
//! request could decode to hundreds of MiB. `proto2ffi-build` therefore emits a
//! [`Shape`] for each request type — its message tree flattened into a table,
//! with the estimated in-memory cost of every element — and the guard walks
//! the wire bytes with it (no allocation, no decoding) when
//! `request_len × max_ratio` could exceed the method's `max_decoded_bytes`.
//!
//! The estimate counts, per element, the size of its Rust value (field kinds
//! from the schema, 8 bytes per scalar, 24 per `String`/`Vec`, 48 per map,
//! rounded up) plus the bytes of strings, bytes and packed scalars; it does not
//! count allocator overhead or `Vec` growth slack (up to 2× more). It is a
//! bound against amplification, not an exact measurement. Each repeated field
//! may also carry a `max_count` (the `(proto2ffi.field).max_count` option),
//! checked per message instance.

/// What a field holds, for the estimate.
#[derive(Clone, Copy)]
pub enum FieldKind {
    /// A singular scalar (inline, no allocation).
    Scalar,
    /// A repeated scalar: `cost` per element, or per wire byte when packed
    /// (`packed_cost`).
    RepeatedScalar {
        /// Estimated bytes per byte of a packed run (8 for varints, 1 for
        /// fixed-size kinds).
        packed_cost: u32,
    },
    /// A singular `string`/`bytes`: its length.
    Bytes,
    /// A repeated `string`/`bytes`: `cost` plus its length per element.
    RepeatedBytes,
    /// A singular message, inline: its fields are walked with its shape.
    Message(&'static MessageShape),
    /// A repeated message or map entry: `cost` per element, fields walked
    /// with its shape.
    RepeatedMessage(&'static MessageShape),
}

// By hand: message shapes refer to each other in cycles (recursive
// messages), which a derived `Debug` would follow forever.
impl std::fmt::Debug for FieldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldKind::Scalar => f.write_str("Scalar"),
            FieldKind::RepeatedScalar { packed_cost } => f
                .debug_struct("RepeatedScalar")
                .field("packed_cost", packed_cost)
                .finish(),
            FieldKind::Bytes => f.write_str("Bytes"),
            FieldKind::RepeatedBytes => f.write_str("RepeatedBytes"),
            FieldKind::Message(m) => write!(f, "Message({})", m.name),
            FieldKind::RepeatedMessage(m) => write!(f, "RepeatedMessage({})", m.name),
        }
    }
}

/// One field of a message shape.
#[derive(Clone, Copy, Debug)]
pub struct FieldShape {
    /// Field number.
    pub tag: u32,
    /// Its kind.
    pub kind: FieldKind,
    /// Estimated bytes per element (repeated fields) beyond any length.
    pub cost: u32,
    /// Most elements one message instance may hold (`0`: no limit).
    pub max_count: u32,
}

/// The fields of one message, sorted by field number.
#[derive(Clone, Copy, Debug)]
pub struct MessageShape {
    /// Full proto name (for error messages).
    pub name: &'static str,
    /// Fields by ascending number.
    pub fields: &'static [FieldShape],
}

/// A request type's message tree. Each message's shape is one `static`
/// shared by every request that reaches it (generated code emits each once
/// per package: a table per request grew with the square of a chain of
/// nested messages).
#[derive(Debug)]
pub struct Shape {
    /// The request message; nested messages hang off its fields.
    pub root: &'static MessageShape,
    /// Upper bound of estimated bytes per wire byte over the whole tree:
    /// a request of `n` bytes decodes to at most about `n × max_ratio`.
    pub max_ratio: u32,
    /// The smallest `max_count` in the tree (`0`: none). Every element takes
    /// at least one wire byte, so a shorter request cannot exceed it.
    pub min_max_count: u32,
}

/// Why a request was refused before decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The estimate passed the budget.
    TooLarge {
        /// Bytes estimated when the budget was passed.
        estimate: u64,
    },
    /// A repeated field held more elements than its `max_count`.
    TooMany {
        /// `message.field` path.
        message: &'static str,
        /// Field number.
        tag: u32,
        /// The limit.
        max_count: u32,
    },
}

const MAX_DEPTH: u32 = 100;

struct Walk {
    estimate: u64,
    budget: u64,
}

impl Walk {
    #[inline]
    fn add(&mut self, n: u64) -> Result<(), Refusal> {
        self.estimate = self.estimate.saturating_add(n);
        if self.estimate > self.budget {
            Err(Refusal::TooLarge {
                estimate: self.estimate,
            })
        } else {
            Ok(())
        }
    }
}

#[inline]
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

impl Shape {
    /// Whether a request of `len` bytes can need the walk at all under
    /// `budget` (false: even the worst case of this schema fits).
    #[inline]
    pub fn needs_check(&self, len: usize, budget: usize) -> bool {
        (len as u64).saturating_mul(u64::from(self.max_ratio)) > budget as u64
            || (self.min_max_count != 0 && len as u64 > u64::from(self.min_max_count))
    }

    /// Walks the wire bytes and refuses when the estimated decoded size
    /// passes `budget` or a `max_count` is exceeded. Malformed bytes end the
    /// walk quietly: decoding reports them.
    pub fn check(&self, bytes: &[u8], budget: usize) -> Result<u64, Refusal> {
        let mut walk = Walk {
            estimate: 0,
            budget: budget as u64,
        };
        let mut b = bytes;
        Self::message(&mut walk, Some(self.root), &mut b, None, 0)?;
        Ok(walk.estimate)
    }

    /// Walks one message (`None`: a group of no known shape, left to the
    /// caller to skip). With `group`, stops at that group's end tag.
    fn message(
        walk: &mut Walk,
        shape: Option<&'static MessageShape>,
        bytes: &mut &[u8],
        group: Option<u32>,
        depth: u32,
    ) -> Result<(), Refusal> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let Some(shape) = shape else {
            return Ok(());
        };
        // Element counts for `max_count`, per field position (first 64).
        let mut counts = [0u32; 64];
        let limited = shape.fields.iter().any(|f| f.max_count != 0);
        while !bytes.is_empty() {
            let Some(key) = varint(bytes) else {
                return Ok(());
            };
            let (tag, wire) = ((key >> 3) as u32, (key & 7) as u8);
            if wire == 4 {
                // The end of this group (or a stray end tag: decoding
                // refuses it).
                let _ = group;
                return Ok(());
            }
            let position = shape.fields.binary_search_by_key(&tag, |f| f.tag).ok();
            let field = position.map(|p| shape.fields[p]);
            if let (true, Some(p), Some(f)) = (limited, position, field) {
                if f.max_count != 0 && p < counts.len() {
                    counts[p] += 1;
                    if counts[p] > f.max_count
                        && !matches!(wire, 2 if matches!(f.kind, FieldKind::RepeatedScalar { .. }))
                    {
                        return Err(Refusal::TooMany {
                            message: shape.name,
                            tag,
                            max_count: f.max_count,
                        });
                    }
                }
            }
            match wire {
                0 => {
                    if varint(bytes).is_none() {
                        return Ok(());
                    }
                    if let Some(f) = field {
                        if matches!(f.kind, FieldKind::RepeatedScalar { .. }) {
                            walk.add(u64::from(f.cost))?;
                        }
                    }
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    if bytes.len() < n {
                        return Ok(());
                    }
                    *bytes = &bytes[n..];
                    if let Some(f) = field {
                        if matches!(f.kind, FieldKind::RepeatedScalar { .. }) {
                            walk.add(u64::from(f.cost))?;
                        }
                    }
                }
                2 => {
                    let Some(len) = varint(bytes) else {
                        return Ok(());
                    };
                    if len > bytes.len() as u64 {
                        return Ok(());
                    }
                    let (payload, rest) = bytes.split_at(len as usize);
                    *bytes = rest;
                    let Some(f) = field else { continue };
                    match f.kind {
                        FieldKind::Scalar => {}
                        FieldKind::RepeatedScalar { packed_cost } => {
                            walk.add(len.saturating_mul(u64::from(packed_cost)))?;
                            if let (true, Some(p)) = (f.max_count != 0, position) {
                                // A packed run: count its elements.
                                let n = if packed_cost == 8 {
                                    payload.iter().filter(|b| **b < 0x80).count() as u64
                                } else {
                                    len / u64::from(f.cost.max(1))
                                };
                                let total = u64::from(counts.get(p).copied().unwrap_or(0))
                                    .saturating_sub(1)
                                    .saturating_add(n);
                                if let Some(c) = counts.get_mut(p) {
                                    *c = total.min(u64::from(u32::MAX)) as u32;
                                }
                                if total > u64::from(f.max_count) {
                                    return Err(Refusal::TooMany {
                                        message: shape.name,
                                        tag,
                                        max_count: f.max_count,
                                    });
                                }
                            }
                        }
                        FieldKind::Bytes => walk.add(len)?,
                        FieldKind::RepeatedBytes => walk.add(u64::from(f.cost) + len)?,
                        FieldKind::Message(m) => {
                            let mut p = payload;
                            Self::message(walk, Some(m), &mut p, None, depth + 1)?;
                        }
                        FieldKind::RepeatedMessage(m) => {
                            walk.add(u64::from(f.cost))?;
                            let mut p = payload;
                            Self::message(walk, Some(m), &mut p, None, depth + 1)?;
                        }
                    }
                }
                3 => {
                    // A group: a message delimited by start/end tags.
                    let (nested, cost) = match field.map(|f| f.kind) {
                        Some(FieldKind::Message(m)) => (Some(m), 0),
                        Some(FieldKind::RepeatedMessage(m)) => {
                            (Some(m), field.map_or(0, |f| f.cost))
                        }
                        _ => (None, 0),
                    };
                    let before = bytes.len();
                    Self::message(walk, nested, bytes, Some(tag), depth + 1)?;
                    if nested.is_none() {
                        // Unknown group: skip to its end.
                        skip_group(bytes, tag, depth + 1);
                    }
                    // An element takes its start tag and at least one more
                    // byte (the end tag): only then does it count, so the
                    // estimate stays within `len × max_ratio`.
                    if before > bytes.len() {
                        walk.add(u64::from(cost))?;
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Skips the rest of an unknown group (bytes after its start tag).
fn skip_group(bytes: &mut &[u8], tag: u32, depth: u32) {
    if depth > MAX_DEPTH {
        *bytes = &[];
        return;
    }
    while let Some(key) = varint(bytes) {
        let (t, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let ok = match wire {
            0 => varint(bytes).is_some(),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                let ok = bytes.len() >= n;
                *bytes = &bytes[n.min(bytes.len())..];
                ok
            }
            2 => match varint(bytes) {
                Some(len) if len <= bytes.len() as u64 => {
                    *bytes = &bytes[len as usize..];
                    true
                }
                _ => false,
            },
            3 => {
                skip_group(bytes, t, depth + 1);
                true
            }
            4 => return,
            _ => false,
        };
        if !ok {
            *bytes = &[];
            return;
        }
        let _ = tag;
    }
}

#[cfg(test)]
mod tests;
