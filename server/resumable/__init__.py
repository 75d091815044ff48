"""Resumable uploads by the standard protocols at ``/files/``: tus 1.0.0 (``tus_headers``) and the IETF
resumable-upload draft, interop version 8 (``draft_fields``), their rules as pure functions; ``handlers`` is
their HTTP side, over the stream uploads of ``server.uploads.streams`` on the same storage as the seed's
protocol."""
