"""Writes DIR/index.html (self-contained: inline CSS, images in DIR/figures/), DIR/tables.md,
DIR/figures/*.png and DIR/sweep.yaml from one results file.

Every string from the file is data: Output escapes all text it is given for HTML (text and
attribute values), and figure file names are slugs. Files are first written into a private
temporary directory inside DIR, then moved into place under safeio's rules (nothing replaced
without --force; never a symlink, the input, a side file or an HDF5 file)."""
import html
import os
import re
import shutil
import tempfile
import traceback

import matplotlib.pyplot as plt

from .data import Results
from .fmt import md_table
from .safeio import Refused, Usage, check_input, check_output, install
from . import sections

# What a report writes in DIR (figures/*.png besides); any of them present is a previous report.
REPORT_FILES = ("index.html", "tables.md", "sweep.yaml")
SLUG_MAX = 80


def esc(text):
    """Text for HTML content or a quoted attribute value (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def slug(name):
    """A file name part made of [A-Za-z0-9_.-] only: no slash, quote, control character or
    leading dot (so no '..' and no hidden file), at most SLUG_MAX characters."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))
    s = re.sub(r"\.{2,}", "_", s).lstrip(".")
    return s[:SLUG_MAX] or "figure"

CSS = """body{font-family:sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f0f0f0}pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:12px}
figure{margin:1em 0 2em}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#444}
.error{background:#fee;border:1px solid #c00;padding:.5em}.note{font-size:13px;color:#444}"""


class Output:
    """What sections write into: blocks rendered to HTML and Markdown, figures saved as PNG."""

    def __init__(self, outdir):
        self.outdir = outdir  # the private temporary directory: nobody else writes in it
        self.html, self.md, self.figures, self.tables, self.errors = [], [], [], [], []
        os.makedirs(os.path.join(outdir, "figures"), exist_ok=True)

    def heading(self, title):
        self.html.append(f"<h2>{esc(title)}</h2>")
        self.md.append(f"## {title}\n")

    def text(self, text):
        """A paragraph of plain text (escaped here, so no caller can forget)."""
        self.html.append(f"<p>{esc(text)}</p>")
        self.md.append(f"{text}\n")

    def code(self, title, text):
        self.html.append(f"<details open><summary>{esc(title)}</summary><pre>{esc(text)}</pre></details>")
        self.md.append(f"{title}:\n\n```\n{text}\n```\n")

    def table(self, title, df, note=""):
        self.tables.append(title)
        cells = df.astype(str)
        self.html.append(f"<h3>{esc(title)}</h3>" + cells.to_html(index=False, escape=True, border=0)
                         + (f"<p class='note'>{esc(note)}</p>" if note else ""))
        self.md.append(f"### {title}\n\n" + md_table(cells) + ("\n\n" + note if note else "") + "\n")

    def figure(self, name, fig, caption):
        """name may hold values from the file (lc_acc_{dataset}): its slug names the PNG,
        numbered when two names share a slug."""
        base = slug(name)
        fn = f"figures/{base}.png"
        i = 2
        while fn in self.figures:
            fn = f"figures/{base}_{i}.png"
            i += 1
        fig.savefig(os.path.join(self.outdir, fn), dpi=100)
        plt.close(fig)
        self.figures.append(fn)
        self.html.append(f"<figure><img src='{esc(fn)}' alt='{esc(caption)}'><figcaption>{esc(caption)}"
                         "</figcaption></figure>")
        self.md.append(f"![{caption}]({fn})\n\n*{caption}*\n")

    def error(self, title, tb):
        self.errors.append(title)
        self.html.append(f"<div class='error'><b>This section failed:</b><pre>{esc(tb)}</pre></div>")
        self.md.append(f"**This section failed:**\n\n```\n{tb}\n```\n")


def check_report_dir(outdir, inputs, force):
    """Refuses DIR itself (a symlink, not a directory) and, without force, a DIR that holds a
    previous report (any of REPORT_FILES). Run before the work, and again per file at the end."""
    if not outdir:
        raise Usage("-o", "empty path")
    if os.path.islink(outdir):
        raise Refused(outdir, "a symbolic link: not followed, even with --force")
    if os.path.lexists(outdir) and not os.path.isdir(outdir):
        raise Refused(outdir, "exists and is not a directory")
    for name in REPORT_FILES:
        check_output(os.path.join(outdir, name), inputs, force)
    figs = os.path.join(outdir, "figures")
    if os.path.islink(figs) or (os.path.lexists(figs) and not os.path.isdir(figs)):
        raise Refused(figs, "a symbolic link or not a directory: not followed, even with --force")


def _render(r, out, path):
    """(title, page) after running every applicable section into out."""
    name = r.attrs.get("sweep_name", os.path.basename(path))
    title = f"synsweep report: {name}"
    for s in sections.applicable(r):
        out.heading(s["title"])
        try:
            s["fn"](r, out)
        except Exception:  # shown on the page (and failing the tests), never hidden
            out.error(s["title"], traceback.format_exc())
    head = (f"<p class='note'>From <code>{esc(os.path.abspath(path))}</code>: {len(r.df)} jobs, "
            f"{int((r.df.status == 'ok').sum()) if 'status' in r.df else 0} ok.")
    if r.paper:
        head += f" Reproduces: <b>{esc(r.paper.get('title', r.paper['id']))}</b> ({esc(r.paper['id'])})."
    head += "</p>"
    missing = r.snapshots_missing()
    if missing:
        head += (f"<p class='note'>The snapshots are not available ({esc(missing)}): sections that need "
                 "them are left out.</p>")
    page = (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>{head}\n" + "\n".join(out.html)
            + "\n</body></html>\n")
    return title, page


def _install_all(tmpdir, outdir, figures, inputs, force):
    """Moves the finished files from tmpdir into outdir: every target checked first (so a
    refusal leaves DIR as it was), figures before the page that shows them."""
    check_report_dir(outdir, inputs, force)
    names = list(figures) + list(REPORT_FILES)
    for n in names:
        check_output(os.path.join(outdir, n), inputs, force)
    if figures:
        os.makedirs(os.path.join(outdir, "figures"), exist_ok=True)
        check_report_dir(outdir, inputs, force)  # figures/ made by us, or a real directory
    for n in names:
        install(os.path.join(tmpdir, n), os.path.join(outdir, n), inputs, force)


def write_report(path, outdir, force=False):
    """Returns the Output (tables, figures, errors) after writing every file."""
    inputs = (path,)
    check_input(path)
    check_report_dir(outdir, inputs, force)
    r = Results(path)
    os.makedirs(outdir, exist_ok=True)
    check_report_dir(outdir, inputs, force)
    tmpdir = tempfile.mkdtemp(prefix=".synsweep-report.", dir=outdir)
    try:
        out = Output(tmpdir)
        title, page = _render(r, out, path)
        for name, text in (("sweep.yaml", r.attrs.get("sweep_yaml", "")), ("index.html", page),
                           ("tables.md", f"# {title}\n\n" + "\n".join(out.md))):
            with open(os.path.join(tmpdir, name), "x") as f:
                f.write(str(text))
        _install_all(tmpdir, outdir, out.figures, inputs, force)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out
