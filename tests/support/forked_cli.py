"""Run many ``streamscore`` command lines as real processes that share one import of the CLI.

``python -m tests.support.forked_cli`` reads a JSON list of cases (``argv``, ``cwd``, ``env``)
on stdin, imports :mod:`streams.cli` once, and forks one child per case. Each child takes the
case's environment and working directory, points its stdout and stderr at files of its own,
runs ``streams.cli.main(argv)`` as ``python -m streams.cli`` would, and exits with its code.
The parent prints one JSON list of ``{"rc", "stdout", "stderr"}``, in the order of the cases.

Each case is still a process of its own with its own exit code and output; what the children
share is the import of the CLI and of every command's module (what building the parser
imports: ~1.1 CPU-s), which 34 separate interpreters paid 34 times.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def _child(case: dict, out: int, err: int) -> None:
    try:
        os.environ.clear()
        os.environ.update(case["env"])
        os.chdir(case["cwd"])
        os.dup2(out, 1)
        os.dup2(err, 2)
        from streams.cli import main

        try:
            code = main(case["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def run(cases: list[dict]) -> list[dict]:
    import streams.cli

    streams.cli.build_parser()  # imports every command's module once, before the forks

    with tempfile.TemporaryDirectory(prefix="forked-cli-") as tmp:
        running = []
        for i, case in enumerate(cases):
            paths = (f"{tmp}/{i}.out", f"{tmp}/{i}.err")
            fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for p in paths]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(case, *fds)
            for fd in fds:
                os.close(fd)
            running.append((pid, paths))
        results = []
        for pid, (out, err) in running:
            _, status = os.waitpid(pid, 0)
            results.append(
                {
                    "rc": os.waitstatus_to_exitcode(status),
                    "stdout": open(out, errors="replace").read(),  # noqa: SIM115
                    "stderr": open(err, errors="replace").read(),  # noqa: SIM115
                }
            )
    return results


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
