//! OTLP trace messages written straight to protobuf bytes: the spans `emit/spans.py` exports.
//!
//! Spans are most of what the pipeline outputs (about one per event) and each carries ~10 attributes; encoded
//! in Python that was a call and a bytes object per field, ~16% of the pipeline's CPU. Here every function
//! writes one message into one `Vec<u8>`. All lengths are known before a nested message is written (values
//! are classified first, already-encoded parts come in as bytes), so nothing is encoded twice or moved.
//!
//! Only what `emit/spans.py` writes is covered; the field writers (`put_varint`, `put_len`, ...) also serve
//! `otlp_json.rs`. Field numbers (opentelemetry/proto, v1):
//!   ExportTraceServiceRequest: resource_spans = 1
//!   ResourceSpans: resource = 1, scope_spans = 2           Resource: attributes = 1
//!   ScopeSpans: scope = 1, spans = 2                       InstrumentationScope: name = 1, version = 2
//!   Span: trace_id = 1, span_id = 2, parent_span_id = 4, name = 5, kind = 6, start_time_unix_nano = 7 (fixed64),
//!         end_time_unix_nano = 8 (fixed64), attributes = 9, events = 11, dropped_events_count = 12, links = 13,
//!         status = 15
//!   Span.Event: time_unix_nano = 1 (fixed64), name = 2, attributes = 3
//!   Span.Link: trace_id = 1, span_id = 2                   Status: message = 2, code = 3
//!   KeyValue: key = 1, value = 2                           AnyValue: string = 1, bool = 2, int = 3, double = 4

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

/// A field's key byte; every field written here has a number below 16, so the key is one byte.
const fn key(field: u8, wire_type: u8) -> u8 {
    field << 3 | wire_type
}

const REQUEST_RESOURCE_SPANS: u8 = key(1, LEN);
const RESOURCE_SPANS_RESOURCE: u8 = key(1, LEN);
const RESOURCE_SPANS_SCOPE_SPANS: u8 = key(2, LEN);
const RESOURCE_ATTRIBUTES: &[u8] = &[key(1, LEN)];
const SCOPE_SPANS_SCOPE: u8 = key(1, LEN);
const SCOPE_SPANS_SPANS: u8 = key(2, LEN);
const SCOPE_NAME: u8 = key(1, LEN);
const SCOPE_VERSION: u8 = key(2, LEN);
const SPAN_TRACE_ID: u8 = key(1, LEN);
const SPAN_SPAN_ID: u8 = key(2, LEN);
const SPAN_PARENT_SPAN_ID: u8 = key(4, LEN);
const SPAN_NAME: u8 = key(5, LEN);
const SPAN_KIND: u8 = key(6, VARINT);
const SPAN_START: u8 = key(7, FIXED64);
const SPAN_END: u8 = key(8, FIXED64);
const SPAN_ATTRIBUTES: &[u8] = &[key(9, LEN)];
const SPAN_EVENTS: u8 = key(11, LEN);
const SPAN_DROPPED_EVENTS: u8 = key(12, VARINT);
const SPAN_LINKS: u8 = key(13, LEN);
const SPAN_STATUS: u8 = key(15, LEN);
const EVENT_TIME: u8 = key(1, FIXED64);
const EVENT_NAME: u8 = key(2, LEN);
const EVENT_ATTRIBUTES: &[u8] = &[key(3, LEN)];
const LINK_TRACE_ID: u8 = key(1, LEN);
const LINK_SPAN_ID: u8 = key(2, LEN);
const STATUS_MESSAGE: u8 = key(2, LEN);
const STATUS_CODE: u8 = key(3, VARINT);
const KEY_VALUE_KEY: u8 = key(1, LEN);
const KEY_VALUE_VALUE: u8 = key(2, LEN);
const ANY_STRING: u8 = key(1, LEN);
const ANY_BOOL: u8 = key(2, VARINT);
const ANY_INT: u8 = key(3, VARINT);
const ANY_DOUBLE: u8 = key(4, FIXED64);

const SPAN_KIND_INTERNAL: u8 = 1;
const STATUS_CODE_ERROR: u8 = 2;

fn varint_len(n: u64) -> usize {
    // 7 bits per byte; `| 1` makes 0 take one byte like any other value below 128
    (70 - (n | 1).leading_zeros() as usize) / 7
}

/// Where protobuf is written: a `Vec<u8>`, or one in an arena (`otlp_json.rs`).
pub(crate) trait Buf {
    fn push(&mut self, byte: u8);
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl Buf for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

pub(crate) fn put_varint(buf: &mut impl Buf, mut n: u64) {
    while n >= 0x80 {
        buf.push(n as u8 | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Size of a length-delimited field holding `len` bytes: key, length, payload.
fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A length-delimited field; `key` is the field's number and wire type (`key()` for the one-byte ones).
pub(crate) fn put_len(buf: &mut impl Buf, key: impl Into<u64>, payload: &[u8]) {
    put_varint(buf, key.into());
    put_varint(buf, payload.len() as u64);
    buf.extend_from_slice(payload);
}

pub(crate) fn put_fixed64(buf: &mut impl Buf, key: impl Into<u64>, value: u64) {
    put_varint(buf, key.into());
    buf.extend_from_slice(&value.to_le_bytes());
}

/// A str as UTF-8, as `s.encode("utf-8", "replace")`: a lone surrogate can't be UTF-8 and would make the whole
/// request undecodable, so each becomes `?`. Borrowed (Python caches a str's UTF-8) unless there is one.
fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    match s.to_str() {
        Ok(text) => Ok(Cow::Borrowed(text.as_bytes())),
        Err(_) => {
            // `str.encode` itself, not `s.encode`: a str subclass may override the method
            let py = s.py();
            let encoded = py
                .get_type::<PyString>()
                .getattr(pyo3::intern!(py, "encode"))?
                .call1((s, "utf-8", "replace"))?;
            Ok(Cow::Owned(encoded.cast_into::<PyBytes>()?.as_bytes().to_vec()))
        }
    }
}

/// An attribute value as one of the AnyValue fields written here.
enum Scalar<'a> {
    Str(Cow<'a, [u8]>),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl<'a> Scalar<'a> {
    /// bool before int (Python's bool is an int subclass); ints beyond int64 and every other type (None
    /// included) as `str(value)`, so nothing is refused and nothing is wrapped into another number.
    fn from_py(value: &'a Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = value.cast::<PyString>() {
            return Ok(Scalar::Str(utf8(s)?));
        }
        if let Ok(b) = value.cast::<PyBool>() {
            return Ok(Scalar::Bool(b.is_true()));
        }
        if value.is_instance_of::<PyInt>() {
            if let Ok(n) = value.extract::<i64>() {
                return Ok(Scalar::Int(n));
            }
        } else if let Ok(f) = value.cast::<PyFloat>() {
            return Ok(Scalar::Double(f.value()));
        }
        let s = value.str()?;
        Ok(Scalar::Str(Cow::Owned(utf8(&s)?.into_owned())))
    }

    /// Size of the AnyValue message.
    fn size(&self) -> usize {
        match self {
            Scalar::Str(b) => len_field_size(b.len()),
            Scalar::Bool(_) => 2,
            Scalar::Int(n) => 1 + varint_len(*n as u64),
            Scalar::Double(_) => 9,
        }
    }

    fn put(&self, buf: &mut Vec<u8>) {
        match self {
            Scalar::Str(b) => put_len(buf, ANY_STRING, b),
            Scalar::Bool(b) => buf.extend_from_slice(&[ANY_BOOL, u8::from(*b)]),
            // int64 on the wire: a negative value is its two's complement, ten bytes
            Scalar::Int(n) => {
                buf.push(ANY_INT);
                put_varint(buf, *n as u64);
            }
            Scalar::Double(d) => put_fixed64(buf, ANY_DOUBLE, d.to_bits()),
        }
    }
}

/// Repeated KeyValue under the field whose key is `tag`, in dict order; None values are left out.
fn put_attributes(buf: &mut Vec<u8>, tag: &[u8], pairs: &Bound<'_, PyDict>) -> PyResult<()> {
    for (k, v) in pairs.iter() {
        if v.is_none() {
            continue;
        }
        let k = k.cast_into::<PyString>()?;
        let k = utf8(&k)?;
        let value = Scalar::from_py(&v)?;
        let kv_size = len_field_size(k.len()) + len_field_size(value.size());
        buf.extend_from_slice(tag);
        put_varint(buf, kv_size as u64);
        put_len(buf, KEY_VALUE_KEY, &k);
        buf.push(KEY_VALUE_VALUE);
        put_varint(buf, value.size() as u64);
        value.put(buf);
    }
    Ok(())
}

/// Repeated KeyValue under field `tag` (its encoded key byte(s)); None values are left out.
#[pyfunction]
fn attributes<'py>(py: Python<'py>, tag: &[u8], pairs: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = Vec::with_capacity(64 * pairs.len());
    put_attributes(&mut buf, tag, pairs)?;
    Ok(PyBytes::new(py, &buf))
}

/// AnyValue: bool, int (int64), double, or anything else as its string.
#[pyfunction]
fn any_value<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let value = Scalar::from_py(value)?;
    let mut buf = Vec::with_capacity(value.size());
    value.put(&mut buf);
    Ok(PyBytes::new(py, &buf))
}

/// Span.Event, for `span(events=...)`.
#[pyfunction]
fn span_event<'py>(
    py: Python<'py>,
    time_ns: u64,
    name: &Bound<'py, PyString>,
    attrs: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyBytes>> {
    let name = utf8(name)?;
    let mut buf = Vec::with_capacity(16 + name.len() + 64 * attrs.len());
    put_fixed64(&mut buf, EVENT_TIME, time_ns);
    put_len(&mut buf, EVENT_NAME, &name);
    put_attributes(&mut buf, EVENT_ATTRIBUTES, attrs)?;
    Ok(PyBytes::new(py, &buf))
}

/// Span of kind INTERNAL. `events` are encoded Span.Events, `links` (trace_id, span_id) pairs; an `error`
/// sets status ERROR with that message. Any iterables do for both.
#[pyfunction]
#[pyo3(signature = (trace_id, span_id, parent_span_id, name, start_ns, end_ns, attrs, *, events=None, dropped_events=0, links=None, error=None))]
#[pyo3(
    text_signature = "(trace_id, span_id, parent_span_id, name, start_ns, end_ns, attrs, *, events=(), dropped_events=0, links=(), error=None)"
)]
#[allow(clippy::too_many_arguments)]
fn span<'py>(
    py: Python<'py>,
    trace_id: &[u8],
    span_id: &[u8],
    parent_span_id: Option<&[u8]>,
    name: &Bound<'py, PyString>,
    start_ns: u64,
    end_ns: u64,
    attrs: &Bound<'py, PyDict>,
    events: Option<&Bound<'py, PyAny>>,
    dropped_events: i64,
    links: Option<&Bound<'py, PyAny>>,
    error: Option<&Bound<'py, PyString>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let name = utf8(name)?;
    let mut buf = Vec::with_capacity(128 + name.len() + 64 * attrs.len());
    put_len(&mut buf, SPAN_TRACE_ID, trace_id);
    put_len(&mut buf, SPAN_SPAN_ID, span_id);
    if let Some(parent) = parent_span_id.filter(|p| !p.is_empty()) {
        put_len(&mut buf, SPAN_PARENT_SPAN_ID, parent);
    }
    put_len(&mut buf, SPAN_NAME, &name);
    buf.extend_from_slice(&[SPAN_KIND, SPAN_KIND_INTERNAL]);
    put_fixed64(&mut buf, SPAN_START, start_ns);
    put_fixed64(&mut buf, SPAN_END, end_ns);
    put_attributes(&mut buf, SPAN_ATTRIBUTES, attrs)?;
    if let Some(events) = events {
        for event in events.try_iter()? {
            put_len(&mut buf, SPAN_EVENTS, event?.cast::<PyBytes>()?.as_bytes());
        }
    }
    if dropped_events != 0 {
        buf.push(SPAN_DROPPED_EVENTS);
        put_varint(&mut buf, dropped_events as u64);
    }
    if let Some(links) = links {
        for link in links.try_iter()? {
            let (t, s): (Bound<'py, PyBytes>, Bound<'py, PyBytes>) = link?.extract()?;
            let (t, s) = (t.as_bytes(), s.as_bytes());
            buf.push(SPAN_LINKS);
            put_varint(&mut buf, (len_field_size(t.len()) + len_field_size(s.len())) as u64);
            put_len(&mut buf, LINK_TRACE_ID, t);
            put_len(&mut buf, LINK_SPAN_ID, s);
        }
    }
    if let Some(error) = error {
        let message = utf8(error)?;
        buf.push(SPAN_STATUS);
        put_varint(&mut buf, (len_field_size(message.len()) + 2) as u64);
        put_len(&mut buf, STATUS_MESSAGE, &message);
        buf.extend_from_slice(&[STATUS_CODE, STATUS_CODE_ERROR]);
    }
    Ok(PyBytes::new(py, &buf))
}

/// ExportTraceServiceRequest from `(encoded Resource, encoded InstrumentationScope, encoded spans)` tuples, one
/// ResourceSpans with one ScopeSpans each.
#[pyfunction]
fn request<'py>(py: Python<'py>, groups: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    for group in groups.try_iter()? {
        let (resource, scope, group_spans): (Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyAny>) =
            group?.extract()?;
        spans.clear();
        for s in group_spans.try_iter()? {
            spans.push(s?.cast_into::<PyBytes>()?);
        }
        let (resource, scope) = (resource.as_bytes(), scope.as_bytes());
        let scope_spans_size =
            len_field_size(scope.len()) + spans.iter().map(|s| len_field_size(s.as_bytes().len())).sum::<usize>();
        let resource_spans_size = len_field_size(resource.len()) + len_field_size(scope_spans_size);
        buf.reserve(len_field_size(resource_spans_size));
        buf.push(REQUEST_RESOURCE_SPANS);
        put_varint(&mut buf, resource_spans_size as u64);
        put_len(&mut buf, RESOURCE_SPANS_RESOURCE, resource);
        buf.push(RESOURCE_SPANS_SCOPE_SPANS);
        put_varint(&mut buf, scope_spans_size as u64);
        put_len(&mut buf, SCOPE_SPANS_SCOPE, scope);
        for s in &spans {
            put_len(&mut buf, SCOPE_SPANS_SPANS, s.as_bytes());
        }
    }
    Ok(PyBytes::new(py, &buf))
}

/// Resource with these attributes.
#[pyfunction]
fn resource<'py>(py: Python<'py>, attrs: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyBytes>> {
    attributes(py, RESOURCE_ATTRIBUTES, attrs)
}

/// InstrumentationScope.
#[pyfunction]
fn scope<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyString>,
    version: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (name, version) = (utf8(name)?, utf8(version)?);
    let mut buf = Vec::with_capacity(len_field_size(name.len()) + len_field_size(version.len()));
    put_len(&mut buf, SCOPE_NAME, &name);
    put_len(&mut buf, SCOPE_VERSION, &version);
    Ok(PyBytes::new(py, &buf))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(attributes, m)?)?;
    m.add_function(wrap_pyfunction!(any_value, m)?)?;
    m.add_function(wrap_pyfunction!(span_event, m)?)?;
    m.add_function(wrap_pyfunction!(span, m)?)?;
    m.add_function(wrap_pyfunction!(request, m)?)?;
    m.add_function(wrap_pyfunction!(resource, m)?)?;
    m.add_function(wrap_pyfunction!(scope, m)?)?;
    Ok(())
}
