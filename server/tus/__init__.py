"""tus 1.0.0 (``headers``: its rules as pure functions; ``handlers``: its HTTP side) over the stream uploads of
``server.uploads.streams``, on the same storage as the seed's protocol."""
