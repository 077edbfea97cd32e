#!/usr/bin/env python3
"""Plays a person at a terminal: runs a command in a new pseudo-terminal and follows a script against it.

usage: terminal_session.py SCRIPT.json -- COMMAND [ARGUMENT...]

SCRIPT.json is a list of steps, done in order:
  {"expect": REGEX, "timeout": SECONDS}  wait until the output after the previous match matches REGEX
  {"send": TEXT}                         type TEXT ("\\n" is Enter)
  {"interrupt": true}                    type Ctrl-C (the terminal sends SIGINT to the foreground job)
Then the command has `exit_timeout` seconds (default 20; a last step {"exit_timeout": S} changes it) to end.

Prints one JSON object: {"ok", "failed_step" (index or null), "exit_status", "signal", "output"}; the output is
everything the command wrote, with the terminal's CR LF line ends.

The child starts with every signal unblocked and SIGINT at its default: a test runner's worker thread may have
signals blocked, and a blocked SIGINT would make Ctrl-C do nothing.
"""
import json
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        steps = json.load(f)
    command = sys.argv[3:]

    pid, master = pty.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        os.environ.setdefault("TERM", "xterm")
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)

    output = bytearray()
    position = 0
    exit_timeout = 20.0

    def read_some(until):
        """Reads what the child wrote, for at most until − now seconds; False once the terminal is closed."""
        remaining = max(0.0, until - time.monotonic())
        ready, _, _ = select.select([master], [], [], remaining)
        if not ready:
            return True
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child's side of the terminal is closed
            return False
        if not chunk:
            return False
        output.extend(chunk)
        return True

    failed = None
    for index, step in enumerate(steps):
        if "exit_timeout" in step:
            exit_timeout = float(step["exit_timeout"])
        elif "send" in step:
            os.write(master, step["send"].encode())
        elif step.get("interrupt"):
            os.write(master, b"\x03")
        elif "expect" in step:
            pattern = re.compile(step["expect"].encode(), re.S)
            deadline = time.monotonic() + float(step.get("timeout", 20))
            open_ = True
            while True:
                match = pattern.search(output, position)
                if match:
                    position = match.end()
                    break
                if not open_ or time.monotonic() >= deadline:
                    failed = index
                    break
                open_ = read_some(deadline)
            if failed is not None:
                break

    # Let the command end by itself; kill it when it does not.
    deadline = time.monotonic() + (exit_timeout if failed is None else 0.5)
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw
            break
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            if failed is None:
                failed = len(steps)
            break
        read_some(min(deadline, time.monotonic() + 0.1))
    while read_some(time.monotonic() + 0.05) and select.select([master], [], [], 0)[0]:
        pass
    os.close(master)

    print(json.dumps({
        "ok": failed is None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
        "failed_step": failed,
        "exit_status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "output": output.decode("utf-8", "replace"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
