"""Entry point of the page's one PyScript worker (``<script type="py" worker src="/py/browser/main.py">``).

PyScript has already put ``frontend/engine`` and ``frontend/browser`` in the worker's file system (the
``files`` of the page's ``<py-config>``: one zip, unpacked). ``window`` and ``document`` are the page's,
reached through PyScript (each access is a round trip to the page: this module reads the page's address
once); ``xworker`` is this worker's end of the link to the page: messages the page posts arrive at
``xworker.onmessage`` (PyScript looks the name ``xworker`` up in these globals, so it keeps that name).

The page speaks the browser's language (the worker's own ``navigator.language``: English or Chinese), and
downloads files into the page (``downloads.py``; ``?dsegment=<MiB>&dparallel=<n>`` tune its segments).
``?parallel=<n>`` sets the chunks in flight per file, ``?stall=<seconds>`` the time without progress after
which a request is given up and retried.
"""

import js  # type: ignore[import-not-found]
from polyscript import xworker  # type: ignore[import-not-found]
from pyscript import document, window  # type: ignore[import-not-found]

from frontend.browser.app import PAGE_RETRY, AppOptions, UploaderApp, parallel_from_query, stall_from_query
from frontend.browser.downloads import config_from_query
from frontend.browser.i18n import EN, texts_for

try:
    # The page's address, read once: "<scheme>://<host>[:port]/<path>[?<query>][#<fragment>]" (not through
    # urllib.parse: importing it costs the start-up about 90 ms in Pyodide).
    href = str(window.location.href)
    scheme, _, rest = href.partition("://")
    query = href.partition("#")[0].partition("?")[2]
    texts = texts_for(str(js.navigator.language))  # the worker's own navigator: no trip to the page
    options = AppOptions(
        parallel=parallel_from_query(query),
        stall_timeout=stall_from_query(query),
        texts=texts,
        in_worker=True,
        origin=f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}",
        downloads=config_from_query(query, PAGE_RETRY),
        translate_page=texts is not EN,
    )
    UploaderApp(window, document, xworker, options=options).start()
except BaseException:
    document.documentElement.dataset.python = "failed"
    document.getElementById("python-status").textContent = EN.failed_to_start
    raise
