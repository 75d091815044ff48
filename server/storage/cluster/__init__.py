"""The cluster backend: several server processes sharing PostgreSQL (metadata, locks) and S3 (bytes)."""
