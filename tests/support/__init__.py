"""Shared test support: running the real server as a process, and speaking the seed's protocol to it."""
