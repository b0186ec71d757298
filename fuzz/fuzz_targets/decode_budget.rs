//! The decode budget's wire walk over arbitrary bytes: never panics, and
//! never estimates more than `len × max_ratio` (what lets small requests
//! skip the walk).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto2ffi_runtime::__private::shape::{FieldKind, FieldShape, MessageShape, Refusal, Shape};

const fn field(tag: u32, kind: FieldKind, cost: u32, max_count: u32) -> FieldShape {
    FieldShape {
        tag,
        kind,
        cost,
        max_count,
    }
}

// message Req { repeated Item items = 1; map<string, Item> m = 2; bytes b = 3;
//   repeated sint64 n = 4 [max_count 64]; Req self = 5; repeated fixed32 f = 6; }
// message Item { string s = 1; repeated Item children = 2; }
static REQ: MessageShape = MessageShape {
    name: "f.Req",
    fields: &[
        field(1, FieldKind::RepeatedMessage(&ITEM), 56, 0),
        field(2, FieldKind::RepeatedMessage(&M_ENTRY), 120, 0),
        field(3, FieldKind::Bytes, 0, 0),
        field(4, FieldKind::RepeatedScalar { packed_cost: 8 }, 8, 64),
        field(5, FieldKind::Message(&REQ), 0, 0),
        field(6, FieldKind::RepeatedScalar { packed_cost: 1 }, 4, 0),
    ],
};
static ITEM: MessageShape = MessageShape {
    name: "f.Item",
    fields: &[
        field(1, FieldKind::Bytes, 0, 0),
        field(2, FieldKind::RepeatedMessage(&ITEM), 56, 0),
    ],
};
static M_ENTRY: MessageShape = MessageShape {
    name: "f.Req.MEntry",
    fields: &[
        field(1, FieldKind::Bytes, 0, 0),
        field(2, FieldKind::Message(&ITEM), 0, 0),
    ],
};
static SHAPE: Shape = Shape {
    root: &REQ,
    max_ratio: 61,
    min_max_count: 64,
};

fuzz_target!(|data: &[u8]| {
    match SHAPE.check(data, usize::MAX) {
        Ok(estimate) => assert!(estimate <= data.len() as u64 * u64::from(SHAPE.max_ratio)),
        Err(Refusal::TooMany { .. }) => {}
        Err(r) => panic!("unexpected refusal with no budget: {r:?}"),
    }
});
