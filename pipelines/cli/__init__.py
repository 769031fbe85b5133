"""The ``hotspots`` command line (Typer). The only place errors become exit codes.

User mistakes (bad files, missing store, wrong key, bad options) are ``HotspotError``s:
they print one line ``Error: ...`` to stderr and exit with code 1, never a traceback.

The app and what the commands share are in :mod:`pipelines.cli.common`; the commands, by job, in
``cmd_setup`` (init, synth), ``cmd_ingest`` (ingest, quarantine), ``cmd_analysis`` (cube, hotspots,
weekly), ``cmd_evaluate`` (evaluate, backtest), ``cmd_admin`` (rekey, purge, audit) and ``cmd_demo``.
They are imported below in the order ``hotspots --help`` lists them (the order they register in).
"""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from analytics.errors import HotspotError, NotEnoughData
from pipelines.cli.common import DbOption, app, err, out
# isort: off -- each import registers its commands: this order is the order of --help and of the
# README's Commands table (tests/pipelines/test_cli_layout.py checks it)
from pipelines.cli.cmd_setup import init, synth
from pipelines.cli.cmd_ingest import INGEST_JSON_KEYS, ingest, quarantine
from pipelines.cli.cmd_analysis import AREA_LAYER_HELP, UNITS_HELP, cube, hotspots, weekly
from pipelines.cli.cmd_evaluate import backtest, evaluate
from pipelines.cli.cmd_admin import audit, purge, rekey
from pipelines.cli.cmd_demo import demo, demo_next_commands
# isort: on
from pipelines.demo import DEMO_ORDER

__all__ = ["AREA_LAYER_HELP", "DEMO_ORDER", "DbOption", "EXIT_CODES", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE",
           "EXIT_USER_ERROR", "INGEST_JSON_KEYS", "UNITS_HELP", "app", "audit", "backtest", "cube", "demo",
           "demo_next_commands", "err", "evaluate", "hotspots", "ingest", "init", "main", "out", "purge",
           "quarantine", "rekey", "synth", "weekly"]


#: The exit codes, one home (the README's exit-code table shows the same; tests check both).
EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70
EXIT_CODES = {
    EXIT_OK: "success (including \"too few events\" / \"no events\", with the output saying so)",
    EXIT_USER_ERROR: "user error, refused file or privacy failure (one line starting Error:)",
    EXIT_USAGE: "usage error: unknown command or option, missing or malformed argument (usage line + Error:)",
    EXIT_INTERNAL: "internal error: one line naming <store>.errors.log, which holds the traceback",
}


def main(argv: Optional[List[str]] = None) -> None:
    """Console entry point: run the app and turn every outcome into one exit code (:data:`EXIT_CODES`).

    ``HotspotError`` -> one ``Error:`` line, exit 1; a usage mistake -> the usage line and one
    ``Error:`` line, exit 2; anything unexpected -> one line naming the error log (the traceback
    goes there, never to the terminal), exit 70.
    """
    from pipelines import cli_errors
    args = list(sys.argv[1:] if argv is None else argv)
    click_exception, click_abort = cli_errors.click_exception_types()
    try:
        code = app(args=args, prog_name="hotspots", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except NotEnoughData as exc:  # an honest outcome, not an error
        if "--json" in args:
            print(json.dumps({"status": exc.status, "message": str(exc)}, indent=2))
        else:
            out.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_OK)
    except HotspotError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        err.print("Interrupted; the store is unchanged for the file being processed.")
        sys.exit(130)
    except click_exception as exc:
        text, code = cli_errors.usage_outcome(exc, app, args)
        if text:
            print(text, file=sys.stderr)
        sys.exit(code)
    except click_abort:
        err.print("Error: aborted.")
        sys.exit(EXIT_USER_ERROR)
    except Exception:  # noqa: BLE001 - the one place an unexpected error becomes a line and a log
        print(cli_errors.report_internal_error(args), file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
