"""Entry point of the page's one PyScript worker (``<script type="py" worker src="/py/browser/main.py">``).

PyScript has already put ``frontend/engine`` and ``frontend/browser`` in the worker's file system (the
``files`` of the page's ``<py-config>``: one zip, unpacked). ``window`` and ``document`` are the page's,
reached through PyScript (each access is a round trip to the page: this module reads the page's address
once); ``xworker`` is this worker's end of the link to the page: messages the page posts arrive at
``xworker.onmessage`` (PyScript looks the name ``xworker`` up in these globals, so it keeps that name).
"""

from urllib.parse import urlsplit

from polyscript import xworker  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import AppOptions, UploaderApp, parallel_from_query
from frontend.browser.i18n import EN

try:
    page = urlsplit(str(window.location.href))
    options = AppOptions(
        parallel=parallel_from_query(page.query),
        texts=EN,
        in_worker=True,
        origin=f"{page.scheme}://{page.netloc}",
    )
    UploaderApp(window, document, xworker, options=options).start()
except BaseException:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = EN.failed_to_start
    raise
