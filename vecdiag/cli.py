"""The ``vecdiag`` command line: ``demo``, ``report``, ``check``, ``eval``, ``drift``, ``embed``,
``audit``.

Each sub-command lives in ``vecdiag/commands/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int`` (the exit code). This module only
dispatches and turns errors into one clear line with exit status 2, never a traceback; an
unexpected exception (a bug) prints its traceback and exits with status 3, so a CI gate
never reads a crash as the status 1 of a failed gate.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import zipfile

COMMANDS = ("demo", "report", "check", "eval", "drift", "embed", "audit")


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def as_flags(err: Exception, flags: dict) -> CommandError:
    """``err`` (from the library) with its parameter names written as the command's
    options: 'n_permutations must be at least 1' is '--permutations must be at least 1'
    for ``vecdiag drift``, whose users have no ``n_permutations`` to change.

    Examples
    --------
    >>> str(as_flags(ValueError("max_samples must be at least 10, got 0"),
    ...              {"max_samples": "--max-samples"}))
    '--max-samples must be at least 10, got 0'
    >>> str(as_flags(ValueError("needs 2 queries; use method='randomization'"),
    ...              {"method": "--method"}))
    'needs 2 queries; use --method randomization'
    """
    import re

    text = str(err.args[0]) if err.args else str(err)
    for name, flag in flags.items():
        # "use method='randomization'" is "use --method randomization"
        text = re.sub(rf"(?<![\w-]){re.escape(name)}=(['\"]?)([^'\"\s,;()]+)\1",
                      rf"{flag} \2", text)
        text = re.sub(rf"(?<![\w-]){re.escape(name)}\b", flag, text)
    return CommandError(text)


@contextlib.contextmanager
def options_named(flags: dict):
    """Within the block, a ``ValueError`` from the library is raised again as the
    :class:`CommandError` :func:`as_flags` writes, its parameter names the command's
    options (``flags``: parameter name -> option); the one place the commands that
    pass options through to a library function (``drift``, ``eval``, ``audit``) do it.

    Examples
    --------
    >>> try:
    ...     with options_named({"target": "--target"}):
    ...         raise ValueError("target must be a recall in (0, 1], got 2.0")
    ... except CommandError as err:
    ...     print(err)
    --target must be a recall in (0, 1], got 2.0
    """
    try:
        yield
    except ValueError as err:
        raise as_flags(err, flags) from None


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="vecdiag", description="Diagnose embedding spaces and failing similarity searches.")
    parser.add_argument("--version", action="version", version=f"vecdiag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name and err.name.endswith(f"commands.{name}"):
                continue  # command not available in this build
            raise
        module.add_parser(sub)
    return parser


def writes_unicode(stream=None) -> bool:
    """Whether ``stream`` (default: stdout) can encode every character (a UTF encoding).

    Examples
    --------
    >>> import io
    >>> writes_unicode(io.TextIOWrapper(io.BytesIO(), encoding="cp1252"))
    False
    """
    stream = sys.stdout if stream is None else stream
    encoding = (getattr(stream, "encoding", None) or "").lower()
    return encoding.replace("-", "").replace("_", "").startswith("utf")


def _escape_what_cannot_be_written() -> None:
    """stdout and stderr in a code page (a Windows console, or output redirected to a
    file there: cp1252) write the characters they lack as backslash escapes instead of
    failing: the '≥' of a finding made `vecdiag check > out.txt` a UnicodeEncodeError,
    reported as bad input (exit 2) whatever the corpus."""
    for stream in (sys.stdout, sys.stderr):
        if not writes_unicode(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _quiet_stdout() -> None:
    """Point the process's stdout at devnull (after a broken pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # no real file behind sys.stdout
        pass


def main(argv=None) -> int:
    _escape_what_cannot_be_written()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # the reader stopped early (`vecdiag check --json | head`): not bad input (exit
        # 2). Status 141 as for a process a shell saw die of SIGPIPE; stdout goes to
        # devnull, else Python's flush at exit complains of the closed pipe once more
        _quiet_stdout()
        return 141
    except (CommandError, ValueError, TypeError, OSError, ImportError, KeyError, EOFError,
            zipfile.BadZipFile) as err:   # a file cut short: bad input, exit 2, not "findings"
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"vecdiag {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:   # a bug: not the gate's status 1, which a CI job reads as
        # "a metric dropped" or "a finding failed"; the traceback is for the bug report
        traceback.print_exc()
        print(f"vecdiag {args.command}: internal error ({type(err).__name__}: {err}); this is "
              "a bug in vecdiag, please report it with the traceback above", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    # `python -m vecdiag.cli` runs this file as __main__, a second copy of the module: the
    # commands raise vecdiag.cli.CommandError, which this copy's main() would not catch
    # (a traceback and exit 1, a gate's status). The package's own main() does.
    from vecdiag.cli import main as package_main

    sys.exit(package_main())
