"""Script in outputs (issue #21, family 6): under the restricted policy no display, result or
widget state reaches the browser with script in it; the trusted policy keeps Jupyter's usual
behaviour."""

import json

import pytest

from .helpers import Kernel

# What would run in the page: any of these in an output is an escape.
SCRIPT_MARKS = ("<script", "onerror", "onmouseover", "onload", "javascript:", "alert(")
HOSTILE_HTML = (
    '<b onmouseover="alert(1)">bold</b><script>alert(2)</script>'
    '<img src="x" onerror="alert(3)"><a href="javascript:alert(4)">link</a>'
    '<a href="java&#x09;script:alert(5)">tab</a><svg onload="alert(6)"></svg>'
)


@pytest.fixture(scope="module")
def kernel(_server_process):
    kernel = Kernel(env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"})
    kernel.run("%mode python")
    yield kernel
    kernel.close()


def _bundles(ex):
    """Every MIME bundle a cell sent: displays, updates and its result."""
    return [
        c["data"] for kind in ("display_data", "update_display_data", "execute_result")
        for c in ex.of(kind)
    ]  # fmt: skip


def _no_script(text):
    lowered = text.lower()
    return [mark for mark in SCRIPT_MARKS if mark in lowered]


def test_html_displays_arrive_without_script(kernel):
    ex = kernel.run(f"display({{'text/html': {HOSTILE_HTML!r}, 'text/plain': 'p'}}, raw=True)")
    assert ex.status == "ok", ex.of("error")
    (bundle,) = _bundles(ex)
    assert _no_script(bundle["text/html"]) == [], bundle
    assert "<b>bold</b>" in bundle["text/html"] and "link</a>" in bundle["text/html"]


def test_script_types_are_refused_with_a_note(kernel):
    for mime in ("application/javascript", "text/javascript", "application/x-javascript",
                 "application/vnd.unknown+json"):  # fmt: skip
        ex = kernel.run(f"display({{{mime!r}: 'alert(1)', 'text/plain': 'p'}}, raw=True)")
        (bundle,) = _bundles(ex)
        assert set(bundle) == {"text/plain"}, bundle
        assert bundle["text/plain"].startswith("p\n[" + mime + " output removed")


def test_results_reprs_and_markdown_arrive_without_script(kernel):
    cells = [
        f"from IPython.display import HTML\nHTML({HOSTILE_HTML!r})",
        f"from IPython.display import Markdown\nMarkdown({HOSTILE_HTML!r})",
        "display({'text/markdown': '**m** [x](javascript:alert(1))', 'text/plain': 'm'}, raw=True)",
        f"display({{'text/markdown': '# T\\n' + {HOSTILE_HTML!r}}}, raw=True)",
        "display({'image/svg+xml': '<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)"
        "</script></svg>'}, raw=True)",
        "from IPython.display import update_display\ndisplay({'text/plain': 'a'}, raw=True, display_id='d1')\n"
        f"update_display({{'text/html': {HOSTILE_HTML!r}}}, raw=True, display_id='d1')",
    ]
    for cell in cells:
        ex = kernel.run(cell)
        assert ex.status == "ok", (cell, ex.of("error"))
        bundles = _bundles(ex)
        assert bundles, cell
        for bundle in bundles:
            assert "application/javascript" not in bundle, (cell, bundle)
            for mime, value in bundle.items():
                assert _no_script(json.dumps(value)) == [], (cell, mime, value)


def test_a_restricted_cell_cannot_define_its_own_reprs(kernel):
    ex = kernel.run("class J:\n    def _repr_javascript_(self):\n        return 'alert(1)'\nJ()")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "PolicyViolation"
    assert "_repr_javascript_" in ex.of("error")[0]["evalue"] and _bundles(ex) == []


def test_markdown_without_html_is_kept_as_it_is(kernel):
    text = "# Title\n\n```python\nif a < b and c > d:\n    x = 'a & b'\n```\n> quoted *it*"
    ex = kernel.run(f"display({{'text/markdown': {text!r}}}, raw=True)")
    (bundle,) = _bundles(ex)
    assert bundle["text/markdown"] == text


def test_the_marks_and_the_kernels_tables_are_kept_as_they_are(kernel, lm):
    from lmulator.testing import value_rule

    lm.rules(value_rule("lookup('a')", "b"))
    kernel.run("%mode interweave")
    try:
        ex = kernel.run("x = lookup('a')")
    finally:
        kernel.run("%mode python")
    marks, usage = [b for b in _bundles(ex) if "text/html" in b]
    assert (
        'style="background:rgba(' in marks["text/html"] and 'class="lm-line' in marks["text/html"]
    )
    assert usage["text/html"].startswith('<div class="lmulator-usage" style="font-family:')
    state = kernel.run("%state")
    (table,) = _bundles(state)
    assert table["text/html"].startswith("<table><tr><th>name</th>")


def test_widget_html_is_sanitized_when_created_and_when_changed(kernel):
    ex = kernel.run(f"import ipywidgets\nw = ipywidgets.HTML({HOSTILE_HTML!r})\nw")
    assert ex.status == "ok", ex.of("error")
    opened = [c["data"]["state"] for c in ex.of("comm_open") if "state" in c["data"]]
    html_states = [s for s in opened if s.get("_view_name") == "HTMLView"]
    assert html_states and all(_no_script(s["value"]) == [] for s in html_states)
    assert "<b>bold</b>" in html_states[0]["value"]
    ex = kernel.run("w.value = '<img src=x onerror=alert(7)><i>ok</i>'")
    updates = [
        c["data"]["state"] for c in ex.of("comm_msg") if "value" in c["data"].get("state", {})
    ]
    assert updates and all(
        _no_script(u["value"]) == [] and "<i>ok</i>" in u["value"] for u in updates
    )


def test_output_widget_contents_are_sanitized(kernel):
    ex = kernel.run(
        "import ipywidgets\nfrom IPython.display import HTML\nout = ipywidgets.Output()\n"
        f"out.append_display_data(HTML({HOSTILE_HTML!r}))"
    )
    assert ex.status == "ok", ex.of("error")
    states = [
        c["data"]["state"] for c in ex.of("comm_msg") if "outputs" in c["data"].get("state", {})
    ]
    assert states and states[-1]["outputs"]
    assert _no_script(json.dumps(states[-1]["outputs"])) == []


def test_the_trusted_policy_keeps_outputs_as_they_are(kernel):
    kernel.run("%policy trusted")
    try:
        ex = kernel.run(f"display({{'text/html': {HOSTILE_HTML!r}}}, raw=True)")
        assert _bundles(ex) == [{"text/html": HOSTILE_HTML}]
        ex = kernel.run("%%javascript\nconsole.log(1)")
        assert [b.get("application/javascript") for b in _bundles(ex)] == ["console.log(1)\n"]
        ex = kernel.run(f"import ipywidgets\nw = ipywidgets.HTML({HOSTILE_HTML!r})")
        values = [c["data"]["state"].get("value") for c in ex.of("comm_open")]
        assert HOSTILE_HTML in values
    finally:
        kernel.run("%policy restricted")
    ex = kernel.run(f"display({{'text/html': {HOSTILE_HTML!r}}}, raw=True)")
    assert _no_script(_bundles(ex)[0]["text/html"]) == []
    for magic in ("%%javascript\nconsole.log(1)", f"%%html\n{HOSTILE_HTML}"):
        ex = kernel.run(magic)  # the magics that show script are off the restricted list
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "PolicyError", magic
        assert _bundles(ex) == []
