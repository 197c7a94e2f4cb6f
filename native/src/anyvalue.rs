//! OTLP `KeyValue`s and `AnyValue`s read from the wire, and turned into Python values only when asked.
//!
//! Field numbers (opentelemetry/proto, v1): KeyValue: key = 1, value = 2; KeyValueList / ArrayValue: values = 1;
//! AnyValue: string = 1, bool = 2, int = 3, double = 4, array = 5, kvlist = 6, bytes = 7.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};

use crate::pb::{DecodeError, Reader, WireType};

/// A KeyValue as found on the wire: its key (checked as UTF-8) and its still-encoded AnyValue.
pub type Kv<'a> = (&'a str, &'a [u8]);

/// A KeyValue: (key, encoded AnyValue). The value is parsed only if its key is wanted.
pub fn key_value(body: &[u8]) -> Result<Kv<'_>, DecodeError> {
    let (mut key, mut value): Kv = ("", b"");
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.key()? {
        match (field, wt) {
            (1, WireType::Len) => key = r.string()?,
            (2, WireType::Len) => value = r.bytes()?,
            _ => r.skip(wt)?,
        }
    }
    Ok((key, value))
}

pub enum Any<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(&'a [u8]),
    KvList(&'a [u8]),
    Bytes(&'a [u8]),
}

/// The AnyValue's oneof as set last on the wire; None when nothing is set.
pub fn any_value(body: &[u8]) -> Result<Option<Any<'_>>, DecodeError> {
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

/// `s` cut to at most `max_chars` characters (Python counts code points, as `chars` does).
pub fn truncate(s: &str, max_chars: usize) -> &str {
    if s.len() <= max_chars {
        return s; // fewer bytes than the limit: fewer characters too
    }
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// How far a value is read: strings cut at `max_length` characters, lists and maps at `max_attributes` entries
/// and not read below `max_depth` (no recursion bombs).
pub struct Limits {
    pub max_attributes: usize,
    pub max_length: usize,
    pub max_depth: usize,
}

impl Limits {
    /// An encoded AnyValue as a Python value: None when unset or nested deeper than `max_depth`.
    pub fn value<'py>(&self, py: Python<'py>, encoded: &[u8], depth: usize) -> PyResult<Bound<'py, PyAny>> {
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
                    dict.set_item(key, self.value(py, value, depth + 1)?)?;
                }
                dict.into_any()
            }
        })
    }

    /// Parses exactly what `value` would, building nothing: a malformed value is refused whether or not the
    /// record's kind reads it.
    pub fn check(&self, encoded: &[u8], depth: usize) -> Result<(), DecodeError> {
        match any_value(encoded)? {
            Some(Any::Array(body)) if depth < self.max_depth => {
                for item in repeated(body, self.max_attributes)? {
                    self.check(item, depth + 1)?;
                }
            }
            Some(Any::KvList(body)) if depth < self.max_depth => {
                for kv in repeated(body, self.max_attributes)? {
                    self.check(key_value(kv)?.1, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
