"""What the pvbatch scripts that open ctflow's .xmf files in ParaView share: the comparison of values, and the run over
the (RUN.xmf, EXPECTED.json) pairs of the command line."""
import sys


def close(a, b, tol=1e-12):
    """a and b agree to tol relative to the larger of |a|, |b| and 1."""
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def check_pairs(check, args):
    """Calls check(xmf, expected_json, problems) on each pair of args; exits 1 listing the problems if any were found."""
    problems = []
    for xmf, expected in zip(args[::2], args[1::2]):
        check(xmf, expected, problems)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ParaView check passed")
