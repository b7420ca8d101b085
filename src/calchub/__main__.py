"""``python -m calchub``: the same as the ``calchub`` command."""

from calchub.cli.app import main

main()
