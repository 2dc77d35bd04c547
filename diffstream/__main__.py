"""`python -m diffstream` is the `diffstream` command."""

from diffstream.cli import main

main()
