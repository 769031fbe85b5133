"""``python -m pipelines`` runs the ``hotspots`` command line."""

from pipelines.cli import main

main()
