"""Looking after the store: ``hotspots rekey``, ``hotspots purge`` and ``hotspots audit``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from analytics.errors import HotspotError
from pipelines.cli.common import DbOption, _cell, _reader, _table, app, err, out


# ------------------------------------------------------------------------------------------ rekey

@app.command()
def rekey(
    new_key_file: Path = typer.Option(
        ..., "--new-key-file",
        help="File holding ONE new random key, mode 0600 (e.g. python -c \"import secrets; "
             "print(secrets.token_hex(32))\" > new.key; chmod 600 new.key)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Re-pseudonymise the store under a new key (one transaction, then a fresh file); the key file becomes the chain old+new.

    Example: hotspots rekey --new-key-file new.key
    """
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.rekey import rekey_store
    path = store.resolve_db_path(db)
    with audited(path, "rekey", {"new": str(new_key_file)}) as entry:
        result, key_file = rekey_store(path, new_key_file)
        entry.row_counts = {"pseudonyms": result.pseudonyms, "chain_length": result.chain_length}
        if result.warning:
            entry.warnings.append(result.warning)
    out.print(f"Store {path} re-pseudonymised: {result.pseudonyms} pseudonym(s) mapped and the store rewritten into "
              f"a fresh file; key chain of {result.chain_length} key(s) written to {key_file} (mode 0600). Keep it "
              f"safe; {new_key_file} may now be deleted.")
    if result.warning:
        err.print(f"Warning: {result.warning}", markup=False, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------------ purge

@app.command()
def purge(
    before: Optional[str] = typer.Option(
        None, "--before", help="Remove records dated before this day (YYYY-MM-DD, store time zone): episodes by "
                               "missing_from, reports by observed_at, and their history and quarantined rows."),
    person_ref: Optional[str] = typer.Option(
        None, "--person-ref", help="Remove everything about one young person (the reference as in your exports; "
                                   "it is pseudonymised with the store's key before matching and never recorded)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation (needed when not at a terminal)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be removed."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Delete records for retention or on request, then rewrite the store so nothing removed remains in any byte.

    Example: hotspots purge --before 2019-07-01 --db force.duckdb --yes
    """
    from pipelines import store
    from pipelines.audit import audited
    import dataclasses
    from pipelines.purge import purge_store
    path = store.resolve_db_path(db)
    if before is None and person_ref is None:
        raise HotspotError("Say what to purge: --before DATE and/or --person-ref REF (see hotspots purge --help).")
    what = " and ".join(w for w in ((f"dated before {before}" if before else ""),
                                    ("about the given young person" if person_ref is not None else "")) if w)
    preview = purge_store(path, before, person_ref, dry_run=True)
    if not dry_run and preview.total and not yes:
        if as_json or not sys.stdin.isatty():
            raise HotspotError(f"purge would remove {preview.total} row(s) {what} for good; re-run with --yes to "
                               f"confirm, or --dry-run to see the counts.")
        out.print(f"Records {what} in {path}:", markup=False)
        for table, n in preview.rows.items():
            out.print(f"  {table:26s} {n}", markup=False)
        if not typer.confirm(f"Remove these {preview.total} row(s) for good?", default=False):
            raise HotspotError("purge cancelled; nothing was removed.")
    params = {"before": before, "person_ref": "given" if person_ref is not None else None, "dry_run": dry_run}
    with audited(path, "purge", params) as entry:  # counts only: never the reference
        if dry_run or not preview.total:
            result = dataclasses.replace(preview, dry_run=dry_run)
        else:
            result = purge_store(path, before, person_ref)
        entry.row_counts = dict(result.rows)
        if result.warning:
            entry.warnings.append(result.warning)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    if not result.total:
        out.print(f"purge: no record {what}; nothing was removed.", markup=False)
    else:
        verb = "would remove" if dry_run else "removed"
        out.print(f"purge {verb} {result.total} row(s) {what}: " + ", ".join(
            f"{table} {n}" for table, n in result.rows.items() if n)
            + ("." if dry_run else "; the store was rewritten into a fresh file and its snapshot rebuilt, so "
                                   "nothing removed remains in their bytes."), markup=False)
    if result.warning:
        err.print(f"Warning: {result.warning}", markup=False, highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------------------- audit

@app.command()
def audit(
    db: Optional[Path] = DbOption,
    limit: int = typer.Option(50, "--limit", help="Newest rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """List the audit log: every command run against the store, by whom, with what outcome.

    Example: hotspots audit --limit 20
    """
    from pipelines.audit import entries
    with _reader(db) as st:
        rows = entries(st.con, limit)
    names = ("run_at", "os_user", "command", "parameters", "outcome", "row_counts")
    if as_json:
        print(json.dumps([dict(zip(names, r)) for r in rows], indent=2, default=str))
        return
    table = _table(f"Audit log (newest {len(rows)})", names)
    for r in rows:
        table.add_row(*[_cell(v) for v in r])
    out.print(table)
