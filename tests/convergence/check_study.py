#!/usr/bin/python3
"""Runs one ctflow convergence study at several rank counts and checks its CSV tables:

  check_study.py --workdir DIR --ranks 1 2 --order 1 [--tol 0.15] [--sensitivity depends|independent] -- MPIEXEC... CTFLOW [ctflow options]

The command is run as MPIEXEC -n P CTFLOW options -study_csv DIR/npP.csv for every P; each run must succeed,
every observed order (L2 and max norm) must be within --tol of --order (no check without --order), and the
tables of all rank counts must agree: sizes exactly, errors to 1e-9 relative (the final states agree to
round-off, ~1e-15, and the errors are ≥ 1e-8 here), orders to 1e-6. With --sensitivity (a study with
-study_sensitivity), every perturbation's verdict must be that the limit depends on the controls, or that no
dependence is resolved.
"""
import argparse
import csv
import os
import subprocess
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True)
    p.add_argument("--ranks", type=int, nargs="+", required=True)
    p.add_argument("--order", type=float)
    p.add_argument("--sensitivity", choices=["depends", "independent"])
    p.add_argument("--tol", type=float, default=0.15)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    mpiexec, rest = cmd[0], cmd[1:]
    # Split "mpiexec [mpiexec options] ctflow [ctflow options]" at the first argument naming ctflow.
    at = next(i for i, a in enumerate(rest) if os.path.basename(a) == "ctflow")
    os.makedirs(args.workdir, exist_ok=True)
    tables, problems = {}, []
    for np_ in args.ranks:
        path = os.path.join(args.workdir, f"np{np_}.csv")
        run = [mpiexec, *rest[:at], "-n", str(np_), rest[at], *rest[at + 1:], "-study_csv", path]
        proc = subprocess.run(run, cwd=args.workdir, capture_output=True, text=True, timeout=300)
        sys.stdout.write(proc.stdout)
        if proc.returncode:
            sys.exit(f"np {np_}: ctflow failed ({proc.returncode}):\n{proc.stderr}")
        with open(path, newline="") as f:
            tables[np_] = list(csv.DictReader(f))
        for r in tables[np_]:
            for col in ("order_L2", "order_max"):
                if args.order is not None and r[col] and abs(float(r[col]) - args.order) > args.tol:
                    problems.append(f"np {np_}, level {r['level']}: {col} = {r[col]}, expected {args.order} ± {args.tol}")
        if not any(r["order_L2"] for r in tables[np_]):
            problems.append(f"np {np_}: the table has no orders")
        if args.sensitivity:
            verdict = {"depends": "the limit depends on the controls", "independent": "no dependence on the controls resolved"}[args.sensitivity]
            blocks, found = proc.stdout.count("Sensitivity to the controls"), proc.stdout.count(verdict)
            if not blocks or found != blocks:
                problems.append(f"np {np_}: {found} of {blocks} sensitivity verdicts say '{verdict}'")
    first = tables[args.ranks[0]]
    for np_ in args.ranks[1:]:
        for a, b in zip(first, tables[np_]):
            for col in a:
                if col in ("level", "Nx", "Ny", "Nh"):
                    ok = a[col] == b[col]
                elif not a[col] or not b[col]:
                    ok = a[col] == b[col]
                else:
                    x, y = float(a[col]), float(b[col])
                    ok = abs(x - y) <= (1e-6 if col.startswith("order") else 1e-9 * abs(x))
                if not ok:
                    problems.append(f"level {a['level']}, {col}: np {args.ranks[0]} has {a[col]}, np {np_} has {b[col]}")
    if problems:
        sys.exit("\n".join(problems))
    if args.order is not None:
        print(f"observed orders within {args.order} ± {args.tol}")
    if args.sensitivity:
        print(f"sensitivity: {args.sensitivity}")
    print(f"tables agree on ranks {args.ranks}")


if __name__ == "__main__":
    main()
