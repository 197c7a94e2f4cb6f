//! OTLP logs requests decoded straight from protobuf bytes into what classification reads.
//!
//! With upb, every attribute value read from Python is a wrapper object: walking a record's ~11 attributes
//! costs ~18 µs, more than the whole per-event budget. Here one pass over the bytes validates each record
//! (ids, attribute count: what the sender must hear in `partial_success`) and converts only the attribute
//! keys classification reads. Fields otel-friction never reads (body, severity, scope attributes, ...) are
//! skipped without being parsed.
//!
//! Field numbers (opentelemetry/proto, v1):
//!   ExportLogsServiceRequest: resource_logs = 1
//!   ResourceLogs: resource = 1, scope_logs = 2           Resource: attributes = 1
//!   ScopeLogs: scope = 1, log_records = 2                InstrumentationScope: name = 1
//!   LogRecord: time_unix_nano = 1 (fixed64), attributes = 6, trace_id = 9, span_id = 10,
//!              observed_time_unix_nano = 11 (fixed64), event_name = 12
//!   KeyValue: key = 1, value = 2                         KeyValueList / ArrayValue: values = 1
//!   AnyValue: string = 1, bool = 2, int = 3, double = 4, array = 5, kvlist = 6, bytes = 7

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};

use crate::pb::{DecodeError, Reader, WireType};

const SESSION_ID: &[u8] = b"session.id";

/// A decoder configured once with the limits and the keys classification reads.
#[pyclass(frozen, module = "collector_plugin._native")]
pub struct LogsDecoder {
    keys: HashMap<Box<[u8]>, Py<PyString>>,
    max_attributes: usize,
    max_length: usize,
    max_depth: usize,
}

/// One record as it was on the wire, before the Python objects are built.
struct RawRecord<'a> {
    time: u64,
    observed: u64,
    event_name: &'a str,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    attributes: Vec<(&'a [u8], &'a [u8])>, // (key, encoded AnyValue) of every attribute, in wire order
}

#[pymethods]
impl LogsDecoder {
    #[new]
    fn new(keys: Vec<Bound<'_, PyString>>, max_attributes: usize, max_length: usize, max_depth: usize) -> PyResult<Self> {
        let mut map = HashMap::with_capacity(keys.len());
        for key in keys {
            map.insert(key.to_str()?.as_bytes().into(), key.unbind());
        }
        Ok(LogsDecoder { keys: map, max_attributes, max_length, max_depth })
    }

    /// Returns `(resources, records, rejected, errors, without_session)`:
    /// - resources: `[(resource attrs, [(scope name, [(time_unix_nano, observed_time_unix_nano, event_name,
    ///   trace_id, span_id, attrs)])])]`, attrs holding only the configured keys, values converted as OTLP
    ///   AnyValues (strings cut at `max_length` characters, kvlists/arrays at `max_attributes` entries and
    ///   not read below `max_depth`);
    /// - records: valid records kept; rejected: invalid records left out, each described in errors;
    /// - without_session: valid records with no `session.id` key on the record or its resource.
    /// Raises ValueError when the bytes are not a protobuf message of this shape.
    fn decode<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
        let resources = PyList::empty(py);
        let errors = PyList::empty(py);
        let (mut kept, mut rejected, mut without_session) = (0usize, 0usize, 0usize);
        let mut r = Reader::new(body);
        while let Some((field, wt)) = r.key()? {
            if (field, wt) != (1, WireType::Len) {
                r.skip(wt)?;
                continue;
            }
            let (resource_attrs, scopes) = resource_logs(r.bytes()?)?;
            let res_has_session = resource_attrs.iter().any(|(k, _)| *k == SESSION_ID);
            let scope_list = PyList::empty(py);
            for (scope_name, records) in scopes {
                let name = PyString::new(py, scope_name);
                let out = PyList::empty(py);
                for (i, rec) in records.iter().enumerate() {
                    if let Some(problem) = self.problem(rec) {
                        rejected += 1;
                        errors.append(format!("log record {i} of scope {}: {problem}", name.repr()?))?;
                        continue;
                    }
                    kept += 1;
                    if !res_has_session && !rec.attributes.iter().any(|(k, _)| *k == SESSION_ID) {
                        without_session += 1;
                    }
                    out.append(self.record(py, rec)?)?;
                }
                scope_list.append((name, out))?;
            }
            resources.append((self.attrs(py, &resource_attrs)?, scope_list))?;
        }
        (resources, kept, rejected, errors, without_session).into_pyobject(py)
    }
}

impl LogsDecoder {
    fn problem(&self, rec: &RawRecord) -> Option<String> {
        let trace_ok = rec.trace_id.is_empty() || rec.trace_id.len() == 16;
        let span_ok = rec.span_id.is_empty() || rec.span_id.len() == 8;
        if !(trace_ok && span_ok) {
            return Some("trace_id must be 16 bytes and span_id 8 bytes (either may be empty)".to_string());
        }
        if rec.attributes.len() > self.max_attributes {
            return Some(format!("{} attributes, the limit is {}", rec.attributes.len(), self.max_attributes));
        }
        None
    }

    fn record<'py>(&self, py: Python<'py>, rec: &RawRecord) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [
            rec.time.into_pyobject(py)?.into_any(),
            rec.observed.into_pyobject(py)?.into_any(),
            PyString::new(py, rec.event_name).into_any(),
            PyBytes::new(py, rec.trace_id).into_any(),
            PyBytes::new(py, rec.span_id).into_any(),
            self.attrs(py, &rec.attributes)?.into_any(),
        ])
    }

    /// The configured keys among `attributes`, converted; a repeated key keeps its last value, as a dict would.
    fn attrs<'py>(&self, py: Python<'py>, attributes: &[(&[u8], &[u8])]) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in attributes {
            if let Some(k) = self.keys.get(*key) {
                dict.set_item(k.bind(py), self.value(py, value, 0)?)?;
            }
        }
        Ok(dict)
    }

    /// An encoded AnyValue as a Python value: None when unset or nested deeper than `max_depth`. Nested
    /// lists and maps are read up to `max_attributes` entries; what lies beyond is not parsed.
    fn value<'py>(&self, py: Python<'py>, encoded: &[u8], depth: usize) -> PyResult<Bound<'py, PyAny>> {
        Ok(match any_value(encoded)? {
            None => py.None().into_bound(py),
            Some(Any::Str(s)) => PyString::new(py, truncate(s, self.max_length)).into_any(),
            Some(Any::Bool(b)) => PyBool::new(py, b).to_owned().into_any(),
            Some(Any::Int(i)) => i.into_pyobject(py)?.into_any(),
            Some(Any::Double(d)) => PyFloat::new(py, d).into_any(),
            Some(Any::Bytes(b)) => PyBytes::new(py, b).into_any(),
            Some(Any::Array(_) | Any::KvList(_)) if depth >= self.max_depth => py.None().into_bound(py),
            Some(Any::Array(body)) => {
                let list = PyList::empty(py);
                for item in repeated(body, self.max_attributes)? {
                    list.append(self.value(py, item, depth + 1)?)?;
                }
                list.into_any()
            }
            Some(Any::KvList(body)) => {
                let dict = PyDict::new(py);
                for kv in repeated(body, self.max_attributes)? {
                    let (key, value) = key_value(kv)?;
                    // Keys were checked as UTF-8 by key_value.
                    dict.set_item(PyString::new(py, std::str::from_utf8(key).unwrap_or_default()), self.value(py, value, depth + 1)?)?;
                }
                dict.into_any()
            }
        })
    }
}

/// `s` cut to at most `max_chars` characters (Python counts code points, as `chars` does).
fn truncate(s: &str, max_chars: usize) -> &str {
    if s.len() <= max_chars {
        return s; // fewer bytes than the limit: fewer characters too
    }
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

fn resource_logs(body: &[u8]) -> Result<(Vec<(&[u8], &[u8])>, Vec<(&str, Vec<RawRecord<'_>>)>), DecodeError> {
    let mut attrs = Vec::new();
    let mut scopes = Vec::new();
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => {
                // Resource; a message field repeated on the wire merges, so attributes accumulate.
                let mut res = Reader::new(r.bytes()?);
                while let Some((f, w)) = res.key()? {
                    if (f, w) == (1, WireType::Len) {
                        attrs.push(key_value(res.bytes()?)?);
                    } else {
                        res.skip(w)?;
                    }
                }
            }
            (2, WireType::Len) => scopes.push(scope_logs(r.bytes()?)?),
            _ => r.skip(wt)?,
        }
    }
    Ok((attrs, scopes))
}

fn scope_logs(body: &[u8]) -> Result<(&str, Vec<RawRecord<'_>>), DecodeError> {
    let mut name = "";
    let mut records = Vec::new();
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => {
                let mut scope = Reader::new(r.bytes()?);
                while let Some((f, w)) = scope.key()? {
                    if (f, w) == (1, WireType::Len) {
                        name = scope.string()?;
                    } else {
                        scope.skip(w)?;
                    }
                }
            }
            (2, WireType::Len) => records.push(log_record(r.bytes()?)?),
            _ => r.skip(wt)?,
        }
    }
    Ok((name, records))
}

fn log_record(body: &[u8]) -> Result<RawRecord<'_>, DecodeError> {
    let mut rec = RawRecord { time: 0, observed: 0, event_name: "", trace_id: b"", span_id: b"", attributes: Vec::new() };
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

/// A KeyValue: (key, encoded AnyValue). The value is parsed only if its key is wanted.
fn key_value(body: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let (mut key, mut value): (&[u8], &[u8]) = (b"", b"");
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => key = r.string()?.as_bytes(),
            (2, WireType::Len) => value = r.bytes()?,
            _ => r.skip(wt)?,
        }
    }
    Ok((key, value))
}

enum Any<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(&'a [u8]),
    KvList(&'a [u8]),
    Bytes(&'a [u8]),
}

/// The AnyValue's oneof as set last on the wire; None when nothing is set.
fn any_value(body: &[u8]) -> Result<Option<Any<'_>>, DecodeError> {
    let mut out = None;
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        out = Some(match (field, wt) {
            (1, WireType::Len) => Any::Str(r.string()?),
            (2, WireType::Varint) => Any::Bool(r.varint()? != 0),
            (3, WireType::Varint) => Any::Int(r.varint()? as i64),
            (4, WireType::Fixed64) => Any::Double(f64::from_bits(r.fixed64()?)),
            (5, WireType::Len) => Any::Array(r.bytes()?),
            (6, WireType::Len) => Any::KvList(r.bytes()?),
            (7, WireType::Len) => Any::Bytes(r.bytes()?),
            _ => {
                r.skip(wt)?;
                continue;
            }
        });
    }
    Ok(out)
}

/// The first `limit` entries of an ArrayValue's or KeyValueList's `values` (field 1).
fn repeated(body: &[u8], limit: usize) -> Result<Vec<&[u8]>, DecodeError> {
    let mut out = Vec::new();
    let mut r = Reader::new(body);
    while out.len() < limit {
        match r.key()? {
            Some((1, WireType::Len)) => out.push(r.bytes()?),
            Some((_, wt)) => r.skip(wt)?,
            None => break,
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LogsDecoder>()
}
