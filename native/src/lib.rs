//! `collector_plugin._native`: the parts of the per-record path where Python's per-object cost is the
//! bottleneck. Each module registers its own functions; the Python side imports them from one place.

use pyo3::prelude::*;

mod anyvalue;
mod classify;
mod otlp;
mod otlp_json;
mod pb;
mod wire;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    classify::register(m)?;
    wire::register(m)?;
    otlp_json::register(m)?;
    Ok(())
}
