"""The HTML report's stylesheet and Content-Security-Policy (no script, nothing from any network)."""

__all__ = ["CSS", "CSP"]

CSS = """
:root{--fg:#111827;--muted:#5b6472;--bg:#f4f6f9;--card:#fff;--line:#dde2e8;--pass:#15803d;--leak:#b91c1c;
--warn:#b45309;--none:#475569;--fail:#7f1d1d;--chip:#eef1f5}
@media (prefers-color-scheme:dark){:root{--fg:#e5e7eb;--muted:#9aa4b2;--bg:#0b1120;--card:#111827;
--line:#263244;--chip:#1c2636}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);
background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.25rem;margin:.1em 0 .4em}
h2{font-size:1.05rem;margin:0 0 .3em;overflow-wrap:anywhere}
h3{font-size:.95rem;margin:1.1em 0 .4em;border-top:1px solid var(--line);padding-top:.7em}
h4{font-size:.9rem;margin:0 0 .3em}
p{margin:.3em 0}
a{color:inherit}
.muted{color:var(--muted);font-size:.88em}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.84em;overflow-wrap:anywhere;
word-break:break-all}
.verdict{border-radius:12px;padding:14px 16px;color:#fff;background:var(--none);margin:8px 0}
.verdict.pass{background:#15803d}.verdict.leak{background:#b91c1c}.verdict.warn{background:#b45309}
.verdict.fail{background:#7f1d1d}
.verdict h1{color:#fff;font-size:1.3rem}.verdict p{margin:.2em 0}
.banner{border-left:6px solid #b91c1c;background:#fee2e2;color:#7f1d1d;padding:10px 12px;margin:10px 0;
border-radius:6px;overflow-wrap:anywhere}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(100px,1fr));gap:8px;margin:10px 0}
.stat{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px 10px}
.stat b{display:block;font-size:1.25rem}
.box{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px;margin:12px 0}
dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 14px;margin:8px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;min-width:0;overflow-wrap:anywhere}
@media (max-width:560px){dl.kv{grid-template-columns:minmax(0,1fr)}dl.kv dt{font-size:.8em;margin-top:4px}}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:.75rem;font-weight:650;color:#fff;
background:var(--none);vertical-align:.1em;white-space:nowrap}
.badge.pass{background:var(--pass)}.badge.leak{background:var(--leak)}.badge.warn{background:var(--warn)}
.badge.fail{background:var(--fail)}
section.file{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px;margin:14px 0;
border-left:6px solid var(--none)}
section.file.pass{border-left-color:var(--pass)}section.file.leak{border-left-color:var(--leak)}
section.file.warn{border-left-color:var(--warn)}section.file.fail{border-left-color:var(--fail)}
.sentence{font-weight:600}.sentence.leak,.error{color:var(--leak)}.warnline{color:var(--warn)}
.name{overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,290px),1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px;display:flex;gap:10px;min-width:0;
background:var(--card)}
.card.leak{border-color:var(--leak);box-shadow:inset 4px 0 0 var(--leak)}
.card.warn{box-shadow:inset 4px 0 0 var(--warn)}
.card-body{min-width:0;flex:1}
.thumb{flex:none;width:96px;height:96px;object-fit:contain;border-radius:6px;background:var(--chip)}
.thumb.ph{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.72rem;
color:var(--muted);padding:4px}
.thumb.ph.leak{color:var(--leak);font-weight:600}
.neg{color:var(--leak)}.pos{color:var(--pass)}
.meter{display:block;width:100%;height:10px;margin:4px 0}
ul.attacks{list-style:none;padding:0;margin:4px 0;font-size:.85em}
ul.attacks li{display:flex;justify-content:space-between;gap:8px;border-bottom:1px dotted var(--line)}
ul.attacks li.strong{font-weight:700}
.esc ol{margin:2px 0 0;padding-left:1.3em;font-size:.88em}
ul.residual{padding-left:1.2em;font-size:.9em}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.tile{margin:0;width:96px;font-size:.75rem;color:var(--muted);text-align:center}
.timeline{margin:6px 0}
.tl-grid{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:0 8px}
.tl-label{height:18px;line-height:18px;font-size:12px;white-space:nowrap;max-width:30vw;overflow:hidden;
text-overflow:ellipsis}
.tl-label.leak{color:var(--leak);font-weight:600}
.tl-svg{display:block;width:100%;background:var(--chip);border-radius:3px}
.tl-axis{position:relative;height:16px;font-size:11px;color:var(--muted)}
.tl-axis span{position:absolute;top:0;transform:translateX(-50%)}.tl-axis span:first-child{transform:none}
.tl-caption{font-size:.8rem;color:var(--muted)}
.legend{font-size:.8rem;display:flex;flex-wrap:wrap;gap:4px 12px;margin:4px 0}
.sw{display:inline-block;width:12px;height:12px;background:var(--c);border-radius:2px;margin-right:4px;
vertical-align:-1px}
.sw.line{width:3px;border-radius:0}
.distfig{margin:0}
.dist{display:block;width:100%;max-width:620px;height:auto;color:var(--fg)}
.dist text{font-size:10px;fill:currentColor}
.dist .t-leak,.dist .t-thr{fill:#b91c1c;font-weight:600}.dist .t-pass{fill:#15803d;font-weight:600}
.dist .t-axis{fill:var(--muted)}
figcaption{font-size:.82rem;color:var(--muted)}
ol.index{padding-left:1.4em;margin:.3em 0}ol.index li{margin:2px 0;overflow-wrap:anywhere}
ol.index a{text-decoration:none}ol.index a .n{text-decoration:underline}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
footer{color:var(--muted);font-size:.8rem;margin:20px 0 30px}
@media print{details{display:block}.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


