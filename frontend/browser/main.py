"""Entry point of the page's one PyScript worker (``<script type="py" worker src="/py/browser/main.py">``).

PyScript has already put ``frontend/engine`` and ``frontend/browser`` in the worker's file system (the
``files`` of ``/pyscript.json``). ``window`` and ``document`` are the page's, reached through PyScript;
``xworker`` is this worker's end of the link to the page: messages the page posts arrive at
``xworker.onmessage`` (PyScript looks the name ``xworker`` up in these globals, so it keeps that name).
"""

from polyscript import xworker  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import UploaderApp

try:
    UploaderApp(window, document, xworker).start()
except BaseException:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = "Python failed to start: see the browser console"
    raise
