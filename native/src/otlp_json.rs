//! OTLP/JSON logs and traces turned into the protobuf request the classifier reads, record by record: a malformed
//! record is left out, counted and described by its path, while the valid records beside it are kept.
//!
//! The rules are those of `json_format.ParseDict(..., ignore_unknown_fields=True)`, the protobuf JSON mapping as the
//! Python decoder this replaced applied it, plus OTLP/JSON's exceptions: ids are hex, timestamps may be floats. That
//! decoder is kept as the specification (`tests/reference_json.py`, which marks what is deliberately done otherwise);
//! `tests/test_json_decode.py` checks that both give the same bytes, counts and error locations.
//!
//! Each message is read into one slot per field, taking the JSON object's keys in order (so of a field given in both
//! spellings the last wins, and `null` clears it), then written in field-number order, as upb serializes. Recursion
//! follows the JSON, which serde_json refuses past 128 levels; that also keeps ParseDict's own limit (100 nested
//! messages) out of reach, as every nested message costs at least one JSON level and OTLP's deepest chain of them
//! (AnyValue, KeyValueList, KeyValue) costs four for three.

use std::collections::HashMap;
use std::fmt::{self, Write};

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::wire::{put_fixed64, put_len, put_varint, Buf, FIXED32, FIXED64, LEN, VARINT};

create_exception!(
    _native,
    BadJson,
    PyValueError,
    "An OTLP/JSON body that can't be read at all: not JSON, not an object, or its resources not an array."
);

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Double,
    /// base64, standard or URL-safe, read as Python's lenient `base64.urlsafe_b64decode` reads it
    Bytes,
    Int32,
    Int64,
    Uint32,
    Fixed32,
    /// fixed64 nanoseconds; a float is truncated (Faro sends `Date.parse(ts) * 1e6`)
    Nanos,
    /// a trace or span id of this many bytes, in hex: OTLP/JSON's rule (the protobuf mapping has base64)
    Id(usize),
    Enum(&'static [&'static str]),
    Message(&'static Desc),
    Repeated(&'static Desc),
    RepeatedStr,
}

struct Field {
    json: &'static str,
    name: &'static str,
    number: u32,
    kind: Kind,
    oneof: bool,
}

/// A message's fields in field-number order.
struct Desc {
    fields: &'static [Field],
}

/// Every message here has at most this many fields (Span).
const MAX_FIELDS: usize = 16;

const fn field(json: &'static str, name: &'static str, number: u32, kind: Kind) -> Field {
    Field { json, name, number, kind, oneof: false }
}

const fn oneof(json: &'static str, name: &'static str, number: u32, kind: Kind) -> Field {
    Field { json, name, number, kind, oneof: true }
}

// opentelemetry/proto v1 as opentelemetry-proto 1.45 has it, profiles' string-table indices included.
static KEY_VALUE: Desc = Desc {
    fields: &[
        field("key", "key", 1, Kind::Str),
        field("value", "value", 2, Kind::Message(&ANY_VALUE)),
        field("keyStrindex", "key_strindex", 3, Kind::Int32),
    ],
};
static ANY_VALUE: Desc = Desc {
    fields: &[
        oneof("stringValue", "string_value", 1, Kind::Str),
        oneof("boolValue", "bool_value", 2, Kind::Bool),
        oneof("intValue", "int_value", 3, Kind::Int64),
        oneof("doubleValue", "double_value", 4, Kind::Double),
        oneof("arrayValue", "array_value", 5, Kind::Message(&ARRAY_VALUE)),
        oneof("kvlistValue", "kvlist_value", 6, Kind::Message(&KEY_VALUE_LIST)),
        oneof("bytesValue", "bytes_value", 7, Kind::Bytes),
        oneof("stringValueStrindex", "string_value_strindex", 8, Kind::Int32),
    ],
};
static ARRAY_VALUE: Desc = Desc { fields: &[field("values", "values", 1, Kind::Repeated(&ANY_VALUE))] };
static KEY_VALUE_LIST: Desc = Desc { fields: &[field("values", "values", 1, Kind::Repeated(&KEY_VALUE))] };
static ENTITY_REF: Desc = Desc {
    fields: &[
        field("schemaUrl", "schema_url", 1, Kind::Str),
        field("type", "type", 2, Kind::Str),
        field("idKeys", "id_keys", 3, Kind::RepeatedStr),
        field("descriptionKeys", "description_keys", 4, Kind::RepeatedStr),
    ],
};
static RESOURCE: Desc = Desc {
    fields: &[
        field("attributes", "attributes", 1, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 2, Kind::Uint32),
        field("entityRefs", "entity_refs", 3, Kind::Repeated(&ENTITY_REF)),
    ],
};
static SCOPE: Desc = Desc {
    fields: &[
        field("name", "name", 1, Kind::Str),
        field("version", "version", 2, Kind::Str),
        field("attributes", "attributes", 3, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 4, Kind::Uint32),
    ],
};
/// Resource{Logs,Spans} without its scopes (field 2), which are read one by one.
static RESOURCE_ENTRY: Desc = Desc {
    fields: &[
        field("resource", "resource", 1, Kind::Message(&RESOURCE)),
        field("schemaUrl", "schema_url", 3, Kind::Str),
    ],
};
/// Scope{Logs,Spans} without its records (field 2), which are read one by one.
static SCOPE_ENTRY: Desc = Desc {
    fields: &[
        field("scope", "scope", 1, Kind::Message(&SCOPE)),
        field("schemaUrl", "schema_url", 3, Kind::Str),
    ],
};
static LOG_RECORD: Desc = Desc {
    fields: &[
        field("timeUnixNano", "time_unix_nano", 1, Kind::Nanos),
        field("severityNumber", "severity_number", 2, Kind::Enum(SEVERITY_NUMBER)),
        field("severityText", "severity_text", 3, Kind::Str),
        field("body", "body", 5, Kind::Message(&ANY_VALUE)),
        field("attributes", "attributes", 6, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 7, Kind::Uint32),
        field("flags", "flags", 8, Kind::Fixed32),
        field("traceId", "trace_id", 9, Kind::Id(16)),
        field("spanId", "span_id", 10, Kind::Id(8)),
        field("observedTimeUnixNano", "observed_time_unix_nano", 11, Kind::Nanos),
        field("eventName", "event_name", 12, Kind::Str),
    ],
};
static SPAN: Desc = Desc {
    fields: &[
        field("traceId", "trace_id", 1, Kind::Id(16)),
        field("spanId", "span_id", 2, Kind::Id(8)),
        field("traceState", "trace_state", 3, Kind::Str),
        field("parentSpanId", "parent_span_id", 4, Kind::Id(8)),
        field("name", "name", 5, Kind::Str),
        field("kind", "kind", 6, Kind::Enum(SPAN_KIND)),
        field("startTimeUnixNano", "start_time_unix_nano", 7, Kind::Nanos),
        field("endTimeUnixNano", "end_time_unix_nano", 8, Kind::Nanos),
        field("attributes", "attributes", 9, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 10, Kind::Uint32),
        field("events", "events", 11, Kind::Repeated(&SPAN_EVENT)),
        field("droppedEventsCount", "dropped_events_count", 12, Kind::Uint32),
        field("links", "links", 13, Kind::Repeated(&SPAN_LINK)),
        field("droppedLinksCount", "dropped_links_count", 14, Kind::Uint32),
        field("status", "status", 15, Kind::Message(&STATUS)),
        field("flags", "flags", 16, Kind::Fixed32),
    ],
};
static SPAN_EVENT: Desc = Desc {
    fields: &[
        field("timeUnixNano", "time_unix_nano", 1, Kind::Nanos),
        field("name", "name", 2, Kind::Str),
        field("attributes", "attributes", 3, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 4, Kind::Uint32),
    ],
};
static SPAN_LINK: Desc = Desc {
    fields: &[
        field("traceId", "trace_id", 1, Kind::Id(16)),
        field("spanId", "span_id", 2, Kind::Id(8)),
        field("traceState", "trace_state", 3, Kind::Str),
        field("attributes", "attributes", 4, Kind::Repeated(&KEY_VALUE)),
        field("droppedAttributesCount", "dropped_attributes_count", 5, Kind::Uint32),
        field("flags", "flags", 6, Kind::Fixed32),
    ],
};
static STATUS: Desc = Desc {
    fields: &[field("message", "message", 2, Kind::Str), field("code", "code", 3, Kind::Enum(STATUS_CODE))],
};

/// Enum value names by number (each OTLP enum numbers its values from 0 without gaps).
const SEVERITY_NUMBER: &[&str] = &[
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE", "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG", "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4", "SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO2", "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4", "SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2", "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4", "SEVERITY_NUMBER_ERROR", "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4", "SEVERITY_NUMBER_FATAL", "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
];
const SPAN_KIND: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODE: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// The container keys of one signal, and its record message.
struct Signal {
    resources: &'static str,
    scopes: &'static str,
    records: &'static str,
    record: &'static Desc,
}

static LOGS: Signal =
    Signal { resources: "resourceLogs", scopes: "scopeLogs", records: "logRecords", record: &LOG_RECORD };
static TRACES: Signal = Signal { resources: "resourceSpans", scopes: "scopeSpans", records: "spans", record: &SPAN };

/// A JSON value as Python's `json.loads` reads it. Everything lives in one arena (`Bump`) or borrows the body, so
/// building the tree costs no allocation per node and dropping it none at all.
#[derive(Clone, Copy)]
enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// any other number, exactly as written (serde_json's arbitrary_precision): a float, -0, or an integer past
    /// int64, which Python reads exactly too
    Number(&'a str),
    Str(&'a str),
    Array(&'a [Json<'a>]),
    Object(Object<'a>),
}

/// An object's entries in the order given; a repeated key keeps its first place and takes its last value, as in a
/// Python dict.
type Object<'a> = &'a [(&'a str, Json<'a>)];

/// Past this many entries an object's keys are looked up in a hash map, so repeated keys cost no quadratic scan.
const LINEAR_KEYS: usize = 16;

/// The key under which serde_json's arbitrary_precision hands a visitor a number as text (its own `Value` reads
/// numbers the same way). An object that really has it as its first key reads as that number, if it is one.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Builds a `Json` in the arena, strings borrowed from the body unless they have escapes.
#[derive(Clone, Copy)]
struct Tree<'a>(&'a Bump);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Tree<'a> {
    type Value = Json<'a>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Tree<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'a>, E> {
        Ok(Json::Int(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'a>, E> {
        Ok(match i64::try_from(n) {
            Ok(n) => Json::Int(n),
            Err(_) => Json::Number(self.0.alloc_str(&n.to_string())),
        })
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::Str(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'a>, E> {
        Ok(Json::Str(self.0.alloc_str(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut items = BumpVec::new_in(self.0);
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Json::Array(items.into_bump_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut entries = BumpVec::new_in(self.0);
        let mut index: Option<HashMap<&str, usize>> = None;
        while let Some(k) = map.next_key_seed(KeySeed(self.0))? {
            if entries.is_empty() && k == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                let number: Number = text.parse().map_err(de::Error::custom)?;
                return Ok(Json::Number(self.0.alloc_str(number.as_str())));
            }
            let v = map.next_value_seed(self)?;
            let found = match &index {
                Some(index) => index.get(k).copied(),
                None => entries.iter().position(|(e, _)| *e == k),
            };
            match found {
                Some(i) => entries[i] = (entries[i].0, v),
                None => {
                    if let Some(index) = &mut index {
                        index.insert(k, entries.len());
                    }
                    entries.push((k, v));
                    if index.is_none() && entries.len() > LINEAR_KEYS {
                        index = Some(entries.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect());
                    }
                }
            }
        }
        Ok(Json::Object(entries.into_bump_slice()))
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct KeySeed<'a>(&'a Bump);

impl<'de: 'a, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'a str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<&'a str, E> {
        Ok(s)
    }

    fn visit_str<E>(self, s: &str) -> Result<&'a str, E> {
        Ok(self.0.alloc_str(s))
    }
}

impl fmt::Display for Json<'_> {
    /// A value as quoted in an error: scalars as JSON, containers by kind.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(n) => write!(f, "{n}"),
            Json::Number(n) => f.write_str(n),
            Json::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            Json::Array(_) | Json::Object(_) => f.write_str(type_name(self)),
        }
    }
}

/// Why a message was refused, and where in it (innermost step first).
struct Problem<'a> {
    what: String,
    path: Vec<Step<'a>>,
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Problem<'a> {
    fn new(what: impl Into<String>) -> Self {
        Problem { what: what.into(), path: Vec::new() }
    }

    fn at(mut self, step: Step<'a>) -> Self {
        self.path.push(step);
        self
    }

    /// "attributes[2].value.intValue is out of range for int64: ...", cut to 200 characters as the Python decoder
    /// cut ParseDict's messages.
    fn describe(&self) -> String {
        let mut text = String::new();
        for step in self.path.iter().rev() {
            match step {
                Step::Key(k) if text.is_empty() => text.push_str(k),
                Step::Key(k) => write!(text, ".{k}").expect("writing to a String"),
                Step::Index(i) => write!(text, "[{i}]").expect("writing to a String"),
            }
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&self.what);
        match text.char_indices().nth(200) {
            Some(_) => {
                let end = text.char_indices().nth(197).map_or(text.len(), |(i, _)| i);
                text.truncate(end);
                text.push_str("...");
                text
            }
            None => text,
        }
    }
}

type Read<'a, T> = Result<T, Problem<'a>>;

/// A field as read so far: wire-ready scalars, and bytes (strings borrowed from the body, the rest in the arena).
#[derive(Clone, Copy)]
enum Slot<'a> {
    Unset,
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
    /// entries already framed with the field's key
    Repeated(&'a [u8]),
}

struct Decoded {
    request: Vec<u8>,
    rejected: usize,
    errors: Vec<String>,
}

/// `signal` ("logs" or "traces") request from OTLP/JSON as protobuf bytes: `(request, rejected records, errors)`, an
/// error naming each rejected record or group of records by its path. Raises BadJson when the body is unusable.
#[pyfunction]
fn json_to_protobuf<'py>(
    py: Python<'py>,
    signal: &str,
    body: &[u8],
) -> PyResult<(Bound<'py, PyBytes>, usize, Vec<String>)> {
    let signal = match signal {
        "logs" => &LOGS,
        "traces" => &TRACES,
        _ => return Err(PyValueError::new_err(format!("no OTLP/JSON decoding for signal {signal:?}"))),
    };
    let out = py.detach(|| decode(signal, body)).map_err(BadJson::new_err)?;
    Ok((PyBytes::new(py, &out.request), out.rejected, out.errors))
}

fn decode(signal: &Signal, body: &[u8]) -> Result<Decoded, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let fixed = lone_surrogates_replaced(body);
    let bump = Bump::new();
    let mut parser = serde_json::Deserializer::from_slice(fixed.as_deref().unwrap_or(body));
    let doc = Tree(&bump)
        .deserialize(&mut parser)
        .and_then(|doc| parser.end().map(|()| doc))
        .map_err(|e| format!("body is not valid JSON: {e}"))?;
    let Json::Object(doc) = doc else {
        return Err(format!("OTLP/JSON body must be an object, got {}", type_name(&doc)));
    };
    let resources = match last(doc, signal.resources) {
        Some(v) if falsy(&v) => &[][..],
        Some(Json::Array(items)) => items,
        None => &[][..],
        Some(_) => return Err(format!("{} must be an array", signal.resources)),
    };
    let mut out = Decoded { request: Vec::with_capacity(body.len() / 2), rejected: 0, errors: Vec::new() };
    let mut entry = Vec::new();
    for (ri, res) in resources.iter().enumerate() {
        entry.clear();
        if let Err(problem) = resource(&bump, signal, ri, res, &mut entry, &mut out) {
            out.errors.push(format!("{}[{ri}]: {}", signal.resources, problem.describe()));
            continue;
        }
        put_len(&mut out.request, key(1, LEN), &entry);
    }
    Ok(out)
}

/// One Resource{Logs,Spans} into `entry`. Err when the resource itself is refused, its records counted as rejected.
fn resource<'a>(
    bump: &'a Bump,
    signal: &Signal,
    ri: usize,
    res: &Json<'a>,
    entry: &mut Vec<u8>,
    out: &mut Decoded,
) -> Read<'a, ()> {
    let given = as_object(res).ok().and_then(|o| last(o, signal.scopes));
    let scopes = match given {
        Some(Json::Array(scopes)) => scopes,
        _ => &[][..],
    };
    let slots = match as_object(res).and_then(|o| fields(bump, &RESOURCE_ENTRY, o)) {
        Ok(slots) => slots,
        Err(problem) => {
            out.rejected += scopes.iter().map(|s| records(signal, s).map_or(0, <[Json]>::len)).sum::<usize>();
            return Err(problem);
        }
    };
    if given.is_some_and(|v| !matches!(v, Json::Null | Json::Array(_))) {
        out.errors.push(format!("{}[{ri}].{}: must be an array", signal.resources, signal.scopes));
    }
    encode(&RESOURCE_ENTRY, &slots, entry, ..2);
    let mut scope_entry = Vec::new();
    let mut record = Vec::new();
    for (si, scope) in scopes.iter().enumerate() {
        let here = || format!("{}[{ri}].{}[{si}]", signal.resources, signal.scopes);
        let recs = match records(signal, scope) {
            Ok(recs) => recs,
            Err(()) => {
                out.errors.push(format!("{}.{}: must be an array", here(), signal.records));
                continue;
            }
        };
        let slots = match as_object(scope).and_then(|o| fields(bump, &SCOPE_ENTRY, o)) {
            Ok(slots) => slots,
            Err(problem) => {
                out.rejected += recs.len();
                out.errors.push(format!("{}: {}", here(), problem.describe()));
                continue;
            }
        };
        scope_entry.clear();
        encode(&SCOPE_ENTRY, &slots, &mut scope_entry, ..2);
        for (i, rec) in recs.iter().enumerate() {
            record.clear();
            match as_object(rec).and_then(|o| fields(bump, signal.record, o)) {
                Ok(slots) => {
                    encode(signal.record, &slots, &mut record, ..);
                    put_len(&mut scope_entry, key(2, LEN), &record);
                }
                Err(problem) => {
                    out.rejected += 1;
                    out.errors.push(format!("{}.{}[{i}]: {}", here(), signal.records, problem.describe()));
                }
            }
        }
        encode(&SCOPE_ENTRY, &slots, &mut scope_entry, 3..);
        put_len(entry, key(2, LEN), &scope_entry);
    }
    encode(&RESOURCE_ENTRY, &slots, entry, 3..);
    Ok(())
}

/// A scope's records: none when it has none or is not an object (which reading it then refuses), Err(()) when they
/// are something other than an array.
fn records<'a>(signal: &Signal, scope: &Json<'a>) -> Result<&'a [Json<'a>], ()> {
    match as_object(scope).ok().and_then(|o| last(o, signal.records)) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(()),
    }
}

fn as_object<'a>(v: &Json<'a>) -> Read<'a, Object<'a>> {
    match *v {
        Json::Object(o) => Ok(o),
        _ => Err(Problem::new(format!("must be an object, got {}", type_name(v)))),
    }
}

/// The value of a container key in either spelling, the last given winning as for any other field.
fn last<'a>(o: Object<'a>, camel: &str) -> Option<Json<'a>> {
    let mut found = None;
    for &(k, v) in o {
        if k == camel || is_snake_of(k, camel) {
            found = Some(v);
        }
    }
    found
}

/// Whether `name` is `camel` in snake_case ("scope_logs" for "scopeLogs").
fn is_snake_of(name: &str, camel: &str) -> bool {
    let mut name = name.bytes();
    for c in camel.bytes() {
        if c.is_ascii_uppercase() {
            if name.next() != Some(b'_') || name.next() != Some(c.to_ascii_lowercase()) {
                return false;
            }
        } else if name.next() != Some(c) {
            return false;
        }
    }
    name.next().is_none()
}

/// Python's truthiness, which decided whether a missing-looking resources list was just empty.
fn falsy(v: &Json) -> bool {
    match *v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Int(n) => n == 0,
        Json::Number(n) => n.parse::<f64>().is_ok_and(|f| f == 0.0),
        Json::Str(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Int(_) | Json::Number(_) => "number",
        Json::Str(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// A message given as a JSON value. ParseDict reads a non-object by iterating it as if it were one: a string's
/// characters and an array's strings are keys, which name no field (no OTLP field has a one-letter name), so both
/// read as an empty message, unless an array's string is a field's name or looks like an extension's ("[a.b]").
fn message<'a>(bump: &'a Bump, desc: &'static Desc, v: &Json<'a>, out: &mut BumpVec<'a, u8>) -> Read<'a, ()> {
    match *v {
        Json::Object(o) => {
            let slots = fields(bump, desc, o)?;
            encode(desc, &slots, out, ..);
            Ok(())
        }
        Json::Str(_) => Ok(()),
        Json::Array(items) => {
            for item in items {
                match item {
                    Json::Str(s) if desc.find(s).is_none() && !is_extension_name(s) => {}
                    _ => return Err(Problem::new(format!("must be an object, got {}", type_name(v)))),
                }
            }
            Ok(())
        }
        _ => Err(Problem::new(format!("must be an object, got {}", type_name(v)))),
    }
}

/// ParseDict's `\[[a-zA-Z0-9\._]*\]$` (Python's `$` also matches before a final newline).
fn is_extension_name(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.len() >= 2
        && s.starts_with('[')
        && s.ends_with(']')
        && s[1..s.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

impl Desc {
    fn find(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.json == key || f.name == key)
    }
}

/// A JSON object's known fields, in the order its keys are given.
fn fields<'a>(bump: &'a Bump, desc: &'static Desc, o: Object<'a>) -> Read<'a, [Slot<'a>; MAX_FIELDS]> {
    let mut slots = [Slot::Unset; MAX_FIELDS];
    let mut oneof_set: Option<&str> = None;
    for (k, v) in o {
        let Some(i) = desc.find(k) else {
            if is_extension_name(k) {
                return Err(Problem::new("names an extension, and OTLP messages have none").at(Step::Key(k)));
            }
            continue;
        };
        let f = &desc.fields[i];
        if let Json::Null = v {
            // Clears the field; a oneof's other members are unset already, as at most one is ever set.
            slots[i] = Slot::Unset;
            continue;
        }
        if f.oneof {
            if let Some(first) = oneof_set {
                return Err(Problem::new(format!("conflicts with {first}: only one of an AnyValue's values may be set"))
                    .at(Step::Key(k)));
            }
            oneof_set = Some(k);
        }
        read(bump, f, v, &mut slots[i]).map_err(|p| p.at(Step::Key(k)))?;
    }
    Ok(slots)
}

/// One field's non-null value into its slot.
fn read<'a>(bump: &'a Bump, f: &Field, v: &Json<'a>, slot: &mut Slot<'a>) -> Read<'a, ()> {
    *slot = match f.kind {
        Kind::Str => Slot::Len(string(v)?.as_bytes()),
        Kind::Bool => match *v {
            Json::Bool(b) => Slot::Varint(u64::from(b)),
            _ => return Err(Problem::new("must be true or false")),
        },
        Kind::Double => Slot::Fixed64(double(v)?.to_bits()),
        Kind::Bytes => match *v {
            Json::Str(s) => Slot::Len(base64(bump, s)?),
            _ => return Err(Problem::new("must be a base64 string")),
        },
        // int32 and int64 are varints of the value's 64-bit two's complement
        Kind::Int32 => Slot::Varint(in_range(v, integer(v)?, i32::MIN.into(), i32::MAX.into(), "int32")? as u64),
        Kind::Int64 => Slot::Varint(in_range(v, integer(v)?, i64::MIN.into(), i64::MAX.into(), "int64")? as u64),
        Kind::Uint32 => Slot::Varint(in_range(v, integer(v)?, 0, u32::MAX.into(), "uint32")? as u64),
        Kind::Fixed32 => Slot::Fixed32(in_range(v, integer(v)?, 0, u32::MAX.into(), "fixed32")? as u32),
        Kind::Nanos => {
            let n = match *v {
                Json::Number(n) if is_float(n) => match n.parse::<f64>() {
                    Ok(f) if f.is_finite() => f.trunc() as i128,
                    _ => return Err(Problem::new(format!("is not a finite number: {n}"))),
                },
                _ => integer(v)?,
            };
            Slot::Fixed64(in_range(v, n, 0, u64::MAX.into(), "fixed64")? as u64)
        }
        Kind::Id(size) => match *v {
            Json::Str("") => Slot::Unset,
            Json::Str(s) => Slot::Len(hex_id(bump, s, size)?),
            _ => return Err(Problem::new("must be a hex string")),
        },
        Kind::Enum(names) => match enum_number(names, v)? {
            Some(n) => Slot::Varint(n as u64),
            // An unknown name leaves the field as it was (ParseDict ignores it with ignore_unknown_fields).
            None => return Ok(()),
        },
        Kind::Message(desc) => {
            let mut buf = BumpVec::new_in(bump);
            message(bump, desc, v, &mut buf)?;
            Slot::Len(buf.into_bump_slice())
        }
        Kind::Repeated(desc) => {
            let mut entries = BumpVec::new_in(bump);
            let mut buf = BumpVec::new_in(bump);
            for (i, item) in array(v)?.iter().enumerate() {
                buf.clear();
                if let Json::Null = item {
                    return Err(Problem::new("must not be null").at(Step::Index(i)));
                }
                message(bump, desc, item, &mut buf).map_err(|p| p.at(Step::Index(i)))?;
                put_len(&mut entries, key(f.number, LEN), &buf);
            }
            Slot::Repeated(entries.into_bump_slice())
        }
        Kind::RepeatedStr => {
            let mut entries = BumpVec::new_in(bump);
            for (i, item) in array(v)?.iter().enumerate() {
                let s = match item {
                    Json::Null => Err(Problem::new("must not be null")),
                    _ => string(item),
                };
                put_len(&mut entries, key(f.number, LEN), s.map_err(|p| p.at(Step::Index(i)))?.as_bytes());
            }
            Slot::Repeated(entries.into_bump_slice())
        }
    };
    Ok(())
}

fn string<'a>(v: &Json<'a>) -> Read<'a, &'a str> {
    match *v {
        Json::Str(s) => Ok(s),
        _ => Err(Problem::new(format!("must be a string, got {}", type_name(v)))),
    }
}

fn array<'a>(v: &Json<'a>) -> Read<'a, &'a [Json<'a>]> {
    match *v {
        Json::Array(items) => Ok(items),
        _ => Err(Problem::new(format!("must be an array, got {}", type_name(v)))),
    }
}

/// Written as upb does: in field-number order (`numbers` selects some), implicit-presence scalars only when not
/// zero or empty, a set message or oneof member always.
fn encode(desc: &Desc, slots: &[Slot], out: &mut impl Buf, numbers: impl std::ops::RangeBounds<u32>) {
    for (f, slot) in desc.fields.iter().zip(slots) {
        if !numbers.contains(&f.number) {
            continue;
        }
        match *slot {
            Slot::Unset => {}
            Slot::Varint(n) if n != 0 || f.oneof => {
                put_varint(out, key(f.number, VARINT));
                put_varint(out, n);
            }
            Slot::Fixed64(n) if n != 0 || f.oneof => put_fixed64(out, key(f.number, FIXED64), n),
            Slot::Fixed32(n) if n != 0 || f.oneof => {
                put_varint(out, key(f.number, FIXED32));
                out.extend_from_slice(&n.to_le_bytes());
            }
            Slot::Len(b) if !b.is_empty() || f.oneof || matches!(f.kind, Kind::Message(_)) => {
                put_len(out, key(f.number, LEN), b)
            }
            Slot::Repeated(entries) => out.extend_from_slice(entries),
            Slot::Varint(_) | Slot::Fixed64(_) | Slot::Fixed32(_) | Slot::Len(_) => {}
        }
    }
}

fn key(number: u32, wire_type: u8) -> u64 {
    u64::from(number << 3 | u32::from(wire_type))
}

impl Buf for BumpVec<'_, u8> {
    fn push(&mut self, byte: u8) {
        BumpVec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        // not BumpVec::extend_from_slice, which clones byte by byte
        self.extend_from_slice_copy(bytes);
    }
}

/// Whether a JSON number is one Python reads as a float (the rest it reads as exact integers).
fn is_float(n: &str) -> bool {
    n.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// An integer field's value as ParseDict reads it: a JSON integer, a float with no fraction, or a string Python's
/// `int()` reads (else one `float()` reads with no fraction), not containing a space. Out-of-range magnitudes
/// saturate, for the range check to refuse.
fn integer<'a>(v: &Json) -> Read<'a, i128> {
    match *v {
        Json::Int(n) => Ok(n.into()),
        Json::Number(n) if is_float(n) => match n.parse::<f64>() {
            Ok(f) if f.is_finite() && f.fract() == 0.0 => Ok(f as i128),
            _ => Err(Problem::new(format!("is not an integer: {n}"))),
        },
        Json::Number(n) => Ok(py_int(n).expect("a JSON integer is a Python int")),
        Json::Str(s) if !s.contains(' ') => match py_int(s) {
            Some(n) => Ok(n),
            None => match py_float(s) {
                Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(f as i128),
                _ => Err(Problem::new(format!("is not an integer: {v}"))),
            },
        },
        Json::Str(_) => Err(Problem::new(format!("is not an integer: {v}"))),
        _ => Err(Problem::new(format!("must be an integer, got {}", type_name(v)))),
    }
}

fn in_range<'a>(v: &Json, n: i128, min: i128, max: i128, ty: &str) -> Read<'a, i128> {
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(Problem::new(format!("is out of range for {ty}: {v}")))
    }
}

/// An enum by name or number, as ParseDict reads it: a name it doesn't know, or a string that isn't an integer, is
/// None (ignored); any int32 is kept, named or not (OTLP's enums are open).
fn enum_number<'a>(names: &[&str], v: &Json) -> Read<'a, Option<i128>> {
    let n = match *v {
        Json::Str(s) => match names.iter().position(|name| *name == s) {
            Some(i) => i as i128,
            None => match py_int(s) {
                Some(n) => n,
                None => return Ok(None),
            },
        },
        Json::Int(n) => n.into(),
        // Python's int() truncates a float
        Json::Number(n) if is_float(n) => match n.parse::<f64>() {
            Ok(f) if f.is_finite() => f.trunc() as i128,
            _ => return Err(Problem::new(format!("is not a finite number: {n}"))),
        },
        Json::Number(n) => py_int(n).expect("a JSON integer is a Python int"),
        Json::Bool(b) => i128::from(b),
        _ => return Err(Problem::new(format!("must be a name or a number, got {}", type_name(v)))),
    };
    in_range(v, n, i32::MIN.into(), i32::MAX.into(), "an enum (int32)").map(Some)
}

/// A double as ParseDict reads it: a finite JSON number, true or false, or a string Python's `float()` reads (NaN
/// and the infinities included, but not "nan").
fn double<'a>(v: &Json) -> Read<'a, f64> {
    match *v {
        // an integer is a Python int first, rounded to the nearest double (as `as` and parsing its digits do)
        Json::Int(n) => Ok(n as f64),
        Json::Number(n) => match n.parse::<f64>() {
            // the integer -0 is 0
            Ok(f) if f.is_finite() && !is_float(n) && f == 0.0 => Ok(0.0),
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(Problem::new(format!("is out of range for a double: {n} (send \"Infinity\" or \"NaN\" quoted)"))),
        },
        Json::Bool(b) => Ok(f64::from(u8::from(b))),
        Json::Str(s) if s != "nan" => py_float(s).ok_or_else(|| Problem::new(format!("is not a number: {v}"))),
        Json::Str(_) => Err(Problem::new("is not a number: \"nan\" (send \"NaN\")")),
        _ => Err(Problem::new(format!("must be a number, got {}", type_name(v)))),
    }
}

/// Digits with single underscores between them, as Python's `int()` and `float()` take them; None otherwise.
fn digits(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_digit()
                || (c == b'_' && i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        });
    ok.then(|| s.replace('_', ""))
}

/// Python's `int(s)`: surrounding whitespace (Unicode's, as `trim` has it), a sign, decimal digits with single
/// underscores between them; None if it raises ValueError. ASCII digits only: Python also reads other scripts'
/// decimal digits ("١٢"), a leniency OTLP/JSON doesn't have and no sender relies on. Saturates past i128.
fn py_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = digits(rest)?;
    let mut n: i128 = 0;
    for d in digits.bytes() {
        n = n.saturating_mul(10).saturating_add(i128::from(d - b'0'));
    }
    Some(if negative { -n } else { n })
}

/// Python's `float(s)`: surrounding whitespace, a sign, then "inf", "infinity" or "nan" in any case, or a decimal
/// number with an optional exponent, underscores allowed between digits; None if it raises ValueError. Rounded
/// correctly, as Python's is. ASCII digits only, as for `py_int`.
fn py_float(s: &str) -> Option<f64> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if rest.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let int = if int.is_empty() { String::new() } else { digits(int)? };
        let frac = if frac.is_empty() { String::new() } else { digits(frac)? };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut text = format!("{int}.{frac}");
        if let Some(e) = exponent {
            let (sign, e) = match e.as_bytes().first() {
                Some(b'-') => ("-", &e[1..]),
                Some(b'+') => ("", &e[1..]),
                _ => ("", e),
            };
            write!(text, "e{sign}{}", digits(e)?).expect("writing to a String");
        }
        text.parse::<f64>().ok()?
    };
    // A negative NaN keeps its sign bit, as Python's does.
    Some(if negative { -magnitude } else { magnitude })
}

/// An id in hex (OTLP/JSON's rule), of exactly `size` bytes.
fn hex_id<'a>(bump: &'a Bump, s: &str, size: usize) -> Read<'a, &'a [u8]> {
    let nibble = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(Problem::new("is not hex"));
    }
    let mut out = BumpVec::with_capacity_in(b.len() / 2, bump);
    for pair in b.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out.push((hi << 4 | lo) as u8),
            _ => return Err(Problem::new("is not hex")),
        }
    }
    if out.len() != size {
        return Err(Problem::new(format!("must be {size} bytes ({} hex digits), got {}", size * 2, out.len())));
    }
    Ok(out.into_bump_slice())
}

/// base64 as ParseDict reads bytes: `base64.urlsafe_b64decode` of the string padded with 1 to 4 "=", which takes
/// both alphabets, skips characters of neither, and stops at the padding that completes a quantum (binascii's
/// `a2b_base64`, not strict).
fn base64<'a>(bump: &'a Bump, s: &str) -> Read<'a, &'a [u8]> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let padding = 4 - s.len() % 4;
    let mut out = BumpVec::with_capacity_in(s.len() / 4 * 3 + 3, bump);
    let (mut quad_pos, mut left, mut pads) = (0, 0u8, 0);
    for c in s.bytes().chain(std::iter::repeat_n(b'=', padding)) {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out.into_bump_slice());
                }
            }
            continue;
        }
        let Some(v) = sextet(c) else { continue };
        pads = 0;
        match quad_pos {
            0 => left = v,
            1 => {
                out.push(left << 2 | v >> 4);
                left = v & 0x0f;
            }
            2 => {
                out.push(left << 4 | v >> 2);
                left = v & 0x03;
            }
            _ => out.push(left << 6 | v),
        }
        quad_pos = (quad_pos + 1) % 4;
    }
    match quad_pos {
        0 => Ok(out.into_bump_slice()),
        1 => Err(Problem::new(format!(
            "is not base64: number of data characters ({}) cannot be 1 more than a multiple of 4",
            out.len() / 3 * 4 + 1
        ))),
        _ => Err(Problem::new("is not base64: incorrect padding")),
    }
}

/// The body with each escaped lone surrogate (`\ud83d` not followed by its low half, or a low half alone) made
/// `\ufffd`, as TextEncoder does: browsers' JSON.stringify escapes them (a string cut in the middle of an emoji), and
/// serde_json refuses them. None when there is none.
fn lone_surrogates_replaced(body: &[u8]) -> Option<Vec<u8>> {
    let hex4 = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(body.get(at..at + 4)?).ok()?;
        u32::from_str_radix(digits, 16).ok().filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let escape = |at: usize| match body.get(at..) {
        Some(rest) if rest.starts_with(b"\\u") => hex4(at + 2),
        _ => None,
    };
    let mut fixed: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(offset) = body.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\\')) {
        i += offset;
        let Some(unit) = escape(i) else {
            i += 2; // another escape (or a malformed one, which serde_json reports): skips the escaped character
            continue;
        };
        if (0xD800..0xDC00).contains(&unit) && escape(i + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low)) {
            i += 12;
            continue;
        }
        if (0xD800..0xE000).contains(&unit) {
            fixed.get_or_insert_with(|| body.to_vec())[i + 2..i + 6].copy_from_slice(b"fffd");
        }
        i += 6;
    }
    fixed
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BadJson", m.py().get_type::<BadJson>())?;
    m.add_function(wrap_pyfunction!(json_to_protobuf, m)?)
}
