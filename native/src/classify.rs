//! The one classifier: every OTLP log record and span becomes an event of a known kind, or is counted with a
//! reason. It works on the wire bytes and builds the events of `collector_plugin.events` directly, so no
//! per-attribute Python object exists between the request and the event.
//!
//! Senders disagree on names (OTel JS logs, OTel JS spans, Faro, this project's instrumentation); this is the
//! only place that knows their vocabularies. Each record's attributes are indexed once; values are parsed when a
//! kind reads them, with the typed reads (`text`, `int`, `float`, `flag`) deciding how a value of an unexpected
//! type reads, so no value can make classification fail.
//!
//! Validation (`Validator`) runs first, before the sender is answered and without the GIL: what the sender must
//! hear in `partial_success` (ids, attribute counts: an invalid record is described and left out, the rest are
//! kept), and every value classification will parse, so a body it passes is one classification reads without error.
//!
//! Events come out normalized: the classifier applies `collector_plugin.normalize`'s rules (`Rules`) to each field
//! as it fills it, so an event is built once and a rule costs a cache lookup per distinct value.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern};

use crate::anyvalue::{any_value, truncate, Any, Kv, Limits};
use crate::otlp::{self, LogRecord, Span};
use crate::pb::DecodeError;

const FRICTION_SCOPE: &str = "otel-friction-browser";
const FARO_SCOPE: &str = "@grafana/faro-web-sdk";
const UI_SCOPE: &str = "@opentelemetry/instrumentation-user-interaction";

macro_rules! keys {
    ($($id:ident = $name:literal,)*) => {
        /// Every attribute key a kind reads; a record's other keys are never parsed.
        #[derive(Clone, Copy)]
        #[allow(non_camel_case_types)]
        enum Key { $($id,)* }
        const KEYS: &[(&str, Key)] = &[$(($name, Key::$id),)*];
    };
}

keys! {
    ServiceName = "service.name", ServiceVersion = "service.version", SessionId = "session.id",
    SessionPreviousId = "session.previous_id", SessionAttributes = "session.attributes", EventName = "event.name",
    EventAttributes = "event.attributes", EventType = "event_type", UserAgentOriginal = "user_agent.original",
    HttpUserAgent = "http.user_agent", UserId = "user.id", EnduserId = "enduser.id", BrowserMobile = "browser.mobile",
    ScreenWidth = "browser.screen_width", ScreenHeight = "browser.screen_height",
    ViewportWidth = "browser.viewport.width", ViewportHeight = "browser.viewport.height",
    UrlFull = "url.full", HttpUrl = "http.url", PageUrl = "page.url", PageId = "page.id",
    PageX = "browser.page.x", PageY = "browser.page.y", TagName = "browser.tag_name", CssSelector = "browser.css_selector",
    ElementText = "browser.element.text", ElementInteractive = "browser.element.interactive",
    ElementFixed = "browser.element.fixed", ElementIgnore = "browser.element.ignore", ClickReaction = "browser.click.reaction",
    ClickReactionMs = "browser.click.reaction_ms", ClickPointer = "browser.click.pointer_type", ClickDetail = "browser.click.detail",
    FormId = "browser.form.id", FieldName = "browser.form.field.name", FieldType = "browser.form.field.type",
    FieldDuration = "browser.form.field.duration_ms", FieldChanged = "browser.form.field.changed",
    FieldValidation = "browser.form.field.validation", PageViewType = "browser.page_view.type",
    Referrer = "browser.document.referrer", NavigationType = "browser.navigation.type",
    HashChange = "browser.navigation.hash_change", ScrollMaxDepth = "browser.scroll.max_depth",
    ScrollDistance = "browser.scroll.distance_px", ScrollDirectionChanges = "browser.scroll.direction_changes",
    DocumentHeight = "browser.document.height", ExceptionType = "exception.type", ExceptionMessage = "exception.message",
    ExceptionStacktrace = "exception.stacktrace", ExceptionUnhandled = "exception.unhandled_rejection",
    FaroStacktrace = "faro.error.stacktrace", WebVitalName = "browser.web_vital.name",
    WebVitalValue = "browser.web_vital.value", MeasurementType = "measurement.type", MeasurementName = "measurement.name",
    MeasurementValue = "measurement.value", HttpRequestMethod = "http.request.method", HttpMethod = "http.method",
    HttpResponseStatus = "http.response.status_code", HttpStatus = "http.status_code", TargetElement = "target_element",
    TargetXpath = "target_xpath",
}

/// FNV-1a: keys are short and trusted to be few, so a DoS-resistant hash buys nothing here.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf29ce484222325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A record's attributes by key: the encoded value of each key a kind may read (the last, if repeated).
struct Attrs<'a> {
    values: [Option<&'a [u8]>; KEYS.len()],
}

/// A string read from a record: borrowed from the wire when it was one, else Python's `str()` of the value.
enum Text<'a, 'py> {
    Wire(&'a str),
    Py(Bound<'py, PyString>),
}

impl<'py> Text<'_, 'py> {
    fn as_str(&self) -> PyResult<&str> {
        match self {
            Text::Wire(s) => Ok(s),
            Text::Py(s) => s.to_str(),
        }
    }

    fn py(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match self {
            Text::Wire(s) => PyString::new(py, s).into_any(),
            Text::Py(s) => s.clone().into_any(),
        }
    }
}

fn opt_text<'py>(py: Python<'py>, t: &Option<Text<'_, 'py>>) -> Bound<'py, PyAny> {
    match t {
        Some(t) => t.py(py),
        None => py.None().into_bound(py),
    }
}

/// Values of small vocabularies (service names and versions, user agents, tag names, reactions, navigation types),
/// one shared string object each: open sessions and pages hold them for as long as they last, and a copy per record
/// or per session cost more memory than the event around it. Not Python's interning: these values come from
/// browsers, and strings interned at run time were immortal in Python 3.12.0-3.12.4. Bounded in count and length,
/// so a flood of distinct values costs a cleared map, never memory.
struct Words(Mutex<FnvMap<Box<str>, Py<PyString>>>);

const MAX_WORDS: usize = 4096;
const MAX_WORD_BYTES: usize = 512;

impl Words {
    fn new() -> Self {
        Words(Mutex::new(FnvMap::default()))
    }

    fn get<'py>(&self, py: Python<'py>, t: &Option<Text<'_, 'py>>) -> PyResult<Bound<'py, PyAny>> {
        let Some(t) = t else { return Ok(py.None().into_bound(py)) };
        let s = t.as_str()?;
        if s.len() > MAX_WORD_BYTES {
            return Ok(t.py(py));
        }
        let mut words = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(word) = words.get(s) {
            return Ok(word.bind(py).clone().into_any());
        }
        if words.len() >= MAX_WORDS {
            words.clear();
        }
        let word = PyString::new(py, s);
        words.insert(s.into(), word.clone().unbind());
        Ok(word.into_any())
    }
}

/// A Python class of `collector_plugin.events`, built field by field in declaration order.
struct Class {
    tp: Py<PyType>,
    names: Vec<Py<PyString>>,
}

impl Class {
    fn load(module: &Bound<'_, PyAny>, name: &str, fields: &[&str]) -> PyResult<Class> {
        let tp = module.getattr(name)?.cast_into::<PyType>()?;
        // The class's own field list, so a field added in Python without a change here fails at start-up instead
        // of leaving a slot unset.
        let slots: Vec<String> = tp.getattr("__slots__")?.extract()?;
        if slots != fields {
            return Err(PyTypeError::new_err(format!(
                "collector_plugin.events.{name} has the fields {slots:?}; the native classifier builds {fields:?} \
                 (native/src/classify.rs)"
            )));
        }
        let py = module.py();
        let names = fields.iter().map(|f| PyString::intern(py, f).unbind()).collect();
        Ok(Class { tp: tp.unbind(), names })
    }

    /// A new instance with `values` in field order. Frozen dataclasses set their fields through
    /// `object.__setattr__` in `__init__`; this does the same without running Python code per field.
    fn make<'py>(&self, py: Python<'py>, values: &[Bound<'py, PyAny>]) -> PyResult<Bound<'py, PyAny>> {
        debug_assert_eq!(values.len(), self.names.len());
        // SAFETY: tp is a heap type whose instances are allocated by PyType_GenericAlloc (a slotted dataclass);
        // every slot is set below before the object is handed out, and on error the object is dropped, which
        // the type's dealloc handles for unset slots. Untracking a tracked object is allowed once; its dealloc
        // (subtype_dealloc) untracks only if still tracked.
        unsafe {
            let obj = ffi::PyType_GenericAlloc(self.tp.as_ptr().cast(), 0);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            let obj = Bound::from_owned_ptr(py, obj);
            for (name, value) in self.names.iter().zip(values) {
                if ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) < 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            // Not tracked by the cyclic GC: an event can't be part of a cycle (frozen; its fields are strings,
            // numbers, enum members and other objects of these classes), and open sessions hold many of them, which
            // every collection walked again. tests/test_gc.py checks that they stay out of the GC's lists.
            ffi::PyObject_GC_UnTrack(obj.as_ptr().cast());
            Ok(obj)
        }
    }
}

/// Handles on `collector_plugin.events`: the classes and enum members events are made of.
struct Vocab {
    event: Class,
    click: Class,
    page_view: Class,
    scroll: Class,
    form_field: Class,
    js_error: Class,
    network: Class,
    named: Class,
    client: Class,
    kinds: FnvMap<&'static str, Py<PyAny>>,
    sources: FnvMap<&'static str, Py<PyAny>>,
}

const KINDS: &[&str] = &[
    "PAGE_VIEW", "CLICK", "SCROLL", "FORM_FOCUS", "FORM_BLUR", "FORM_ERROR", "FORM_SUBMIT", "JS_ERROR", "NETWORK",
    "USER_ACTION", "WEB_VITAL", "SESSION_START", "LOG",
];
const SOURCES: &[&str] = &["FRICTION_JS", "OTEL_LOGS", "OTEL_SPANS", "FARO"];

impl Vocab {
    fn load(m: &Bound<'_, PyAny>) -> PyResult<Vocab> {
        let members = |enum_name: &str, names: &[&'static str]| -> PyResult<FnvMap<&'static str, Py<PyAny>>> {
            let e = m.getattr(enum_name)?;
            names.iter().map(|n| Ok((*n, e.getattr(*n)?.unbind()))).collect()
        };
        Ok(Vocab {
            event: Class::load(m, "Event", &[
                "kind", "source", "time_ns", "session_id", "service_name", "detail", "url", "route", "service_version",
                "client", "device", "trace_id", "span_id",
            ])?,
            click: Class::load(m, "Click", &[
                "x", "y", "tag", "selector", "text", "interactive", "reaction", "reaction_ms", "pointer", "detail", "fixed",
                "ignored", "network_children",
            ])?,
            page_view: Class::load(m, "PageView", &["nav_type", "referrer", "title"])?,
            scroll: Class::load(m, "Scroll", &["max_depth", "distance_px", "direction_changes", "document_height"])?,
            form_field: Class::load(m, "FormField", &["form", "field", "field_type", "duration_ms", "changed", "validation"])?,
            js_error: Class::load(m, "JsError", &["type", "message", "stacktrace", "unhandled_rejection", "group"])?,
            network: Class::load(m, "Network", &["method", "url", "status_code", "duration_ms", "parent_span_id"])?,
            named: Class::load(m, "Named", &["name", "value"])?,
            client: Class::load(m, "Client", &[
                "user_agent", "mobile", "viewport_width", "viewport_height", "user_id", "previous_session",
            ])?,
            kinds: members("Kind", KINDS)?,
            sources: members("Source", SOURCES)?,
        })
    }

    fn kind<'py>(&self, py: Python<'py>, name: &str) -> Bound<'py, PyAny> {
        self.kinds[name].bind(py).clone()
    }

    fn source<'py>(&self, py: Python<'py>, name: &str) -> Bound<'py, PyAny> {
        self.sources[name].bind(py).clone()
    }
}

/// `collector_plugin.normalize.Normalizer`'s rules, by the field they fill (cached there, per distinct value).
struct Rules {
    page: Py<PyAny>,
    url: Py<PyAny>,
    text: Py<PyAny>,
    user_id: Py<PyAny>,
    device: Py<PyAny>,
    js_error: Py<PyAny>,
}

impl Rules {
    fn load(n: &Bound<'_, PyAny>) -> PyResult<Rules> {
        let rule = |name: &str| -> PyResult<Py<PyAny>> { Ok(n.getattr(name)?.unbind()) };
        Ok(Rules {
            page: rule("page")?, url: rule("url")?, text: rule("text")?, user_id: rule("user_id")?,
            device: rule("device")?, js_error: rule("js_error")?,
        })
    }

    /// `rule(value)` for a non-empty string; None and "" as they are.
    fn apply<'py>(rule: &Py<PyAny>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if value.is_none() || value.cast::<PyString>().is_ok_and(|s| s.is_empty().unwrap_or(false)) {
            return Ok(value);
        }
        rule.bind(value.py()).call1((value,))
    }

    fn text<'py>(&self, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Rules::apply(&self.text, value)
    }

    fn url<'py>(&self, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Rules::apply(&self.url, value)
    }

    /// The event's (url, route): the masked URL and its route template, both None without a URL.
    fn page<'py>(&self, py: Python<'py>, url: &Option<Text<'_, 'py>>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        match url {
            Some(t) => {
                let pair = self.page.bind(py).call1((t.py(py),))?.cast_into::<PyTuple>()?;
                Ok((pair.get_item(0)?, pair.get_item(1)?))
            }
            None => Ok((py.None().into_bound(py), py.None().into_bound(py))),
        }
    }

    fn device<'py>(&self, client: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.device.bind(client.py()).call1((client,))
    }
}

/// What a resource says about every record under it.
struct Resource<'a, 'py> {
    service_name: Bound<'py, PyAny>,
    service_version: Bound<'py, PyAny>,
    session_id: Option<Text<'a, 'py>>,
    client: Bound<'py, PyAny>,
    device: Bound<'py, PyAny>, // the client's
    user_agent: Bound<'py, PyAny>,
    mobile: Bound<'py, PyAny>,
    viewport_width: Bound<'py, PyAny>,
    viewport_height: Bound<'py, PyAny>,
}

/// Lets other threads take the GIL every few hundred records (~1 ms): classifying a 1,000-record request holds it
/// for several ms, and the event loop answering senders would otherwise wait behind the whole request.
#[derive(Default)]
struct Pause(usize);

impl Pause {
    const RECORDS: usize = 256;

    fn after_record(&mut self, py: Python<'_>) {
        self.0 += 1;
        if self.0.is_multiple_of(Pause::RECORDS) {
            py.detach(|| ()); // a thread waiting for the GIL (switch interval passed) takes it here
        }
    }
}

/// What a classification hands back, accumulated over the request.
struct Out<'py> {
    events: Bound<'py, PyList>,
    dropped: FnvMap<&'static str, usize>,
    skipped: FnvMap<&'static str, usize>,
    /// The previous record's session id: a session's records come together, and sharing one string object saves
    /// its 80 bytes on every event an open page holds (and its hash, computed once per object, on every lookup).
    last_session: Option<Bound<'py, PyString>>,
    /// The last few records' own clients, for the same reason: a browser repeats its viewport on every record (a
    /// few: scroll summaries and form events carry other fields than clicks, and they alternate).
    clients: Vec<LastClient<'py>>,
}

const RECENT_CLIENTS: usize = 4;

struct LastClient<'py> {
    user_agent: Bound<'py, PyAny>,
    mobile: Bound<'py, PyAny>, // the resource's
    width: Bound<'py, PyAny>,
    height: Bound<'py, PyAny>,
    user_id: Option<String>, // as sent: the client holds it hashed
    previous: bool,
    client: Bound<'py, PyAny>,
    device: Bound<'py, PyAny>,
}

impl<'py> Out<'py> {
    fn new(py: Python<'py>) -> Self {
        Out { events: PyList::empty(py), dropped: FnvMap::default(), skipped: FnvMap::default(), last_session: None, clients: Vec::new() }
    }

    fn into_tuple(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let counts = |m: FnvMap<&'static str, usize>| -> PyResult<Bound<'py, PyDict>> {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, v)?;
            }
            Ok(d)
        };
        (self.events, counts(self.dropped)?, counts(self.skipped)?).into_pyobject(py)
    }
}

/// What validation finds, before the sender is answered: records kept, records rejected (with why: kind of record,
/// index in its scope, scope name, problem) and kept records with no `session.id` on them or their resource.
#[derive(Default)]
struct Verdict<'a> {
    records: usize,
    problems: Vec<(&'static str, usize, &'a str, String)>,
    without_session: usize,
}

/// Reads requests for one set of limits: record validity and the attributes kinds read.
struct Core {
    limits: Limits,
    keys: FnvMap<&'static str, Key>,
}

/// Validates OTLP requests without classifying them, so the sender can be answered before the pipeline thread
/// classifies; it holds no Python object and runs with the GIL released.
#[pyclass(frozen, module = "collector_plugin._native")]
pub struct Validator {
    core: Core,
}

#[pymethods]
impl Validator {
    #[new]
    fn new(max_attributes: usize, max_length: usize, max_depth: usize) -> Self {
        Validator { core: Core::new(max_attributes, max_length, max_depth) }
    }

    /// `signal` ("logs" or "traces") request bytes validated: `(records, rejected, errors, without_session)`.
    /// Raises ValueError when the bytes are not a protobuf message of this shape.
    fn validate(&self, py: Python<'_>, signal: &str, body: &[u8]) -> PyResult<(usize, usize, Vec<String>, usize)> {
        let traces = signal == "traces";
        let core = &self.core;
        let v = py.detach(|| if traces { core.validate_traces(body) } else { core.validate_logs(body) })?;
        let mut errors = Vec::with_capacity(v.problems.len());
        for (what, i, scope, problem) in &v.problems {
            errors.push(format!("{what} {i} of scope {}: {problem}", PyString::new(py, scope).repr()?));
        }
        Ok((v.records, v.problems.len(), errors, v.without_session))
    }
}

impl Core {
    fn new(max_attributes: usize, max_length: usize, max_depth: usize) -> Self {
        Core { limits: Limits { max_attributes, max_length, max_depth }, keys: KEYS.iter().copied().collect() }
    }

    fn validate_logs<'a>(&self, body: &'a [u8]) -> Result<Verdict<'a>, DecodeError> {
        let mut v = Verdict::default();
        for res in otlp::logs(body)? {
            let has_session = self.checked(&res.attributes)?.has(Key::SessionId);
            for scope in &res.scopes {
                for (i, rec) in scope.items.iter().enumerate() {
                    self.verdict(&mut v, "log record", i, scope.name, self.log_problem(rec), has_session, &rec.attributes)?;
                }
            }
        }
        Ok(v)
    }

    fn validate_traces<'a>(&self, body: &'a [u8]) -> Result<Verdict<'a>, DecodeError> {
        let mut v = Verdict::default();
        for res in otlp::traces(body)? {
            let has_session = self.checked(&res.attributes)?.has(Key::SessionId);
            for scope in &res.scopes {
                for (i, span) in scope.items.iter().enumerate() {
                    let problem = self.span_problem(span);
                    if problem.is_none() {
                        // Classification reads these too: a malformed value is refused here, before the answer.
                        for ev in &span.events {
                            self.checked(&ev.attributes)?;
                        }
                    }
                    self.verdict(&mut v, "span", i, scope.name, problem, has_session, &span.attributes)?;
                }
            }
        }
        Ok(v)
    }

    #[allow(clippy::too_many_arguments)]
    fn verdict<'a>(&self, v: &mut Verdict<'a>, what: &'static str, i: usize, scope: &'a str, problem: Option<String>,
                   resource_session: bool, attributes: &[Kv<'a>]) -> Result<(), DecodeError> {
        if let Some(problem) = problem {
            v.problems.push((what, i, scope, problem));
            return Ok(());
        }
        let a = self.checked(attributes)?;
        v.records += 1;
        if !resource_session && !a.has(Key::SessionId) {
            v.without_session += 1;
        }
        Ok(())
    }
}

/// Classifies OTLP requests for one configuration (limits, default service name).
#[pyclass(frozen, module = "collector_plugin._native")]
pub struct Classifier {
    vocab: Vocab,
    rules: Rules,
    core: Core,
    default_service: Py<PyString>,
    words: Words,
}

#[pymethods]
impl Classifier {
    #[new]
    fn new(events: &Bound<'_, PyAny>, normalizer: &Bound<'_, PyAny>, default_service: Bound<'_, PyString>,
           max_attributes: usize, max_length: usize, max_depth: usize) -> PyResult<Self> {
        Ok(Classifier {
            vocab: Vocab::load(events)?,
            rules: Rules::load(normalizer)?,
            core: Core::new(max_attributes, max_length, max_depth),
            default_service: default_service.unbind(),
            words: Words::new(),
        })
    }

    /// Every attribute key classification reads.
    #[staticmethod]
    fn known_keys() -> Vec<&'static str> {
        KEYS.iter().map(|(name, _)| *name).collect()
    }

    /// The valid records of a protobuf ExportLogsServiceRequest (invalid ones are the validator's to report)
    /// classified: `(events, dropped by reason, skipped by reason)`. Raises ValueError when the bytes are not a
    /// protobuf message of this shape.
    fn logs<'py>(&self, py: Python<'py>, body: &[u8], now_ns: u64) -> PyResult<Bound<'py, PyTuple>> {
        let core = &self.core;
        let mut out = Out::new(py);
        let mut pause = Pause::default();
        for res in py.detach(|| otlp::logs(body))? {
            let r = self.resource(py, &core.attrs(&res.attributes))?;
            for scope in &res.scopes {
                for rec in scope.items.iter().filter(|rec| core.log_problem(rec).is_none()) {
                    self.log(py, &r, scope.name, rec, &core.attrs(&rec.attributes), now_ns, &mut out)?;
                    pause.after_record(py);
                }
            }
        }
        out.into_tuple(py)
    }

    /// The valid spans of a protobuf ExportTraceServiceRequest classified, as `logs`.
    fn traces<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
        let core = &self.core;
        let mut out = Out::new(py);
        let mut pause = Pause::default();
        for res in py.detach(|| otlp::traces(body))? {
            let r = self.resource(py, &core.attrs(&res.attributes))?;
            let mut valid: Vec<(&str, &Span, Attrs)> = Vec::new();
            for scope in &res.scopes {
                for span in scope.items.iter().filter(|span| core.span_problem(span).is_none()) {
                    valid.push((scope.name, span, core.attrs(&span.attributes)));
                }
            }
            // A stock click span has no reaction flag; its child fetch/XHR spans (same resource) are the evidence.
            let mut children: FnvMap<&[u8], usize> = FnvMap::default();
            for (_, span, a) in &valid {
                if !span.parent_span_id.is_empty() && (a.has(Key::HttpRequestMethod) || a.has(Key::HttpMethod)) {
                    *children.entry(span.parent_span_id).or_default() += 1;
                }
            }
            for (scope, span, a) in &valid {
                self.span(py, &r, scope, span, a, &children, &mut out)?;
                pause.after_record(py);
            }
        }
        out.into_tuple(py)
    }
}

impl Core {
    fn log_problem(&self, rec: &LogRecord) -> Option<String> {
        let trace_ok = rec.trace_id.is_empty() || rec.trace_id.len() == 16;
        let span_ok = rec.span_id.is_empty() || rec.span_id.len() == 8;
        if !(trace_ok && span_ok) {
            return Some("trace_id must be 16 bytes and span_id 8 bytes (either may be empty)".to_string());
        }
        self.count_problem(rec.attributes.len())
    }

    fn span_problem(&self, span: &Span) -> Option<String> {
        if span.trace_id.len() != 16 || span.span_id.len() != 8 || !matches!(span.parent_span_id.len(), 0 | 8) {
            return Some("trace_id must be 16 bytes, span_id and parent_span_id 8 bytes".to_string());
        }
        self.count_problem(span.attributes.len())
    }

    fn count_problem(&self, n: usize) -> Option<String> {
        let max = self.limits.max_attributes;
        (n > max).then(|| format!("{n} attributes, the limit is {max}"))
    }

    /// Indexes the keys a kind may read. Values are not parsed: validation checked them (`checked`).
    fn attrs<'a>(&self, kvs: &[Kv<'a>]) -> Attrs<'a> {
        let mut a = Attrs { values: [None; KEYS.len()] };
        for (key, value) in kvs {
            if let Some(k) = self.keys.get(key) {
                a.values[*k as usize] = Some(value);
            }
        }
        a
    }

    /// As `attrs`, parsing every value under those keys (repeated ones too) to refuse a malformed one, so
    /// classification later reads them without error.
    fn checked<'a>(&self, kvs: &[Kv<'a>]) -> Result<Attrs<'a>, DecodeError> {
        for (key, value) in kvs {
            if self.keys.contains_key(key) {
                self.limits.check(value, 0)?;
            }
        }
        Ok(self.attrs(kvs))
    }
}

impl Classifier {
    fn resource<'a, 'py>(&self, py: Python<'py>, a: &Attrs<'a>) -> PyResult<Resource<'a, 'py>> {
        let v = &self.vocab;
        let none = py.None().into_bound(py);
        let user_agent = self.words.get(py, &self.text(py, a, &[Key::UserAgentOriginal])?)?;
        let mobile = opt_bool(py, self.flag(a, Key::BrowserMobile)?);
        let viewport_width = opt(py, self.int(py, a, &[Key::ScreenWidth])?); // Faro puts the viewport here
        let viewport_height = opt(py, self.int(py, a, &[Key::ScreenHeight])?);
        let client = v.client.make(py, &[
            user_agent.clone(), mobile.clone(), viewport_width.clone(), viewport_height.clone(), none.clone(), py_bool(py, false),
        ])?;
        let device = self.rules.device(&client)?;
        Ok(Resource {
            service_name: match self.text(py, a, &[Key::ServiceName])? {
                Some(t) => self.words.get(py, &Some(t))?,
                None => self.default_service.bind(py).clone().into_any(),
            },
            service_version: self.words.get(py, &self.text(py, a, &[Key::ServiceVersion])?)?,
            session_id: self.text(py, a, &[Key::SessionId])?,
            client, device, user_agent, mobile, viewport_width, viewport_height,
        })
    }

    /// The record's client (user id hashed) and its device: the resource's own when the record adds nothing.
    fn client<'py>(&self, py: Python<'py>, r: &Resource<'_, 'py>, a: &Attrs, out: &mut Out<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let ua = match self.text(py, a, &[Key::UserAgentOriginal, Key::HttpUserAgent])? {
            Some(t) => self.words.get(py, &Some(t))?,
            None => r.user_agent.clone(),
        };
        let or_base = |v: Option<Bound<'py, PyAny>>, base: &Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
            Ok(match v {
                Some(v) if v.is_truthy()? => v,
                _ => base.clone(),
            })
        };
        let width = or_base(self.int(py, a, &[Key::ViewportWidth])?, &r.viewport_width)?;
        let height = or_base(self.int(py, a, &[Key::ViewportHeight])?, &r.viewport_height)?;
        let user_id = self.text(py, a, &[Key::UserId, Key::EnduserId])?;
        let previous = a.has(Key::SessionPreviousId) || match self.get(py, a, Key::SessionAttributes)? {
            Some(d) => match d.cast::<PyDict>() {
                Ok(d) => d.contains(intern!(py, "previousSession"))?,
                Err(_) => false,
            },
            None => false,
        };
        if user_id.is_none() && !previous && same(&ua, &r.user_agent)? && same(&width, &r.viewport_width)?
            && same(&height, &r.viewport_height)? {
            return Ok((r.client.clone(), r.device.clone()));
        }
        let raw_user_id = match &user_id {
            Some(t) => Some(t.as_str()?.to_owned()),
            None => None,
        };
        for last in &out.clients {
            if last.previous == previous && last.user_id == raw_user_id && same(&ua, &last.user_agent)? && same(&width, &last.width)?
                && same(&height, &last.height)? && last.mobile.is(&r.mobile) {
                return Ok((last.client.clone(), last.device.clone()));
            }
        }
        let hashed = Rules::apply(&self.rules.user_id, opt_text(py, &user_id))?;
        let client = self.vocab.client.make(py, &[ua.clone(), r.mobile.clone(), width.clone(), height.clone(), hashed, py_bool(py, previous)])?;
        let device = self.rules.device(&client)?;
        if out.clients.len() == RECENT_CLIENTS {
            out.clients.pop();
        }
        out.clients.insert(0, LastClient {
            user_agent: ua, mobile: r.mobile.clone(), width, height, user_id: raw_user_id, previous, client: client.clone(),
            device: device.clone(),
        });
        Ok((client, device))
    }

    #[allow(clippy::too_many_arguments)]
    fn log<'a, 'py>(&self, py: Python<'py>, r: &Resource<'a, 'py>, scope: &str, rec: &LogRecord<'a>, a: &Attrs<'a>,
                    now_ns: u64, out: &mut Out<'py>) -> PyResult<()> {
        let event_name = if rec.event_name.is_empty() { self.text(py, a, &[Key::EventName])? } else { Some(Text::Wire(rec.event_name)) };
        let name = match &event_name {
            Some(t) => t.as_str()?,
            None => "",
        };
        let kind = match log_kind(name) {
            Some(k) => k,
            None if a.has(Key::ExceptionType) || a.has(Key::ExceptionMessage) => LogKind::Error, // Faro: no event name
            None if a.has(Key::MeasurementType) => LogKind::Measurement,
            None if name.is_empty() => LogKind::Log,
            // Known events with no behavioural meaning of their own (timings, the SDK's own fetch bookkeeping).
            None if matches!(name, "faro.navigation" | "faro.tracing.fetch" | "faro.performance.resource"
                | "browser.navigation_timing" | "browser.resource_timing") => {
                *out.skipped.entry("not_behavioural").or_default() += 1;
                return Ok(());
            }
            None => {
                *out.dropped.entry("unknown_event").or_default() += 1;
                return Ok(());
            }
        };
        let Some(session_id) = self.session(py, r, a, out)? else {
            *out.dropped.entry("missing_session_id").or_default() += 1;
            return Ok(());
        };
        let v = &self.vocab;
        let source = if scope == FRICTION_SCOPE {
            "FRICTION_JS"
        } else if scope == FARO_SCOPE || a.has(Key::FaroStacktrace) || a.has(Key::PageId) {
            "FARO"
        } else {
            "OTEL_LOGS"
        };
        let (kind_name, detail) = self.log_detail(py, kind, name, a)?;
        let time = if rec.time != 0 { rec.time } else if rec.observed != 0 { rec.observed } else { now_ns };
        let (url, route) = self.rules.page(py, &self.text(py, a, &[Key::UrlFull, Key::HttpUrl, Key::PageUrl])?)?;
        let (client, device) = self.client(py, r, a, out)?;
        let event = v.event.make(py, &[
            v.kind(py, kind_name), v.source(py, source), time.into_pyobject(py)?.into_any(), session_id,
            r.service_name.clone(), detail, url, route, r.service_version.clone(), client, device,
            PyBytes::new(py, rec.trace_id).into_any(), PyBytes::new(py, rec.span_id).into_any(),
        ])?;
        out.events.append(event)
    }

    /// The event's kind (a `Kind` member name) and detail, for a log record of a known kind.
    fn log_detail<'py>(&self, py: Python<'py>, kind: LogKind, name: &str, a: &Attrs) -> PyResult<(&'static str, Bound<'py, PyAny>)> {
        let v = &self.vocab;
        let none = || py.None().into_bound(py);
        let text = |keys: &[Key]| -> PyResult<Bound<'py, PyAny>> { Ok(opt_text(py, &self.text(py, a, keys)?)) };
        let word = |keys: &[Key]| -> PyResult<Bound<'py, PyAny>> { self.words.get(py, &self.text(py, a, keys)?) };
        let masked = |keys: &[Key]| -> PyResult<Bound<'py, PyAny>> { self.rules.text(text(keys)?) };
        let int = |keys: &[Key]| -> PyResult<Bound<'py, PyAny>> { Ok(opt(py, self.int(py, a, keys)?)) };
        let float = |key: Key| -> PyResult<Bound<'py, PyAny>> { Ok(opt_float(py, self.float(py, a, key)?)) };
        Ok(match kind {
            LogKind::PageView => ("PAGE_VIEW", v.page_view.make(py, &[
                word(&[Key::PageViewType])?, self.rules.url(text(&[Key::Referrer])?)?, none(),
            ])?),
            LogKind::Navigation => {
                let nav = if self.flag(a, Key::HashChange)? == Some(true) {
                    intern!(py, "hash").clone().into_any()
                } else {
                    word(&[Key::NavigationType])?
                };
                ("PAGE_VIEW", v.page_view.make(py, &[nav, none(), none()])?)
            }
            LogKind::View | LogKind::Load => {
                let nav = if matches!(kind, LogKind::View) { intern!(py, "view") } else { intern!(py, "load") };
                ("PAGE_VIEW", v.page_view.make(py, &[nav.clone().into_any(), none(), none()])?)
            }
            LogKind::Click => ("CLICK", v.click.make(py, &[
                int(&[Key::PageX])?, int(&[Key::PageY])?, word(&[Key::TagName])?, masked(&[Key::CssSelector])?,
                masked(&[Key::ElementText])?, opt_bool(py, self.flag(a, Key::ElementInteractive)?), word(&[Key::ClickReaction])?,
                int(&[Key::ClickReactionMs])?, word(&[Key::ClickPointer])?, int(&[Key::ClickDetail])?,
                py_bool(py, self.flag(a, Key::ElementFixed)? == Some(true)),
                py_bool(py, self.flag(a, Key::ElementIgnore)? == Some(true)), none(),
            ])?),
            LogKind::Scroll => ("SCROLL", v.scroll.make(py, &[
                float(Key::ScrollMaxDepth)?, int(&[Key::ScrollDistance])?, int(&[Key::ScrollDirectionChanges])?,
                int(&[Key::DocumentHeight])?,
            ])?),
            LogKind::Form(kind_name) => (kind_name, v.form_field.make(py, &[
                self.rules.text(match self.text(py, a, &[Key::FormId])? {
                    Some(t) => t.py(py),
                    None => PyString::new(py, "-").into_any(),
                })?,
                masked(&[Key::FieldName])?, word(&[Key::FieldType])?, int(&[Key::FieldDuration])?,
                opt_bool(py, self.flag(a, Key::FieldChanged)?), word(&[Key::FieldValidation])?,
            ])?),
            LogKind::Error => ("JS_ERROR", self.error(py, a)?),
            LogKind::WebVital => ("WEB_VITAL", self.named(py, self.text(py, a, &[Key::WebVitalName])?, "", float(Key::WebVitalValue)?)?),
            LogKind::Measurement => {
                let name = self.text(py, a, &[Key::MeasurementName, Key::MeasurementType])?;
                ("WEB_VITAL", self.named(py, name, "", float(Key::MeasurementValue)?)?)
            }
            LogKind::FaroAction => {
                // Faro's event attributes travel as one kvlist.
                let action = match self.get(py, a, Key::EventAttributes)? {
                    Some(d) => match d.cast::<PyDict>() {
                        Ok(d) => match d.get_item(intern!(py, "userActionName"))? {
                            Some(value) if !value.is_none() => Some(Text::Py(value.str()?)),
                            _ => None,
                        },
                        Err(_) => None,
                    },
                    None => None,
                };
                let action = action.filter(|t| !matches!(t.as_str(), Ok("")));
                ("USER_ACTION", self.named(py, action, "faro.user.action", none())?)
            }
            LogKind::Session => ("SESSION_START", self.named(py, Some(Text::Wire(name)), "", none())?),
            LogKind::Log => ("LOG", self.named(py, None, "log", none())?),
        })
    }

    fn named<'py>(&self, py: Python<'py>, name: Option<Text<'_, 'py>>, default: &str, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let name = match name {
            Some(t) => t.py(py),
            None => PyString::new(py, default).into_any(),
        };
        self.vocab.named.make(py, &[self.rules.text(name)?, value])
    }

    fn error<'py>(&self, py: Python<'py>, a: &Attrs) -> PyResult<Bound<'py, PyAny>> {
        let stack = match self.text(py, a, &[Key::ExceptionStacktrace])? {
            Some(t) => t.py(py),
            None => match faro_stack(py, self.get(py, a, Key::FaroStacktrace)?)? {
                Some(s) => s.into_any(),
                None => py.None().into_bound(py),
            },
        };
        let or = |keys: &[Key], default: &str| -> PyResult<Bound<'py, PyAny>> {
            Ok(match self.text(py, a, keys)? {
                Some(t) => t.py(py),
                None => PyString::new(py, default).into_any(),
            })
        };
        let error = self.vocab.js_error.make(py, &[
            or(&[Key::ExceptionType], "Error")?, or(&[Key::ExceptionMessage], "")?, stack,
            py_bool(py, self.flag(a, Key::ExceptionUnhandled)? == Some(true)), py.None().into_bound(py),
        ])?;
        // Masked and grouped (the fingerprint reads the masked fields) by a Python rule: a new JsError, untracked
        // like the rest of the event (see Class::make).
        let error = self.rules.js_error.bind(py).call1((error,))?;
        if error.get_type().is(self.vocab.js_error.tp.bind(py)) {
            // SAFETY: an object of a class checked at start-up to be a frozen slotted dataclass of atomic fields.
            unsafe { ffi::PyObject_GC_UnTrack(error.as_ptr().cast()) };
        }
        Ok(error)
    }

    fn session<'py>(&self, py: Python<'py>, r: &Resource<'_, 'py>, a: &Attrs, out: &mut Out<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let own = self.text(py, a, &[Key::SessionId])?;
        let Some(text) = own.as_ref().or(r.session_id.as_ref()) else { return Ok(None) };
        let id = text.as_str()?;
        if let Some(last) = &out.last_session {
            if last.to_str()? == id {
                return Ok(Some(last.clone().into_any()));
            }
        }
        let new = PyString::new(py, id);
        out.last_session = Some(new.clone());
        Ok(Some(new.into_any()))
    }

    #[allow(clippy::too_many_arguments)]
    fn span<'py>(&self, py: Python<'py>, r: &Resource<'_, 'py>, scope: &str, span: &Span, a: &Attrs,
                 children: &FnvMap<&[u8], usize>, out: &mut Out<'py>) -> PyResult<()> {
        let Some(session_id) = self.session(py, r, a, out)? else {
            *out.dropped.entry("missing_session_id").or_default() += 1;
            return Ok(());
        };
        let v = &self.vocab;
        let none = || py.None().into_bound(py);
        let raw_url = self.text(py, a, &[Key::UrlFull, Key::HttpUrl])?;
        let (url, route) = self.rules.page(py, &raw_url)?;
        let (client, device) = self.client(py, r, a, out)?;
        let (trace_id, span_id) = (PyBytes::new(py, span.trace_id).into_any(), PyBytes::new(py, span.span_id).into_any());
        // A fetch/XHR's URL is its detail's, not the page's: its event has no url or route.
        let event = |kind: &str, time: u64, detail: Bound<'py, PyAny>, page: bool| -> PyResult<Bound<'py, PyAny>> {
            let (url, route) = if page { (url.clone(), route.clone()) } else { (none(), none()) };
            v.event.make(py, &[
                v.kind(py, kind), v.source(py, "OTEL_SPANS"), time.into_pyobject(py)?.into_any(), session_id.clone(),
                r.service_name.clone(), detail, url, route, r.service_version.clone(), client.clone(), device.clone(),
                trace_id.clone(), span_id.clone(),
            ])
        };
        let event_type = self.text(py, a, &[Key::EventType])?;
        if scope == UI_SCOPE || event_type.is_some() {
            let action = match &event_type {
                Some(t) => t.as_str()?,
                None => span.name,
            };
            let navigation = span.name.starts_with("Navigation:");
            if action == "click" || navigation {
                let reaction = if navigation { intern!(py, "navigation").clone().into_any() } else { none() };
                let network = children.get(span.span_id).copied().unwrap_or(0).into_pyobject(py)?.into_any();
                let detail = v.click.make(py, &[
                    none(), none(), self.words.get(py, &self.text(py, a, &[Key::TargetElement])?)?,
                    self.rules.text(opt_text(py, &self.text(py, a, &[Key::TargetXpath])?))?, none(), py_bool(py, true), reaction, none(),
                    none(), none(), py_bool(py, false), py_bool(py, false), network,
                ])?;
                out.events.append(event("CLICK", span.start, detail, true)?)?;
            } else {
                let detail = v.named.make(py, &[self.rules.text(PyString::new(py, action).into_any())?, none()])?;
                out.events.append(event("USER_ACTION", span.start, detail, true)?)?;
            }
        } else if span.name == "documentLoad" {
            let detail = v.page_view.make(py, &[intern!(py, "load").clone().into_any(), none(), none()])?;
            out.events.append(event("PAGE_VIEW", span.start, detail, true)?)?;
        } else if a.has(Key::HttpRequestMethod) || a.has(Key::HttpMethod) {
            let duration = if span.end != 0 {
                opt_float(py, Some((i128::from(span.end) - i128::from(span.start)) as f64 / 1e6))
            } else {
                none()
            };
            let detail = v.network.make(py, &[
                opt_text(py, &self.text(py, a, &[Key::HttpRequestMethod, Key::HttpMethod])?), self.rules.url(opt_text(py, &raw_url))?,
                opt(py, self.int(py, a, &[Key::HttpResponseStatus, Key::HttpStatus])?), duration,
                PyBytes::new(py, span.parent_span_id).into_any(),
            ])?;
            out.events.append(event("NETWORK", span.start, detail, false)?)?;
        } else {
            *out.skipped.entry("other_span").or_default() += 1;
        }
        // Exceptions recorded on any span (semconv `exception` span events) are JS errors too.
        for ev in &span.events {
            if ev.name == "exception" {
                let ea = self.core.attrs(&ev.attributes);
                let time = if ev.time != 0 { ev.time } else { span.start };
                out.events.append(event("JS_ERROR", time, self.error(py, &ea)?, true)?)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------- typed reads

    /// The value at `key` as Python sees it (None when absent or unset).
    fn get<'py>(&self, py: Python<'py>, a: &Attrs, key: Key) -> PyResult<Option<Bound<'py, PyAny>>> {
        match a.values[key as usize] {
            Some(encoded) => {
                let value = self.core.limits.value(py, encoded, 0)?;
                Ok((!value.is_none()).then_some(value))
            }
            None => Ok(None),
        }
    }

    /// The first of `keys` holding a non-empty value, as a string (`str()` of a value of another type).
    fn text<'a, 'py>(&self, py: Python<'py>, a: &Attrs<'a>, keys: &[Key]) -> PyResult<Option<Text<'a, 'py>>> {
        for key in keys {
            let Some(encoded) = a.values[*key as usize] else { continue };
            match any_value(encoded)? {
                None => {}
                Some(Any::Str("")) => {}
                Some(Any::Str(s)) => return Ok(Some(Text::Wire(truncate(s, self.core.limits.max_length)))),
                Some(_) => {
                    let value = self.core.limits.value(py, encoded, 0)?;
                    if !value.is_none() {
                        return Ok(Some(Text::Py(value.str()?)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The first of `keys` readable as an integer: an int, or a finite number (also as a string), truncated.
    fn int<'py>(&self, py: Python<'py>, a: &Attrs, keys: &[Key]) -> PyResult<Option<Bound<'py, PyAny>>> {
        for key in keys {
            let Some(encoded) = a.values[*key as usize] else { continue };
            let number = match any_value(encoded)? {
                Some(Any::Int(i)) => return Ok(Some(i.into_pyobject(py)?.into_any())),
                Some(Any::Double(d)) => d,
                Some(Any::Str(s)) => match py_float(py, truncate(s, self.core.limits.max_length))? {
                    Some(d) => d,
                    None => continue,
                },
                _ => continue,
            };
            if number.is_finite() {
                // SAFETY: PyLong_FromDouble accepts any finite double and returns a new reference or NULL.
                let int = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromDouble(number))? };
                return Ok(Some(int));
            }
        }
        Ok(None)
    }

    /// The value at `key` as a float: a number (not a bool), or a string Python's `float()` reads.
    fn float(&self, py: Python<'_>, a: &Attrs, key: Key) -> PyResult<Option<f64>> {
        let Some(encoded) = a.values[key as usize] else { return Ok(None) };
        Ok(match any_value(encoded)? {
            Some(Any::Int(i)) => Some(i as f64),
            Some(Any::Double(d)) => Some(d),
            Some(Any::Str(s)) => py_float(py, truncate(s, self.core.limits.max_length))?,
            _ => None,
        })
    }

    /// The value at `key` as a bool: a bool, or the string "true"/"false" in any case.
    fn flag(&self, a: &Attrs, key: Key) -> PyResult<Option<bool>> {
        let Some(encoded) = a.values[key as usize] else { return Ok(None) };
        Ok(match any_value(encoded)? {
            Some(Any::Bool(b)) => Some(b),
            // Only ASCII letters lower-case to ASCII "true"/"false" under str.lower(), so this is Python's test.
            Some(Any::Str(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Any::Str(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        })
    }
}

impl Attrs<'_> {
    fn has(&self, key: Key) -> bool {
        self.values[key as usize].is_some()
    }
}

#[derive(Clone, Copy)]
enum LogKind {
    PageView,
    Navigation,
    View,
    Load,
    Click,
    Scroll,
    Form(&'static str),
    Error,
    WebVital,
    Measurement,
    FaroAction,
    Session,
    Log,
}

/// Event name → kind. Faro events that mean a new page are page views.
fn log_kind(name: &str) -> Option<LogKind> {
    Some(match name {
        "browser.page_view" => LogKind::PageView,
        "browser.navigation" => LogKind::Navigation,
        "browser.user_action.click" => LogKind::Click,
        "browser.scroll" => LogKind::Scroll,
        "exception" => LogKind::Error,
        "browser.web_vital" => LogKind::WebVital,
        "faro.user.action" => LogKind::FaroAction,
        "view_changed" => LogKind::View,
        "faro.performance.navigation" => LogKind::Load,
        "browser.form.field_focus" => LogKind::Form("FORM_FOCUS"),
        "browser.form.field_blur" => LogKind::Form("FORM_BLUR"),
        "browser.form.field_error" => LogKind::Form("FORM_ERROR"),
        "browser.form.submit" => LogKind::Form("FORM_SUBMIT"),
        "session_start" | "session_resume" | "session_extend" => LogKind::Session,
        _ => return None,
    })
}

/// Faro's structured stack trace (`{frames: [{filename, lineno, colno, function}]}`) as text.
fn faro_stack<'py>(py: Python<'py>, value: Option<Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyString>>> {
    let Some(value) = value else { return Ok(None) };
    let Ok(dict) = value.cast::<PyDict>() else { return Ok(None) };
    let Some(frames) = dict.get_item(intern!(py, "frames"))? else { return Ok(None) };
    let Ok(frames) = frames.cast::<PyList>() else { return Ok(None) };
    let mut lines = Vec::new();
    for frame in frames.iter() {
        let Ok(f) = frame.cast::<PyDict>() else { continue };
        let mut place = Vec::new();
        for k in ["filename", "lineno", "colno"] {
            if let Some(v) = f.get_item(k)? {
                let empty = v.is_none() || v.cast::<PyString>().is_ok_and(|s| s.to_str().is_ok_and(str::is_empty));
                if !empty {
                    place.push(v.str()?.to_str()?.to_owned());
                }
            }
        }
        let function = match f.get_item("function")? {
            Some(v) if v.is_truthy()? => v.str()?.to_str()?.to_owned(),
            _ => "?".to_owned(),
        };
        lines.push(format!("    at {function} ({})", place.join(":")));
    }
    Ok((!lines.is_empty()).then(|| PyString::new(py, &lines.join("\n"))))
}

/// Python's `float(s)`, None where it raises ValueError.
fn py_float(py: Python<'_>, s: &str) -> PyResult<Option<f64>> {
    let text = PyString::new(py, s);
    // SAFETY: PyFloat_FromString takes a str and returns a new reference or NULL with an exception set.
    match unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFloat_FromString(text.as_ptr())) } {
        Ok(f) => Ok(Some(f.extract()?)),
        Err(e) if e.is_instance_of::<PyValueError>(py) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Python's `a == b` for two values read for a client (strings, ints, None).
fn same(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(a.is(b) || a.eq(b)?)
}

fn opt<'py>(py: Python<'py>, v: Option<Bound<'py, PyAny>>) -> Bound<'py, PyAny> {
    v.unwrap_or_else(|| py.None().into_bound(py))
}

fn opt_float<'py>(py: Python<'py>, v: Option<f64>) -> Bound<'py, PyAny> {
    match v {
        Some(f) => PyFloat::new(py, f).into_any(),
        None => py.None().into_bound(py),
    }
}

fn opt_bool<'py>(py: Python<'py>, v: Option<bool>) -> Bound<'py, PyAny> {
    match v {
        Some(b) => py_bool(py, b),
        None => py.None().into_bound(py),
    }
}

fn py_bool(py: Python<'_>, b: bool) -> Bound<'_, PyAny> {
    PyBool::new(py, b).to_owned().into_any()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FRICTION_SCOPE", FRICTION_SCOPE)?; // the scope this project's browser instrumentation (and simulator) uses
    m.add_class::<Validator>()?;
    m.add_class::<Classifier>()
}
