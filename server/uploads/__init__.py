"""The seed's chunked-upload protocol: validation (protocol), decisions (service) and HTTP (handlers)."""
