"""Entry point of the page's one PyScript worker (``<script type="py" worker src="/py/browser/main.py">``).

PyScript has already put ``frontend/engine`` and ``frontend/browser`` in the worker's file system (the
``files`` of ``/pyscript.json``). ``window`` and ``document`` are the page's, reached through PyScript;
``xworker`` is this worker's end of the link to the page: messages the page posts arrive at
``xworker.onmessage`` (PyScript looks the name ``xworker`` up in these globals, so it keeps that name).
"""

from polyscript import xworker  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import AppOptions, UploaderApp, parallel_from_query
from frontend.browser.i18n import EN

try:
    options = AppOptions(parallel=parallel_from_query(str(window.location.search)), texts=EN, in_worker=True)
    UploaderApp(window, document, xworker, options=options).start()
except BaseException:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = EN.failed_to_start
    raise
