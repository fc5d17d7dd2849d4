"""The /results table as CSV, TSV or JSON (one object per job), for tools that cannot read
HDF5 compound datasets (GNU Octave, spreadsheets, awk). CSV/TSV follow RFC 4180 quoting
(a field with the separator, a quote, a newline or a CR is quoted, quotes doubled); NaN is an empty
field in CSV/TSV and null in JSON; reals are written as Python's repr (the shortest text that
reads back to the same double). A CSV/TSV text cell (or column name) that a spreadsheet would
take for a formula, one starting with = + - @ tab or CR (OWASP's list), gets a leading ' so it
opens as text; numbers are numbers, never changed; JSON is not changed.

Nothing is replaced without --force, and never the input, its side files, an HDF5 file or a
symlink (safeio.py); the output is written to a temporary file and renamed into place."""
import argparse
import json
import math
import sys

import numpy as np

from .data import Results
from .safeio import Refused, Usage, check_input, replace_atomically

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(v):
    """A text cell a spreadsheet would evaluate, as text (leading ')."""
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v


def export(path, out, fmt="csv"):
    df = Results(path).df
    if "n_hidden" in df:
        df = df.drop(columns=["n_hidden"])
    if fmt == "json":
        rows = []
        for rec in df.to_dict(orient="records"):
            rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                             int(v) if isinstance(v, (np.integer,)) else float(v) if isinstance(v, np.floating) else v)
                         for k, v in rec.items()})
        json.dump(rows, out, indent=1, allow_nan=False)
        out.write("\n")
    else:
        sep = "," if fmt == "csv" else "\t"
        out.write(sep.join(_text_cell(c, sep) for c in df.columns) + "\n")
        cols = [(_text_cell if df[c].dtype == object else _number_cell) for c in df.columns]
        for row in df.itertuples(index=False):
            out.write(sep.join(f(v, sep) for f, v in zip(cols, row)) + "\n")
    return len(df)


def _text_cell(v, sep):
    """RFC 4180 quoting; unlike Python's csv module (3.11), a CR is quoted too, so a reader
    does not take it for the end of the row."""
    if not isinstance(v, str):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else _text_cell(str(v), sep)
    v = defuse(v)
    return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in (sep, '"', "\n", "\r")) else v


def _number_cell(v, sep):
    """A number as its shortest exact text (reads back to the same double); NaN empty."""
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)


def parser():
    ap = argparse.ArgumentParser(prog="synsweep export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="results file (.h5)")
    ap.add_argument("-o", "--output", help="output file (default: standard output)")
    ap.add_argument("--format", choices=["csv", "tsv", "json"], help="default: from -o's extension, else csv")
    ap.add_argument("--force", action="store_true",
                    help="replace an existing output file (never the input, its side files, an HDF5 file or a symlink)")
    return ap


def to_stdout(path, fmt):
    """Standard output closed (>&-) or failing (a full disk) is an error; a reader that
    stopped early (| head) is not."""
    if sys.stdout is None:
        raise Refused("standard output", "closed (use -o OUT)")
    try:
        export(path, sys.stdout, fmt)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = None  # nothing left to flush at exit
    except OSError as e:
        sys.stdout = None
        raise Refused("standard output", e.strerror or str(e))


def main(argv):
    a = parser().parse_args(argv)
    if a.output == "":
        raise Usage("-o", "empty path")
    check_input(a.file)  # the input's problem first, before any output is looked at
    fmt = a.format or (a.output.rsplit(".", 1)[-1].lower() if a.output and a.output.rsplit(".", 1)[-1].lower()
                       in ("csv", "tsv", "json") else "csv")
    if a.output:
        with replace_atomically(a.output, inputs=(a.file,), force=a.force) as f:
            n = export(a.file, f, fmt)
        print(f"exported {n} rows to {a.output} ({fmt})", file=sys.stderr)
    else:
        to_stdout(a.file, fmt)
    return 0
