"""Writes DIR/index.html (self-contained: inline CSS, images in DIR/figures/), DIR/tables.md,
DIR/figures/*.png and DIR/sweep.yaml from one results file."""
import html
import os
import traceback

import matplotlib.pyplot as plt

from .data import Results
from . import sections

CSS = """body{font-family:sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:12px}
figure{margin:1em 0 2em}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#444}
.error{background:#fee;border:1px solid #c00;padding:.5em}.note{font-size:13px;color:#444}"""


class Output:
    """What sections write into: blocks rendered to HTML and Markdown, figures saved as PNG."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.html, self.md, self.figures, self.tables, self.errors = [], [], [], [], []
        os.makedirs(os.path.join(outdir, "figures"), exist_ok=True)

    def heading(self, title):
        self.html.append(f"<h2>{html.escape(title)}</h2>")
        self.md.append(f"## {title}\n")

    def text(self, html_text, md_text):
        self.html.append(html_text)
        self.md.append(md_text + "\n")

    def code(self, title, text):
        self.html.append(f"<details open><summary>{html.escape(title)}</summary><pre>{html.escape(str(text))}</pre></details>")
        self.md.append(f"{title}:\n\n```\n{text}\n```\n")

    def table(self, title, df, note=""):
        self.tables.append(title)
        cells = df.astype(str)
        self.html.append(f"<h3>{html.escape(title)}</h3>" + cells.to_html(index=False, escape=True, border=0)
                         + (f"<p class='note'>{html.escape(note)}</p>" if note else ""))
        def md_cell(v):
            return str(v).replace("|", "\\|").replace("\n", " ")
        lines = ["| " + " | ".join(md_cell(c) for c in cells.columns) + " |",
                 "|" + "---|" * len(cells.columns)]
        lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in cells.itertuples(index=False)]
        self.md.append(f"### {title}\n\n" + "\n".join(lines) + ("\n\n" + note if note else "") + "\n")

    def figure(self, name, fig, caption):
        fn = f"figures/{name}.png"
        i = 2
        while fn in self.figures:
            fn = f"figures/{name}_{i}.png"
            i += 1
        fig.savefig(os.path.join(self.outdir, fn), dpi=100)
        plt.close(fig)
        self.figures.append(fn)
        self.html.append(f"<figure><img src='{fn}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
                         "</figcaption></figure>")
        self.md.append(f"![{caption}]({fn})\n\n*{caption}*\n")

    def error(self, title, tb):
        self.errors.append(title)
        self.html.append(f"<div class='error'><b>This section failed:</b><pre>{html.escape(tb)}</pre></div>")
        self.md.append(f"**This section failed:**\n\n```\n{tb}\n```\n")


def write_report(path, outdir):
    """Returns the Output (tables, figures, errors) after writing every file."""
    r = Results(path)
    out = Output(outdir)
    name = r.attrs.get("sweep_name", os.path.basename(path))
    title = f"synsweep report: {name}"
    with open(os.path.join(outdir, "sweep.yaml"), "w") as f:
        f.write(r.attrs.get("sweep_yaml", ""))
    for s in sections.applicable(r):
        out.heading(s["title"])
        try:
            s["fn"](r, out)
        except Exception:  # shown on the page (and failing the tests), never hidden
            out.error(s["title"], traceback.format_exc())
    head = (f"<p class='note'>From <code>{html.escape(os.path.abspath(path))}</code>: {len(r.df)} jobs, "
            f"{int((r.df.status == 'ok').sum()) if 'status' in r.df else 0} ok.")
    if r.paper:
        head += f" Reproduces: <b>{html.escape(str(r.paper.get('title', r.paper['id'])))}</b> ({html.escape(r.paper['id'])})."
    head += "</p>"
    page = (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{head}\n" + "\n".join(out.html)
            + "\n</body></html>\n")
    with open(os.path.join(outdir, "index.html"), "w") as f:
        f.write(page)
    with open(os.path.join(outdir, "tables.md"), "w") as f:
        f.write(f"# {title}\n\n" + "\n".join(out.md))
    return out
