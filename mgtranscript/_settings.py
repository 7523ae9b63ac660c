"""mgtranscript's settings: one object, ``mgtranscript.settings`` (scanpy's ``sc.settings`` idea).

Every option that is not an argument of a function (where the cache is, a mirror, offline,
progress bars, retry patience, ...) lives here as a typed property. The environment variables
(``MGTRANSCRIPT_CACHE``, ``MGTRANSCRIPT_MIRROR``, ...) are read once, when mgtranscript is
imported, and only as the defaults; no other module reads the environment.

>>> import mgtranscript as mg
>>> mg.settings.offline = True                    # from now on
>>> with mg.settings.override(progress=False):    # for a block; restored after it, even on error
...     pass

A setting given a value of the wrong type or range raises :class:`~mgtranscript.errors.SettingsError`
naming the setting and the fix. An environment variable that cannot be read (say
``MGTRANSCRIPT_RETRIES=many``) raises the same error, naming the variable, when its setting is
first used (importing mgtranscript never fails on it).

The settings are process-wide and not thread-local: change them before starting threads. A process
pool started by mgtranscript hands them to its workers explicitly (:func:`init_worker`).
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SettingsError

__all__ = ["Settings", "settings", "init_worker", "FIELDS"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class _Field:
    name: str
    env: str
    kind: str  # "path", "mirror", "url", "str", "bool", "int", "float"
    default: Any
    example: str
    meaning: str
    minimum: float | None = None


#: Every setting: name, environment variable (the default), kind, default, example, meaning.
FIELDS: dict[str, _Field] = {f.name: f for f in [
    _Field("cache_dir", "MGTRANSCRIPT_CACHE", "path", None, "'~/mgcache'",
           "cache directory (default: the platform's user cache dir); files live at CACHE/HOST/PATH"),
    _Field("mirror", "MGTRANSCRIPT_MIRROR", "mirror", None, "'/data/mirror'",
           "a folder or http(s):// base URL laid out like HOST/PATH, used instead of the public hosts"),
    _Field("offline", "MGTRANSCRIPT_OFFLINE", "bool", False, "True",
           "never touch the network; a missing file is named with its public URL"),
    _Field("progress", "MGTRANSCRIPT_PROGRESS", "bool", True, "False",
           "progress bars (downloads, scoring, the run); -q turns them off"),
    _Field("retries", "MGTRANSCRIPT_RETRIES", "int", 5, "5", "tries per request", 1),
    _Field("backoff", "MGTRANSCRIPT_BACKOFF", "float", 1.0, "1.0",
           "first wait between tries in s (doubling)", 0.0),
    _Field("max_wait", "MGTRANSCRIPT_MAX_WAIT", "float", 60.0, "60",
           "longest single wait between tries in s (also caps Retry-After)", 0.0),
    _Field("verify_retries", "MGTRANSCRIPT_VERIFY_RETRIES", "int", 3, "3",
           "downloads of a file that fails verification before giving up", 1),
    _Field("lock_timeout", "MGTRANSCRIPT_LOCK_TIMEOUT", "float", 600.0, "600",
           "seconds to wait for another process downloading the same file", 0.0),
    _Field("samples_dir", "MGTRANSCRIPT_SAMPLES", "path", None, "'~/samples'",
           "a folder of user sample sheets named <ACC>*.csv"),
    _Field("gdc_url", "MGTRANSCRIPT_GDC_URL", "url", None, "'https://api.gdc.cancer.gov'",
           "base URL of the GDC API (default https://api.gdc.cancer.gov)"),
    _Field("gene_sets_dir", "MGTRANSCRIPT_GENE_SETS", "path", None, "'~/my_gene_sets'",
           "a folder of gene sets used instead of the bundled ones (same layout)"),
    _Field("ncbi_api_key", "NCBI_API_KEY", "str", None, "'0123abcd'",
           "raises the NCBI rate limit from 3 to 10 requests/s"),
    _Field("debug", "MGTRANSCRIPT_DEBUG", "bool", False, "True",
           "tracebacks on command-line errors (as -v does); otherwise every error is one line"),
]}


def _type_name(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check(f: _Field, value: Any) -> Any:
    """The stored form of ``value`` for setting ``f``; raises ValueError(reason) when unusable."""
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be True or False, not {_type_name(value)}")
        return value
    if f.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                f.kind == "int" and not float(value).is_integer()):
            what = "a whole number" if f.kind == "int" else "a number"
            raise ValueError(f"must be {what}, not {_type_name(value)}")
        value = int(value) if f.kind == "int" else float(value)
        if not math.isfinite(value) or (f.minimum is not None and value < f.minimum):
            what = "a whole number" if f.kind == "int" else "a finite number"
            raise ValueError(f"must be {what} >= {f.minimum:g}, not {value!r}")
        return value
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or (f.kind in ("url", "str") and not isinstance(value, str)):
        kind = "a folder (str or Path)" if f.kind in ("path", "mirror") else "a string"
        raise ValueError(f"must be {kind} or None, not {_type_name(value)}")
    text = os.fspath(value).strip()
    if not text:
        return None
    if f.kind == "path":
        return Path(text).expanduser()
    if f.kind == "mirror" and "://" in text and not text.startswith(("http://", "https://")):
        raise ValueError(f"must be a folder or an http(s):// base URL, not {text!r}")
    if f.kind == "url" and not text.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s):// base URL, not {text!r}")
    return text


def _from_text(f: _Field, text: str) -> Any:
    """Parse an environment variable's text for setting ``f`` (ValueError(reason) when unusable)."""
    raw = text.strip()
    if not raw:
        return f.default
    if f.kind == "bool":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError("is not one of 1/true/yes/on or 0/false/no/off")
    if f.kind in ("int", "float"):
        try:
            number = int(raw) if f.kind == "int" else float(raw)
        except ValueError:
            raise ValueError("is not " + ("a whole number" if f.kind == "int" else "a number")) from None
        return _check(f, number)
    return _check(f, raw)


class Settings:
    """mgtranscript's settings; the one instance is ``mgtranscript.settings``.

    Parameters
    ----------
    environ
        Where the defaults come from (``os.environ`` for ``mgtranscript.settings``, read once);
        None gives the built-in defaults.

    Examples
    --------
    >>> import mgtranscript as mg
    >>> with mg.settings.override(offline=True, progress=False):
    ...     mg.settings.offline
    True
    """

    __slots__ = ("_values", "_errors")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        object.__setattr__(self, "_values", {name: f.default for name, f in FIELDS.items()})
        object.__setattr__(self, "_errors", {})
        for name, f in FIELDS.items():
            text = (environ or {}).get(f.env)
            if text is None:
                continue
            try:
                self._values[name] = _from_text(f, text)
            except ValueError as exc:  # raised when the setting is used, never at import
                example = {"True": "1", "False": "0"}.get(f.example, f.example.strip("'"))
                self._errors[name] = SettingsError(
                    f"the environment variable {f.env}={text!r} {exc}: set it to e.g. {f.env}={example} "
                    f"or unset it (or set mgtranscript.settings.{name} in Python)")

    # ------------------------------------------------------------------ machinery

    def _get(self, name: str) -> Any:
        err = self._errors.get(name)
        if err is not None:
            raise err
        return self._values[name]

    def _validated(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in values.items():
            f = FIELDS.get(name)
            if f is None:
                close = difflib.get_close_matches(name, list(FIELDS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise SettingsError(f"unknown setting {name!r}{hint}; the settings are: {', '.join(FIELDS)}")
            try:
                out[name] = _check(f, value)
            except ValueError as exc:
                raise SettingsError(f"mgtranscript.settings.{name} {exc}; set it like "
                                    f"mgtranscript.settings.{name} = {f.example}") from None
        return out

    def _set(self, name: str, value: Any) -> None:
        self.update(**{name: value})

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FIELDS:
            self._validated({name: value})  # raises: unknown setting
        object.__setattr__(self, name, value)

    def update(self, **values: Any) -> None:
        """Set several settings at once (all are checked before any is changed).

        Parameters
        ----------
        **values
            Settings by name, e.g. ``offline=True``.

        Raises
        ------
        SettingsError
            An unknown name or a value of the wrong type or range (nothing was changed).
        """
        new = self._validated(values)
        self._values.update(new)
        for name in new:
            self._errors.pop(name, None)

    @contextlib.contextmanager
    def override(self, **values: Any) -> Iterator[Settings]:
        """Change settings for a ``with`` block; their previous values come back after it,
        also when the block raises.

        Parameters
        ----------
        **values
            Settings by name, e.g. ``offline=True, cache_dir="/tmp/c"``.

        Yields
        ------
        Settings
            This object.

        Raises
        ------
        SettingsError
            An unknown name or a value of the wrong type or range (nothing was changed).
        """
        new = self._validated(values)
        saved = {name: (self._values[name], self._errors.get(name)) for name in new}
        self.update(**new)
        try:
            yield self
        finally:
            for name, (value, err) in saved.items():
                self._values[name] = value
                if err is None:
                    self._errors.pop(name, None)
                else:
                    self._errors[name] = err

    def to_dict(self) -> dict[str, Any]:
        """The settings as ``{name: value}`` (e.g. for a worker process: :func:`init_worker`).

        Returns
        -------
        dict
            Every setting whose value could be read (one from an unreadable environment
            variable is left out: the worker reads the same environment).
        """
        return {name: value for name, value in self._values.items() if name not in self._errors}

    def to_environ(self) -> dict[str, str]:
        """The environment variables that give a child process (``mgtranscript ...`` started with
        :mod:`subprocess`) these settings: every variable, ``""`` for a setting that is None.

        Returns
        -------
        dict
            ``{variable: text}``, e.g. ``{"MGTRANSCRIPT_OFFLINE": "1", ...}``; pass
            ``env={**os.environ, **settings.to_environ()}``.
        """
        out = {}
        for name, value in self.to_dict().items():
            if isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = "" if value is None else str(value)
            out[FIELDS[name].env] = text
        return out

    def __repr__(self) -> str:
        width = max(map(len, FIELDS))
        lines = ["mgtranscript settings ([the environment variable giving the default]):"]
        for name, f in FIELDS.items():
            if name in self._errors:
                shown = "<unreadable: see the error when it is used>"
            elif name == "ncbi_api_key" and self._values[name]:
                shown = "<set, hidden>"
            elif name == "cache_dir":
                shown = repr(str(self.cache_dir)) + ("" if self._values[name] else " (platform default)")
            else:
                v = self._values[name]
                shown = repr(str(v)) if isinstance(v, Path) else repr(v)
            lines.append(f"  {name:<{width}}  {shown}  [{f.env}]")
        return "\n".join(lines)

    # ------------------------------------------------------------------ the settings

    @property
    def cache_dir(self) -> Path:
        """The download cache (``MGTRANSCRIPT_CACHE``; None sets the platform's user cache dir).
        Files live at ``cache_dir/HOST/PATH``; the folder is created when first used."""
        value = self._get("cache_dir")
        if value is None:
            import platformdirs

            return Path(platformdirs.user_cache_dir("mgtranscript"))
        return value

    @cache_dir.setter
    def cache_dir(self, value: str | os.PathLike | None) -> None:
        self._set("cache_dir", value)

    @property
    def mirror(self) -> str | None:
        """A folder or an ``http(s)://`` base URL laid out like ``HOST/PATH``, used instead of the
        public hosts for GET requests (``MGTRANSCRIPT_MIRROR``; default None). A folder mirror is
        also used offline (it is not the network); a ``samples/`` folder beside it holds sample sheets."""
        return self._get("mirror")

    @mirror.setter
    def mirror(self, value: str | os.PathLike | None) -> None:
        self._set("mirror", value)

    @property
    def offline(self) -> bool:
        """Never touch the network (``MGTRANSCRIPT_OFFLINE``; default False): a file that is neither
        cached nor in a folder mirror raises :class:`~mgtranscript.errors.OfflineError`."""
        return self._get("offline")

    @offline.setter
    def offline(self, value: bool) -> None:
        self._set("offline", value)

    @property
    def progress(self) -> bool:
        """Progress bars for downloads, scoring and the run (``MGTRANSCRIPT_PROGRESS``; default True).
        Functions taking ``progress=None`` use this."""
        return self._get("progress")

    @progress.setter
    def progress(self, value: bool) -> None:
        self._set("progress", value)

    @property
    def retries(self) -> int:
        """Tries per HTTP request, the first included (``MGTRANSCRIPT_RETRIES``; default 5; >= 1)."""
        return self._get("retries")

    @retries.setter
    def retries(self, value: int) -> None:
        self._set("retries", value)

    @property
    def backoff(self) -> float:
        """Seconds waited after the first failed try, doubling after each (``MGTRANSCRIPT_BACKOFF``; 1.0)."""
        return self._get("backoff")

    @backoff.setter
    def backoff(self, value: float) -> None:
        self._set("backoff", value)

    @property
    def max_wait(self) -> float:
        """Longest single wait between tries in seconds, also capping ``Retry-After``
        (``MGTRANSCRIPT_MAX_WAIT``; default 60)."""
        return self._get("max_wait")

    @max_wait.setter
    def max_wait(self, value: float) -> None:
        self._set("max_wait", value)

    @property
    def verify_retries(self) -> int:
        """Downloads of a file that fails verification (truncated gzip, hash mismatch) before
        :class:`~mgtranscript.errors.DownloadCorrupt` (``MGTRANSCRIPT_VERIFY_RETRIES``; default 3)."""
        return self._get("verify_retries")

    @verify_retries.setter
    def verify_retries(self, value: int) -> None:
        self._set("verify_retries", value)

    @property
    def lock_timeout(self) -> float:
        """Seconds to wait for another process downloading the same file
        (``MGTRANSCRIPT_LOCK_TIMEOUT``; default 600)."""
        return self._get("lock_timeout")

    @lock_timeout.setter
    def lock_timeout(self, value: float) -> None:
        self._set("lock_timeout", value)

    @property
    def samples_dir(self) -> Path | None:
        """A folder of user sample sheets named ``<ACC>*.csv|tsv|txt`` (``MGTRANSCRIPT_SAMPLES``;
        default None)."""
        return self._get("samples_dir")

    @samples_dir.setter
    def samples_dir(self, value: str | os.PathLike | None) -> None:
        self._set("samples_dir", value)

    @property
    def gdc_url(self) -> str | None:
        """Base URL of the GDC API to query instead of ``https://api.gdc.cancer.gov``, never
        replaced by a file mirror (``MGTRANSCRIPT_GDC_URL``; default None)."""
        return self._get("gdc_url")

    @gdc_url.setter
    def gdc_url(self, value: str | None) -> None:
        self._set("gdc_url", value)

    @property
    def gene_sets_dir(self) -> Path | None:
        """A folder used instead of the bundled ``gene_sets/`` (same layout: ``magnesium.gmt``,
        ``magnesium_genes.tsv``, ``VERSION``) (``MGTRANSCRIPT_GENE_SETS``; default None)."""
        return self._get("gene_sets_dir")

    @gene_sets_dir.setter
    def gene_sets_dir(self, value: str | os.PathLike | None) -> None:
        self._set("gene_sets_dir", value)

    @property
    def ncbi_api_key(self) -> str | None:
        """An NCBI API key: 10 instead of 3 requests/s to NCBI, sent to E-utilities
        (``NCBI_API_KEY``; default None)."""
        return self._get("ncbi_api_key")

    @ncbi_api_key.setter
    def ncbi_api_key(self, value: str | None) -> None:
        self._set("ncbi_api_key", value)

    @property
    def debug(self) -> bool:
        """Tracebacks for command-line errors, as ``-v`` gives (``MGTRANSCRIPT_DEBUG``; default False)."""
        return self._get("debug")

    @debug.setter
    def debug(self, value: bool) -> None:
        self._set("debug", value)


#: The settings of this process; the environment is read here, once.
settings = Settings(os.environ)


def init_worker(values: Mapping[str, Any]) -> None:
    """Give a worker process the parent's settings (the ``initializer`` of a process pool,
    with ``initargs=(settings.to_dict(),)``).

    Parameters
    ----------
    values
        The parent's :meth:`Settings.to_dict`.
    """
    settings.update(**values)
