"""synsweep_report: a results file (docs/FORMAT.md) -> a report page, Markdown tables, figures;
and the results table as CSV/TSV/JSON.

    synsweep report FILE -o DIR      (or: python3 -m synsweep_report report FILE -o DIR)
    synsweep export FILE [-o OUT] [--format csv|tsv|json]

Sections are registered in sections.py (`@section(...)`), each with a predicate on the loaded
results (model kinds, rules, axes, the paper the sweep names in `paper:`); RBSE and LC sections
add themselves the same way. Paper reference numbers: papers.py, keyed by paper id.
"""
