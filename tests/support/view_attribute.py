"""The one-line report of a -<name>_view option against the trajectory attribute that records the same text, and
against the patterns a test expects in it."""
import os
import re
import sys

import h5py


def viewed_line(stdout, prefix, attribute, workdir, trajectory="run.h5"):
    """The text after `prefix: ` printed once (rank 0 only) in stdout, checked equal to the trajectory's attribute."""
    lines = re.findall(rf"^{prefix}: (.*)$", stdout, re.M)
    if len(lines) != 1:
        sys.exit(f"expected one {prefix} line from rank 0, got {lines}:\n{stdout}")
    with h5py.File(os.path.join(workdir, trajectory)) as f:
        value = f.attrs[attribute]
        value = value.decode() if isinstance(value, bytes) else str(value)
    if value != lines[0]:
        sys.exit(f"trajectory attribute {attribute} = {value!r}, the view printed {lines[0]!r}")
    return lines[0]


def expect_in_line(line, *patterns):
    """Exits unless every regular expression of patterns is found in the viewed line; prints the line if they all are."""
    for p in patterns:
        if not re.search(p, line):
            sys.exit(f"'{p}' not in: {line}")
    print("ok:", line)
