"""The /results table as CSV, TSV or JSON (one object per job), for tools that cannot read
HDF5 compound datasets (GNU Octave, spreadsheets, awk). CSV/TSV follow RFC 4180 quoting
(a field with the separator, a quote or a newline is quoted, quotes doubled); NaN is an empty
field in CSV/TSV and null in JSON; reals are written as Python's repr (the shortest text that
reads back to the same double)."""
import json
import math
import sys

import numpy as np

from .data import Results


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
        df.to_csv(out, index=False, sep="," if fmt == "csv" else "\t",
                  na_rep="", lineterminator="\n", quoting=0)
    return len(df)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="synsweep export", description=__doc__)
    ap.add_argument("file", help="results file (.h5)")
    ap.add_argument("-o", "--output", help="output file (default: standard output)")
    ap.add_argument("--format", choices=["csv", "tsv", "json"], help="default: from -o's extension, else csv")
    a = ap.parse_args(argv)
    fmt = a.format or (a.output.rsplit(".", 1)[-1].lower() if a.output and a.output.rsplit(".", 1)[-1].lower()
                       in ("csv", "tsv", "json") else "csv")
    try:
        if a.output:
            with open(a.output, "w", newline="") as f:
                n = export(a.file, f, fmt)
            print(f"exported {n} rows to {a.output} ({fmt})", file=sys.stderr)
        else:
            export(a.file, sys.stdout, fmt)
    except BrokenPipeError:  # e.g. | head
        sys.stdout = None
        return 0
    except OSError as e:
        print(f"synsweep export: {e}", file=sys.stderr)
        return 1
    return 0
