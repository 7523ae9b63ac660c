"""``mgtranscript.settings``: typed, validated, overridable; the environment is read once, as defaults,
and only by the settings module and the command line."""

from __future__ import annotations

import ast
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mgtranscript as mg
from mgtranscript import settings
from mgtranscript._settings import FIELDS, Settings, init_worker
from mgtranscript.errors import MgTranscriptError, SettingsError, UsageError

REPO = Path(__file__).resolve().parents[1]


def test_one_object_at_the_root_with_every_setting():
    assert mg.settings is settings and "settings" in mg.__all__
    assert list(FIELDS) == ["cache_dir", "mirror", "offline", "progress", "retries", "backoff", "max_wait",
                            "verify_retries", "lock_timeout", "samples_dir", "gdc_url", "gene_sets_dir",
                            "ncbi_api_key", "debug"]
    assert {f.env for f in FIELDS.values()} == {
        "MGTRANSCRIPT_CACHE", "MGTRANSCRIPT_MIRROR", "MGTRANSCRIPT_OFFLINE", "MGTRANSCRIPT_PROGRESS",
        "MGTRANSCRIPT_RETRIES", "MGTRANSCRIPT_BACKOFF", "MGTRANSCRIPT_MAX_WAIT", "MGTRANSCRIPT_VERIFY_RETRIES",
        "MGTRANSCRIPT_LOCK_TIMEOUT", "MGTRANSCRIPT_SAMPLES", "MGTRANSCRIPT_GDC_URL", "MGTRANSCRIPT_GENE_SETS",
        "NCBI_API_KEY", "MGTRANSCRIPT_DEBUG"}


def test_built_in_defaults_and_types():
    s = Settings()
    assert isinstance(s.cache_dir, Path) and s.cache_dir.name == "mgtranscript"  # the platform's cache dir
    assert (s.mirror, s.offline, s.progress, s.samples_dir, s.gdc_url, s.gene_sets_dir, s.ncbi_api_key,
            s.debug) == (None, False, True, None, None, None, None, False)
    assert (s.retries, s.backoff, s.max_wait, s.verify_retries, s.lock_timeout) == (5, 1.0, 60.0, 3, 600.0)
    s.cache_dir = "~/somewhere"
    assert s.cache_dir == Path.home() / "somewhere"
    s.samples_dir = str(REPO)
    assert s.samples_dir == REPO
    s.mirror = REPO  # a folder mirror is kept as text, as the environment gives it
    assert s.mirror == str(REPO)
    s.retries, s.backoff = 2.0, 0
    assert s.retries == 2 and isinstance(s.retries, int) and s.backoff == 0.0 and isinstance(s.backoff, float)
    s.mirror, s.cache_dir = "", None  # empty text means "not set"; None is the default
    assert s.mirror is None and s.cache_dir == Settings().cache_dir


@pytest.mark.parametrize("name, value, words", [
    ("offline", "yes", "must be True or False, not 'yes' (str)"),
    ("progress", 0, "must be True or False"),
    ("retries", 0, "must be a whole number >= 1, not 0"),
    ("retries", 2.5, "must be a whole number"),
    ("retries", True, "must be a whole number"),
    ("backoff", -1, "must be a finite number >= 0"),
    ("max_wait", float("inf"), "must be a finite number"),
    ("lock_timeout", "600", "must be a number"),
    ("cache_dir", 3, "must be a folder (str or Path) or None"),
    ("mirror", "ftp://example.org/mirror", "must be a folder or an http(s):// base URL"),
    ("gdc_url", "api.gdc.cancer.gov", "must be an http(s):// base URL"),
    ("ncbi_api_key", 1234, "must be a string or None"),
])
def test_a_bad_value_names_the_setting_and_the_fix(name, value, words):
    before = settings.to_dict()
    with pytest.raises(SettingsError) as err:
        setattr(settings, name, value)
    msg = str(err.value)
    assert f"mgtranscript.settings.{name} {words}" in msg
    assert f"mgtranscript.settings.{name} = {FIELDS[name].example}" in msg  # the fix, as code
    assert isinstance(err.value, UsageError) and isinstance(err.value, MgTranscriptError)
    assert settings.to_dict() == before


def test_an_unknown_setting_is_refused_with_a_suggestion():
    with pytest.raises(SettingsError, match=r"unknown setting 'cachedir' \(did you mean 'cache_dir'\?\); the settings"):
        settings.cachedir = "/tmp/x"
    with pytest.raises(SettingsError, match="unknown setting 'ofline'"):
        with settings.override(ofline=True):
            pass
    assert not hasattr(settings, "cachedir")


def test_update_checks_everything_before_changing_anything():
    with pytest.raises(SettingsError, match="retries"):
        settings.update(offline=False, retries=-3)
    assert settings.offline is True  # the isolated tests' value, untouched


def test_override_restores_the_previous_values_also_on_error(tmp_path):
    settings.retries = 4
    with pytest.raises(RuntimeError, match="inside"):
        with settings.override(retries=2, mirror=tmp_path, offline=False) as s:
            assert s is settings and (settings.retries, settings.mirror, settings.offline) == (2, str(tmp_path), False)
            with settings.override(retries=7):
                assert settings.retries == 7
            assert settings.retries == 2
            raise RuntimeError("inside")
    assert (settings.retries, settings.mirror, settings.offline) == (4, None, True)
    with pytest.raises(SettingsError):  # a bad value: nothing is changed, nothing to restore
        with settings.override(retries=3, backoff="slow"):
            pass
    assert settings.retries == 4


def test_environment_variables_are_parsed_as_defaults():
    s = Settings({"MGTRANSCRIPT_CACHE": "~/c", "MGTRANSCRIPT_OFFLINE": "yes", "MGTRANSCRIPT_PROGRESS": "0",
                  "MGTRANSCRIPT_RETRIES": "7", "MGTRANSCRIPT_BACKOFF": "0.25", "MGTRANSCRIPT_MIRROR": " /data/mirror ",
                  "MGTRANSCRIPT_GDC_URL": "", "NCBI_API_KEY": "abc", "MGTRANSCRIPT_DEBUG": "on"})
    assert s.cache_dir == Path.home() / "c" and s.offline is True and s.progress is False
    assert (s.retries, s.backoff, s.mirror, s.gdc_url, s.ncbi_api_key, s.debug) == (7, 0.25, "/data/mirror", None,
                                                                                     "abc", True)
    assert Settings(s.to_environ()).to_dict() == s.to_dict()  # what a child process is handed


def test_an_unreadable_variable_fails_when_used_naming_the_variable():
    s = Settings({"MGTRANSCRIPT_RETRIES": "many", "MGTRANSCRIPT_OFFLINE": "maybe"})  # importing does not fail
    assert s.backoff == 1.0
    with pytest.raises(SettingsError, match=r"MGTRANSCRIPT_RETRIES='many' is not a whole number: set it to "
                                            r"e.g. MGTRANSCRIPT_RETRIES=5 or unset it"):
        s.retries
    with pytest.raises(SettingsError, match="MGTRANSCRIPT_OFFLINE='maybe' is not one of 1/true/yes/on"):
        s.offline
    assert "retries" not in s.to_dict() and "unreadable" in repr(s)
    with s.override(retries=2):
        assert s.retries == 2
    with pytest.raises(SettingsError):  # the override ended: the variable's problem is back
        s.retries
    s.retries = 3  # setting it in Python replaces the variable's value
    assert s.retries == 3


def test_repr_is_a_readable_table_that_hides_the_api_key():
    with settings.override(ncbi_api_key="secret-key", retries=4):
        text = repr(settings)
    lines = text.splitlines()
    assert lines[0].startswith("mgtranscript settings") and len(lines) == 1 + len(FIELDS)
    assert "secret-key" not in text and "<set, hidden>" in text
    assert any(ln.split()[:2] == ["retries", "4"] and ln.endswith("[MGTRANSCRIPT_RETRIES]") for ln in lines)


def test_the_environment_is_read_once_at_import(monkeypatch):
    monkeypatch.setenv("MGTRANSCRIPT_RETRIES", "9")  # after import: no effect in this process
    assert settings.retries == 5
    env = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO), "MGTRANSCRIPT_RETRIES": "9",
           "MGTRANSCRIPT_OFFLINE": "true"}
    code = ("import os, mgtranscript as mg\n"
            "os.environ['MGTRANSCRIPT_RETRIES'] = '2'\n"  # changed after import: ignored
            "print(mg.settings.retries, mg.settings.offline)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["9", "True"]


def test_the_command_line_says_which_variable_is_unreadable(tmp_path):
    env = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO), "MGTRANSCRIPT_CACHE": str(tmp_path),
           "MGTRANSCRIPT_DEBUG": "sometimes"}
    out = subprocess.run([sys.executable, "-m", "mgtranscript", "cache", "dir"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "mgtranscript cache: error: the environment variable MGTRANSCRIPT_DEBUG='sometimes' is not one of "
        "1/true/yes/on or 0/false/no/off: set it to e.g. MGTRANSCRIPT_DEBUG=1 or unset it (or set "
        "mgtranscript.settings.debug in Python)"]


def test_quiet_command_line_changes_settings_not_the_environment(monkeypatch):
    from mgtranscript.cli import main

    seen = []
    monkeypatch.setattr("mgtranscript.commands.datasets.run", lambda args: seen.append(settings.progress) or 0)
    settings.progress = True
    environ = dict(os.environ)
    assert main(["datasets", "-q"]) == 0
    assert seen == [False] and settings.progress is True  # off for the command, back after it
    assert dict(os.environ) == environ


def _worker_settings(_):
    from mgtranscript import settings as worker_settings

    return worker_settings.to_dict()


def test_worker_processes_get_the_settings_explicitly(tmp_path):
    settings.update(cache_dir=tmp_path, retries=2, samples_dir=tmp_path / "samples")
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: only what is handed over
    with ctx.Pool(1, initializer=init_worker, initargs=(settings.to_dict(),)) as pool:
        (got,) = pool.map(_worker_settings, [0])
    assert got == settings.to_dict()


def test_only_the_settings_module_and_the_command_line_read_the_environment():
    readers = []
    for path in sorted((REPO / "mgtranscript").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Attribute) and n.attr in ("environ", "getenv") and isinstance(n.value, ast.Name)
               and n.value.id == "os" for n in ast.walk(tree)):
            readers.append(path.relative_to(REPO).as_posix())
    assert "mgtranscript/_settings.py" in readers
    assert set(readers) <= {"mgtranscript/_settings.py", "mgtranscript/cli.py"}, readers
