//! The structs C sees besides the fixed-layout messages: the buffer, the log
//! record and the fixed-layout array reference.
//!
//! Their layouts differ between targets (pointers are 4 or 8 bytes;
//! `uint64_t` is aligned to 8, or to 4 on i386), so a single size is not a
//! fact. This model is: the header writer declares each struct and asserts
//! its size and every offset for the target the header is compiled for, and
//! the runtime asserts at compile time that its `repr(C)` types have the
//! same layout on the target it is built for. A struct that drifted on one
//! ABI fails the build there, on either side.

/// A field's C type, as far as layout is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CFieldType {
    /// `int32_t`.
    I32,
    /// `uint32_t`.
    U32,
    /// `uint64_t`.
    U64,
    /// `size_t`.
    Usize,
    /// `uint8_t *`.
    BytePtr,
    /// `const char *`.
    CStr,
}

impl CFieldType {
    /// Its spelling in C.
    pub fn c(self) -> &'static str {
        match self {
            CFieldType::I32 => "int32_t",
            CFieldType::U32 => "uint32_t",
            CFieldType::U64 => "uint64_t",
            CFieldType::Usize => "size_t",
            CFieldType::BytePtr => "uint8_t *",
            CFieldType::CStr => "const char *",
        }
    }

    /// Its size and alignment on `abi`.
    pub const fn size_align(self, abi: CAbi) -> (usize, usize) {
        match self {
            CFieldType::I32 | CFieldType::U32 => (4, 4),
            CFieldType::U64 => (8, abi.u64_align),
            CFieldType::Usize | CFieldType::BytePtr | CFieldType::CStr => {
                (abi.pointer, abi.pointer)
            }
        }
    }
}

/// What decides these layouts on a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CAbi {
    /// `sizeof(void *)` (and of `size_t`).
    pub pointer: usize,
    /// The alignment of `uint64_t` inside a struct.
    pub u64_align: usize,
}

impl CAbi {
    /// 64-bit targets (x86_64, aarch64).
    pub const LP64: CAbi = CAbi {
        pointer: 8,
        u64_align: 8,
    };
    /// 32-bit ARM (and most other 32-bit targets).
    pub const ILP32: CAbi = CAbi {
        pointer: 4,
        u64_align: 8,
    };
    /// i386's System V ABI: `uint64_t` aligned to 4 inside structs.
    pub const I386: CAbi = CAbi {
        pointer: 4,
        u64_align: 4,
    };
    /// Every ABI the header distinguishes, in the order it tests them.
    pub const ALL: [CAbi; 3] = [CAbi::LP64, CAbi::ILP32, CAbi::I386];
    /// The ABI of the target this crate is compiled for (Rust's `usize` and
    /// `u64` follow the platform's C ABI).
    pub const TARGET: CAbi = CAbi {
        pointer: std::mem::size_of::<usize>(),
        u64_align: std::mem::align_of::<u64>(),
    };
}

/// One field.
#[derive(Clone, Copy, Debug)]
pub struct CField {
    /// Its name in C and in the runtime's Rust type.
    pub name: &'static str,
    /// Its type.
    pub ty: CFieldType,
}

/// A C-visible struct.
#[derive(Clone, Copy, Debug)]
pub struct CStruct {
    /// What follows the library prefix in its C name (`buffer`:
    /// `{prefix}_buffer`).
    pub suffix: &'static str,
    /// Its fields, in order.
    pub fields: &'static [CField],
}

impl CStruct {
    /// The C name for a library's `prefix`.
    pub fn c_name(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.suffix)
    }

    /// The offset of field `index` on `abi` (C's rule: each field at the
    /// next multiple of its alignment).
    pub const fn offset(&self, index: usize, abi: CAbi) -> usize {
        let mut offset: usize = 0;
        let mut i = 0;
        loop {
            let (size, align) = self.fields[i].ty.size_align(abi);
            offset = offset.next_multiple_of(align);
            if i == index {
                return offset;
            }
            offset += size;
            i += 1;
        }
    }

    /// The alignment on `abi`: the largest of its fields'.
    pub const fn align(&self, abi: CAbi) -> usize {
        let mut align = 1;
        let mut i = 0;
        while i < self.fields.len() {
            let (_, a) = self.fields[i].ty.size_align(abi);
            if a > align {
                align = a;
            }
            i += 1;
        }
        align
    }

    /// The size on `abi`: past the last field, rounded up to the alignment.
    pub const fn size(&self, abi: CAbi) -> usize {
        let last = self.fields.len() - 1;
        let (size, _) = self.fields[last].ty.size_align(abi);
        (self.offset(last, abi) + size).next_multiple_of(self.align(abi))
    }

    /// Whether a Rust type of `size`, `align` and field `offsets` (in
    /// order) has this layout on the target being compiled for; the runtime
    /// asserts it in a `const` for each of its `repr(C)` types.
    pub const fn matches_target(&self, size: usize, align: usize, offsets: &[usize]) -> bool {
        let abi = CAbi::TARGET;
        if size != self.size(abi) || align != self.align(abi) {
            return false;
        }
        if offsets.len() != self.fields.len() {
            return false;
        }
        let mut i = 0;
        while i < offsets.len() {
            if offsets[i] != self.offset(i, abi) {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The index of the field called `name`.
    ///
    /// # Panics
    /// If there is none (at compile time where it is evaluated in a const).
    pub const fn field(&self, name: &str) -> usize {
        let mut i = 0;
        while i < self.fields.len() {
            if const_str_eq(self.fields[i].name, name) {
                return i;
            }
            i += 1;
        }
        panic!("no such field")
    }
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `{prefix}_buffer`: bytes owned by the library.
pub const BUFFER: CStruct = CStruct {
    suffix: "buffer",
    fields: &[
        CField {
            name: "data",
            ty: CFieldType::BytePtr,
        },
        CField {
            name: "len",
            ty: CFieldType::Usize,
        },
        CField {
            name: "capacity",
            ty: CFieldType::Usize,
        },
    ],
};

/// `{prefix}_log_record`: one record handed to the log sink.
pub const LOG_RECORD: CStruct = CStruct {
    suffix: "log_record",
    fields: &[
        CField {
            name: "level",
            ty: CFieldType::I32,
        },
        CField {
            name: "reserved",
            ty: CFieldType::U32,
        },
        CField {
            name: "timestamp_ms",
            ty: CFieldType::U64,
        },
        CField {
            name: "target",
            ty: CFieldType::CStr,
        },
        CField {
            name: "message",
            ty: CFieldType::CStr,
        },
        CField {
            name: "fields",
            ty: CFieldType::CStr,
        },
    ],
};

/// `{prefix}_array_ref`: a large array of a fixed-layout message (16 bytes
/// on every target: the address travels as a `uint64_t`).
pub const ARRAY_REF: CStruct = CStruct {
    suffix: "array_ref",
    fields: &[
        CField {
            name: "data",
            ty: CFieldType::U64,
        },
        CField {
            name: "len",
            ty: CFieldType::U32,
        },
        CField {
            name: "capacity",
            ty: CFieldType::U32,
        },
    ],
};

/// The header's assertion machinery, declared once before any struct: the
/// `{PREFIX}_LAYOUT_ASSERT(name, cond)` macro (C++11 `static_assert`, else
/// the C89 negative-array trick: `_Static_assert` is C11 and the header
/// stays C99-clean), `{PREFIX}_ALIGN_U64` (the alignment of `uint64_t` in a
/// struct) and `{PREFIX}_ABI_IS(pointer, u64_align)`, with an assertion that
/// the target is one of [`CAbi::ALL`].
pub fn c_prelude(prefix: &str) -> String {
    let upper = prefix.to_uppercase();
    let known = CAbi::ALL
        .iter()
        .map(|abi| format!("{upper}_ABI_IS({}, {})", abi.pointer, abi.u64_align))
        .collect::<Vec<_>>()
        .join(" || ");
    format!(
        "/* Layout assertions: a struct whose layout differs from the one the
   library was built with fails to compile. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define {upper}_LAYOUT_ASSERT(name, cond) static_assert(cond, #name)
#else
#define {upper}_LAYOUT_ASSERT(name, cond) typedef char {prefix}_layout_assert_##name[(cond) ? 1 : -1]
#endif

/* The alignment of uint64_t inside a struct: 8, or 4 on i386. */
struct {prefix}_align_probe_u64 {{ char c; uint64_t v; }};
#define {upper}_ALIGN_U64 offsetof(struct {prefix}_align_probe_u64, v)
/* The ABIs whose layouts this header knows: pointer size and uint64_t
   alignment (64-bit; 32-bit ARM and most 32-bit targets; i386). */
#define {upper}_ABI_IS(pointer, u64_align) (sizeof(void *) == (pointer) && {upper}_ALIGN_U64 == (u64_align))
{upper}_LAYOUT_ASSERT(known_abi, {known});
"
    )
}

/// The keywords of C (C99 to C23) and C++, which a header that compiles as
/// either cannot use as a struct member's name.
pub const C_KEYWORDS: &[&str] = &[
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_BitInt",
    "_Bool",
    "_Complex",
    "_Decimal128",
    "_Decimal32",
    "_Decimal64",
    "_Generic",
    "_Imaginary",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
    "alignas",
    "alignof",
    "and",
    "and_eq",
    "asm",
    "auto",
    "bitand",
    "bitor",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "char16_t",
    "char32_t",
    "char8_t",
    "class",
    "co_await",
    "co_return",
    "co_yield",
    "compl",
    "concept",
    "const",
    "const_cast",
    "consteval",
    "constexpr",
    "constinit",
    "continue",
    "decltype",
    "default",
    "delete",
    "do",
    "double",
    "dynamic_cast",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "not_eq",
    "nullptr",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "register",
    "reinterpret_cast",
    "requires",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "static_cast",
    "struct",
    "switch",
    "template",
    "this",
    "thread_local",
    "throw",
    "true",
    "try",
    "typedef",
    "typeid",
    "typename",
    "typeof",
    "typeof_unqual",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "wchar_t",
    "while",
    "xor",
    "xor_eq",
];

/// A Doxygen comment block (`/** ... */`) of `text` at `indent`, one ` * `
/// line per line of text; "" for no text. A `*/` in the text is broken up
/// (`* /`) so it cannot end the comment early.
pub fn c_doc(indent: &str, text: &str) -> String {
    let text = text.replace("*/", "* /");
    if text.lines().next().is_none() {
        return String::new();
    }
    let mut out = format!("{indent}/**\n");
    for l in text.lines() {
        if l.is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {l}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
    out
}

impl CStruct {
    /// Its C `typedef`, fields in order.
    pub fn c_typedef(&self, prefix: &str) -> String {
        let name = self.c_name(prefix);
        let mut out = format!("typedef struct {name} {{\n");
        for f in self.fields {
            let ty = f.ty.c();
            let sep = if ty.ends_with('*') { "" } else { " " };
            out.push_str(&format!("    {ty}{sep}{};\n", f.name));
        }
        out.push_str(&format!("}} {name};\n"));
        out
    }

    /// Assertions of its size, alignment and every field's offset on the
    /// target the header is compiled for (after [`c_prelude`]).
    pub fn c_assertions(&self, prefix: &str) -> String {
        let upper = prefix.to_uppercase();
        let name = self.c_name(prefix);
        let tag = self.suffix;
        let probe = format!("{prefix}_align_probe_{tag}");
        let mut out = format!("struct {probe} {{ char c; {name} v; }};\n");
        let by_abi = |value: &dyn Fn(CAbi) -> usize| {
            let values = CAbi::ALL.map(value);
            if values.iter().all(|v| *v == values[0]) {
                return values[0].to_string();
            }
            let mut expr = String::from("(");
            for (abi, v) in CAbi::ALL.iter().zip(values).take(values.len() - 1) {
                expr.push_str(&format!(
                    "{upper}_ABI_IS({}, {}) ? {v} : ",
                    abi.pointer, abi.u64_align
                ));
            }
            expr.push_str(&format!("{})", values[values.len() - 1]));
            expr
        };
        out.push_str(&format!(
            "{upper}_LAYOUT_ASSERT({tag}_size, sizeof({name}) == {});\n",
            by_abi(&|abi| self.size(abi))
        ));
        out.push_str(&format!(
            "{upper}_LAYOUT_ASSERT({tag}_align, offsetof(struct {probe}, v) == {});\n",
            by_abi(&|abi| self.align(abi))
        ));
        for (i, f) in self.fields.iter().enumerate() {
            out.push_str(&format!(
                "{upper}_LAYOUT_ASSERT({tag}_{}, offsetof({name}, {}) == {});\n",
                f.name,
                f.name,
                by_abi(&|abi| self.offset(i, abi))
            ));
            // The field's own size: a narrowed field can keep every offset
            // and the struct's size (the padding absorbs it).
            out.push_str(&format!(
                "{upper}_LAYOUT_ASSERT({tag}_{}_size, sizeof((({name} *)0)->{}) == {});\n",
                f.name,
                f.name,
                by_abi(&|abi| f.ty.size_align(abi).0)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_record_has_three_layouts() {
        // What the issue measured: 40/8 on 64-bit, 32/8 on armv7, 28/4 on
        // i686.
        assert_eq!(LOG_RECORD.size(CAbi::LP64), 40);
        assert_eq!(LOG_RECORD.align(CAbi::LP64), 8);
        assert_eq!(LOG_RECORD.size(CAbi::ILP32), 32);
        assert_eq!(LOG_RECORD.align(CAbi::ILP32), 8);
        assert_eq!(LOG_RECORD.size(CAbi::I386), 28);
        assert_eq!(LOG_RECORD.align(CAbi::I386), 4);
        assert_eq!(
            LOG_RECORD.offset(LOG_RECORD.field("fields"), CAbi::LP64),
            32
        );
        assert_eq!(
            LOG_RECORD.offset(LOG_RECORD.field("fields"), CAbi::I386),
            24
        );
    }

    #[test]
    fn the_buffer_is_three_words_and_the_array_sixteen_bytes() {
        for abi in CAbi::ALL {
            assert_eq!(BUFFER.size(abi), 3 * abi.pointer);
            assert_eq!(
                BUFFER.offset(BUFFER.field("capacity"), abi),
                2 * abi.pointer
            );
            assert_eq!(ARRAY_REF.size(abi), 16);
            assert_eq!(ARRAY_REF.offset(2, abi), 12);
        }
    }
}
