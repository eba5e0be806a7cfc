"""ctflow's convergence studies (-study_csv) as the scripts of docs/convergence.md and docs/continuum.md run them."""
import argparse
import csv
import os
import subprocess


def parse_study_arguments(description):
    """The scripts' command line; --ctflow made absolute (the studies run in the workdir), the workdir created,
    --figures absolute and the workdir by default."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ctflow", required=True)
    p.add_argument("--plot", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--figures", help="directory for the PNG figures (default: the workdir)")
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    os.makedirs(args.workdir, exist_ok=True)
    args.figures = os.path.abspath(args.figures or args.workdir)
    return args


def run_study(args, name, options):
    """ctflow's study with options on 2 ranks in the workdir: (the finished process, the rows of NAME.csv or None if
    ctflow failed, the CSV's path)."""
    path = os.path.join(args.workdir, name + ".csv")
    cmd = ["mpiexec", "--oversubscribe", "-n", "2", args.ctflow, *options, "-study_csv", path]
    print("$", " ".join(cmd[:4] + ["ctflow"] + cmd[5:]), flush=True)
    proc = subprocess.run(cmd, cwd=args.workdir, capture_output=True, text=True)
    if proc.returncode:
        return proc, None, path
    with open(path, newline="") as f:
        return proc, list(csv.DictReader(f)), path


def orders(rows, norm="L2"):
    """The observed orders in the norm ("L2" or "max") of a study's rows that have one."""
    return [float(r[f"order_{norm}"]) for r in rows if r[f"order_{norm}"]]
