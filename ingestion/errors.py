"""Errors the pipelines raise for problems a person has to act on."""


class UpstreamError(RuntimeError):
    """The upstream refused or broke a request; the message names source, endpoint and params."""


class SourceUnavailable(RuntimeError):
    """A source's system cannot be reached or is not there; the message says what to start."""


class RetriesExhausted(UpstreamError):
    """A request failed on every retry its budget allowed (the upstream answers, but badly)."""
