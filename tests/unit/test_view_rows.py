"""The upload rows' repaints (``frontend/browser/view.py``) under CPython: what ``UploadRow`` sends the page.

A repaint is ``draw(row_id, ops_json, html)`` (``static/intake.js`` applies it): the first carries the row's
HTML, later ones only the operations for what changed, and nothing goes when nothing changed. The row's
HTML is parsed here (``html.parser``) to check what the page would build from it, and every operation is
checked against the grammar intake.js applies (``[selector, name, value]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from frontend.browser import view
from frontend.browser.i18n import EN, ZH
from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState

MiB = 1024 * 1024
# What the ops may set by property: none of them parses HTML (no innerHTML/outerHTML from a row's data).
SAFE_PROPERTIES = {"textContent", "hidden", "disabled", "href"}


@dataclass
class Paint:
    row_id: str
    ops: list[list[object]]
    html: str | None


@dataclass
class Page:
    """The ``draw`` end: records each repaint as intake.js would receive it."""

    paints: list[Paint] = field(default_factory=list)

    def __call__(self, row_id: str, ops_json: str, html: str | None) -> None:
        ops = json.loads(ops_json)  # intake.js does JSON.parse(ops)
        assert isinstance(ops, list)
        self.paints.append(Paint(row_id, ops, html))


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    children: list[Element] = field(default_factory=list)


class Tree(HTMLParser):
    """A row's HTML as elements (enough for the row's markup: no void elements in it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self._open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self._open[-1].children.append(element)
        self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self._open[-1].tag == tag, f"</{tag}> closes <{self._open[-1].tag}>"
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self._open[-1].text += data

    def all(self) -> list[Element]:
        found: list[Element] = []
        stack = list(self.root.children)
        while stack:
            element = stack.pop(0)
            found.append(element)
            stack[:0] = element.children
        return found


def parse(html: str) -> Tree:
    tree = Tree()
    tree.feed(html)
    tree.close()
    assert tree._open == [tree.root], "unclosed elements"
    return tree


def select(tree: Tree, selector: str) -> Element | None:
    """The first element under the row for the selectors the view uses: ``.class`` or a tag name."""
    row = tree.root.children[0]
    for element in tree.all():
        if element is row:
            continue
        if selector.startswith("."):
            if selector[1:] in (element.attrs.get("class") or "").split():
                return element
        elif element.tag == selector:
            return element
    return None


def snap(state: UploadState = UploadState.UPLOADING, **fields: object) -> UploadSnapshot:
    values: dict[str, object] = {"name": "a.bin", "bytes_total": 10 * MiB}
    values.update(fields)
    return UploadSnapshot(state=state, **values)  # type: ignore[arg-type]


def ops_by_target(ops: list[list[object]]) -> dict[tuple[object, object], object]:
    return {(selector, name): value for selector, name, value in ops}


# ------------------------------------------------------------------ the first paint


def test_first_paint_appends_the_row_then_sends_its_state() -> None:
    page = Page()
    row = view.UploadRow(page, "u7", "report.pdf", 3 * MiB)
    row.render(snap(UploadState.HASHING, hash_percent=12.34))

    assert len(page.paints) == 1
    paint = page.paints[0]
    assert paint.row_id == "upload-u7"
    assert paint.html is not None
    tree = parse(paint.html)
    [li] = tree.root.children
    assert li.tag == "li"
    assert li.attrs["id"] == "upload-u7"  # what intake.js looks up after appending
    assert li.attrs["data-key"] == "u7"
    assert li.attrs["data-name"] == "report.pdf"
    assert select(tree, ".upload-name").text == "report.pdf"  # type: ignore[union-attr]
    assert select(tree, ".upload-size").text == "3.0 MiB"  # type: ignore[union-attr]
    button = select(tree, "button")
    assert button is not None and button.attrs["data-key"] == "u7" and button.attrs["data-action"] == "toggle"

    ops = ops_by_target(paint.ops)
    assert ops[(".progress-fill", "style.width")] == "12.3%"
    assert ops[(".upload-percent", "textContent")] == "12%"
    assert ops[(".progress", "@aria-valuenow")] == "12"
    assert ops[("", "@data-percent")] == "0"  # confirmed bytes, not hashing progress
    assert ops[(".upload-detail", "textContent")] == "Reading the file… 12%"
    assert ops[("button", "textContent")] == "Pause"
    assert ops[("button", "disabled")] is True  # nothing to pause while hashing
    assert paint.ops[-1] == ["", "@data-state", "hashing"]  # written last: the rest is up to date then


def test_every_operation_targets_an_element_of_the_row_and_parses_no_html() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    snapshots = [
        snap(UploadState.HASHING, hash_percent=50),
        snap(UploadState.UPLOADING, bytes_done=MiB, percent=10, in_flight=3, file_id="f" * 32, speed=MiB),
        snap(UploadState.RETRYING, percent=10, error="HTTP 503", error_code="UNAVAILABLE", retry_in=2),
        snap(UploadState.FAILED, percent=10, error="gone", error_code="UPLOAD_NOT_FOUND"),
        snap(UploadState.FINISHED, percent=100, url="http://h/files/x/a.bin"),
    ]
    for snapshot in snapshots:
        row.render(snapshot)
    tree = parse(page.paints[0].html or "")
    for paint in page.paints:
        for op in paint.ops:
            assert len(op) == 3, op
            selector, name, value = op
            assert isinstance(selector, str) and isinstance(name, str)
            if selector:
                assert select(tree, selector) is not None, f"{selector!r} matches nothing: intake.js skips it"
            if name.startswith("@"):
                assert value is None or isinstance(value, str), op
            elif not name.startswith("style.") and name != "remove":
                assert name in SAFE_PROPERTIES, op


# ------------------------------------------------------------------ later paints


def test_a_repaint_sends_only_what_changed() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    first = snap(bytes_done=MiB, percent=10.0, in_flight=3, file_id="a" * 32)
    row.render(first)
    row.render(snap(bytes_done=MiB, percent=10.0, in_flight=2, file_id="a" * 32))

    assert len(page.paints) == 2
    second = page.paints[1]
    assert second.html is None  # the row is on the page already
    assert second.ops == [["", "@data-in-flight", "2"]]


def test_progress_updates_bar_percent_and_detail_but_not_the_state() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    row.render(snap(bytes_done=MiB, percent=10.0))
    row.render(snap(bytes_done=2 * MiB, percent=20.0))

    ops = ops_by_target(page.paints[1].ops)
    assert ops == {
        (".progress-fill", "style.width"): "20.0%",
        (".upload-percent", "textContent"): "20%",
        (".progress", "@aria-valuenow"): "20",
        ("", "@data-percent"): "20",
        (".upload-detail", "textContent"): "2.0 MiB of 10.0 MiB",
    }


def test_a_sub_percent_step_moves_only_the_bar() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    row.render(snap(percent=10.0))
    row.render(snap(percent=10.4))
    assert page.paints[1].ops == [[".progress-fill", "style.width", "10.4%"]]


def test_nothing_is_sent_when_nothing_changed() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    snapshot = snap(bytes_done=MiB, percent=10.0, in_flight=1)
    row.render(snapshot)
    row.render(snapshot)
    row.render(snap(bytes_done=MiB, percent=10.0, in_flight=1))  # equal, not the same object
    assert len(page.paints) == 1
    assert row.changes(snapshot) == []


def test_a_row_painted_after_an_empty_change_set_still_gets_its_html_first() -> None:
    """``changes`` alone never consumes the HTML: the first ``render`` sends it even with no ops left."""
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    snapshot = snap()
    row.changes(snapshot)
    row.render(snapshot)
    assert len(page.paints) == 1
    assert page.paints[0].ops == [] and page.paints[0].html is not None


# ------------------------------------------------------------------ states, link, error, button


def test_states_set_the_button() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    expected = {
        UploadState.UPLOADING: ("Pause", False),
        UploadState.PAUSED: ("Continue", False),
        UploadState.FAILED: ("Retry", False),
    }
    for state, (label, disabled) in expected.items():
        row.render(snap(state, error="x" if state is UploadState.FAILED else None))
        ops = ops_by_target(page.paints[-1].ops)
        assert ops[("button", "textContent")] == label
        assert ops[("button", "disabled")] is disabled
        assert page.paints[-1].ops[-1] == ["", "@data-state", state.value]
    row.render(snap(UploadState.FINISHED, percent=100, url="http://h/f/a.bin"))
    ops = ops_by_target(page.paints[-1].ops)
    assert ops[("button", "hidden")] is True
    assert ("button", "textContent") not in ops


def test_finishing_shows_the_link_and_a_full_bar() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    row.render(snap(bytes_done=9 * MiB, percent=90.0))
    url = "http://127.0.0.1:8080/files/abc/a.bin"
    row.render(snap(UploadState.FINISHED, bytes_done=10 * MiB, percent=100.0, url=url))

    ops = ops_by_target(page.paints[-1].ops)
    assert ops[(".upload-link", "href")] == url
    assert ops[(".upload-link", "textContent")] == url
    assert ops[(".upload-done", "hidden")] is False
    assert ops[(".progress-fill", "style.width")] == "100.0%"
    assert ops[(".upload-detail", "textContent")] == "Done: 10.0 MiB stored"
    assert page.paints[-1].ops[-1] == ["", "@data-state", "finish"]
    # The link is written once.
    row.render(snap(UploadState.FINISHED, bytes_done=10 * MiB, percent=100.0, url=url))
    assert len(page.paints) == 2


def test_an_already_stored_file_finishes_from_hashing_with_a_full_bar() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    row.render(snap(UploadState.HASHING, hash_percent=100.0))
    row.render(snap(UploadState.FINISHED, percent=100.0, url="http://h/f/a.bin"))
    ops = ops_by_target(page.paints[-1].ops)
    # The bar was full from hashing and stays full: not written again; the confirmed figure is.
    assert (".progress-fill", "style.width") not in ops
    assert (".upload-percent", "textContent") not in ops
    assert ops[("", "@data-percent")] == "100"
    assert ops[(".upload-link", "href")] == "http://h/f/a.bin"
    assert page.paints[-1].ops[-1] == ["", "@data-state", "finish"]


def test_the_error_line_shows_while_retrying_and_hides_once_going_again() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB)
    row.render(snap(percent=10.0))
    retrying = snap(UploadState.RETRYING, percent=10.0, error="HTTP 503", retry_in=4, attempt=2)
    row.render(retrying)
    ops = ops_by_target(page.paints[-1].ops)
    assert ops[(".upload-error", "hidden")] is False
    assert ops[(".upload-error", "textContent")] == "HTTP 503"
    assert ops[(".upload-detail", "textContent")] == "Connection lost, retrying in 4 s (attempt 2)"
    row.render(snap(percent=10.0))
    ops = ops_by_target(page.paints[-1].ops)
    assert ops[(".upload-error", "hidden")] is True
    assert ops[(".upload-error", "textContent")] == ""


def test_a_refused_file_has_no_button() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.exe", 10, actions=False)
    row.render(snap(UploadState.FAILED, name="a.exe", bytes_total=10, error="not accepted", error_code="X"))
    ops = ops_by_target(page.paints[0].ops)
    assert ops[("button", "hidden")] is True
    assert ("button", "textContent") not in ops
    assert ops[(".upload-error", "textContent")] == "not accepted"


def test_the_row_speaks_its_language() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10 * MiB, texts=ZH)
    row.render(snap(UploadState.PAUSED, bytes_done=MiB, percent=10.0))
    tree = parse(page.paints[0].html or "")
    assert select(tree, ".upload-detail").text == ZH.waiting  # type: ignore[union-attr]
    assert select(tree, "button").text == ZH.button_pause  # type: ignore[union-attr]
    ops = ops_by_target(page.paints[0].ops)
    assert ops[("button", "textContent")] == ZH.button_continue
    paused = ZH.paused_detail.format(label=ZH.state(UploadState.PAUSED), done="1.0 MiB", total="10.0 MiB")
    assert ops[(".upload-detail", "textContent")] == paused


# ------------------------------------------------------------------ escaping


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert(1)</script>.txt",
        '"><img src=x onerror=alert(1)>.png',
        "it's & <b>bold</b>.txt",
    ],
)
def test_a_file_name_cannot_inject_markup(name: str) -> None:
    page = Page()
    row = view.UploadRow(page, "u1", name, 10)
    row.render(snap(name=name, bytes_total=10))
    tree = parse(page.paints[0].html or "")
    tags = {element.tag for element in tree.all()}
    assert not tags & {"script", "img", "b"}
    [li] = tree.root.children
    assert set(li.attrs) == {"id", "class", "data-key", "data-name", "data-state"}  # no attribute injected
    assert li.attrs["data-name"] == name  # the name comes back as it was, as text
    name_span = select(tree, ".upload-name")
    assert name_span is not None and name_span.text == name and name_span.attrs["title"] == name
    progress = select(tree, ".progress")
    assert progress is not None and progress.attrs["aria-label"] == f"Progress of {name}"


def test_server_messages_and_links_go_as_text_not_html() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10)
    message = "<img src=x onerror=alert(1)>"
    row.render(snap(UploadState.FAILED, bytes_total=10, error=message, error_code="BAD"))
    ops = ops_by_target(page.paints[0].ops)
    assert ops[(".upload-error", "textContent")] == message  # intake.js sets textContent: shown, not parsed


# ------------------------------------------------------------------ removal


def test_remove_after_the_first_paint_removes_the_row_once_painted() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10)
    row.render(snap(bytes_total=10))
    row.remove()
    assert page.paints[-1] == Paint("upload-u1", [["", "remove", None]], None)


def test_remove_before_any_paint_sends_nothing_and_no_html_follows() -> None:
    page = Page()
    row = view.UploadRow(page, "u1", "a.bin", 10)
    row.remove()
    assert page.paints == []
    row.render(snap(bytes_total=10))
    assert all(paint.html is None for paint in page.paints)


# ------------------------------------------------------------------ the downloads list


def test_downloads_are_links_with_escaped_names() -> None:
    js_list = SimpleNamespace(innerHTML="")
    files = [
        {"name": "<b>x</b>.txt", "url": 'http://h/f/1/x.txt?a=1&b="2"', "size": 1536},
        {"name": "plain.bin", "url": "http://h/f/2/plain.bin", "size": 10},
    ]
    view.render_downloads(js_list, files)
    tree = parse(f"<ul>{js_list.innerHTML}</ul>")
    links = [element for element in tree.all() if element.tag == "a"]
    assert [(a.text, a.attrs["href"]) for a in links] == [
        ("<b>x</b>.txt", 'http://h/f/1/x.txt?a=1&b="2"'),
        ("plain.bin", "http://h/f/2/plain.bin"),
    ]
    assert "b" not in {element.tag for element in tree.all()}
    sizes = [element.text for element in tree.all() if element.tag == "span"]
    assert sizes == ["1.5 KiB", "10 B"]


def test_downloads_say_why_there_is_none() -> None:
    js_list = SimpleNamespace(innerHTML="")
    view.render_downloads(js_list, [])
    assert js_list.innerHTML == f'<li class="muted">{EN.downloads_none}</li>'
    view.render_downloads(js_list, None, "Could not <list>")
    assert js_list.innerHTML == '<li class="muted">Could not &lt;list&gt;</li>'
