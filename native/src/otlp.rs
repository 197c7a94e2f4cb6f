//! OTLP export requests (logs and traces) walked on the wire into borrowed records: no copies, and fields
//! otel-friction never reads (bodies, severities, links, status, scope attributes, ...) skipped unparsed.
//!
//! Field numbers (opentelemetry/proto, v1); logs and traces share the outer shape:
//!   Export{Logs,Trace}ServiceRequest: resource_{logs,spans} = 1
//!   Resource{Logs,Spans}: resource = 1, scope_{logs,spans} = 2       Resource: attributes = 1
//!   Scope{Logs,Spans}: scope = 1, log_records / spans = 2             InstrumentationScope: name = 1
//!   LogRecord: time_unix_nano = 1 (fixed64), attributes = 6, trace_id = 9, span_id = 10,
//!              observed_time_unix_nano = 11 (fixed64), event_name = 12
//!   Span: trace_id = 1, span_id = 2, parent_span_id = 4, name = 5, start_time_unix_nano = 7 (fixed64),
//!         end_time_unix_nano = 8 (fixed64), attributes = 9, events = 11
//!   Span.Event: time_unix_nano = 1 (fixed64), name = 2, attributes = 3

use crate::anyvalue::{key_value, Kv};
use crate::pb::{DecodeError, Reader, WireType};

pub struct Resource<'a, T> {
    pub attributes: Vec<Kv<'a>>,
    pub scopes: Vec<Scope<'a, T>>,
}

pub struct Scope<'a, T> {
    pub name: &'a str,
    pub items: Vec<T>,
}

pub struct LogRecord<'a> {
    pub time: u64,
    pub observed: u64,
    pub event_name: &'a str,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub attributes: Vec<Kv<'a>>, // in wire order, repeated keys included
}

pub struct Span<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub start: u64,
    pub end: u64,
    pub attributes: Vec<Kv<'a>>,
    pub events: Vec<SpanEvent<'a>>,
}

pub struct SpanEvent<'a> {
    pub time: u64,
    pub name: &'a str,
    pub attributes: Vec<Kv<'a>>,
}

pub fn logs(body: &[u8]) -> Result<Vec<Resource<'_, LogRecord<'_>>>, DecodeError> {
    resources(body, log_record)
}

pub fn traces(body: &[u8]) -> Result<Vec<Resource<'_, Span<'_>>>, DecodeError> {
    resources(body, span)
}

type Item<'a, T> = fn(&'a [u8]) -> Result<T, DecodeError>;

fn resources<'a, T>(body: &'a [u8], item: Item<'a, T>) -> Result<Vec<Resource<'a, T>>, DecodeError> {
    let mut out = Vec::new();
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        if (field, wt) == (1, WireType::Len) {
            out.push(resource(r.bytes()?, item)?);
        } else {
            r.skip(wt)?;
        }
    }
    Ok(out)
}

fn resource<'a, T>(body: &'a [u8], item: Item<'a, T>) -> Result<Resource<'a, T>, DecodeError> {
    let mut res = Resource { attributes: Vec::new(), scopes: Vec::new() };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            // A message field repeated on the wire merges, so attributes accumulate.
            (1, WireType::Len) => repeated_kvs(r.bytes()?, 1, &mut res.attributes)?,
            (2, WireType::Len) => res.scopes.push(scope(r.bytes()?, item)?),
            _ => r.skip(wt)?,
        }
    }
    Ok(res)
}

fn scope<'a, T>(body: &'a [u8], item: Item<'a, T>) -> Result<Scope<'a, T>, DecodeError> {
    let mut out = Scope { name: "", items: Vec::new() };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => {
                let mut scope = Reader::new(r.bytes()?);
                while let Some((f, w)) = scope.key()? {
                    if (f, w) == (1, WireType::Len) {
                        out.name = scope.string()?;
                    } else {
                        scope.skip(w)?;
                    }
                }
            }
            (2, WireType::Len) => out.items.push(item(r.bytes()?)?),
            _ => r.skip(wt)?,
        }
    }
    Ok(out)
}

/// The KeyValues in field `number` of a message.
fn repeated_kvs<'a>(body: &'a [u8], number: u32, into: &mut Vec<Kv<'a>>) -> Result<(), DecodeError> {
    let mut r = Reader::new(body);
    while let Some((f, w)) = r.key()? {
        if (f, w) == (number, WireType::Len) {
            into.push(key_value(r.bytes()?)?);
        } else {
            r.skip(w)?;
        }
    }
    Ok(())
}

fn log_record(body: &[u8]) -> Result<LogRecord<'_>, DecodeError> {
    let mut rec = LogRecord { time: 0, observed: 0, event_name: "", trace_id: b"", span_id: b"", attributes: Vec::new() };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Fixed64) => rec.time = r.fixed64()?,
            (11, WireType::Fixed64) => rec.observed = r.fixed64()?,
            (6, WireType::Len) => rec.attributes.push(key_value(r.bytes()?)?),
            (9, WireType::Len) => rec.trace_id = r.bytes()?,
            (10, WireType::Len) => rec.span_id = r.bytes()?,
            (12, WireType::Len) => rec.event_name = r.string()?,
            _ => r.skip(wt)?,
        }
    }
    Ok(rec)
}

fn span(body: &[u8]) -> Result<Span<'_>, DecodeError> {
    let mut s = Span {
        trace_id: b"", span_id: b"", parent_span_id: b"", name: "", start: 0, end: 0,
        attributes: Vec::new(), events: Vec::new(),
    };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => s.trace_id = r.bytes()?,
            (2, WireType::Len) => s.span_id = r.bytes()?,
            (4, WireType::Len) => s.parent_span_id = r.bytes()?,
            (5, WireType::Len) => s.name = r.string()?,
            (7, WireType::Fixed64) => s.start = r.fixed64()?,
            (8, WireType::Fixed64) => s.end = r.fixed64()?,
            (9, WireType::Len) => s.attributes.push(key_value(r.bytes()?)?),
            (11, WireType::Len) => s.events.push(span_event(r.bytes()?)?),
            _ => r.skip(wt)?,
        }
    }
    Ok(s)
}

fn span_event(body: &[u8]) -> Result<SpanEvent<'_>, DecodeError> {
    let mut ev = SpanEvent { time: 0, name: "", attributes: Vec::new() };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Fixed64) => ev.time = r.fixed64()?,
            (2, WireType::Len) => ev.name = r.string()?,
            (3, WireType::Len) => ev.attributes.push(key_value(r.bytes()?)?),
            _ => r.skip(wt)?,
        }
    }
    Ok(ev)
}
