"""The uploader page's browser layer, run in the page's one PyScript worker (Pyodide).

The only package that imports ``js``, ``pyodide`` or ``pyscript``: it adapts the browser to the pure engine
(``frontend.engine``) and draws the page.

- ``transport.py``  ``FetchTransport``: the engine's ``Transport`` over ``fetch`` + ``FormData``
- ``source.py``     ``BlobSource``: the engine's ``FileSource`` over a ``File`` (stream + slices)
- ``text.py``       what the page says (sizes, speeds, states): pure functions, no ``js``
- ``view.py``       the DOM: one row per upload, the list of downloadable files
- ``app.py``        wiring: the page's files in, controllers, buttons, the ``online`` event
- ``main.py``       the worker's entry point
"""
