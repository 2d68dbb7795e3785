"""Outputs under the restricted policy carry no script: every display, result and widget state a
cell sends to the browser passes here, script types are refused and HTML is sanitized (nh3).

In a browser a cell's output runs with the user's Jupyter session, outside any box; the trusted
policy keeps Jupyter's usual behaviour (its outputs are shown as they are).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import nh3
from ipykernel.displayhook import ZMQShellDisplayHook
from ipykernel.zmqshell import ZMQDisplayPublisher

from .render import TRACE_MIME

# Types shown as they are: JupyterLab renders them without running anything they hold (LaTeX
# goes through MathJax's safe mode, JSON through a tree view, images through <img>). Any other
# type (application/javascript, text/javascript, a renderer extension's spec format, a type
# added next year) may run code in the page, and is refused.
PLAIN_TYPES = frozenset(
    {
        "text/plain", "text/latex", "image/png", "image/jpeg", "image/gif", "image/webp",
        "image/bmp", "application/json", "application/vnd.jupyter.widget-view+json",
        "application/vnd.jupyter.stdout", "application/vnd.jupyter.stderr", TRACE_MIME,
    }
)  # fmt: skip
# Types shown after sanitizing (JupyterLab shows SVG as an <img>, where script does not run;
# other frontends inline it, so an SVG that could hold script is refused all the same).
HTML_TYPE, MARKDOWN_TYPE, SVG_TYPE = "text/html", "text/markdown", "image/svg+xml"

# Views of @jupyter-widgets/controls that put a model's ``value`` into the page as HTML.
HTML_WIDGET_VIEWS = frozenset({"HTMLView", "HTMLMathView"})

_STYLE_PROPERTIES = frozenset(
    {
        "color", "background", "background-color", "text-align", "vertical-align", "white-space", "font-family",
        "font-size", "font-style", "font-weight", "text-decoration", "line-height", "border",
        "border-collapse", "border-spacing", "border-color", "border-style", "border-width",
        "border-top", "border-bottom", "border-left", "border-right", "border-radius", "margin",
        "margin-top", "margin-bottom", "margin-left", "margin-right", "padding", "padding-top",
        "padding-bottom", "padding-left", "padding-right", "width", "min-width", "max-width",
        "height", "min-height", "max-height", "overflow", "overflow-x", "overflow-y",
        "overflow-wrap", "word-break", "table-layout", "display", "opacity",
    }
)  # fmt: skip
_ATTRIBUTES: dict[str, set[str]] = {
    tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
}
_ATTRIBUTES["*"] = {"class", "style", "title", "lang", "dir"}

_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS) | {"tfoot"},
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    url_schemes={"http", "https", "mailto", "data"},
    filter_style_properties=set(_STYLE_PROPERTIES),
)

# Markdown that holds no HTML at all: every HTML construct (tag, comment, autolink) opens with
# "<" then a letter, "/", "!" or "?".
_HTML_START = re.compile(r"<[A-Za-z/!?]")
_SCRIPT_URL = re.compile(r"(?:java|vb|live)script:")
_SVG_SCRIPT = re.compile(
    r"<script|<foreignobject|<iframe|<embed|<object|<handler|\bon[a-z]+=|(?:java|vb|live)script:"
)


def refused_note(mime: str) -> str:
    """The plain-text note shown in place of an output type the restricted policy refuses."""
    return (
        f"[{mime} output removed: under the restricted policy outputs carry no script "
        "(%policy trusted shows it)]"
    )


def _squeezed(text: str) -> str:
    """Text as a URL parser reads it: entities decoded, blanks, controls and escapes dropped."""
    for _ in range(2):
        text = html.unescape(text)
    return "".join(c for c in text if c > " " and c not in "\\\x7f").lower()


def sanitize_html(text: str) -> str:
    """HTML with no script: no script or style elements, event handlers or script URLs."""
    if _plain_markup(text):
        return text  # as it is (the kernel's own tables, simple markup): nothing to take out
    return _CLEANER.clean(text)


# Markup that holds no script as it is, without parsing and re-serializing it: elements from a
# short list that hold no raw text and no URL, with only class, title and (checked) style.
_PLAIN_TAG = re.compile(
    r"</?(?:table|thead|tbody|tfoot|tr|th|td|caption|div|span|p|pre|code|b|i|em|strong|small|"
    r"sub|sup|br|hr|ul|ol|li|dl|dt|dd|h[1-6]|kbd|samp|var|u|s|mark|abbr|blockquote)"
    r"""((?:\s+(?:class|style|title)="[^"<]*")*)\s*/?>""",
    re.IGNORECASE,
)
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"', re.IGNORECASE)
_STYLE_VALUE = re.compile(r"[\w\s#%.,+\-/()]*")


def _plain_markup(text: str) -> bool:
    for match in re.finditer(r"<[^>]*>?", text):
        tag = _PLAIN_TAG.fullmatch(match.group(0))
        if tag is None:
            return False
        for style in _STYLE_ATTR.findall(tag.group(1)):
            for declaration in html.unescape(style).split(";"):
                name, _, value = declaration.partition(":")
                if not declaration.strip():
                    continue
                if (
                    name.strip().lower() not in _STYLE_PROPERTIES
                    or not _STYLE_VALUE.fullmatch(value)
                    or "url" in value.lower()
                    or "expression" in value.lower()
                ):
                    return False
    return True


def sanitize_markdown(text: str) -> str | None:
    """Markdown with no script, or None when it cannot be shown safely (a script link)."""
    if _HTML_START.search(text):
        text = _CLEANER.clean(text).replace("&gt;", ">")  # ">" opens no tag; quotes stay
    if _SCRIPT_URL.search(_squeezed(text)):
        return None
    return text


def svg_is_inert(text: str) -> bool:
    """Whether an SVG document holds nothing that runs script (elements, handlers, URLs)."""
    return not _SVG_SCRIPT.search(_squeezed(text))


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def safe_bundle(
    data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A MIME bundle (and its metadata) as the restricted policy lets it reach the browser."""
    out: dict[str, Any] = {}
    refused: list[str] = []
    for mime, value in data.items():
        if mime in PLAIN_TYPES:
            out[mime] = value
            continue
        text = _as_text(value)
        safe: str | None = None
        if text is not None and mime == HTML_TYPE:
            safe = sanitize_html(text)
        elif text is not None and mime == MARKDOWN_TYPE:
            safe = sanitize_markdown(text)
        elif text is not None and mime == SVG_TYPE and svg_is_inert(text):
            safe = text
        if safe is None:
            refused.append(str(mime))
        else:
            out[mime] = safe
    if refused:
        note = "\n".join(refused_note(m) for m in refused)
        plain = _as_text(out.get("text/plain"))
        out["text/plain"] = f"{plain}\n{note}" if plain else note
        if isinstance(metadata, dict):
            metadata = {k: v for k, v in metadata.items() if k not in refused}
    return out, metadata


def safe_widget_state(state: dict[str, Any], view: str | None) -> dict[str, Any]:
    """A widget's state as the restricted policy lets it reach the browser: the value of an HTML
    view sanitized, outputs of an Output widget made safe."""
    state = dict(state)
    value = state.get("value")
    if (view in HTML_WIDGET_VIEWS or state.get("_view_name") in HTML_WIDGET_VIEWS) and isinstance(
        value, str
    ):
        state["value"] = sanitize_html(value)
    outputs = state.get("outputs")
    if isinstance(outputs, (list, tuple)):
        state["outputs"] = [_safe_output(o) for o in outputs]
    return state


def _safe_output(output: Any) -> Any:
    if not isinstance(output, dict) or not isinstance(output.get("data"), dict):
        return output
    data, metadata = safe_bundle(output["data"], output.get("metadata"))
    fixed = {**output, "data": data}
    if metadata is not None:
        fixed["metadata"] = metadata
    return fixed


class SafeDisplayPublisher(ZMQDisplayPublisher):
    """The display publisher (display_data, update_display_data), sanitizing when restricted."""

    def publish(self, data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> None:
        """Publish a display, with no script in it under the restricted policy."""
        if restricted_outputs(self.shell) and isinstance(data, dict):
            data, metadata = safe_bundle(data, metadata)
        super().publish(data, metadata, *args, **kwargs)


class SafeDisplayHook(ZMQShellDisplayHook):
    """The displayhook (execute_result), sanitizing when restricted."""

    def write_format_data(self, format_dict: Any, md_dict: Any = None) -> None:
        """Put a result's formats into its message, with no script under the restricted policy."""
        if restricted_outputs(self.shell) and isinstance(format_dict, dict):
            format_dict, md_dict = safe_bundle(format_dict, md_dict)
        super().write_format_data(format_dict, md_dict)


def restricted_outputs(shell: Any) -> bool:
    """Whether the shell's outputs are under the restricted policy (the default if unknown)."""
    session = getattr(shell, "lm_session", None)
    policy = getattr(session, "policy", None)
    return bool(getattr(policy, "restricted", True))


def install_comm_filter(restricted: Callable[[], bool]) -> None:
    """Sanitize widget state in every comm message the kernel sends while ``restricted()``."""
    from ipykernel.comm.comm import BaseComm

    original = BaseComm.publish_msg
    if getattr(original, "coc_filtered", False):
        return
    views: dict[str, str] = {}

    def publish_msg(
        self: Any, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
        **keys: Any,
    ) -> None:  # fmt: skip
        state = data.get("state") if isinstance(data, dict) else None
        if isinstance(state, dict):
            view = state.get("_view_name")
            if isinstance(view, str):
                views[self.comm_id] = view
            if restricted():
                data = {**data, "state": safe_widget_state(state, views.get(self.comm_id))}
        original(self, msg_type, data, metadata, buffers, **keys)

    publish_msg.coc_filtered = True  # type: ignore[attr-defined]
    BaseComm.publish_msg = publish_msg  # type: ignore[method-assign]
