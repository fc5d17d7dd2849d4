"""Numbers and tables as text, one way for the report (report.Output, sections), the study
tables (studies.py) and the scripts rbse_study.py / lc_study.py: mean_std and fmt_ms (mean ±
sample std over seeds), md_table (a Markdown table)."""
import html

import numpy as np


def mean_std(x):
    """(mean, sample std with ddof 1 (NaN for one value), n) of the finite values."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, 0
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else np.nan, int(x.size)


def fmt_ms(m, s, n, scale=1.0, digits=2, *, sep="±", spec="f", sd_digits=None, sign="", single=" (n=1)"):
    """'MEAN SEP SD' of (m, s, n) as mean_std gives them, both times scale, formatted with
    digits (SD: sd_digits, default digits) and spec (f: decimals, g: significant digits),
    the mean with sign ('+' for a difference); one value: the mean and `single`; none: '-'."""
    if not n or not np.isfinite(m):
        return "-"
    t = f"{m * scale:{sign}.{digits}{spec}}"
    if np.isfinite(s):
        t += f" {sep} {s * scale:.{digits if sd_digits is None else sd_digits}{spec}}"
    return t + ("" if n > 1 else single)


def md_table(t, floatfmt=None):
    """A Markdown table of the DataFrame t (pandas' to_markdown needs tabulate, which we do
    not assume): a header row, then one row per row of t; float cells formatted with
    floatfmt if given, every other cell as str(); '|' escaped and newlines as spaces, so a
    value from the file cannot break the table; &, < and > as entities, so no value from the
    file is HTML to a Markdown viewer that renders inline HTML."""
    def cell(v):
        if floatfmt and isinstance(v, (float, np.floating)):
            v = format(v, floatfmt)
        return html.escape(str(v), quote=False).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(str(c)) for c in t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join(lines)
