"""Builds docs/RESULTS.md from docs/RESULTS.in.md and the results files of the runs, so every
number in it comes from a run (never typed in). Markers in the template:

    <!-- run NAME -->                 the command, ranks, wall time, CPU, host, of results/reduced/NAME.h5
    <!-- table NAME Title of table --> that table of NAME's report (Markdown)
    <!-- figure NAME figname -->       that figure, copied to docs/figures/NAME_figname.png, embedded

    python3 -m synsweep_report.resultsdoc docs/RESULTS.in.md -o docs/RESULTS.md \\
        --results results/reduced --times results/reduced/times.txt [--previous docs/RESULTS.md]

With --previous, a "## " section of the template whose markers name a results file that is
not in --results is copied verbatim from that section (same heading) of the previous page
instead of failing: a new run's section can be added without the older runs' files.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

from .report import write_report
from .data import Results


def _tables_md(md):
    out = {}
    for block in md.split("\n### ")[1:]:
        title, _, body = block.partition("\n")
        body = body.split("\n## ")[0].split("\n![")[0]  # the table and its note, not the figures after it
        out[title.strip()] = body.strip()
    return out


def _sections(text):
    """text cut before each line that starts with '## ' (the first part is what precedes)."""
    return re.split(r"(?m)^(?=## )", text)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m synsweep_report.resultsdoc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("template")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--results", default="results/reduced")
    ap.add_argument("--times", default="results/reduced/times.txt")
    ap.add_argument("--previous", help="the page as generated before: sections whose results files are "
                    "missing are kept from it")
    a = ap.parse_args(argv)
    docdir = os.path.dirname(os.path.abspath(a.output))
    figdir = os.path.join(docdir, "figures")
    os.makedirs(figdir, exist_ok=True)
    times = {}
    if os.path.exists(a.times):
        for line in open(a.times):
            f = line.split()
            if f:
                times[f[0]] = dict(x.split("=", 1) for x in f[1:] if "=" in x)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    reports, tmp = {}, tempfile.mkdtemp()

    def report(name):
        if name not in reports:
            d = os.path.join(tmp, name)
            out = write_report(os.path.join(a.results, name + ".h5"), d)
            if out.errors:
                raise SystemExit(f"resultsdoc: the report of {name} has failed sections: {out.errors}")
            reports[name] = (d, _tables_md(open(os.path.join(d, "tables.md")).read()))
        return reports[name]

    def run(m):
        name = m.group(1)
        r = Results(os.path.join(a.results, name + ".h5"))
        t = times.get(name, {})
        ok = int((r.df.status == "ok").sum())
        hosts = ", ".join(sorted(set(r.df.host) - {""})) if "host" in r.df else "?"
        return (f"```\nOMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SYNSWEEP_DATA=../shared/data \\\n"
                f"  mpirun -n 2 --oversubscribe build/synsweep run sweeps/reduced/{name}.yaml -o results/reduced/{name}.h5\n"
                f"build/synsweep report results/reduced/{name}.h5 -o report/{name}\n```\n"
                f"{len(r.df)} jobs, {ok} ok; 2 MPI ranks on {hosts} ({cpu}, 2 cores shared with other work: the load "
                f"average was {t.get('load', '5 to 16').replace('_', ' ')} {'around this run' if 'load' in t else 'during these runs'}, so "
                f"times are upper bounds); wall time "
                f"{float(t['wall']):.0f} s" if "wall" in t else "wall time not recorded") + \
            (f", started {t.get('started', '?')}; synsweep {r.attrs.get('synsweep_version', '?')}." if t else ".")

    def table(m):
        name, title = m.group(1), m.group(2).strip()
        tables = report(name)[1]
        if title not in tables:
            raise SystemExit(f"resultsdoc: {name} has no table '{title}' (has {list(tables)})")
        return tables[title]

    def figure(m):
        name, fig = m.group(1), m.group(2)
        src = os.path.join(report(name)[0], "figures", fig + ".png")
        dst = f"{name}_{fig}.png"
        shutil.copy(src, os.path.join(figdir, dst))
        return f"![{name}: {fig}](figures/{dst})"

    def fill(part):
        part = re.sub(r"<!-- run (\S+) -->", run, part)
        part = re.sub(r"<!-- table (\S+) (.+?) -->", table, part)
        return re.sub(r"<!-- figure (\S+) (\S+) -->", figure, part)

    text = open(a.template).read()
    if a.previous:
        old = dict((p.partition("\n")[0], p) for p in _sections(open(a.previous).read())[1:])
        parts = _sections(text)
        for i, p in enumerate(parts):
            names = set(re.findall(r"<!-- (?:run|table|figure) (\S+)", p))
            missing = sorted(n for n in names if not os.path.exists(os.path.join(a.results, n + ".h5")))
            head = p.partition("\n")[0]
            if missing and i and head in old:
                print(f"resultsdoc: '{head.strip('# ')}' kept from {a.previous} ({', '.join(missing)} not in "
                      f"{a.results})", file=sys.stderr)
                parts[i] = old[head].rstrip("\n") + ("\n\n" if i + 1 < len(parts) else "\n")
            else:
                parts[i] = fill(p)
        text = "".join(parts)
    else:
        text = fill(text)
    head = ("<!-- generated by python3 -m synsweep_report.resultsdoc from docs/RESULTS.in.md and the results "
            "files; edit the template -->\n")
    with open(a.output, "w") as f:
        f.write(head + text)
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
