"""Storage backends behind one small contract (``contract.Store`` and its optional abilities); ``local`` is the
embedded default."""
