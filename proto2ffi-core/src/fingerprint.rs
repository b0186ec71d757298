//! Stable schema fingerprints.
//!
//! A fingerprint is a 64-bit FNV-1a hash over a canonical, length-prefixed
//! description of a service. The build helper feeds it descriptor data; the
//! macro feeds it the trait signature when a trait is written by hand. The
//! Dart client embeds the number and compares it with the library at load.

/// FNV-1a, 64-bit. `const` so that fingerprints can be computed at compile time.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// Incremental fingerprint builder. Every field is written with its length
/// first, so `("ab","c")` and `("a","bc")` hash differently.
#[derive(Clone, Debug)]
pub struct Fingerprinter {
    hash: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprinter {
    /// A fresh builder.
    pub const fn new() -> Self {
        Self {
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= *b as u64;
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Adds one string field.
    pub fn field(&mut self, value: &str) -> &mut Self {
        self.bytes(&(value.len() as u64).to_le_bytes());
        self.bytes(value.as_bytes());
        self
    }

    /// Adds one number field.
    pub fn number(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_le_bytes());
        self
    }

    /// The fingerprint so far.
    pub fn finish(&self) -> u64 {
        self.hash
    }
}

/// Fingerprint of a hand-written trait: the service name and, per method in
/// declaration order, its name and the request and response type as written.
pub fn trait_fingerprint<'a>(
    service: &str,
    methods: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> u64 {
    let mut f = Fingerprinter::new();
    f.field("proto2ffi.trait.v1").field(service);
    for (name, req, resp) in methods {
        f.field(name).field(req).field(resp);
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn length_prefix_separates_fields() {
        let a = Fingerprinter::new().field("ab").field("c").finish();
        let b = Fingerprinter::new().field("a").field("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn trait_fingerprint_is_order_sensitive() {
        let a = trait_fingerprint("S", [("a", "A", "B"), ("b", "A", "B")]);
        let b = trait_fingerprint("S", [("b", "A", "B"), ("a", "A", "B")]);
        assert_ne!(a, b);
    }
}
