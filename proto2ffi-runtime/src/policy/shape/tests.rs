use super::*;

// message Req { repeated Item items = 1 [max_count 1000]; map<string,string> m = 2; bytes b = 3; repeated int64 n = 4; }
// message Item { string s = 1; }
static REQ: MessageShape = MessageShape {
    name: "t.Req",
    fields: &[
        FieldShape {
            tag: 1,
            kind: FieldKind::RepeatedMessage(&ITEM),
            cost: 24,
            max_count: 1000,
        },
        FieldShape {
            tag: 2,
            kind: FieldKind::RepeatedMessage(&M_ENTRY),
            cost: 80,
            max_count: 0,
        },
        FieldShape {
            tag: 3,
            kind: FieldKind::Bytes,
            cost: 0,
            max_count: 0,
        },
        FieldShape {
            tag: 4,
            kind: FieldKind::RepeatedScalar { packed_cost: 8 },
            cost: 8,
            max_count: 0,
        },
    ],
};
static ITEM: MessageShape = MessageShape {
    name: "t.Item",
    fields: &[FieldShape {
        tag: 1,
        kind: FieldKind::Bytes,
        cost: 0,
        max_count: 0,
    }],
};
static M_ENTRY: MessageShape = MessageShape {
    name: "t.Req.MEntry",
    fields: &[
        FieldShape {
            tag: 1,
            kind: FieldKind::Bytes,
            cost: 0,
            max_count: 0,
        },
        FieldShape {
            tag: 2,
            kind: FieldKind::Bytes,
            cost: 0,
            max_count: 0,
        },
    ],
};
static SHAPE: Shape = Shape {
    root: &REQ,
    max_ratio: 41,
    min_max_count: 1000,
};

// message Node { Node child = 1; string s = 2; }
static NODE: MessageShape = MessageShape {
    name: "t.Node",
    fields: &[
        FieldShape {
            tag: 1,
            kind: FieldKind::Message(&NODE),
            cost: 0,
            max_count: 0,
        },
        FieldShape {
            tag: 2,
            kind: FieldKind::Bytes,
            cost: 0,
            max_count: 0,
        },
    ],
};

#[test]
fn a_recursive_message_prints_and_walks() {
    let printed = format!("{NODE:?}");
    assert!(printed.contains("Message(t.Node)"), "{printed}");
    // child { child { s: "hello" } }
    let bytes = [
        0x0a, 0x09, 0x0a, 0x07, 0x12, 0x05, b'h', b'e', b'l', b'l', b'o',
    ];
    let shape = Shape {
        root: &NODE,
        max_ratio: 2,
        min_max_count: 0,
    };
    assert_eq!(shape.check(&bytes, usize::MAX).unwrap(), 5);
}

#[test]
fn empty_elements_are_counted() {
    // 500 empty items: 500 × 24 bytes.
    let bytes: Vec<u8> = std::iter::repeat_n([0x0a, 0x00], 500).flatten().collect();
    assert_eq!(SHAPE.check(&bytes, usize::MAX).unwrap(), 500 * 24);
    assert!(matches!(
        SHAPE.check(&bytes, 1000),
        Err(Refusal::TooLarge { .. })
    ));
    // Map entries with a key inside.
    let bytes: Vec<u8> = std::iter::repeat_n([0x12, 0x03, 0x0a, 0x01, b'k'], 10)
        .flatten()
        .collect();
    assert_eq!(SHAPE.check(&bytes, usize::MAX).unwrap(), 10 * (80 + 1));
}

#[test]
fn max_count_is_enforced_per_message() {
    let bytes: Vec<u8> = std::iter::repeat_n([0x0a, 0x00], 1001).flatten().collect();
    assert_eq!(
        SHAPE.check(&bytes, usize::MAX),
        Err(Refusal::TooMany {
            message: "t.Req",
            tag: 1,
            max_count: 1000
        })
    );
}

#[test]
fn packed_and_bytes_and_garbage() {
    // bytes b = 3 (5 bytes), packed n = 4 (3 one-byte varints).
    let bytes = [0x1a, 5, 1, 2, 3, 4, 5, 0x22, 3, 1, 2, 3];
    assert_eq!(SHAPE.check(&bytes, usize::MAX).unwrap(), 5 + 3 * 8);
    // Truncated and invalid bytes end the walk without a refusal.
    for garbage in [
        &[0x0a, 0x05, 1][..],
        &[0xff; 12][..],
        &[0x0f][..],
        &[0x0b, 0x0a][..],
    ] {
        assert!(SHAPE.check(garbage, usize::MAX).is_ok());
    }
    assert!(!SHAPE.needs_check(100, 4100));
    assert!(SHAPE.needs_check(101, 4100));
    assert!(
        SHAPE.needs_check(1001, usize::MAX),
        "max_count needs the walk"
    );
}

/// The skip is sound: whatever the bytes, the walk never estimates more
/// than `len × max_ratio` (so a request `needs_check` lets through
/// unwalked could not have passed the budget). 1,000,000 seeded inputs,
/// valid-looking and random.
#[test]
fn estimate_never_exceeds_the_ratio_bound() {
    let mut state = 0x5EEDu64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let pieces: [&[u8]; 8] = [
        &[0x0a, 0x00],
        &[0x12, 0x02, 0x0a, 0x00],
        &[0x12, 0x03, 0x0a, 0x01, b'k'],
        &[0x1a, 0x01, 0x00],
        &[0x22, 0x02, 0x01, 0x01],
        &[0x20, 0x01],
        &[0x0b, 0x0c],
        &[0x0a, 0x02, 0x0a, 0x00],
    ];
    for _ in 0..1_000_000 {
        let mut bytes = Vec::new();
        for _ in 0..(next() % 24) {
            let r = next();
            if r % 5 == 0 {
                bytes.push(r as u8);
            } else {
                bytes.extend_from_slice(pieces[(r >> 8) as usize % pieces.len()]);
            }
        }
        let estimate = match SHAPE.check(&bytes, usize::MAX) {
            Ok(e) => e,
            Err(Refusal::TooMany { .. }) => continue,
            Err(r) => panic!("{r:?}"),
        };
        assert!(
            estimate <= bytes.len() as u64 * u64::from(SHAPE.max_ratio),
            "{estimate} for {bytes:02x?}"
        );
    }
}
