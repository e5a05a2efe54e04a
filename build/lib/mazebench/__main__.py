"""``python -m mazebench`` (and ``torchrun -m mazebench``) runs the command-line interface."""

from mazebench.cli import main

main()
