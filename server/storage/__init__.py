"""Storage backends behind one small contract (``base.Storage``); ``local`` is the embedded default."""
