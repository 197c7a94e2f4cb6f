"""The classifier: every key it reads is one the decoders convert, and no attribute value, of any type, makes it
raise (a raise would lose every valid record of the request)."""

import ast
import inspect

from hypothesis import example, given, settings, strategies as st

from collector_plugin.ingest import classify
from collector_plugin.ingest.classify import KNOWN_KEYS, Limits, classify_logs
from collector_plugin.ingest.decode import decode_logs
from tests.support import logs_request, set_any


def _keys_read(tree: ast.AST) -> set[str]:
    keys = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "a" and node.func.attr in ("str", "int", "float", "bool", "get")):
            keys |= {arg.value for arg in node.args if isinstance(arg, ast.Constant)}
        elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.ops[0], (ast.In, ast.NotIn))
              and isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == "a"):
            keys.add(node.left.value)
    return keys


def test_every_key_read_is_known():
    # A key missing from KNOWN_KEYS would silently read as absent: checked over the source, not at each lookup.
    read = _keys_read(ast.parse(inspect.getsource(classify)))
    assert len(read) > 40  # the scan finds the lookups (it would pass vacuously otherwise)
    assert read - KNOWN_KEYS == set()


def test_the_scan_catches_an_unknown_key():
    assert _keys_read(ast.parse('a.str("url.full", "no.such.key")\n"other.key" in a')) == {"url.full", "no.such.key", "other.key"}


EVENT_NAMES = sorted(classify._LOG_EVENTS) + sorted(classify._SKIPPED_EVENTS) + ["", "my.app.event"]
odd = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "12", "12.7", "true", "FALSE", "x"]), st.binary(max_size=4),
    st.lists(st.sampled_from(["a", 1, 2.5, True]), max_size=3),
    st.dictionaries(st.sampled_from(["frames", "previousSession", "userActionName", "filename"]),
                    st.one_of(st.text(max_size=3), st.lists(st.dictionaries(st.sampled_from(["function", "lineno"]), st.integers(-(2**63), 2**63 - 1)), max_size=2)), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EVENT_NAMES), st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), odd, max_size=8)),
                min_size=1, max_size=4))
@example([("browser.user_action.click", {"browser.page.x": float("nan"), "browser.page.y": float("inf")})])
@example([("browser.scroll", {"browser.scroll.distance_px": "1e400", "browser.document.height": "-inf"})])
def test_no_attribute_value_makes_classification_raise(records):
    valid = ("browser.page_view", 1, {"session.id": "kept", "url.full": "https://shop.example/"})
    request = logs_request([valid])
    scope = request.resource_logs[0].scope_logs[0]
    for name, attrs in records:
        rec = scope.log_records.add(time_unix_nano=1, event_name=name)
        for k, v in attrs.items():
            set_any(rec.attributes.add(key=k).value, v)
    out = classify_logs(decode_logs(request.SerializeToString(), Limits()), "svc", now_ns=1)
    assert any(e.session_id == "kept" for e in out.events)
    assert len(out.events) + sum(out.dropped.values()) + sum(out.skipped.values()) == len(records) + 1
