// otel-friction.js — browser instrumentation of the otel-friction project.
//
// A small, dependency-free ES module that turns what a user does on a page into
// OpenTelemetry log records ("events") emitted through a Logger of the OTel JS
// logs API. It does NOT create providers, exporters or sessions: the page passes
// a Logger obtained from its own LoggerProvider, and the `session.id` attribute
// is added by the app's session log processor (`createSessionLogRecordProcessor`
// of @opentelemetry/web-common).
//
//   import { installFrictionInstrumentation, INSTRUMENTATION_NAME,
//            INSTRUMENTATION_VERSION } from './otel-friction.js';
//   const uninstall = installFrictionInstrumentation({
//     logger: loggerProvider.getLogger(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION),
//   });
//
// Events (names and attributes are specified in docs/event-conventions.md):
//   browser.page_view, browser.user_action.click, browser.scroll,
//   browser.form.field_focus, browser.form.field_blur, browser.form.field_error,
//   browser.form.submit, exception (only with captureErrors: true).
//
// Click reactions: every click is held back until its reaction is known and then
// emitted with `timestamp` = the click time. It is emitted AS SOON AS the first
// reaction is seen (navigation, DOM mutation, network request, scroll, text
// selection), or with `browser.click.reaction = "none"` once `reactionWindowMs`
// has elapsed without one. Clicks still pending when the page is hidden for
// good (`pagehide`) are emitted at once with reaction `navigation`.
//
// Privacy: values of form fields are never read into telemetry (only names,
// types, validity flags, durations). Button texts are the only element texts
// reported. Elements inside `[data-friction-ignore]` are reported with
// `browser.element.ignore = true` and without text. URLs are reported as
// `location.href` unless a `sanitizeUrl` function is passed.

export const INSTRUMENTATION_NAME = 'otel-friction-browser';
export const INSTRUMENTATION_VERSION = '0.1.0';

export const IGNORE_ATTRIBUTE = 'data-friction-ignore';

const SEVERITY_INFO = 9;
const SEVERITY_ERROR = 17;

// Requests of telemetry exporters must not count as a reaction to a click.
const DEFAULT_IGNORE_URLS = [/\/v1\/(?:traces|logs|metrics)(?:[?#]|$)/, /\/collect(?:\/[^/?#]*)?(?:[?#]|$)/];

const INTERACTIVE_TAGS = new Set(['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'LABEL', 'SUMMARY', 'OPTION']);
const INTERACTIVE_ROLES = new Set(['button', 'link', 'checkbox', 'tab', 'menuitem', 'menuitemcheckbox',
  'menuitemradio', 'radio', 'switch', 'option']);
const BUTTON_INPUT_TYPES = new Set(['button', 'submit', 'reset']);
const NON_FIELD_INPUT_TYPES = new Set(['button', 'submit', 'reset', 'image', 'hidden']);
const VALIDITY_KEYS = ['valueMissing', 'typeMismatch', 'patternMismatch', 'tooLong', 'tooShort',
  'rangeUnderflow', 'rangeOverflow', 'stepMismatch', 'badInput', 'customError'];
const BUTTONS = ['left', 'middle', 'right'];
const POINTER_TYPES = new Set(['mouse', 'touch', 'pen']);

const MAX_SELECTOR_LEVELS = 5;
const MAX_TEXT = 64;
const MAX_MESSAGE = 4096;

/**
 * Install the instrumentation on a document.
 *
 * @param {object} options
 * @param {{emit(record: object): void}} options.logger  Logger from the app's LoggerProvider.
 * @param {number} [options.reactionWindowMs=1000]  How long to wait for a reaction to a click.
 * @param {number} [options.scrollIdleMs=150]  Scrolling is considered finished after this much
 *   time without a scroll event; the document height used for the max depth is read then.
 * @param {number} [options.scrollJitterPx=50]  Reversals of the vertical scroll direction smaller
 *   than this are ignored when counting direction changes.
 * @param {boolean} [options.capturePageViews=true]
 * @param {boolean} [options.captureClicks=true]
 * @param {boolean} [options.captureScroll=true]
 * @param {boolean} [options.captureForms=true]
 * @param {boolean} [options.captureErrors=false]  Emit `exception` on window error /
 *   unhandledrejection (leave off when @opentelemetry/instrumentation-web-exception is used).
 * @param {Array<RegExp|string>} [options.ignoreUrls]  Requests whose URL matches are not a
 *   click reaction (default: OTLP /v1/{traces,logs,metrics} and Faro /collect endpoints).
 * @param {(url: string) => string} [options.sanitizeUrl]  Applied to every `url.full`.
 * @param {Document} [options.document=globalThis.document]
 * @param {Window} [options.window=document.defaultView]
 * @param {() => number} [options.now=Date.now]  Clock in epoch milliseconds.
 * @returns {() => void} uninstall
 */
export function installFrictionInstrumentation({
  logger,
  reactionWindowMs = 1000,
  scrollIdleMs = 150,
  scrollJitterPx = 50,
  capturePageViews = true,
  captureClicks = true,
  captureScroll = true,
  captureForms = true,
  captureErrors = false,
  ignoreUrls = DEFAULT_IGNORE_URLS,
  sanitizeUrl = undefined,
  document = globalThis.document,
  window = undefined,
  now = () => Date.now(),
} = {}) {
  if (!logger || typeof logger.emit !== 'function') {
    throw new TypeError('installFrictionInstrumentation: a Logger with emit() is required');
  }
  const win = window || (document && document.defaultView) || globalThis.window;
  if (!document || !win) {
    return function uninstall() {};
  }
  const location = win.location;
  const cleanups = [];
  let installed = true;

  // ---------------------------------------------------------------- helpers
  // Listeners are registered with the *unwrapped* EventTarget methods when another
  // instrumentation wrapped them with shimmer (`__original`), e.g.
  // @opentelemetry/instrumentation-user-interaction: otherwise our document-level click
  // listener would make it create a `click` span for every click, dead clicks included.
  const nativeAdd = unwrap(win.EventTarget && win.EventTarget.prototype.addEventListener);
  const nativeRemove = unwrap(win.EventTarget && win.EventTarget.prototype.removeEventListener);
  const listen = (target, type, fn, opts = true) => {
    (nativeAdd || target.addEventListener).call(target, type, fn, opts);
    cleanups.push(() => (nativeRemove || target.removeEventListener).call(target, type, fn, opts));
  };
  const int = (n) => (Number.isFinite(n) ? Math.round(n) : 0);
  const currentUrl = () => {
    const href = String(location.href);
    if (!sanitizeUrl) return href;
    try { return String(sanitizeUrl(href)); } catch (_e) { return href; }
  };
  const viewport = () => ({
    'browser.viewport.width': int(win.innerWidth),
    'browser.viewport.height': int(win.innerHeight),
  });
  const emit = (eventName, attributes, timestamp = now(), severityNumber = SEVERITY_INFO) => {
    try {
      logger.emit({
        eventName,
        severityNumber,
        severityText: severityNumber >= SEVERITY_ERROR ? 'ERROR' : 'INFO',
        attributes,
        timestamp,
      });
    } catch (_e) {
      // telemetry must never break the page
    }
  };
  const isElement = (n) => !!n && n.nodeType === 1;
  const toElement = (n) => (isElement(n) ? n : n && n.parentElement ? n.parentElement : null);
  const ancestors = function* (el) {
    for (let e = el; isElement(e); e = e.parentElement || (e.parentNode && e.parentNode.host) || null) {
      yield e;
    }
  };
  const urlIgnored = (url) => {
    const s = String(url || '');
    return ignoreUrls.some((p) => (p instanceof RegExp ? p.test(s) : s.includes(p)));
  };

  // ---------------------------------------------------------------- selectors
  const cssEscape = (s) => (win.CSS && win.CSS.escape ? win.CSS.escape(s) : String(s).replace(/[^\w-]/g, '\\$&'));
  const stableId = (id) => !!id && /^[A-Za-z][\w-]*$/.test(id) && !/\d{4,}/.test(id);
  const stableClass = (c) => /^[A-Za-z_-][\w-]*$/.test(c) && !/\d{3,}/.test(c) && !/^(?:css|sc|jsx|svelte|emotion)-/.test(c);

  function cssSelector(el) {
    const parts = [];
    for (let e = el, level = 0; isElement(e) && level < MAX_SELECTOR_LEVELS; e = e.parentElement, level++) {
      const id = e.getAttribute('id');
      if (stableId(id)) {
        parts.unshift('#' + cssEscape(id));
        break;
      }
      const tag = e.tagName.toLowerCase();
      if (tag === 'html' || tag === 'body') {
        parts.unshift(tag);
        break;
      }
      let part = tag;
      const cls = typeof e.className === 'string' ? e.className : e.getAttribute('class') || '';
      cls.trim().split(/\s+/).filter(stableClass).slice(0, 2).forEach((c) => { part += '.' + cssEscape(c); });
      const parent = e.parentElement;
      if (parent) {
        let index = 0;
        let count = 0;
        for (const sib of parent.children) {
          if (sib.tagName === e.tagName) {
            count++;
            if (sib === e) index = count;
          }
        }
        if (count > 1) part += `:nth-of-type(${index})`;
      }
      parts.unshift(part);
    }
    return parts.join(' > ');
  }

  // ---------------------------------------------------------------- page views
  let pageUrl = currentUrl();
  let rawHref = String(location.href);

  // The initial `load` page view is emitted from a task queued at install time (with the
  // install time as timestamp), not synchronously: web-common's `sessionManager.start()`
  // resolves asynchronously and a record emitted before that gets a session id that start()
  // then replaces (web-common 0.223.0) — the page view would land in an orphan session.
  let deferredLoad = null;
  function flushDeferredLoad() {
    if (!deferredLoad) return;
    const { attrs, t, timer } = deferredLoad;
    deferredLoad = null;
    clearTimeout(timer);
    emit('browser.page_view', attrs, t);
  }

  function startPageView(type, defer = false) {
    pageUrl = currentUrl();
    rawHref = String(location.href);
    if (!capturePageViews) return;
    const attrs = {
      'url.full': pageUrl,
      'browser.page_view.type': type,
      ...viewport(),
    };
    if (type === 'load' && document.referrer) {
      attrs['browser.document.referrer'] = sanitizeUrl ? sanitizedUrlOf(document.referrer) : document.referrer;
    }
    if (defer) {
      deferredLoad = { attrs, t: now(), timer: setTimeout(flushDeferredLoad, 0) };
    } else {
      emit('browser.page_view', attrs);
    }
  }
  function sanitizedUrlOf(u) {
    try { return String(sanitizeUrl(u)); } catch (_e) { return u; }
  }

  function onUrlMaybeChanged(type) {
    const href = String(location.href);
    if (href === rawHref) return false;
    flushDeferredLoad();
    const t = now();
    resolveClicks('navigation', t);
    endScrollSummary();
    startPageView(type);
    resetScroll();
    return true;
  }

  const hashOnlyChange = (from, to) => {
    const a = from.split('#')[0];
    const b = to.split('#')[0];
    return a === b && from !== to;
  };

  // patch history.pushState / replaceState
  const history = win.history;
  const patched = [];
  for (const [method, type] of [['pushState', 'push'], ['replaceState', 'replace']]) {
    const original = history && history[method];
    if (typeof original !== 'function') continue;
    const wrapper = function (...args) {
      const result = original.apply(this, args);
      if (installed) onUrlMaybeChanged(type);
      return result;
    };
    history[method] = wrapper;
    patched.push([history, method, original, wrapper]);
  }
  listen(win, 'popstate', () => {
    const href = String(location.href);
    onUrlMaybeChanged(hashOnlyChange(rawHref, href) ? 'hash' : 'traverse');
  });
  listen(win, 'hashchange', () => onUrlMaybeChanged('hash'));
  listen(win, 'pageshow', (ev) => {
    if (ev.persisted) {
      // restored from the back/forward cache: a new view of the same document
      startPageView('traverse');
      resetScroll();
    }
  });

  // ---------------------------------------------------------------- clicks
  /** @type {Array<{t: number, attrs: object, timer: any}>} */
  let pending = [];
  let lastPointerType = '';

  function resolveClicks(reaction, t) {
    if (!pending.length) return;
    const done = pending;
    pending = [];
    for (const c of done) {
      clearTimeout(c.timer);
      const attrs = c.attrs;
      attrs['browser.click.reaction'] = reaction;
      if (reaction !== 'none') attrs['browser.click.reaction_ms'] = Math.max(0, int(t - c.t));
      emit('browser.user_action.click', attrs, c.t);
    }
  }

  function expireClick(c) {
    const i = pending.indexOf(c);
    if (i < 0) return;
    pending.splice(i, 1);
    c.attrs['browser.click.reaction'] = 'none';
    emit('browser.user_action.click', c.attrs, c.t);
  }

  function reaction(kind) {
    if (pending.length) resolveClicks(kind, now());
  }

  function buttonText(el) {
    for (const e of ancestors(el)) {
      const tag = e.tagName;
      const role = (e.getAttribute('role') || '').toLowerCase();
      let text = null;
      if (tag === 'INPUT') {
        const type = (e.getAttribute('type') || 'text').toLowerCase();
        if (!BUTTON_INPUT_TYPES.has(type)) return null; // never values of text inputs
        text = e.getAttribute('aria-label') || e.value || '';
      } else if (tag === 'BUTTON' || role === 'button') {
        text = e.getAttribute('aria-label') || e.innerText || e.textContent || '';
      }
      if (text !== null) {
        const s = String(text).replace(/\s+/g, ' ').trim();
        return s ? s.slice(0, MAX_TEXT) : null;
      }
      if (tag === 'BODY') break;
    }
    return null;
  }

  function describeClick(ev, el) {
    let interactive = false;
    let fixed = false;
    let ignored = false;
    for (const e of ancestors(el)) {
      if (!interactive) {
        const role = (e.getAttribute('role') || '').toLowerCase();
        const ce = e.getAttribute('contenteditable');
        interactive = INTERACTIVE_TAGS.has(e.tagName) || INTERACTIVE_ROLES.has(role) ||
          e.hasAttribute('onclick') || e.hasAttribute('tabindex') ||
          (ce !== null && ce.toLowerCase() !== 'false');
      }
      if (!ignored) ignored = e.hasAttribute(IGNORE_ATTRIBUTE);
      if (!fixed && win.getComputedStyle) {
        const pos = win.getComputedStyle(e).position;
        fixed = pos === 'fixed' || pos === 'sticky';
      }
    }
    let pointerType = typeof ev.pointerType === 'string' && ev.pointerType ? ev.pointerType : '';
    if (!pointerType && ev.detail > 0) pointerType = lastPointerType;
    const attrs = {
      'url.full': currentUrl(),
      'browser.page.x': int(ev.pageX),
      'browser.page.y': int(ev.pageY),
      ...viewport(),
      'browser.tag_name': String(el.tagName).toUpperCase(),
      'browser.css_selector': cssSelector(el),
      'browser.mouse_event.button': BUTTONS[ev.button] || 'left',
    };
    if (POINTER_TYPES.has(pointerType)) attrs['browser.click.pointer_type'] = pointerType;
    attrs['browser.click.detail'] = int(ev.detail);
    attrs['browser.element.interactive'] = interactive;
    if (!ignored) {
      const text = buttonText(el);
      if (text) attrs['browser.element.text'] = text;
    }
    attrs['browser.element.fixed'] = fixed;
    if (ignored) attrs['browser.element.ignore'] = true;
    return attrs;
  }

  if (captureClicks) {
    listen(document, 'pointerdown', (ev) => { lastPointerType = ev.pointerType || ''; }, { capture: true, passive: true });
    listen(document, 'click', (ev) => {
      const target = toElement(ev.composedPath ? ev.composedPath()[0] : ev.target);
      if (!target) return;
      let attrs;
      try { attrs = describeClick(ev, target); } catch (_e) { return; }
      const c = { t: now(), attrs, timer: null };
      c.timer = setTimeout(() => expireClick(c), reactionWindowMs);
      pending.push(c);
    }, true);

    // reactions ------------------------------------------------------------
    if (typeof win.MutationObserver === 'function') {
      const mo = new win.MutationObserver(() => reaction('mutation'));
      mo.observe(document, { childList: true, attributes: true, characterData: true, subtree: true });
      cleanups.push(() => mo.disconnect());
    }
    listen(document, 'scroll', () => reaction('scroll'), { capture: true, passive: true });
    listen(document, 'selectionchange', () => {
      if (!pending.length) return;
      const sel = document.getSelection ? document.getSelection() : null;
      if (sel && !sel.isCollapsed && String(sel).length > 0) reaction('selection');
    });
    if (typeof win.fetch === 'function') {
      const originalFetch = win.fetch;
      const wrappedFetch = function fetch(input, init) {
        try {
          const url = typeof input === 'string' ? input : input && (input.url || input.href || String(input));
          if (installed && !urlIgnored(url)) reaction('network');
        } catch (_e) { /* ignore */ }
        return originalFetch.apply(this, arguments);
      };
      win.fetch = wrappedFetch;
      patched.push([win, 'fetch', originalFetch, wrappedFetch]);
    }
    const XHR = win.XMLHttpRequest && win.XMLHttpRequest.prototype;
    if (XHR && typeof XHR.open === 'function' && typeof XHR.send === 'function') {
      const urls = new WeakMap();
      const originalOpen = XHR.open;
      const originalSend = XHR.send;
      const wrappedOpen = function open(method, url) {
        try { urls.set(this, String(url)); } catch (_e) { /* ignore */ }
        return originalOpen.apply(this, arguments);
      };
      const wrappedSend = function send() {
        if (installed && !urlIgnored(urls.get(this))) reaction('network');
        return originalSend.apply(this, arguments);
      };
      XHR.open = wrappedOpen;
      XHR.send = wrappedSend;
      patched.push([XHR, 'open', originalOpen, wrappedOpen], [XHR, 'send', originalSend, wrappedSend]);
    }
  }

  // ---------------------------------------------------------------- scroll
  let scroll;
  let scrollIdleTimer = null;
  function resetScroll() {
    const y = win.scrollY || 0;
    scroll = { scrolled: false, lastY: y, extremeY: y, dir: 0, distance: 0, changes: 0, maxDepth: 0, maxBottom: 0 };
  }
  resetScroll();

  function measureDepth() {
    const el = document.documentElement;
    const height = Math.max(el ? el.scrollHeight : 0, document.body ? document.body.scrollHeight : 0);
    if (height > 0) {
      const bottom = Math.max(scroll.maxBottom, (win.scrollY || 0) + (win.innerHeight || 0));
      scroll.maxDepth = Math.max(scroll.maxDepth, Math.min(1, bottom / height));
    }
    scroll.maxBottom = 0;
    return height;
  }

  function onScrollSample() {
    const y = win.scrollY || 0;
    const delta = y - scroll.lastY;
    if (delta === 0) return;
    scroll.scrolled = true;
    scroll.distance += Math.abs(delta);
    scroll.lastY = y;
    scroll.maxBottom = Math.max(scroll.maxBottom, y + (win.innerHeight || 0));
    if (scroll.dir === 0) {
      if (Math.abs(y - scroll.extremeY) >= scrollJitterPx) {
        scroll.dir = y > scroll.extremeY ? 1 : -1;
        scroll.extremeY = y;
      }
    } else if (scroll.dir > 0) {
      if (y > scroll.extremeY) scroll.extremeY = y;
      else if (scroll.extremeY - y >= scrollJitterPx) { scroll.changes++; scroll.dir = -1; scroll.extremeY = y; }
    } else {
      if (y < scroll.extremeY) scroll.extremeY = y;
      else if (y - scroll.extremeY >= scrollJitterPx) { scroll.changes++; scroll.dir = 1; scroll.extremeY = y; }
    }
    clearTimeout(scrollIdleTimer);
    scrollIdleTimer = setTimeout(measureDepth, scrollIdleMs);
  }

  function endScrollSummary() {
    if (!captureScroll || !scroll.scrolled) return;
    clearTimeout(scrollIdleTimer);
    const height = measureDepth();
    emit('browser.scroll', {
      'url.full': pageUrl,
      'browser.scroll.max_depth': Math.round(scroll.maxDepth * 1000) / 1000,
      'browser.scroll.distance_px': int(scroll.distance),
      'browser.scroll.direction_changes': scroll.changes,
      'browser.document.height': int(height),
      'browser.viewport.height': int(win.innerHeight),
    });
    // a later summary for the same page view (page hidden, then shown and scrolled again)
    // covers only what happens after this one; max_depth stays cumulative.
    scroll.scrolled = false;
    scroll.distance = 0;
    scroll.changes = 0;
  }

  if (captureScroll) {
    listen(win, 'scroll', onScrollSample, { passive: true });
  }

  // ---------------------------------------------------------------- page hide
  listen(win, 'pagehide', () => {
    flushDeferredLoad();
    resolveClicks('navigation', now());
    endScrollSummary();
  });
  listen(document, 'visibilitychange', () => {
    if (document.visibilityState === 'hidden') endScrollSummary();
  });

  // ---------------------------------------------------------------- forms
  if (captureForms) {
    const focused = new Map(); // field element -> {t, changed}
    const isField = (el) => {
      if (!isElement(el)) return false;
      if (el.tagName === 'SELECT' || el.tagName === 'TEXTAREA') return true;
      if (el.tagName !== 'INPUT') return false;
      return !NON_FIELD_INPUT_TYPES.has((el.getAttribute('type') || 'text').toLowerCase());
    };
    const formId = (form) => {
      if (!form) return '-';
      return form.getAttribute('id') || form.getAttribute('name') || cssSelector(form);
    };
    const fieldAttrs = (el) => ({
      'url.full': currentUrl(),
      'browser.form.id': formId(el.form || (el.closest && el.closest('form'))),
      'browser.form.field.name': el.getAttribute('name') || el.getAttribute('id') || cssSelector(el),
      'browser.form.field.type': el.tagName === 'INPUT'
        ? (el.getAttribute('type') || 'text').toLowerCase()
        : el.tagName.toLowerCase(),
    });
    const fieldOf = (ev) => {
      const el = ev.composedPath ? ev.composedPath()[0] : ev.target;
      return isField(el) ? el : null;
    };

    listen(document, 'focusin', (ev) => {
      const el = fieldOf(ev);
      if (!el) return;
      focused.set(el, { t: now(), changed: false });
      emit('browser.form.field_focus', fieldAttrs(el));
    });
    const markChanged = (ev) => {
      const el = fieldOf(ev);
      const f = el && focused.get(el);
      if (f) f.changed = true;
    };
    listen(document, 'input', markChanged);
    listen(document, 'change', markChanged);
    listen(document, 'focusout', (ev) => {
      const el = fieldOf(ev);
      if (!el) return;
      const f = focused.get(el);
      focused.delete(el);
      const attrs = fieldAttrs(el);
      attrs['browser.form.field.duration_ms'] = f ? Math.max(0, int(now() - f.t)) : 0;
      attrs['browser.form.field.changed'] = f ? f.changed : false;
      emit('browser.form.field_blur', attrs);
    });
    listen(document, 'invalid', (ev) => {
      const el = fieldOf(ev) || toElement(ev.target);
      if (!el || !el.getAttribute) return;
      const validity = el.validity || {};
      const key = VALIDITY_KEYS.find((k) => validity[k] === true) || 'customError';
      const attrs = fieldAttrs(el);
      attrs['browser.form.field.validation'] = key;
      emit('browser.form.field_error', attrs);
    });
    listen(document, 'submit', (ev) => {
      const form = toElement(ev.target);
      if (!form) return;
      emit('browser.form.submit', { 'url.full': currentUrl(), 'browser.form.id': formId(form) });
    });
    if (typeof win.MutationObserver === 'function') {
      const ariaObserver = new win.MutationObserver((records) => {
        for (const r of records) {
          const el = r.target;
          if (!isElement(el) || r.oldValue === 'true') continue;
          if ((el.getAttribute('aria-invalid') || '').toLowerCase() !== 'true') continue;
          const attrs = fieldAttrs(el);
          attrs['browser.form.field.validation'] = 'aria-invalid';
          emit('browser.form.field_error', attrs);
        }
      });
      ariaObserver.observe(document, { attributes: true, attributeFilter: ['aria-invalid'], attributeOldValue: true, subtree: true });
      cleanups.push(() => ariaObserver.disconnect());
    }
  }

  // ---------------------------------------------------------------- errors
  if (captureErrors) {
    const reportError = (error, fallbackMessage, rejection) => {
      const attrs = { 'url.full': currentUrl() };
      const isErr = error && typeof error === 'object' && ('message' in error || 'stack' in error);
      if (isErr) {
        attrs['exception.type'] = String(error.name || (error.constructor && error.constructor.name) || 'Error');
        attrs['exception.message'] = String(error.message || '').slice(0, MAX_MESSAGE);
        if (error.stack) attrs['exception.stacktrace'] = String(error.stack);
      } else {
        attrs['exception.type'] = rejection ? 'UnhandledRejection' : 'Error';
        let message = fallbackMessage;
        if (error !== undefined && error !== null) {
          try { message = typeof error === 'string' ? error : JSON.stringify(error); } catch (_e) { message = String(error); }
        }
        attrs['exception.message'] = String(message || '').slice(0, MAX_MESSAGE);
      }
      if (rejection) attrs['exception.unhandled_rejection'] = true;
      emit('exception', attrs, now(), SEVERITY_ERROR);
    };
    listen(win, 'error', (ev) => {
      if (ev.target && ev.target !== win && isElement(ev.target)) return; // resource load errors
      reportError(ev.error, ev.message, false);
    }, false);
    listen(win, 'unhandledrejection', (ev) => reportError(ev.reason, 'Unhandled promise rejection', true), false);
  }

  // ---------------------------------------------------------------- start
  startPageView('load', true);

  return function uninstall() {
    if (!installed) return;
    flushDeferredLoad();
    resolveClicks('none', now());
    endScrollSummary();
    installed = false;
    clearTimeout(scrollIdleTimer);
    for (const fn of cleanups.splice(0)) {
      try { fn(); } catch (_e) { /* ignore */ }
    }
    // Restore patched methods only if nobody wrapped them after us; otherwise our
    // wrappers stay in the chain as pass-throughs (installed === false).
    for (const [obj, key, original, wrapper] of patched.splice(0)) {
      if (obj[key] === wrapper) obj[key] = original;
    }
  };
}

function unwrap(fn) {
  let f = fn;
  for (let i = 0; f && f.__wrapped && typeof f.__original === 'function' && i < 10; i++) f = f.__original;
  return typeof f === 'function' ? f : null;
}

export default installFrictionInstrumentation;
