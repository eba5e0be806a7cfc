"""For the end-to-end tests that start ctflow under mpiexec themselves: their command line `OPTIONS -- MPIEXEC...`,
ctflow's command line in a working directory, and the check that fails a test mode."""


class Failure(Exception):
    """A check of a test mode that did not hold; the message says what was found."""


def check(condition, message):
    """Raises Failure(message) unless condition holds."""
    if not condition:
        raise Failure(message)


def parse_with_mpiexec(parser, argv):
    """parser's arguments from argv before `--`, and the mpiexec command (a list) after it; a usage error without one."""
    split = argv.index("--") if "--" in argv else len(argv)
    args, mpiexec = parser.parse_args(argv[:split]), argv[split + 1:]
    if not mpiexec:
        parser.error("no mpiexec command after --")
    return args, mpiexec


class CtflowCommand:
    """The ctflow executable `exe` run under the mpiexec command (a list) in the working directory `cwd`."""

    def __init__(self, exe, mpiexec, cwd):
        self.exe, self.mpiexec, self.cwd = exe, mpiexec, cwd

    def command(self, np_, args):
        """The command line of ctflow with args on np_ ranks."""
        return self.mpiexec + ["-n", str(np_), self.exe] + args
