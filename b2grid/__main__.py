"""`python -m b2grid` is the `b2grid` command."""

from b2grid.cli import main

main()
