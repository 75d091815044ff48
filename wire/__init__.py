"""The wire rules: what the server checks and the browser's engine sends, written once for both sides.

Pure Python (stdlib only: no aiohttp, no ``js``), so the same modules run under CPython 3.11+ (the server, the
tests) and Pyodide (the page). A top-level package beside ``server/`` and ``frontend/`` because both import
it, each by its absolute name ``wire``: here the repository's root is on ``sys.path``; in the browser the
sources' zip (``server/page.py``) unpacks it as ``wire/`` into the working directory, which is on
``sys.path`` too. Nothing in it imports the server or the browser's packages.

- ``errors.py``     ``ErrorName``: the stable names of the server's errors (the envelope's ``error``), which
                    clients match on; ``WireError``: a value that breaks one of the rules below
- ``ids.py``        the id grammar: ``fileId`` (32 hex digits, the file's MD5), chunk id (the chunk's MD5
                    and its index in decimal, as SparkMD5 and JavaScript's ``md5 + index`` give it)
- ``names.py``      the ``ext`` and ``name`` a handshake may carry: limits, no path, no control characters
- ``accept.py``     the embedded uploader's ``accept`` option: extensions and MIME types (HTML's grammar)
- ``languages.py``  the embedded uploader's ``lang`` option and the words its document shows before Python
                    has started (the server renders them)
- ``possession.py`` ``--auth-secret`` mode's proof of possession: the challenge a handshake for a stored file
                    gets, and the proof the client answers with
- ``needed_ranges.py`` the compact answer (``?answer=ranges``): the chunks still needed as ranges of indexes

The server's messages are built here where a rule is broken (``WireError``'s text is the message a client
reads); the server's catalogue (``server/errors.py``) adds the HTTP status to each ``ErrorName``.
"""
