#!/usr/bin/env python3
"""Runs a command on a fresh pseudo-terminal of a given size, types lines into it, and prints
everything the terminal showed; exits with the command's exit code.

Node has no pty of its own; `crictl exec -it` refuses a stdin that is not a terminal, and the
window size must be known to check that crictl's resize reaches the container.

usage: pty-run.py ROWS COLS TIMEOUT_S LINE [LINE ...] -- COMMAND [ARG ...]
Each LINE is typed (followed by Enter) once the terminal has been quiet for a moment.
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def main() -> int:
    sep = sys.argv.index('--')
    rows, cols, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    lines, command = sys.argv[4:sep], sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    deadline = time.monotonic() + timeout
    out = bytearray()
    last_output = time.monotonic()
    open_ = True
    while open_ and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the command exited and closed the terminal
                data = b''
            if not data:
                open_ = False
                break
            out += data
            last_output = time.monotonic()
        # The next line once the output has settled (a prompt is waiting), at least 1 s apart.
        elif lines and out and time.monotonic() - last_output > 1.0:
            os.write(fd, lines.pop(0).encode() + b'\r')
            last_output = time.monotonic()
    sys.stdout.buffer.write(bytes(out))
    sys.stdout.flush()
    if open_:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stderr.write(f'pty-run: timed out after {timeout}s\n')
        return 124
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == '__main__':
    sys.exit(main())
