"""`python -m djed.cli`: the same as the `djed` command."""

from djed.cli import main

main()
