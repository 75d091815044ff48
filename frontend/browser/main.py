"""Entry point of the page's one PyScript worker (``<script type="py" worker src="/py/browser/main.py">``).

PyScript has already put ``frontend/engine`` and ``frontend/browser`` in the worker's file system (the
``files`` of the page's ``<py-config>``: one zip, unpacked). ``window`` and ``document`` are the page's,
reached through PyScript (each access is a round trip to the page: this module reads the page's address
once); ``xworker`` is this worker's end of the link to the page: messages the page posts arrive at
``xworker.onmessage`` (PyScript looks the name ``xworker`` up in these globals, so it keeps that name).
"""

from polyscript import xworker  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import AppOptions, UploaderApp, parallel_from_query
from frontend.browser.i18n import EN

try:
    # The page's address, read once: "<scheme>://<host>[:port]/<path>[?<query>][#<fragment>]" (not through
    # urllib.parse: importing it costs the start-up about 90 ms in Pyodide).
    href = str(window.location.href)
    scheme, _, rest = href.partition("://")
    options = AppOptions(
        parallel=parallel_from_query(href.partition("#")[0].partition("?")[2]),
        texts=EN,
        in_worker=True,
        origin=f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}",
    )
    UploaderApp(window, document, xworker, options=options).start()
except BaseException:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = EN.failed_to_start
    raise
