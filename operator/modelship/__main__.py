"""`python -m modelship` is the same as the `modelship` command."""

from modelship.cli import main

main()
