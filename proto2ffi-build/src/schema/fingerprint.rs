//! Schema fingerprints of proto services.
//!
//! The hash covers what a client and a library must agree on: the service
//! and method names, request/response types, streaming flags, and every
//! message and enum reachable from them (field numbers, names, kinds,
//! cardinality, oneofs, presence; enum value names and numbers). Comments
//! and options do not count. Built on `proto2ffi_core::Fingerprinter`.

use prost_reflect::{Cardinality, EnumDescriptor, Kind, MessageDescriptor, ServiceDescriptor};
use proto2ffi_core::Fingerprinter;
use std::collections::BTreeMap;

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => format!("message:{}", m.full_name()),
        Kind::Enum(e) => format!("enum:{}", e.full_name()),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn collect(
    message: &MessageDescriptor,
    messages: &mut BTreeMap<String, MessageDescriptor>,
    enums: &mut BTreeMap<String, EnumDescriptor>,
) {
    if messages
        .insert(message.full_name().to_string(), message.clone())
        .is_some()
    {
        return;
    }
    for field in message.fields() {
        match field.kind() {
            Kind::Message(m) => collect(&m, messages, enums),
            Kind::Enum(e) => {
                enums.insert(e.full_name().to_string(), e);
            }
            _ => {}
        }
    }
}

/// The fingerprint of one service.
pub fn service_fingerprint(service: &ServiceDescriptor) -> u64 {
    let mut f = Fingerprinter::new();
    f.field("proto2ffi.proto.v1").field(service.full_name());
    let mut messages = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for method in service.methods() {
        f.field(method.name())
            .field(method.input().full_name())
            .field(method.output().full_name())
            .number(
                u64::from(method.is_client_streaming())
                    | u64::from(method.is_server_streaming()) << 1,
            );
        collect(&method.input(), &mut messages, &mut enums);
        collect(&method.output(), &mut messages, &mut enums);
    }
    for (name, message) in &messages {
        f.field(name);
        let mut fields: Vec<_> = message.fields().collect();
        fields.sort_by_key(|x| x.number());
        for field in fields {
            let cardinality = match field.cardinality() {
                Cardinality::Optional => "optional",
                Cardinality::Required => "required",
                Cardinality::Repeated => "repeated",
            };
            f.number(u64::from(field.number()))
                .field(field.name())
                .field(&kind_name(&field.kind()))
                .field(cardinality)
                .field(field.containing_oneof().as_ref().map_or("", |o| o.name()))
                .number(u64::from(field.supports_presence()));
        }
    }
    for (name, e) in &enums {
        f.field(name);
        for value in e.values() {
            f.field(value.name()).number(value.number() as i64 as u64);
        }
    }
    f.finish()
}
