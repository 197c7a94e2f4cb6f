//! A protobuf wire-format reader over borrowed bytes: no copies, every length checked against what is left.

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

#[derive(Debug)]
pub struct DecodeError {
    what: &'static str,
    at: usize,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {} within its message", self.what, self.at)
    }
}

impl From<DecodeError> for PyErr {
    fn from(e: DecodeError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError { what, at: self.pos })
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return self.fail("truncated varint");
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        self.fail("varint longer than 10 bytes")
    }

    /// The next field's number and wire type; None at the end of the message. Groups (deprecated wire types
    /// 3 and 4) are not used by OTLP and are rejected.
    pub fn key(&mut self) -> Result<Option<(u32, WireType)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return self.fail("invalid field number");
        }
        let wt = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            _ => return self.fail("unsupported wire type"),
        };
        Ok(Some((field as u32, wt)))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if len > left {
            return self.fail("length past the end of the message");
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A string field: proto3 strings must be UTF-8, and upb rejects a request otherwise; so do we.
    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let raw = self.bytes()?;
        std::str::from_utf8(raw).map_err(|_| DecodeError { what: "string field is not UTF-8", at })
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(b) => {
                self.pos += N;
                Ok(b.try_into().expect("slice of N bytes"))
            }
            None => self.fail("truncated fixed-width field"),
        }
    }

    pub fn fixed64(&mut self) -> Result<u64, DecodeError> {
        self.fixed::<8>().map(u64::from_le_bytes)
    }

    pub fn skip(&mut self, wt: WireType) -> Result<(), DecodeError> {
        match wt {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed::<8>().map(drop),
            WireType::Fixed32 => self.fixed::<4>().map(drop),
            WireType::Len => self.bytes().map(drop),
        }
    }
}
