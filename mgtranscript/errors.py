"""Exception types raised by mgtranscript.

Every error the library raises on purpose derives from :class:`MgTranscriptError`,
so callers can catch the whole family with one ``except`` clause. Messages name the
problem *and* the fix.
"""

from __future__ import annotations

__all__ = [
    "MgTranscriptError",
    "FetchError",
    "AccessionNotFound",
    "DownloadCorrupt",
    "OfflineError",
    "HostUnreachable",
    "HostNotAllowed",
    "UnsafeArchiveError",
    "DataFormatError",
    "CatalogError",
    "InputDataError",
    "LabelsMissing",
    "GeneSetError",
    "UsageError",
    "OutputPathError",
    "SettingsError",
]


class MgTranscriptError(Exception):
    """Base class of every error raised by mgtranscript."""


class FetchError(MgTranscriptError):
    """A file could not be obtained (network failure, server error, bad download)."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class AccessionNotFound(FetchError):
    """The server answered 404: the accession or file does not exist there (final, never retried)."""


class DownloadCorrupt(FetchError):
    """A download finished but failed verification (truncated gzip, sha256 mismatch)."""


class OfflineError(FetchError):
    """``settings.offline`` is True (``MGTRANSCRIPT_OFFLINE=1``) and the requested file is not in the cache."""


class HostUnreachable(FetchError):
    """A host's name does not resolve or it refuses connections: no network, or a mirror down.

    Never retried; the host is not contacted again in the same process (see
    :func:`mgtranscript.fetch.forget_unreachable`).
    """


class HostNotAllowed(FetchError):
    """A URL points at a host that is not known to mgtranscript and was not passed explicitly."""


class UnsafeArchiveError(MgTranscriptError):
    """An archive member would be written outside the extraction directory."""


class DataFormatError(MgTranscriptError):
    """A downloaded or user-supplied file is malformed (series matrix, count table, GMT, ...)."""


class CatalogError(DataFormatError):
    """A cohort catalog (bundled or ``--catalog FILE``) breaks the schema: unknown key, bad rule,
    expected counts that do not add up."""


class InputDataError(MgTranscriptError, ValueError):
    """Data handed to a function is unusable (NaN, negative counts, duplicates, no overlap)."""


class LabelsMissing(InputDataError):
    """A cohort's labels (or its pairing) come from information that was not given, e.g. the
    sample sheet of GSE77314; the message says what is missing and how to give it."""


class GeneSetError(MgTranscriptError, ValueError):
    """A gene set is malformed, unknown, or does not overlap the data."""


class UsageError(MgTranscriptError, ValueError):
    """Arguments that cannot work (unknown method, missing file, unknown cohort); nothing was done.

    The command line exits with status 2 on it, like other usage errors.
    """


class OutputPathError(UsageError):
    """An output path cannot be written (a folder where a file is expected, no parent, no permission)."""


class SettingsError(UsageError):
    """A setting of :data:`mgtranscript.settings` (or the environment variable that gives its
    default) has an unknown name or a value of the wrong type or range; nothing was changed."""
