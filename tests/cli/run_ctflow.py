#!/usr/bin/env python3
"""Runner of the end-to-end tests of ctflow (tests/cli): runs one command in a fresh temporary working directory
and checks its exit status, its stderr and the files it leaves behind.

  run_ctflow.py [checks] -- mpiexec ... ctflow [args]

Relative paths in the checks are relative to the temporary working directory.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from xml.etree import ElementTree


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--expect", choices=("success", "failure"), required=True, help="exit status zero or non-zero")
    p.add_argument("--stderr-once", metavar="REGEX", help="must match stderr exactly once")
    p.add_argument("--stdout-has", metavar="TEXT", action="append", default=[], help="must occur in stdout")
    p.add_argument("--absent", metavar="FILE", action="append", default=[], help="must not exist afterwards")
    p.add_argument("--complete", metavar="FILE", help="must be a complete trajectory file afterwards")
    p.add_argument("--grid", metavar=("NX", "NY"), type=int, nargs=2, help="grid of the --complete file")
    p.add_argument("--states", type=int, help="number of states in the --complete file")
    p.add_argument("--preexisting", metavar="FILE=TEXT", action="append", default=[],
                   help="create FILE with TEXT before the run; it must be unchanged afterwards")
    p.add_argument("--copy", metavar="SRC=NAME", action="append", default=[],
                   help="copy SRC into the working directory as NAME before the run; it must be unchanged afterwards")
    p.add_argument("--mkdir", metavar="DIR", action="append", default=[], help="create directory DIR before the run")
    p.add_argument("--fifo", metavar="NAME", action="append", default=[], help="create a FIFO NAME before the run")
    p.add_argument("--stdout-lacks", metavar="TEXT", action="append", default=[], help="must not occur in stdout")
    p.add_argument("--xml", metavar="FILE", action="append", default=[], help="must be well-formed XML afterwards")
    p.add_argument("--timeout", type=float, default=60, help="seconds before the run counts as a hang")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        p.error("no command given")
    return args


def run(command, cwd, timeout):
    """Run command in its own session; stop it on timeout. Returns (status or None on timeout, stdout, stderr)."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        # SIGTERM first: mpiexec passes it on to the ranks, which live in process groups of their own.
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return None, out, err


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_trajectory(path, grid, states):
    """Problems with a trajectory file that should be complete (empty list: none)."""
    import h5py  # only success tests need it

    problems = []
    try:
        with h5py.File(path, "r") as f:
            status = f.attrs.get("status")
            if isinstance(status, bytes):
                status = status.decode()
            if status != "complete":
                problems.append(f"attribute status is {status!r}, not 'complete'")
            for name in ("time", "step", "grid/x", "grid/y", "u/000000"):
                if name not in f:
                    problems.append(f"dataset /{name} missing")
            if problems:
                return problems
            nx, ny = grid if grid else (len(f["grid/x"]), len(f["grid/y"]))
            if f["grid/x"].shape != (nx,) or f["grid/y"].shape != (ny,):
                problems.append(f"/grid/x, /grid/y have shapes {f['grid/x'].shape}, {f['grid/y'].shape}, expected ({nx},), ({ny},)")
            saved = sorted(f["u"])
            if saved != [f"{k:06d}" for k in range(len(saved))]:
                problems.append(f"/u holds {saved}, not 000000, 000001, ...")
            for name in saved:
                d = f["u"][name]
                if d.shape != (nx, ny) or d.dtype != "float64":
                    problems.append(f"/u/{name} is {d.dtype} of shape {d.shape}, expected float64 ({nx}, {ny})")
            if f["time"].shape != (len(saved),) or f["step"].shape != (len(saved),):
                problems.append(f"/time, /step have shapes {f['time'].shape}, {f['step'].shape} for {len(saved)} states")
            if states is not None and len(saved) != states:
                problems.append(f"{len(saved)} states saved, expected {states}")
    except OSError as e:
        problems.append(f"cannot open it with h5py: {e}")
    return problems


def main():
    args = parse_args()
    work = tempfile.mkdtemp(prefix="ctflow_cli_")
    at = lambda name: os.path.join(work, name)
    for name in args.mkdir:
        os.mkdir(at(name))
    preexisting = dict(item.split("=", 1) for item in args.preexisting)
    for name, text in preexisting.items():
        with open(at(name), "w") as f:
            f.write(text)
    copied = dict(reversed(item.split("=", 1)) for item in args.copy)
    digests = {}
    for name, source in copied.items():
        shutil.copy(source, at(name))
        digests[name] = digest(at(name))
    for name in args.fifo:
        os.mkfifo(at(name))
    made = set(preexisting) | set(copied) | set(args.mkdir) | set(args.fifo)

    status, out, err = run(args.command, work, args.timeout)
    problems = []
    if status is None:
        problems.append(f"timed out after {args.timeout:g} s (killed)")
    elif args.expect == "success" and status != 0:
        problems.append(f"exit status {status}, expected 0")
    elif args.expect == "failure" and status == 0:
        problems.append("exit status 0, expected non-zero")
    if args.stderr_once:
        n = len(re.findall(args.stderr_once, err))
        if n != 1:
            problems.append(f"stderr matches /{args.stderr_once}/ {n} times, expected exactly once")
    if args.expect == "failure":
        n = len(re.findall(r"^ctflow: error", err, re.M))
        if n != 1:
            problems.append(f"stderr has {n} lines 'ctflow: error...', expected exactly one")
    for marker in ("PETSC ERROR", "HDF5-DIAG", "Sanitizer", "runtime error:"):  # the last two: ASan/LSan/UBSan reports
        if marker in err or marker in out:
            problems.append(f"output contains {marker!r}")
    for text in args.stdout_has:
        if text not in out:
            problems.append(f"stdout does not contain {text!r}")
    for text in args.stdout_lacks:
        if text in out:
            problems.append(f"stdout contains {text!r}")
    for name, before in digests.items():
        if digest(at(name)) != before:
            problems.append(f"copied input {name} was modified")
    for name in args.xml:
        try:
            ElementTree.parse(at(name))
        except (OSError, ElementTree.ParseError) as e:
            problems.append(f"{name} is not well-formed XML: {e}")
    if args.expect == "failure":
        left = sorted(set(os.listdir(work)) - made)
        if left:
            problems.append(f"a failing run left files in its working directory: {left}")
    for name in args.absent:
        if os.path.lexists(at(name)):
            problems.append(f"output file {name} exists after the run")
    for name, text in preexisting.items():
        with open(at(name), errors="replace") as f:
            if f.read() != text:
                problems.append(f"pre-existing file {name} was modified")
    if args.complete:
        if not os.path.isfile(at(args.complete)):
            problems.append(f"output file {args.complete} was not written")
        else:
            problems += [f"{args.complete}: {p}" for p in check_trajectory(at(args.complete), args.grid, args.states)]

    if problems:
        print("FAILED: " + " ".join(args.command))
        print(f"  in {work}, exit status {status}, files left: {sorted(os.listdir(work))}")
        for p in problems:
            print("  - " + p)
        print("---- stdout ----\n" + (out if len(out) < 4000 else out[:4000] + "\n[... truncated]"))
        print("---- stderr ----\n" + err)
    else:
        print("ok: " + " ".join(args.command))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
