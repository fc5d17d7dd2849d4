"""Writes a smaller copy of a sweep file: fewer epochs, seeds, examples; blocks left out.

    python3 -m synsweep_report.shrink sweeps/cheon_rules.yaml -o small.yaml \\
        --set epochs=20 --set train_size=10000 --keep seed=2 --drop dataset=svhn

--set KEY=VALUE   sets KEY under fixed: (VALUE is YAML: 3, 1e-3, [100, 100]); refused for a
                  key that is a grid axis (use --keep)
--keep KEY=N      keeps the first N values of grid axis KEY in every block
--drop KEY=VALUE  leaves out the grid blocks whose KEY is VALUE (e.g. dataset=svhn)
--name NAME       the new sweep's name (default: the old one + "_small")

Everything else, `paper:` included, is copied; the comments are not (the output starts with a
comment naming its source and this command line). Used for the CI versions of the paper
sweeps and for the reduced runs of docs/RESULTS.md.
"""
import argparse
import sys

import yaml


def _blocks(grid):
    if grid is None:
        return []
    return grid if isinstance(grid, list) else [grid]


def _as_list(v):
    return v if isinstance(v, list) else [v]


def shrink(doc, sets=(), keeps=(), drops=(), name=None):
    """Returns a new sweep mapping; raises ValueError on a bad request."""
    doc = dict(doc)
    fixed = dict(doc.get("fixed") or {})
    grid = doc.get("grid")
    blocks = [dict(b) for b in _blocks(grid)]
    for key, value in drops:
        want = yaml.safe_load(value)
        blocks = [b for b in blocks if not (key in b and _as_list(b[key]) == [want])]
    if grid is not None and not blocks:
        raise ValueError("--drop left no grid block")
    axes = {k for b in blocks for k in b}
    for key, value in sets:
        if key in axes:
            raise ValueError(f"--set {key}: {key} is a grid axis; use --keep {key}=N")
        fixed[key] = yaml.safe_load(value)
    for key, n in keeps:
        if key not in axes:
            raise ValueError(f"--keep {key}: not a grid axis")
        for b in blocks:
            if key in b and isinstance(b[key], list):
                b[key] = b[key][: int(n)]
    doc["name"] = name or (str(doc.get("name", "sweep")) + "_small")
    if fixed:
        doc["fixed"] = fixed
    if grid is not None:
        doc["grid"] = blocks if isinstance(grid, list) else blocks[0]
    return doc


def _pair(s, what):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"{what} takes KEY=VALUE, got '{s}'")
    k, v = s.split("=", 1)
    return k.strip(), v.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m synsweep_report.shrink", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--set", action="append", default=[], type=lambda s: _pair(s, "--set"))
    ap.add_argument("--keep", action="append", default=[], type=lambda s: _pair(s, "--keep"))
    ap.add_argument("--drop", action="append", default=[], type=lambda s: _pair(s, "--drop"))
    ap.add_argument("--name")
    a = ap.parse_args(argv)
    with open(a.sweep) as f:
        doc = yaml.safe_load(f)
    try:
        out = shrink(doc, a.set, a.keep, a.drop, a.name)
    except ValueError as e:
        print(f"shrink: {a.sweep}: {e}", file=sys.stderr)
        return 2
    head = (f"# generated from {a.sweep} by:\n#   python3 -m synsweep_report.shrink "
            + " ".join(sys.argv[1:] if argv is None else argv) + "\n")
    with open(a.output, "w") as f:
        f.write(head)
        yaml.safe_dump(out, f, sort_keys=False, default_flow_style=None, width=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
