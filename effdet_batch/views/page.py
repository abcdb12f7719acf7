"""Self-contained static pages: one HTML file with its style and script inline, beside the files it
shows (thumbnails, charts), written to a folder or object-storage prefix. Nothing is fetched from
anywhere else, so a page opens from disk (file://) or from a bucket as it is."""
from __future__ import annotations

import html
import numbers
import posixpath
from collections.abc import Iterable, Mapping, Sequence

from ..errors import OutputError, first_line
from ..uri import is_remote, join, redact

__all__ = ["assets", "document", "table", "filter_controls", "write_files", "write_page"]

_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.num{text-align:right}
.controls{position:sticky;top:0;background:#fff;padding:.5em 0;z-index:10;border-bottom:1px solid #ddd}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.side{display:flex;gap:6px;align-items:flex-start}
.card{margin:0}
.card figcaption{font-size:12px;max-width:320px;overflow-wrap:anywhere}
.frame{position:relative;background:#eee;overflow:hidden}
.frame img{display:block;width:100%;height:100%}
.unavailable{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;
  text-align:center;padding:8px;color:#a00;font-size:13px}
.box{position:absolute;outline:2px solid #1f77b4;outline-offset:-1px}
.box[hidden]{display:none}
.tag{position:absolute;left:0;top:0;font-size:11px;line-height:14px;white-space:nowrap;
  background:#1f77b4;color:#fff;padding:0 3px;opacity:.9}
.box.matched{outline-color:#2ca02c}.box.matched .tag{background:#2ca02c}
.box.false{outline-color:#d62728}.box.false .tag{background:#d62728}
.box.gt{outline-style:dashed;outline-color:#2ca02c}.box.gt .tag{background:#2ca02c;top:auto;bottom:0}
.box.gt.missed{outline-color:#ff7f0e;outline-width:3px}.box.gt.missed .tag{background:#ff7f0e}
.box.ignored{outline-color:#999}.box.ignored .tag{background:#999}
.box.kept{outline-color:#2ca02c}.box.kept .tag{background:#2ca02c}
.box.changed{outline-color:#9467bd}.box.changed .tag{background:#9467bd}
.box.removed{outline-color:#d62728}.box.removed .tag{background:#d62728}
.box.added{outline-color:#ff7f0e}.box.added .tag{background:#ff7f0e}
.legend span{display:inline-block;margin-right:1em}
.empty{font-size:1.2em;color:#a00}
"""

# The class and score filter: a box is shown when its class is the one chosen (or all are) and
# its score, where it has one, is at least the control's. Ground-truth boxes have no score.
_SCRIPT = """
(function(){
  var cls=document.getElementById('class-filter'), score=document.getElementById('min-score'),
      value=document.getElementById('min-score-value'), shown=document.getElementById('boxes-shown');
  function apply(){
    var c=cls?cls.value:'', s=score?parseFloat(score.value):0, n=0;
    document.querySelectorAll('.box').forEach(function(b){
      var hide=(c!=='' && b.dataset.label!==c) || (b.dataset.score!==undefined && parseFloat(b.dataset.score)<s);
      b.hidden=hide; if(!hide){n++;}
    });
    if(value){value.textContent=s.toFixed(3);}
    if(shown){shown.textContent=n+' boxes shown';}
  }
  if(cls){cls.addEventListener('change',apply);}
  if(score){score.addEventListener('input',apply);}
  apply();
})();
"""


def assets() -> str:
    """The cards' style and the filter script, for the end of a page's body (another page's too)."""
    return f"<style>{_STYLE}</style>\n<script>{_SCRIPT}</script>"


def document(title: str, body: str) -> str:
    """A whole HTML page around `body` (already HTML), with the shared style and filter script."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n{assets()}\n</body>\n</html>\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], table_id: str | None = None) -> str:
    """An HTML table of escaped cells; numbers are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if isinstance(c, numbers.Number) else f"<td>{html.escape(str(c))}</td>"
                        for c in row)
        body.append(f"<tr>{cells}</tr>")
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def filter_controls(labels: Iterable[str], min_score: float) -> str:
    """The class menu and the score slider, from 0 (every kept detection) to 1, set at `min_score`."""
    options = "".join(f'<option value="{html.escape(n, quote=True)}">{html.escape(n)}</option>'
                      for n in sorted(set(labels)))
    return (f'<div class="controls"><label>class <select id="class-filter"><option value="">all classes</option>'
            f"{options}</select></label> <label>min score "
            f'<input id="min-score" type="range" min="0" max="1" step="any" value="{min_score!r}"></label> '
            f'<output id="min-score-value"></output> &middot; <span id="boxes-shown"></span></div>')


def write_files(output: str, files: Mapping[str, bytes]) -> list[str]:
    """Write `files` (relative name -> bytes) under `output` (a folder or URI); returns their URIs."""
    import fsspec

    written = []
    for relative, data in files.items():
        uri = join(output, relative)
        try:
            fs, path = fsspec.core.url_to_fs(uri)
            if not is_remote(uri):  # object stores have no folders (s3fs would make a bucket)
                fs.makedirs(posixpath.dirname(path), exist_ok=True)
            with fsspec.open(uri, "wb") as f:
                f.write(data)
        except Exception as exc:  # any filesystem's refusal: permissions, missing bucket, a file in the way
            raise OutputError(f"cannot write {redact(uri)}: {first_line(exc)}") from None
        written.append(uri)
    return written


def write_page(output: str, page: str, files: Mapping[str, bytes], name: str = "index.html") -> list[str]:
    """Write `files` (relative name -> bytes) and then the page as `name` under `output` (a folder
    or URI); returns the URIs written, the page last."""
    return write_files(output, {**files, name: page.encode()})
