"""Without a network: name-resolution and connection-refused errors are not retried, the
host is not contacted again in the run, and one line says how to work offline.

Name resolution is made to fail by replacing :func:`socket.getaddrinfo` (no DNS traffic);
a refused connection comes from a local port nobody listens on. Tests count the attempts
and the waits the code decides, never durations.
"""

from __future__ import annotations

import errno
import socket

import pytest
import requests

from mgtranscript import settings
from mgtranscript.cli import main
from mgtranscript.errors import FetchError, HostUnreachable
from mgtranscript.fetch import cache_entries, fetch
from mgtranscript.fetch import _http as http
from mgtranscript.fetch import _urls as urls

from support.fetch_helpers import COUNTS_URL, HALLMARK_URL


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    got: list[float] = []
    monkeypatch.setattr(http, "_sleep", got.append)
    return got


@pytest.fixture
def no_dns(monkeypatch, cache) -> list[str]:
    """Every name lookup fails as on a machine without a network; returns the hosts looked up."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings.update(mirror=None, offline=False)  # the public hosts, online
    return looked_up


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: connecting to it is refused


def test_dns_failure_is_not_retried_and_host_is_not_contacted_again(no_dns, waits, caplog):
    with pytest.raises(HostUnreachable) as err:
        fetch(COUNTS_URL)
    msg = str(err.value)
    assert "\n" not in msg
    assert "MGTRANSCRIPT_MIRROR" in msg and "MGTRANSCRIPT_OFFLINE=1" in msg
    assert "ftp.ncbi.nlm.nih.gov" in msg
    assert no_dns == ["ftp.ncbi.nlm.nih.gov"]  # one attempt, no retries
    assert waits == []  # and no backoff
    # another file on the same host: refused at once, nothing looked up
    with pytest.raises(HostUnreachable):
        fetch(urls.gene_info_url())
    assert no_dns == ["ftp.ncbi.nlm.nih.gov"]
    # the advice is logged once per host, not once per file
    advice = [r for r in caplog.records if "MGTRANSCRIPT_OFFLINE=1" in r.getMessage()]
    assert len(advice) == 1
    assert cache_entries() == []


def test_other_hosts_are_still_tried_and_forget_clears_the_memory(no_dns, waits):
    with pytest.raises(HostUnreachable):
        fetch(COUNTS_URL)
    with pytest.raises(HostUnreachable):
        fetch(HALLMARK_URL)  # data.broadinstitute.org: its own first try
    assert no_dns == ["ftp.ncbi.nlm.nih.gov", "data.broadinstitute.org"]
    assert set(http.unreachable_hosts()) == {"https://ftp.ncbi.nlm.nih.gov", "https://data.broadinstitute.org"}
    http.forget_unreachable()
    with pytest.raises(HostUnreachable):
        fetch(COUNTS_URL)
    assert no_dns.count("ftp.ncbi.nlm.nih.gov") == 2


def test_connection_refused_by_a_mirror_fails_at_once_naming_the_mirror(cache, closed_port, waits):
    mirror = f"http://127.0.0.1:{closed_port}"
    settings.mirror = mirror
    with pytest.raises(HostUnreachable) as err:
        fetch(COUNTS_URL)
    msg = str(err.value)
    assert mirror in msg and "refused" in msg and "MGTRANSCRIPT_MIRROR" in msg and "\n" not in msg
    assert waits == []
    with pytest.raises(HostUnreachable):
        fetch(HALLMARK_URL)  # same mirror: not contacted again
    assert waits == []


@pytest.mark.parametrize("exc", [
    requests.ReadTimeout("read timed out"),
    requests.ConnectTimeout("connect timed out"),
    requests.ConnectionError(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
    requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
])
def test_timeouts_and_resets_are_still_retried(exc, cache, monkeypatch, waits):
    settings.update(retries=3, backoff=0.5)
    calls = []

    class Session:
        def request(self, *a, **k):
            calls.append(a)
            raise exc

    monkeypatch.setattr(http, "_session", lambda: Session())
    with pytest.raises(FetchError, match="giving up after 3 tries") as err:
        http.request("GET", COUNTS_URL)
    assert not isinstance(err.value, HostUnreachable)
    assert len(calls) == 3 and waits == [0.5, 1.0]
    assert http.unreachable_hosts() == {}


def test_no_route_reasons_are_read_through_the_exception_chain():
    def wrapped(inner: BaseException) -> requests.ConnectionError:
        try:
            try:
                raise inner
            except BaseException as e:
                raise OSError("new connection failed") from e
        except OSError as outer:
            return requests.ConnectionError(outer)

    assert "resolve" in http._no_route_reason(wrapped(socket.gaierror(-2, "Name or service not known")))
    assert "refused" in http._no_route_reason(wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused")))
    assert "unreachable" in http._no_route_reason(wrapped(OSError(errno.ENETUNREACH, "Network is unreachable")))
    assert http._no_route_reason(wrapped(ConnectionResetError(errno.ECONNRESET, "reset"))) is None
    assert http._no_route_reason(requests.ReadTimeout("slow")) is None


def test_geo_without_network_fails_in_one_short_error(no_dns, waits):
    from mgtranscript.datasets import geo

    with pytest.raises(HostUnreachable) as err:
        geo("GSE126848")
    msg = str(err.value)
    assert msg.startswith("GSE126848: none of its files could be obtained")
    assert "MGTRANSCRIPT_OFFLINE=1" in msg and "\n" not in msg
    assert waits == []
    assert len(no_dns) == len(set(no_dns)) <= 2  # each host tried once (ftp. and www.ncbi)


def test_cli_fetch_without_network_one_error_line(no_dns, waits, tmp_path, capsys):
    rc = main(["fetch", "GSE126848", "--out", str(tmp_path / "x.h5ad")])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "MGTRANSCRIPT_MIRROR" in errors[0]
    assert waits == [] and len(no_dns) <= 2
    assert not (tmp_path / "x.h5ad").exists()


def test_cli_run_without_network_tries_each_host_once(no_dns, waits, tmp_path, capsys):
    assert settings.gdc_url is None and settings.samples_dir is None  # the public GDC; no sample sheets
    rc = main(["run", "--out", str(tmp_path / "out"), "--no-plots", "--permutations", "10"])
    out, err = capsys.readouterr()
    assert rc == 1  # no cohort could be analysed
    assert "Traceback" not in err
    assert waits == []  # not one backoff
    assert len(no_dns) == len(set(no_dns))  # every host looked up once, then left alone
    assert set(no_dns) <= {"ftp.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "data.broadinstitute.org",
                           "api.gdc.cancer.gov"}
