"""Open a report in real headless Chromium at a given width and measure what a reader would see.

No Python dependency beyond the standard library: a copy of the page gets a small probe
script (an error trap first in ``<head>``, measurements after ``load``), Chromium prints the
DOM (``--dump-dom``) with the probe's JSON result in it, and everything the page wrote to
the console goes to stderr (``--enable-logging=stderr``), where it is collected too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

_TRAP = """<script>window.__errs=[];
window.addEventListener('error',function(e){window.__errs.push('error: '+(e.message||(e.target&&e.target.tagName)||e.type))},true);
window.addEventListener('unhandledrejection',function(e){window.__errs.push('rejection: '+e.reason)});
(function(){var ce=console.error,cw=console.warn;
console.error=function(){window.__errs.push('console.error: '+Array.prototype.join.call(arguments,' '));ce.apply(console,arguments)};
console.warn=function(){window.__errs.push('console.warn: '+Array.prototype.join.call(arguments,' '));cw.apply(console,arguments)};})();
</script>"""

_PROBE = r"""<script>window.addEventListener('load', function () {
  var W = window.innerWidth, r = {width: W};
  function box(e) { return e.getBoundingClientRect(); }
  // images: loaded, decoded (drawn to a canvas), not blank
  var imgs = Array.prototype.slice.call(document.images), bad = [];
  var cv = document.createElement('canvas'), ctx = cv.getContext('2d', {willReadFrequently: true});
  imgs.forEach(function (im, i) {
    if (!(im.complete && im.naturalWidth > 0)) { bad.push(i + ': not loaded'); return; }
    cv.width = Math.min(200, im.naturalWidth); cv.height = Math.min(200, im.naturalHeight);
    ctx.clearRect(0, 0, cv.width, cv.height);
    ctx.drawImage(im, 0, 0, cv.width, cv.height);
    var d = ctx.getImageData(0, 0, cv.width, cv.height).data, lo = 255, hi = 0;
    for (var k = 0; k < d.length; k += 4) { var v = d[k] + d[k + 1] + d[k + 2]; if (d[k + 3] > 0) { lo = Math.min(lo, v / 3); hi = Math.max(hi, v / 3); } }
    if (hi - lo < 10) { bad.push(i + ': blank'); }
  });
  r.images = imgs.length; r.bad_images = bad;
  r.images_wider_than_window = imgs.filter(function (im) { return box(im).right > W + 0.5; }).length;
  // claims: every statement visible as the page opens (nothing expanded)
  var st = Array.prototype.slice.call(document.querySelectorAll('.claim-statement'));
  r.statements = st.map(function (e) { return e.textContent; });
  r.hidden_statements = st.filter(function (e) {
    var b = box(e), vis = e.checkVisibility ? e.checkVisibility({opacityProperty: true, visibilityProperty: true}) : true;
    return !(vis && b.width > 0 && b.height > 0 && b.left >= 0 && b.right <= W + 0.5);
  }).map(function (e) { return e.textContent.slice(0, 60); });
  r.first_statement_top = st.length ? box(st[0]).top + window.scrollY : null;
  // the first screen (window height, nothing scrolled): the bottom line of every disease area
  var H = __HEIGHT__;  // the window asked for (headless Chromium's innerHeight leaves room for absent chrome)
  r.height = H;
  r.page_height = document.documentElement.scrollHeight;
  r.first_screen = Array.prototype.slice.call(document.querySelectorAll('.bl-area')).map(function (row) {
    var chips = Array.prototype.slice.call(row.querySelectorAll('.chip'));
    var sent = row.querySelector('.bl-sentence');
    var inView = function (e) { var b = box(e); return b.top >= 0 && b.bottom <= H + 0.5 && b.width > 0; };
    return {area: row.getAttribute('data-area'), sentence: sent ? sent.textContent : '',
            sentence_visible: !!sent && inView(sent),
            verdicts: chips.filter(inView).map(function (c) { return c.className.replace('chip ', '') + ' ' + c.textContent; }),
            chips: chips.length};
  });
  r.scroll_width = document.documentElement.scrollWidth;
  // with every <details> open: no table (and nothing else) wider than the window
  var det = Array.prototype.slice.call(document.querySelectorAll('details'));
  det.forEach(function (d) { d.open = true; });
  r.details = det.length;
  r.scroll_width_open = document.documentElement.scrollWidth;
  var tables = Array.prototype.slice.call(document.querySelectorAll('table'));
  r.tables = tables.length;
  r.wide_tables = tables.filter(function (t) { var b = box(t); return b.right > W + 0.5 || b.left < -0.5 || b.width > W; })
    .map(function (t) { return (t.className || '') + ' ' + Math.round(box(t).width); });
  det.forEach(function (d) { d.open = false; });
  // links: in-page targets exist; files are relative (tables/, figures/)
  var links = Array.prototype.slice.call(document.querySelectorAll('a[href]')).map(function (a) { return a.getAttribute('href'); });
  r.broken_anchors = links.filter(function (h) { return h[0] === '#' && !document.getElementById(decodeURIComponent(h.slice(1))); });
  r.file_links = links.filter(function (h) { return h[0] !== '#'; });
  // sorting: click the first sortable table's second header twice (descending, then ascending)
  var th = document.querySelector('table.sortable thead th:nth-child(2)');
  if (th) {
    var col = function () { return Array.prototype.slice.call(th.closest('table').tBodies[0].rows).map(function (tr) {
      var c = tr.cells[1]; return c ? (c.getAttribute('data-v') || c.textContent.trim()) : ''; }); };
    th.click(); r.sorted_ascending = col(); th.click(); r.sorted_descending = col();
  }
  // a claim's details open in place (click its line)
  var line = document.querySelector('details.cl > summary');
  if (line) { var y0 = box(line).top; line.click(); var d = line.parentElement;
    r.claim_opens_in_place = d.open && Math.abs(box(line).top - y0) < 1 && box(d.querySelector('.cl-body')).height > 0;
    line.click(); }
  r.resources = performance.getEntriesByType('resource').map(function (e) { return e.name; });
  r.errors = window.__errs;
  var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});</script>"""


def probe(report: Path, workdir: Path, *, width: int = 1280, height: int = 900, timeout: int = 240) -> dict:
    """Open ``report`` in headless Chromium at ``width`` px and return the probe's measurements.

    Keys: ``width``, ``height``, ``page_height``, ``images``, ``bad_images``, ``statements``,
    ``hidden_statements``, ``first_statement_top``, ``first_screen`` (per disease area of the
    bottom line: its sentence, whether it is visible without scrolling, and the verdict chips
    visible without scrolling), ``scroll_width``, ``scroll_width_open``, ``tables``,
    ``wide_tables``, ``broken_anchors``, ``file_links``, ``sorted_ascending`` /
    ``sorted_descending`` (the second column of the first sortable table after one and two
    clicks on its header), ``claim_opens_in_place``, ``resources`` (network requests),
    ``errors`` (page errors) and ``console`` (every console message Chromium logged).
    """
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    html = Path(report).read_text(encoding="utf-8")
    page = workdir / "probed.html"
    page.write_text(html.replace("<head>", "<head>\n" + _TRAP, 1).replace(
        "</body>", _PROBE.replace("__HEIGHT__", str(int(height))) + "\n</body>", 1), encoding="utf-8")
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--window-size={width},{height}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--dump-dom", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    m = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        raise RuntimeError(f"the probe did not report (exit {proc.returncode}): {proc.stderr[-2000:]}")
    import html as _html

    out = json.loads(_html.unescape(m.group(1)))
    out["console"] = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return out


def screenshot(report: Path, png: Path, workdir: Path, *, width: int = 1280, height: int = 2000) -> Path:
    """A PNG of the top ``height`` px of the report at ``width`` px (for looking at it)."""
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile-shot'}", f"--window-size={width},{height}",
           f"--screenshot={png}", Path(report).resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    return png
