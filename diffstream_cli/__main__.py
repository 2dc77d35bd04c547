"""``python -m diffstream_cli`` is the ``diffstream`` command."""

from diffstream_cli.app import main

main()
