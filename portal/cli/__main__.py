"""`python -m portal.cli`: the `portal` command without its installed script."""

from portal.cli import main

main()
