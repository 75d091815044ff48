"""Resumable file transfer server: chunked uploads with resume (the seed's protocol) and RFC 9110 downloads."""
