"""The `vault` command (the console script and `python -m vault`): the session agent answers
what it serves (vault.session.thin, standard library only), and the command line runs the rest
(vault.cli, imported only then)."""

from __future__ import annotations

import sys


def main() -> int:
    from vault.session import thin

    argv = sys.argv[1:]
    if argv == ["--version"]:  # argparse's answer, without loading the command line
        from vault import __version__

        sys.stdout.write(f"vault {__version__}\n")
        return 0
    code = thin.serve(argv)
    if code is not None:
        # Served: everything is written (straight to the file descriptors) and this process
        # holds nothing to clean up; ending here skips the interpreter's teardown (1-2 ms).
        thin.end(code)
        return code
    thin.replay_stdin()
    from vault.cli import main as run_here

    return run_here(argv)


if __name__ == "__main__":
    raise SystemExit(main())
