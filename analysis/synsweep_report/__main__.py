"""python3 -m synsweep_report {report,export} ... (what `synsweep report` and `synsweep export` run)."""
import argparse
import warnings
import os
import sys

REPORT_HELP = """usage: synsweep report FILE -o DIR [--force]

Turns one results file (and nothing else: a file copied off a cluster works) into
  DIR/index.html     one page to open in a browser: provenance, completion matrix with the
                     command that resumes or retries, mean ± sample std tables, the paper's
                     numbers beside ours (when the sweep names a paper: in its YAML), figures
  DIR/tables.md      the same tables in Markdown
  DIR/figures/*.png  learning curves with seed bands, angle trajectories, effective-rank bars,
                     OOD bars, Table 1 grouped bars, ... (what the file holds)
  DIR/sweep.yaml     the sweep's text (to resume with)
Every string from the file is escaped on the page; figure names are safe slugs. A DIR that
holds any of index.html, tables.md, sweep.yaml (a previous report) is refused unless
  --force            replaces the report's files in DIR (never a symlink, the input, its side
                     files or an HDF5 file; other files in DIR are left alone)
Files are written to a temporary directory in DIR and moved into place when complete. FILE
must be a regular file (a FIFO is refused, never opened).
Runs Debian's python3 with numpy, pandas, matplotlib (scripts/setup.sh installs them) on the
package analysis/synsweep_report; the same as
  PYTHONPATH=analysis /usr/bin/python3 -m synsweep_report report FILE -o DIR
exit status: 0 written; 1 a section failed (shown on the page), the file is unreadable or an
output is refused; 2 usage.
"""


def report_main(argv):
    ap = argparse.ArgumentParser(prog="synsweep report", usage="synsweep report FILE -o DIR [--force]",
                                 description=REPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 add_help=False)
    ap.add_argument("file")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("-h", "--help", action="store_true")
    if any(a in ("-h", "--help") for a in argv):
        print(REPORT_HELP, end="")
        return 0
    a = ap.parse_args(argv)
    from .report import write_report
    out = write_report(a.file, a.output, force=a.force)
    print(f"wrote {os.path.join(a.output, 'index.html')}: {len(out.tables)} tables, {len(out.figures)} figures"
          + (f"; FAILED sections: {', '.join(out.errors)}" if out.errors else ""))
    return 1 if out.errors else 0


def guarded(cmd, fn, argv):
    """fn(argv) with every failure as one line `synsweep CMD: PATH: what is wrong` and exit 1
    (2 for usage), never a traceback: a results file is data, and a bad one is not a bug of
    ours. (A section that fails inside the report is shown on the page instead.)"""
    from .safeio import Refused, Usage
    where = next((x for x in argv if not x.startswith("-")), cmd)
    try:
        return fn(argv)
    except Usage as e:
        print(f"synsweep {cmd}: {e}", file=sys.stderr)
        return 2
    except Refused as e:
        print(f"synsweep {cmd}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except (OSError, MemoryError) as e:
        print(f"synsweep {cmd}: {getattr(e, 'filename', None) or where}: {getattr(e, 'strerror', None) or e}",
              file=sys.stderr)
        return 1
    except Exception as e:  # an unexpected layout in the file (a damaged or foreign file)
        print(f"synsweep {cmd}: {where}: cannot read it ({type(e).__name__}: {e})", file=sys.stderr)
        return 1


def main(argv=None):
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Mean of empty slice")
    warnings.filterwarnings("ignore", message="Degrees of freedom")
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "report":
        return guarded(cmd, report_main, rest)
    if cmd == "export":
        from .export import main as export_main
        return guarded(cmd, export_main, rest)
    if cmd == "shrink":
        from .shrink import main as shrink_main
        return shrink_main(rest)
    print(f"synsweep_report: unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
