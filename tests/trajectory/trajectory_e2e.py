#!/usr/bin/env python3
"""End-to-end tests of ctflow's trajectory output (tests/trajectory/CMakeLists.txt runs each mode):

  trajectory_e2e.py MODE [--np N] --ctflow EXE -- MPIEXEC...

  ranks              the same run at 1, 2 and 3 ranks writes the same file (states to 1e-13)
  kill-restart       kill -9 a run (twice), check the listed states, -restart, compare bitwise with an uninterrupted run
  restart-truncated  -restart from files cut back the way an interrupted write leaves them
  restart-bad        -restart on bad input: one 'ctflow: error:' line, non-zero exit, nothing changed
  plot               tools/plot_diagnostics.py turns the diagnostics into a PNG
  paraview           open the .xmf in ParaView's three XDMF readers (pvbatch under xvfb-run; missing pvbatch fails)

Every mode works in a fresh temporary directory.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import h5py
import numpy as np

RUN = ["-Nx", "12", "-Ny", "8", "-Lx", "2", "-T", "1", "-dt", "0.125"]  # 9 states, distinct N and L in x and y
LONG = ["-Nx", "24", "-Ny", "8", "-T", "1", "-dt", "0.0025"]              # 401 states, for kill -9
SERIES = ["step", "diagnostics/l2_norm", "diagnostics/max_abs", "diagnostics/mean", "diagnostics/variance", "time"]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Ctflow:
    def __init__(self, exe, mpiexec, cwd):
        self.exe, self.mpiexec, self.cwd = exe, mpiexec, cwd

    def command(self, np_, args):
        return self.mpiexec + ["-n", str(np_), self.exe] + args

    def run(self, np_, args, expect_success=True):
        p = subprocess.run(self.command(np_, args), cwd=self.cwd, capture_output=True, text=True, timeout=240)
        if expect_success and p.returncode != 0:
            raise Failure(f"ctflow {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def start(self, np_, args):
        return subprocess.Popen(self.command(np_, args), cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)


def kill_session(proc):
    """SIGKILL mpiexec and every rank: Open MPI puts ranks in their own process groups, but in mpiexec's session."""
    sid = proc.pid
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:  # field 6 of stat: session id
                    os.kill(int(entry), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    proc.wait()


def xmf_states(path):
    """(time, HDF5 dataset of u) of every grid of the temporal collection."""
    root = ET.parse(path).getroot()
    collection = root.find("Domain/Grid")
    check(collection.get("GridType") == "Collection" and collection.get("CollectionType") == "Temporal", "not a temporal collection")
    return [(float(g.find("Time").get("Value")), g.find("Attribute/DataItem").text.strip()) for g in collection.findall("Grid")]


def listed_count(path):
    try:
        with open(path) as f:
            return f.read().count("<Time ")
    except OSError:
        return 0


def complete_states(f):
    return min(len(f[name]) for name in SERIES)


def compare_files(a, b, exact, ignore_attrs=("options",)):
    """The two trajectories hold the same objects, attributes, series and states (exactly, or states to 1e-13)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        check(sorted(names_a) == sorted(names_b), f"{a} and {b} hold different objects:\n{sorted(names_a)}\n{sorted(names_b)}")
        for key in set(fa.attrs) | set(fb.attrs):
            if key not in ignore_attrs:
                check(key in fa.attrs and key in fb.attrs and np.array_equal(fa.attrs[key], fb.attrs[key]),
                      f"attribute {key} differs between {a} and {b}")
        for name in names_a:
            if not isinstance(fa[name], h5py.Dataset):
                continue
            x, y = fa[name][...], fb[name][...]
            check(x.shape == y.shape and x.dtype == y.dtype, f"{name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            if exact or name in ("time", "step", "grid/x", "grid/y"):
                check(np.array_equal(x, y), f"{name} differs between {a} and {b} (max {np.max(np.abs(x - y)):.3g})")
            else:
                scale = max(1.0, float(np.max(np.abs(x))))
                check(np.max(np.abs(x - y)) <= 1e-13 * scale, f"{name} differs by {np.max(np.abs(x - y)):.3g} between {a} and {b}")


def check_xmf_matches(xmf, h5):
    """The index lists exactly the complete states of h5, with their times, in order."""
    states = xmf_states(xmf)
    with h5py.File(h5, "r") as f:
        n = complete_states(f)
        check(len(states) <= n, f"{xmf} lists {len(states)} states, {h5} completes only {n}")
        for k, (t, item) in enumerate(states):
            check(item == f"{os.path.basename(h5)}:/u/{k:06d}", f"{xmf}: state {k} refers to {item}")
            check(t == f["time"][k], f"{xmf}: time {t} of state {k}, /time has {f['time'][k]}")
            check(f[f"u/{k:06d}"].shape == (f.attrs["N_x"], f.attrs["N_y"]), f"/u/{k:06d} has the wrong shape")
        return len(states), n


def mode_ranks(ctflow, args):
    for np_ in (1, 2, 3):
        ctflow.run(np_, RUN + ["-traj", f"np{np_}.h5"])
    for np_ in (2, 3):
        compare_files(os.path.join(ctflow.cwd, "np1.h5"), os.path.join(ctflow.cwd, f"np{np_}.h5"), exact=False)
        text = [open(os.path.join(ctflow.cwd, f"np{p}.xmf")).read().replace(f"np{p}.h5", "X") for p in (1, np_)]
        check(text[0] == text[1], f"np1.xmf and np{np_}.xmf differ beyond the file name")
    print("np = 1, 2, 3 write the same trajectory")


def kill_when_listed(ctflow, np_, args, xmf, at_least):
    """Starts ctflow, kills it with SIGKILL at a random moment after the index lists at_least states."""
    proc = ctflow.start(np_, args)
    deadline = time.time() + 120
    while listed_count(xmf) < at_least and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(random.uniform(0, 0.05))
    finished = proc.poll() is not None
    kill_session(proc)
    check(not finished or proc.returncode == 0, f"ctflow failed before it was killed: {proc.stderr.read().decode()}")
    return not finished


def mode_kill_restart(ctflow, args):
    h5, xmf, reference = (os.path.join(ctflow.cwd, name) for name in ("run.h5", "run.xmf", "reference.h5"))
    ctflow.run(args.np, LONG + ["-traj", "reference.h5"])
    command, killed = LONG + ["-traj", "run.h5"], True
    for attempt in ("the first run", "the first restart"):
        killed = kill_when_listed(ctflow, args.np, command, xmf, listed_count(xmf) + 3)
        check(killed or attempt != "the first run", "the first run finished before it could be killed")
        if not killed:
            print(f"{attempt} finished before the kill")
            break
        listed, complete = check_xmf_matches(xmf, h5)
        with h5py.File(h5, "r") as f, h5py.File(reference, "r") as ref:
            check(f.attrs["status"] == b"incomplete", f"{attempt}, killed, left status complete")
            for k in range(complete):
                check(np.array_equal(f[f"u/{k:06d}"][...], ref[f"u/{k:06d}"][...]), f"state {k} listed after the kill is not complete")
        print(f"{attempt} killed with {listed} states listed in run.xmf and {complete} complete in run.h5")
        command = LONG + ["-restart", "run.h5"]
    if killed:
        ctflow.run(args.np, command)
    compare_files(h5, reference, exact=True)
    listed, complete = check_xmf_matches(xmf, h5)
    check(listed == complete == 401, f"after the restart run.xmf lists {listed} states and run.h5 completes {complete}")
    print("the restarted run is bitwise identical to the uninterrupted one")


def mode_restart_truncated(ctflow, args):
    """An interrupted write leaves /u/NNNNNN and some series one entry longer than /time: restart drops them."""
    ctflow.run(args.np, RUN + ["-traj", "reference.h5"])
    for case, keep in (("state_unlisted", {}), ("series_partly_appended", {"step": 5, "diagnostics/l2_norm": 5}),
                       ("listed_in_index_only_after_flush", {})):
        h5 = os.path.join(ctflow.cwd, f"{case}.h5")
        shutil.copy(os.path.join(ctflow.cwd, "reference.h5"), h5)
        with h5py.File(h5, "r+") as f:
            f.attrs["status"] = np.bytes_("incomplete")
            for name in SERIES:
                f[name].resize((keep.get(name, 4),))
            if case == "listed_in_index_only_after_flush":
                for k in range(5, 9):
                    del f[f"u/{k:06d}"]
        p = ctflow.run(args.np, RUN + ["-restart", f"{case}.h5"])
        check("restarting from step 3" in p.stdout, f"{case}: expected a restart from step 3:\n{p.stdout}")
        compare_files(h5, os.path.join(ctflow.cwd, "reference.h5"), exact=True)
        check_xmf_matches(os.path.join(ctflow.cwd, f"{case}.xmf"), h5)
    print("restarts from cut-back files reproduce the uninterrupted run")


def sha(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


def mode_restart_bad(ctflow, args):
    d = ctflow.cwd
    ctflow.run(1, RUN + ["-traj", "finished.h5"])
    shutil.copy(os.path.join(d, "finished.h5"), os.path.join(d, "interrupted.h5"))
    with h5py.File(os.path.join(d, "interrupted.h5"), "r+") as f:
        f.attrs["status"] = np.bytes_("incomplete")
        for name in SERIES:
            f[name].resize((4,))
    shutil.copy(os.path.join(d, "interrupted.h5"), os.path.join(d, "state_missing.h5"))
    with h5py.File(os.path.join(d, "state_missing.h5"), "r+") as f:
        del f["u/000002"]
    shutil.copy(os.path.join(d, "interrupted.h5"), os.path.join(d, "truncated.h5"))
    with open(os.path.join(d, "truncated.h5"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(d, "truncated.h5")) // 2)
    with h5py.File(os.path.join(d, "foreign.h5"), "w") as f:
        f["u0"] = np.zeros((12, 8))
    with open(os.path.join(d, "text.h5"), "w") as f:
        f.write("not HDF5\n")
    cases = [
        ("missing", ["-restart", "nothing.h5"], r"-restart file 'nothing\.h5' does not exist"),
        ("not_hdf5", ["-restart", "text.h5"], r"-restart file 'text\.h5' is not an HDF5 file"),
        ("truncated", ["-restart", "truncated.h5"], r"-restart file 'truncated\.h5' cannot be opened by HDF5 \(truncated or corrupt\)"),
        ("foreign", ["-restart", "foreign.h5"], r"'foreign\.h5' is not a ctflow trajectory \(no attribute 'ctflow_version'\)"),
        ("state_missing", ["-restart", "state_missing.h5"], r"'state_missing\.h5' is corrupt: state '/u/000002' is missing"),
        ("finished", ["-restart", "finished.h5"], r"'finished\.h5' holds a finished run \(status 'complete'\)"),
        ("other_Nx", ["-restart", "interrupted.h5", "-Nx", "16"], r"written by a different run: N_x = 12 there, 16 here"),
        ("other_dt", ["-restart", "interrupted.h5", "-dt", "0.25"], r"written by a different run: dt = 0\.125 there, 0\.25 here"),
        ("other_option", ["-restart", "interrupted.h5", "-layernorm_eps", "1e-6"],
         r"written by a different run: option -layernorm_eps unset there, '1e-6' here"),
        ("other_traj", ["-restart", "interrupted.h5", "-traj", "x.h5"], r"-traj 'x\.h5' differs from -restart 'interrupted\.h5'"),
    ]
    files = sorted(os.listdir(d))
    before = {name: sha(os.path.join(d, name)) for name in files}
    for case, extra, regex in cases:
        p = ctflow.run(args.np, RUN + extra, expect_success=False)
        errors = [line for line in p.stderr.splitlines() if line.startswith("ctflow: error")]
        check(p.returncode != 0, f"{case}: ctflow succeeded")
        check(len(errors) == 1 and re.search(regex, errors[0]), f"{case}: expected one error matching {regex!r}, got:\n{p.stderr}")
        check(sorted(os.listdir(d)) == files, f"{case}: files changed: {sorted(set(os.listdir(d)) ^ set(files))}")
        for name in files:
            check(sha(os.path.join(d, name)) == before[name], f"{case}: {name} was modified")
        print(f"{case}: {errors[0]}")


def mode_plot(ctflow, args):
    ctflow.run(args.np, RUN + ["-traj", "run.h5"])
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "plot_diagnostics.py")
    p = subprocess.run([sys.executable, tool, "run.h5", "-o", "d.png"], cwd=ctflow.cwd, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"plot_diagnostics.py failed:\n{p.stdout}\n{p.stderr}")
    with open(os.path.join(ctflow.cwd, "d.png"), "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "plot_diagnostics.py did not write a PNG")
    print(p.stdout.strip())


def mode_paraview(ctflow, args):
    pvbatch, xvfb = shutil.which("pvbatch"), shutil.which("xvfb-run")
    check(pvbatch and xvfb, "pvbatch or xvfb-run not found: install ParaView and Xvfb (Debian: apt-get install paraview xvfb)")
    ctflow.run(args.np, RUN + ["-traj", "pv.h5"])
    with h5py.File(os.path.join(ctflow.cwd, "pv.h5"), "r") as f:
        u = [f[f"u/{k:06d}"][...] for k in range(len(f["time"]))]
        expected = {"times": f["time"][...].tolist(), "x": f["grid/x"][...].tolist(), "y": f["grid/y"][...].tolist(),
                    "ranges": [[float(a.min()), float(a.max())] for a in u], "last": u[-1].ravel().tolist()}
    with open(os.path.join(ctflow.cwd, "expected.json"), "w") as out:
        json.dump(expected, out)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_paraview.py")
    p = subprocess.run([xvfb, "-a", pvbatch, script, os.path.join(ctflow.cwd, "pv.xmf"), os.path.join(ctflow.cwd, "expected.json")],
                       cwd=ctflow.cwd, capture_output=True, text=True, timeout=240)
    print(p.stdout)
    check(p.returncode == 0 and "ParaView check passed" in p.stdout, f"ParaView check failed ({p.returncode}):\n{p.stdout}\n{p.stderr[-4000:]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("ranks", "kill-restart", "restart-truncated", "restart-bad", "plot", "paraview"))
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--ctflow", required=True)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, mpiexec = p.parse_args(argv[:split]), argv[split + 1:]
    if not mpiexec:
        p.error("no mpiexec command after --")
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # read files that a killed run may still lock
    with tempfile.TemporaryDirectory(prefix="ctflow_traj_") as d:
        try:
            globals()["mode_" + args.mode.replace("-", "_")](Ctflow(os.path.abspath(args.ctflow), mpiexec, d), args)
        except Failure as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
