"""Entry point of the embedded uploader (``/embed``): Python on the frame's own main thread.

``<script type="py" src="/py/browser/embed_main.py">`` (configured by the frame's inline ``<py-config>``)
without ``worker``: the frame is not cross-origin isolated (its host page is not, and an iframe is isolated
only if its top-level page is), so there is no ``SharedArrayBuffer`` for a worker's synchronous DOM access.
On the main thread the DOM is local.

The server has checked the options (``server/embed.py``) and written them into the document as JSON
(``#embed-options``): ``lang``, ``parallel``, ``accept``, ``maxSize`` (already the smaller of the host's
``max-size`` and the server's own limit), ``multiple``. Files reach Python through a ``MessageChannel``: the
intake (``static/intake.js``) posts to ``port2``, Python listens on ``port1``.
"""

import json

import js  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import AppOptions, UploaderApp
from frontend.browser.host import HostBridge
from frontend.browser.i18n import texts_for
from wire.accept import Accept

_raw = json.loads(str(document.getElementById("embed-options").textContent))
_texts = texts_for(_raw.get("lang"))
_bridge = HostBridge(window, _texts)
try:
    _options = AppOptions(
        parallel=None if _raw.get("parallel") is None else int(_raw["parallel"]),
        texts=_texts,
        accept=Accept.parse(_raw.get("accept")),
        max_size=_raw.get("maxSize"),
        multiple=bool(_raw.get("multiple")),
        in_worker=False,
        token=_raw.get("token"),
    )
    _channel = js.MessageChannel.new()
    UploaderApp(
        window, document, _channel.port1, options=_options, observer=_bridge, js_intake_target=_channel.port2
    ).start()
    _bridge.ready({"maxSize": _options.max_size, "parallel": _options.parallel, "lang": _raw.get("lang")})
except BaseException as exc:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = _texts.failed_to_start
    _bridge.failed(f"{_texts.failed_to_start} ({type(exc).__name__}: {exc})")
    raise
