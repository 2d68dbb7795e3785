"""How a cell's value from the LM is marked: its formats, and the shell's formatter."""

from IPython.core.formatters import DisplayFormatter

from cockernel.formatter import MarkingFormatter
from cockernel.render import marked_value

NOTE = "~ emulated: the LM supplied this value or one it was computed from"


def test_a_plain_value_gets_a_line_and_an_html_rule():
    out = marked_value({"text/plain": "'<b>France</b>'"}, "emulated")
    assert out["text/plain"] == f"'<b>France</b>'\n{NOTE}"
    page = out["text/html"]
    assert page.startswith('<div class="lm-out lm-out-emulated"')
    assert '<pre style="margin:0">&#x27;&lt;b&gt;France&lt;/b&gt;&#x27;</pre>' in page
    assert page.count(NOTE) == 2  # the title and the note under the value


def test_html_is_wrapped_and_a_richer_format_is_not_hidden():
    out = marked_value({"text/plain": "t", "text/html": "<table></table>"}, "invented")
    assert "<table></table>" in out["text/html"] and "lm-out-invented" in out["text/html"]
    assert out["text/plain"].endswith("? invented: the operation did not run (the LM made this "
                                      "value up; %trace shows where)")  # fmt: skip
    image = marked_value({"text/plain": "<Figure>", "image/png": "iVBOR"}, "emulated")
    assert "text/html" not in image and image["image/png"] == "iVBOR"
    assert image["text/plain"].endswith(NOTE)


def test_the_formatter_marks_only_inside_marking():
    formatter = MarkingFormatter()
    assert isinstance(formatter, DisplayFormatter)
    assert formatter.format(42)[0]["text/plain"] == "42"
    with formatter.marking("emulated"):
        assert formatter.format(42)[0]["text/plain"] == f"42\n{NOTE}"
    with formatter.marking(None):
        assert formatter.format(42)[0] == {"text/plain": "42"}
    assert formatter.format(42)[0] == {"text/plain": "42"}
