"""The uploader's browser layer: the page's PyScript worker, and the embedded uploader's frame (Pyodide).

The only package that imports ``js``, ``pyodide`` or ``pyscript``: it adapts the browser to the pure engine
(``frontend.engine``) and draws the uploader. Modules marked "pure" import none of them (CPython-tested).

- ``transport.py``    ``FetchTransport``: the engine's ``Transport`` over ``fetch`` + ``FormData``
- ``source.py``       ``BlobSource``: the engine's ``FileSource`` over a ``File`` (stream + slices)
- ``i18n.py``         every string, English and Chinese (pure; the startup words are ``wire.languages``)
- ``text.py``         what the uploader says (sizes, speeds, states) in a language (pure)
- ``accept.py``       which files the uploader takes: ``accept`` rules (``wire.accept``), size limit (pure)
- ``host_events.py``  snapshots -> the events an embedding page hears (pure)
- ``view.py``         the DOM: one row per upload, the list of downloadable files
- ``plan_store.py``   the chunk plans remembered across reloads, in OPFS
- ``fetch_stream.py`` the download engine's ``StreamTransport`` over ``fetch`` (bodies read piece by piece)
- ``opfs.py``         partial downloads in OPFS (the download engine's ``PartialFile``)
- ``downloads.py``    the page's downloads: one controller and one row (``download_view.py``) each
- ``js_promise.py``   calling a method that answers a promise, so that any rejection (or no answer in time)
                      reaches Python; plain option objects; an OPFS folder
- ``app.py``          wiring: files in, controllers, buttons, the ``online`` event, an optional observer
- ``host.py``         ``HostBridge``: the embed's observer, posting events to the host page
- ``main.py``         the page's worker entry point
- ``embed_main.py``   the embedded uploader's entry point (the frame's main thread)
"""
