"""Sub-commands of the ``vecdiag`` command line, one module each (see ``vecdiag/cli.py``).

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
``run=<function(args) -> exit code>`` with ``parser.set_defaults(run=...)``.
"""
