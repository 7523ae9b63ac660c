"""The page's inline assets: its CSS and the few lines of JS (sortable tables, opening collapsed targets).

Both are written into ``report.html`` itself (:meth:`mgtranscript.report._page.Report.to_html`): the page
makes no external request.
"""

CSS = """
:root { --fg:#1c2833; --muted:#566573; --line:#d5d8dc; --accent:#1f618d; --bg:#fff; --zebra:#f7f9fa;
        --sup:#1e8449; --con:#b03a2e; --inc:#9a7d0a; --nt:#7f8c8d; }
* { box-sizing: border-box; }
html { scroll-padding-top: 48px; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); overflow-wrap:break-word; }
header { padding:18px 24px 10px; border-bottom:3px solid var(--accent); }
header h1 { margin:0 0 2px; font-size:24px; line-height:1.25; }
header p.subtitle { margin:0; color:var(--muted); font-size:14px; }
nav { position:sticky; top:0; z-index:5; background:#fbfcfc; padding:6px 24px; border-bottom:1px solid var(--line);
      font-size:13px; line-height:1.5; }
nav a { margin-right:12px; color:var(--accent); text-decoration:none; white-space:nowrap; display:inline-block; }
nav a:hover { text-decoration:underline; }
main { padding:0 24px 40px; max-width:1200px; margin:0 auto; }
section { margin-top:26px; }
section > h2 { font-size:20px; border-bottom:1px solid var(--line); padding-bottom:4px; margin-bottom:8px; }
h3 { font-size:16.5px; margin:20px 0 6px; }
h4 { font-size:15px; margin:14px 0 4px; }
p.intro { color:var(--muted); margin-top:0; }
a { color:var(--accent); }
code { background:#f2f3f4; padding:0 3px; border-radius:3px; font-size:13px; }
.muted { color:var(--muted); }
.small { font-size:13px; }
p.note { font-size:12.5px; color:var(--muted); margin:2px 0 6px; }
.tbl { margin:8px 0 12px; max-width:100%; }
details.tbl > summary { cursor:pointer; padding:4px 0; font-size:14px; }
details.tbl > summary .count, .tbl-head .count { color:var(--muted); font-size:13px; }
.tbl-head { font-size:14px; margin:6px 0 2px; }
.tbl-head .title, details.tbl > summary .title { font-weight:600; }
.tablewrap { max-width:100%; }
table.data { border-collapse:collapse; font-size:13px; margin:4px 0; max-width:100%; }
table.data.full { width:100%; table-layout:fixed; }
table.data th, table.data td { border:1px solid var(--line); padding:3px 7px; text-align:left; vertical-align:top;
      overflow-wrap:break-word; }
table.data td.brk, table.data td.mono { overflow-wrap:anywhere; }
.gr { white-space:nowrap; }
table.data th { background:#eaf2f8; font-weight:600; }
table.sortable th { cursor:pointer; }
table.sortable th::after { content:" \\2195"; color:#a6acaf; font-weight:normal; }
table.sortable th[aria-sort="ascending"]::after { content:" \\2191"; color:var(--fg); }
table.sortable th[aria-sort="descending"]::after { content:" \\2193"; color:var(--fg); }
table.data tbody tr:nth-child(even) td { background:var(--zebra); }
table.data td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.data td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; }
table.data td.genes { font-size:12px; }
td.abbr, span.abbr { text-decoration: underline dotted #aab7b8; text-underline-offset:3px; }
.figs { display:flex; flex-wrap:wrap; gap:14px 16px; align-items:flex-start; }
figure { margin:10px 0; max-width:100%; }
figure img { max-width:100%; height:auto; display:block; border:1px solid var(--line); }
figcaption { font-size:13px; color:var(--muted); max-width:100%; }
figcaption a { font-size:12px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12.5px; font-weight:600; color:#fff;
         white-space:nowrap; }
.v-supported { background:var(--sup); }
.v-contradicted { background:var(--con); }
.v-inconclusive { background:var(--inc); }
.v-not-testable { background:var(--nt); }
.st { display:inline-block; padding:0 7px; border-radius:9px; font-size:12px; border:1px solid var(--line);
      background:#f4f6f7; white-space:nowrap; }
.st-analysed { background:#e9f7ef; border-color:#a9dfbf; }
.st-flag { background:#fdedec; border-color:#f5b7b1; }
.cert { font-size:12.5px; color:var(--muted); margin-top:3px; white-space:nowrap; }
.cert b { color:var(--fg); font-weight:600; letter-spacing:1px; }
.asked { font-size:15px; max-width:980px; }
.asked .cite { font-size:13px; color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(255px, 1fr)); gap:10px; margin:8px 0; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 10px; font-size:13px; background:#fcfdfd;
        min-width:0; }
.card .acc { font-weight:700; font-size:15px; }
.card .title { color:var(--muted); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.card .groups { margin-top:3px; }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin:0 3px 0 6px; vertical-align:0; }
.dot:first-child { margin-left:0; }
ul.na { list-style:none; padding-left:0; margin:6px 0; font-size:13.5px; }
ul.na li { margin:3px 0; }
ul.na details { display:inline; }
ul.na details > summary { display:inline; cursor:pointer; color:var(--accent); font-size:12.5px; }
ul.na details[open] > div { display:block; margin:4px 0 6px 16px; font-size:12.5px; color:var(--muted);
        background:#f8f9f9; border-left:3px solid var(--line); padding:4px 8px; }
table.claims { width:100%; table-layout:fixed; border-collapse:collapse; font-size:13.5px; }
table.claims th, table.claims td { border-bottom:1px solid var(--line); padding:7px 8px; text-align:left;
      vertical-align:top; overflow-wrap:anywhere; }
table.claims th { background:#eaf2f8; font-size:13px; }
table.claims tr:target td, .claim-ev:target { background:#fef9e7; }
.claim-statement { display:block; margin:1px 0 2px; }
.cid { font-weight:700; font-size:12.5px; }
.cite { font-size:12px; color:var(--muted); }
.ev-link { font-size:12.5px; white-space:nowrap; }
td.effect { font-variant-numeric:tabular-nums; }
td.effect .kind, td.effect .q { color:var(--muted); font-size:12.5px; display:block; }
td.caveats { font-size:12.5px; }
td.caveats ul { margin:0; padding-left:16px; }
.claim-ev { border-top:2px solid var(--line); padding-top:4px; margin-top:22px; }
.claim-ev h3 { margin-top:8px; }
.claim-ev p.statement { font-size:15px; margin:4px 0; }
.claim-ev dl.why { font-size:14px; margin:6px 0 8px; display:grid; grid-template-columns:max-content 1fr;
      gap:2px 10px; }
.claim-ev dl.why dt { font-weight:600; }
.claim-ev dl.why dd { margin:0; }
.summary-counts { font-size:14px; margin:4px 0 8px; }
.summary-counts .n { font-weight:600; margin:0 3px 0 10px; }
/* the bottom line: one row per disease area */
p.bl-legend { font-size:12.5px; margin:0 0 6px; }
p.bl-legend .chip { cursor:default; margin-right:4px; }
table.bl { width:100%; border-collapse:collapse; font-size:14px; }
table.bl th { text-align:left; vertical-align:top; width:150px; padding:6px 10px 6px 0; font-size:14.5px;
      border-top:1px solid var(--line); }
table.bl td { padding:6px 0; border-top:1px solid var(--line); }
.bl-sentence { margin-bottom:3px; }
.chips { display:flex; flex-wrap:wrap; gap:4px; }
.chip { display:inline-block; padding:0 7px; border-radius:9px; font-size:12px; font-weight:600; color:#fff;
        text-decoration:none; white-space:nowrap; line-height:20px; }
.chip .dots { font-weight:normal; letter-spacing:0.5px; font-size:10.5px; opacity:0.95; }
a.chip:hover { filter:brightness(1.15); }
/* the claims: one compact line each, details in place */
h3.area { margin:18px 0 2px; }
.cl-head, details.cl > summary { display:grid; grid-template-columns:118px 140px minmax(0, 1fr) 235px 84px;
      gap:0 10px; align-items:start; }
.cl-head { font-size:12.5px; font-weight:600; background:#eaf2f8; padding:3px 6px; }
details.cl { border-bottom:1px solid var(--line); }
details.cl > summary { list-style:none; cursor:pointer; padding:5px 6px; font-size:13.5px; }
details.cl > summary::-webkit-details-marker { display:none; }
details.cl > summary .cid::before { content:"\\25B8 "; color:var(--muted); }
details.cl[open] > summary .cid::before { content:"\\25BE "; }
details.cl > summary:hover { background:#f4f8fb; }
details.cl[open] > summary { background:#f4f8fb; }
details.cl:target > summary { background:#fef9e7; }
details.cl .cv .cert { margin-top:1px; }
details.cl .ce { font-variant-numeric:tabular-nums; font-size:13px; }
details.cl .ce .kind, details.cl .ce .q { color:var(--muted); font-size:12px; }
details.cl .ce .nt-why { color:var(--muted); font-size:12.5px; }
details.cl .src { font-size:12px; color:var(--muted); }
.cl-body { padding:2px 12px 8px 134px; font-size:13.5px; }
.cl-body dl.why { display:grid; grid-template-columns:max-content minmax(0, 1fr); gap:2px 10px; margin:4px 0; }
.cl-body dl.why dt { font-weight:600; }
.cl-body dl.why dd { margin:0; }
.cl-body dl.why ul { margin:0; padding-left:16px; }
/* design flags travelling with a cohort's data */
.flagbar { background:#fdedec; border-left:3px solid #e6b0aa; padding:3px 10px; font-size:13px; margin:6px 0; }
.flagbar b { color:#922b21; }
.cert-inline .cert { display:inline-block; margin-left:6px; font-weight:normal; }
.warn { background:#fef5e7; border-left:3px solid #f5b041; padding:4px 10px; font-size:13px; }
footer { padding:12px 24px; font-size:12px; color:var(--muted); border-top:1px solid var(--line); }
"""

#: Inline JS: sortable tables (click a header), and opening collapsed ancestors of a linked target.
JS = """
(function () {
  function key(cell) {
    var v = cell ? cell.getAttribute('data-v') : null;
    if (v === null) { v = cell ? cell.textContent.trim() : ''; }
    return v;
  }
  document.addEventListener('click', function (ev) {
    var th = ev.target.closest ? ev.target.closest('table.sortable thead th') : null;
    if (!th) { return; }
    var table = th.closest('table'), row = th.parentNode;
    var idx = Array.prototype.indexOf.call(row.children, th);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    Array.prototype.forEach.call(row.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    rows.sort(function (a, b) {
      var x = key(a.cells[idx]), y = key(b.cells[idx]);
      if (x === '' && y === '') { return 0; }
      if (x === '') { return 1; }
      if (y === '') { return -1; }
      var fx = Number(x), fy = Number(y);
      if (!isNaN(fx) && !isNaN(fy)) { return (fx - fy) * dir; }
      return x.localeCompare(y) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    while (el) { if (el.tagName === 'DETAILS') { el.open = true; } el = el.parentElement; }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
"""
