#!/usr/bin/env python3
"""End-to-end tests of ctflow's trajectory output (tests/trajectory/CMakeLists.txt runs each mode):

  trajectory_e2e.py MODE [--np N] --ctflow EXE -- MPIEXEC...

  ranks              the same run at 1, 2 and 3 ranks writes the same file (states to 1e-13)
  kill-restart       kill -9 a run (twice), check the listed states, -restart, compare bitwise with an uninterrupted run
  restart-truncated  -restart from files cut back the way an interrupted write leaves them
  restart-bad        -restart on bad input: one 'ctflow: error:' line, non-zero exit, nothing changed
  plot               tools/plot_diagnostics.py turns the diagnostics into a PNG
  paraview           open the .xmf files (states, -traj_substeps frames, -traj_attention maps) in ParaView's three XDMF
                     readers (pvbatch under xvfb-run; missing pvbatch fails)
  substeps           -traj_substeps: frames, names, times, intervals, last frame = state, avg/sum frames; np > 1 vs np 1
  attention          -traj_attention and the attention entropy against numpy's eq. (6)/(37) on layered controls
  substeps-restart   -restart with frames and maps: from cut-back files and after kill -9, bitwise
  content-bad        -traj_attention without an attention leaf or over -traj_attention_max_mb, frames without a file
  kill-sweep         kill -9 a run just before each of its file changes in turn (--preload kill_at_write.so; --stride,
                     --content): every time, what is left opens, lists only complete states, and -restart finishes it bitwise

Every mode works in a fresh temporary directory.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mpiexec_ctflow import CtflowCommand, Failure, check, parse_with_mpiexec  # noqa: E402
from mpi_session import kill_session  # noqa: E402

RUN = ["-Nx", "12", "-Ny", "8", "-Lx", "2", "-T", "1", "-dt", "0.125"]  # 9 states, distinct N and L in x and y
LONG = ["-Nx", "24", "-Ny", "8", "-T", "1", "-dt", "0.0025"]              # 401 states, for kill -9
SERIES = ["step", "diagnostics/l2_norm", "diagnostics/max_abs", "diagnostics/mean", "diagnostics/variance", "time"]


class Ctflow(CtflowCommand):
    def run(self, np_, args, expect_success=True, env=None):
        p = subprocess.run(self.command(np_, args), cwd=self.cwd, capture_output=True, text=True, timeout=240,
                           env=dict(os.environ, **env) if env else None)
        if expect_success and p.returncode != 0:
            raise Failure(f"ctflow {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def start(self, np_, args):
        return subprocess.Popen(self.command(np_, args), cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)


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


def object_names(f):
    """Every object of a trajectory, through the index's external links into the segments (h5py's visit stops at them)."""
    names = []

    def walk(group, prefix):
        for key in group.keys():
            names.append(prefix + key)
            if isinstance(group[key], h5py.Group):
                walk(group[key], prefix + key + "/")
    walk(f, "")
    return names


def compare_files(a, b, exact, ignore_attrs=("options", "run_id")):
    """The two trajectories hold the same objects, attributes, series and states (exactly, or states to 1e-13)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = object_names(fa), object_names(fb)
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
            if x.dtype.kind == "S":
                check(np.array_equal(x, y), f"{name} differs between {a} and {b}")
            elif exact or name in ("time", "step", "grid/x", "grid/y", "grid/h", "substeps/step", "substeps/time", "substeps/interval"):
                check(np.array_equal(x, y), f"{name} differs between {a} and {b} (max {np.max(np.abs(x - y)):.3g})")
            else:
                scale = max(1.0, float(np.max(np.abs(x))))
                check(np.max(np.abs(x - y)) <= 1e-13 * scale, f"{name} differs by {np.max(np.abs(x - y)):.3g} between {a} and {b}")


def segment_item(f, name):
    """The segment dataset that the index's external link `name` points to, as the .xmf names it ("run.d/000003.h5:/u")."""
    link = f.get(name, getlink=True)
    check(isinstance(link, h5py.ExternalLink), f"{name} is not an external link into a segment")
    return f"{link.filename}:{link.path}"


def check_xmf_matches(xmf, h5):
    """The index lists exactly the complete states of h5, with their times, in order."""
    states = xmf_states(xmf)
    with h5py.File(h5, "r") as f:
        n = complete_states(f)
        check(len(states) <= n, f"{xmf} lists {len(states)} states, {h5} completes only {n}")
        for k, (t, item) in enumerate(states):
            check(item == segment_item(f, f"u/{k:06d}"), f"{xmf}: state {k} refers to {item}")
            check(t == f["time"][k], f"{xmf}: time {t} of state {k}, /time has {f['time'][k]}")
            check(f[f"u/{k:06d}"].shape == (f.attrs["N_x"], f.attrs["N_y"]), f"/u/{k:06d} has the wrong shape")
        return len(states), n


def mode_ranks(ctflow, args):
    for np_ in (1, 2, 3):
        ctflow.run(np_, RUN + ["-traj", f"np{np_}.h5"])
    for np_ in (2, 3):
        compare_files(os.path.join(ctflow.cwd, "np1.h5"), os.path.join(ctflow.cwd, f"np{np_}.h5"), exact=False)
        text = [open(os.path.join(ctflow.cwd, f"np{p}.xmf")).read().replace(f"np{p}.h5", "X").replace(f"np{p}.d/", "X/") for p in (1, np_)]
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
    kill_restart(ctflow, args, LONG, 401)


def kill_restart(ctflow, args, run, num_states):
    """Kill -9 a run (twice), restart it, and compare with an uninterrupted run bitwise."""
    h5, xmf, reference = (os.path.join(ctflow.cwd, name) for name in ("run.h5", "run.xmf", "reference.h5"))
    ctflow.run(args.np, run + ["-traj", "reference.h5"])
    command, killed = run + ["-traj", "run.h5"], True
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
        command = run + ["-restart", "run.h5"]
    if killed:
        ctflow.run(args.np, command)
    compare_files(h5, reference, exact=True)
    listed, complete = check_xmf_matches(xmf, h5)
    check(listed == complete == num_states, f"after the restart run.xmf lists {listed} states and run.h5 completes {complete}")
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
    """Of a file, or of a directory's files (a trajectory's segments)."""
    if os.path.isdir(path):
        return hashlib.sha256("".join(name + str(sha(os.path.join(path, name))) for name in sorted(os.listdir(path))).encode()).hexdigest()
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
    """The states, the frames of the saved steps 4 and 8 (16) and the attention maps (h, x, η), each in its own .xmf."""
    pvbatch, xvfb = shutil.which("pvbatch"), shutil.which("xvfb-run")
    check(pvbatch and xvfb, "pvbatch or xvfb-run not found: install ParaView and Xvfb (Debian: apt-get install paraview xvfb)")
    ctflow.run(args.np, RUN + ["-traj_every", "4", "-traj_substeps", "-traj_attention", "-traj", "pv.h5"])
    pairs = []
    with h5py.File(os.path.join(ctflow.cwd, "pv.h5"), "r") as f:
        x, y, h = (f[f"grid/{a}"][...].tolist() for a in "xyh")
        for suffix, group, field, times, axes in (("", "u", "u", f["time"], [x, y]), ("_substeps", "substeps/u", "u", f["substeps/time"], [x, y]),
                                                  ("_attention", "attention", "gamma", f["time"], [h, x, x])):
            data = [f[f"{group}/{k:06d}"][...] for k in range(len(times))]
            expected = {"field": field, "axes": axes, "times": times[...].tolist(), "ranges": [[float(a.min()), float(a.max())] for a in data],
                        "last": data[-1].ravel().tolist()}
            check(len(data) == {"": 3, "_substeps": 16, "_attention": 3}[suffix], f"pv{suffix}.xmf: {len(data)} entries")
            with open(os.path.join(ctflow.cwd, f"expected{suffix}.json"), "w") as out:
                json.dump(expected, out)
            pairs += [os.path.join(ctflow.cwd, f"pv{suffix}.xmf"), os.path.join(ctflow.cwd, f"expected{suffix}.json")]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_paraview.py")
    p = subprocess.run([xvfb, "-a", pvbatch, script] + pairs, cwd=ctflow.cwd, capture_output=True, text=True, timeout=240)
    print(p.stdout)
    check(p.returncode == 0 and "ParaView check passed" in p.stdout, f"ParaView check failed ({p.returncode}):\n{p.stdout}\n{p.stderr[-4000:]}")


# -traj_substeps: the nodes that make frames in one step of the paper's Lie scheme and of Strang's, with their
# sub-intervals as fractions (a, b) of the step (solver/timestepping/composition.hpp).
FFN_BLOCK = [("ffn1", 0, 1), ("relu", 0, 1), ("ffn2", 0, 1), ("relu", 0, 1)]
SKIP = "avg(seq(ffn1, relu, ffn2, relu), identity)"
LIE_FRAMES = [("attention", 0, 1), ("layernorm", 0, 1)] + FFN_BLOCK + [(SKIP, 0, 1), ("layernorm", 0, 1)]
STRANG_FRAMES = ([("attention[0, 0.5]", 0, 0.5), ("layernorm[0, 0.5]", 0, 0.5)] + [(n, 0, 0.5) for n, _, _ in FFN_BLOCK] +
                 [(SKIP + "[0, 0.5]", 0, 0.5), ("layernorm", 0, 1)] + [(n, 0.5, 1) for n, _, _ in FFN_BLOCK] +
                 [(SKIP + "[0.5, 1]", 0.5, 1), ("layernorm[0.5, 1]", 0.5, 1), ("attention[0.5, 1]", 0.5, 1)])
SUM_TREE = "seq(attention, sum(ffn1, ffn2[0, 1/2]), layernorm)"
SUM_FRAMES = [("attention", 0, 1), ("ffn1", 0, 1), ("ffn2[0, 0.5]", 0, 0.5), ("sum(ffn1, ffn2[0, 0.5])", 0, 1), ("layernorm", 0, 1)]
FRAME_SERIES = ["substeps/step", "substeps/name", "substeps/interval", "substeps/time"]
DT = 0.125  # of RUN


def frame(f, k):
    return f[f"substeps/u/{k:06d}"][...]


def check_frames(h5, per_step, saved_steps):
    """Frames = saved steps × frames per step, with their names, steps, intervals and times as documented
    (docs/trajectory-format.md); the last frame of every step is its saved state, bit for bit."""
    with h5py.File(h5, "r") as f:
        n = min(len(f[name]) for name in FRAME_SERIES)
        steps, intervals, times = f["substeps/step"][:n], f["substeps/interval"][:n], f["substeps/time"][:n]
        names = [b.decode() for b in f["substeps/name"][:n]]
        M = len(per_step)
        check(n == M * len(saved_steps) and all(len(f[s]) == n for s in FRAME_SERIES), f"{h5}: {n} frames, expected {M} × {len(saved_steps)}")
        check(len(f["substeps/u"]) == n, f"{h5}: {len(f['substeps/u'])} frame datasets for {n} listed frames")
        state_of = {int(s): k for k, s in enumerate(f["step"][...])}
        for j, step in enumerate(saved_steps):
            t0, t1 = (step - 1) * DT, min(step * DT, 1.0)
            for i, (name, a, b) in enumerate(per_step):
                k = j * M + i
                check(steps[k] == step and names[k] == name, f"{h5} frame {k}: step {steps[k]} '{names[k]}', expected {step} '{name}'")
                # the i-th of M frames of [t^n, t^{n+1}] is shown at t^n + (i + 1)/M Δt (computed as the writer does: exact)
                want = t1 if i + 1 == M else t0 + (i + 1) / M * (t1 - t0)
                check(times[k] == want, f"{h5} frame {k}: time {times[k]!r}, expected {want!r}")
                # the node's true sub-interval t^n + [a, b] Δt (dyadic here: exact)
                check(np.array_equal(intervals[k], [t0 + a * DT, t0 + b * DT]), f"{h5} frame {k}: interval {intervals[k]}, expected {a}, {b} of the step")
            last = frame(f, j * M + M - 1)
            check(np.array_equal(last, f[f"u/{state_of[step]:06d}"][...]), f"{h5}: the last frame of step {step} is not its saved state")
        check(np.all(np.diff(times) > 0), f"{h5}: frame times are not strictly increasing")
        items = [segment_item(f, f"substeps/u/{k:06d}") for k in range(n)]
    xmf = os.path.splitext(h5)[0] + "_substeps.xmf"
    listed = xmf_states(xmf)
    check([t for t, _ in listed] == list(times), f"{xmf}: times differ from /substeps/time")
    check([item for _, item in listed] == items, f"{xmf}: wrong datasets")


def close_to(a, b, tol, what):
    """|a − b| ≤ tol · max(1, |b|): round-off of a few operations on values of size |b|."""
    err = np.max(np.abs(a - b))
    check(err <= tol * max(1.0, float(np.max(np.abs(b)))), f"{what}: differs by {err:.3g}")


def mode_substeps(ctflow, args):
    d = ctflow.cwd
    ctflow.run(args.np, RUN + ["-traj_substeps", "-traj", "lie.h5"])
    check_frames(os.path.join(d, "lie.h5"), LIE_FRAMES, range(1, 9))
    with h5py.File(os.path.join(d, "lie.h5"), "r") as f:
        for j in range(8):
            # avg(v0, identity): the average of branch 0's last frame and the state the group started from,
            # the first layernorm's frame. One addition and one halving: 1 ulp of the values.
            k = 8 * j
            close_to(frame(f, k + 6), 0.5 * (frame(f, k + 5) + frame(f, k + 1)), 2.3e-16, f"avg frame of step {j + 1}")
    print("Lie: 64 frames, names, times, intervals, last frame = state, avg frame = mean of its branches")
    ctflow.run(args.np, RUN + ["-split", "strang", "-traj_every", "3", "-traj_substeps", "-traj", "strang.h5"])
    check_frames(os.path.join(d, "strang.h5"), STRANG_FRAMES, [3, 6, 8])
    print("Strang, every 3rd step: frames of steps 3, 6, 8 only, half-step intervals")
    ctflow.run(args.np, RUN + ["-split_tree", SUM_TREE, "-traj_substeps", "-traj", "sum.h5"])
    check_frames(os.path.join(d, "sum.h5"), SUM_FRAMES, range(1, 9))
    with h5py.File(os.path.join(d, "sum.h5"), "r") as f:
        for j in range(8):
            # sum(v1, v2) = v1 + v2 − u^n, u^n the attention frame; three additions: a few ulps
            k = 5 * j
            close_to(frame(f, k + 3), frame(f, k + 1) + frame(f, k + 2) - frame(f, k), 1e-15, f"sum frame of step {j + 1}")
    print("sum: branch frames advance copies of u^n, the group frame is v1 + v2 - u^n")
    if args.np > 1:
        for name in ("lie", "strang", "sum"):
            extra = {"lie": [], "strang": ["-split", "strang", "-traj_every", "3"], "sum": ["-split_tree", SUM_TREE]}[name]
            ctflow.run(1, RUN + extra + ["-traj_substeps", "-traj", f"{name}_np1.h5"])
            compare_files(os.path.join(d, f"{name}_np1.h5"), os.path.join(d, f"{name}.h5"), exact=False)
        print(f"np = 1 and {args.np} write the same frames")


def write_layered_controls(path, L, Nh, Ny, causal, seed):
    """The paper's kernels (d_head = N_y, no W^O): WQ, WK, WV, two FFN layers, σ1 = 0, σ2 = 1 per layer."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for n in range(L):
            g = f.create_group(f"layers/{n}")
            for name in ("WQ", "WK", "WV"):
                g[name] = rng.normal(0, 0.7, (Nh, Ny, Ny))
            for j in (1, 2):
                g[f"W{j}"] = rng.normal(0, 0.3, (Ny, Ny))
                g[f"b{j}"] = rng.normal(0, 0.1, Ny)
            g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0
        f.attrs["causal"] = 1.0 if causal else 0.0
    with h5py.File(path, "r") as f:
        return [{name: f[f"layers/{n}/{name}"][...] for name in ("WQ", "WK", "WV")} for n in range(L)]


def numpy_gamma(u, layer, dx, dy, Ly, causal):
    """γ(x_k, η_j, h_m) of eq. (6)/(37) by the midpoint rule: a = s ⟨Q, K⟩_Ωy, s = 1/sqrt(|Ω_y|), Q = ∫ W^Q u dξ, …;
    γ = exp(a) / ∫ exp(a) dη (over η ≤ x when causal)."""
    Nx = u.shape[0]
    out = []
    for WQ, WK in zip(layer["WQ"], layer["WK"]):
        Q, K = dy * u @ WQ, dy * u @ WK
        a = (1 / np.sqrt(Ly)) * dy * Q @ K.T
        if causal:
            a = np.where(np.tril(np.ones((Nx, Nx), bool)), a, -np.inf)
        e = np.exp(a - a.max(axis=1, keepdims=True))
        out.append(e / (dx * e.sum(axis=1, keepdims=True)))
    return np.array(out)


def entropy_of(gamma, dx):
    """Mean over heads and tokens of −∫ γ log γ dη by the midpoint rule (0 log 0 = 0)."""
    g = np.where(gamma > 0, gamma, 1.0)
    return float(np.mean(-np.sum(gamma * np.log(g), axis=-1) * dx))


def mode_attention(ctflow, args):
    """Layered controls, 2 layers, N_h = 2, N_y = 6, on N_x = 10 tokens with Δx = 0.5 and Δt = 1/2 (states at
    t = 0, ½, 1, 3/2, 2: the maps of a state use the layer at t, the final one the last layer)."""
    d = ctflow.cwd
    Nx, Ny, Nh, Lx, L = 10, 6, 2, 5.0, 2
    dx, dy = Lx / Nx, 1.0
    for causal in (False, True):
        tag = "causal" if causal else "full"
        layers = write_layered_controls(os.path.join(d, f"{tag}.h5"), L, Nh, Ny, causal, seed=3 + causal)
        run = ["-controls", f"{tag}.h5", "-Nx", str(Nx), "-Lx", str(Lx), "-dt", "0.5"]
        ctflow.run(args.np, run + ["-traj_attention", "-traj_entropy", "-traj", f"{tag}_maps.h5"])
        ctflow.run(args.np, run + ["-traj_entropy", "-traj", f"{tag}_entropy.h5"])
        with h5py.File(os.path.join(d, f"{tag}_maps.h5"), "r") as f, h5py.File(os.path.join(d, f"{tag}_entropy.h5"), "r") as g:
            times, H = f["time"][...], f["diagnostics/attention_entropy"][...]
            check(list(times) == [0, 0.5, 1, 1.5, 2], f"{tag}: times {times}")
            check("attention" not in g and np.array_equal(g["diagnostics/attention_entropy"][...], H),
                  f"{tag}: the entropy without -traj_attention differs (or maps were written)")
            for k, t in enumerate(times):
                gamma, u = f[f"attention/{k:06d}"][...], f[f"u/{k:06d}"][...]
                check(gamma.shape == (Nh, Nx, Nx), f"{tag}: map {k} has shape {gamma.shape}")
                # every row is a probability density in η: Σ_j γ Δx = 1 (N_x terms of size 1: 1e-13)
                close_to(gamma.sum(axis=-1) * dx, np.ones((Nh, Nx)), 1e-13, f"{tag} map {k}: Σ γ Δx")
                if causal:
                    check(np.all(gamma[:, ~np.tril(np.ones((Nx, Nx), bool))] == 0), f"{tag} map {k}: γ ≠ 0 for η > x")
                layer = layers[min(int(t), L - 1)]
                # independent evaluation of eq. (6)/(37); scores of size ~10 after exp: 1e-12 relative
                close_to(gamma, numpy_gamma(u, layer, dx, dy, Ny * dy, causal), 1e-12, f"{tag} map {k} vs numpy")
                # the stored entropy is that of the stored maps (sums of N_x N_h terms: 1e-12)
                check(abs(H[k] - entropy_of(gamma, dx)) <= 1e-12 * max(1, abs(H[k])), f"{tag} state {k}: entropy {H[k]} vs {entropy_of(gamma, dx)}")
            check(np.all(H <= np.log(Lx) + 1e-12), f"{tag}: entropy above the uniform density's log L_x: {H}")
        listed = xmf_states(os.path.join(d, f"{tag}_maps_attention.xmf"))
        check([t for t, _ in listed] == list(times) and [i for _, i in listed] == [f"{tag}_maps.d/{k:06d}.h5:/attention" for k in range(5)],
              f"{tag}_maps_attention.xmf lists {listed}")
        if args.np > 1:
            ctflow.run(1, run + ["-traj_attention", "-traj_entropy", "-traj", f"{tag}_np1.h5"])
            compare_files(os.path.join(d, f"{tag}_np1.h5"), os.path.join(d, f"{tag}_maps.h5"), exact=False)
        print(f"{tag}: rows integrate to 1, maps = numpy eq. (6)/(37), entropy = numpy's, entropy {np.round(H, 4)}"
              + (f", np 1 = np {args.np}" if args.np > 1 else ""))
    if args.np > 1:
        # Row blocks: N_h N_x = 2200 values per row, 953 rows per block (solver/output/trajectory_writer.hpp), so np 1 writes
        # two blocks of different sizes and np 2 one block per rank; the files agree.
        big = ["-Nx", "1100", "-Ny", "4", "-Nh", "2", "-Lx", "2", "-T", "0.125", "-dt", "0.125", "-traj_attention", "-traj_entropy"]
        ctflow.run(1, big + ["-traj", "big_np1.h5"])
        ctflow.run(args.np, big + ["-traj", "big.h5"])
        compare_files(os.path.join(d, "big_np1.h5"), os.path.join(d, "big.h5"), exact=False)
        with h5py.File(os.path.join(d, "big.h5"), "r") as f:
            close_to(f["attention/000001"][...].sum(axis=-1) * 2 / 1100, np.ones((2, 1100)), 1e-13, "N_x = 1100: Σ γ Δx")
        print(f"N_x = 1100 in row blocks: np 1 = np {args.np}")


SUB = ["-traj_substeps", "-traj_attention", "-traj_entropy"]


def mode_substeps_restart(ctflow, args):
    d = ctflow.cwd
    ctflow.run(args.np, RUN + SUB + ["-traj", "full.h5"])
    series = SERIES[:-1] + ["diagnostics/attention_entropy", "time"]
    # State 3 complete; the frames of steps 4… written (all, or part of step 5 with the series unevenly appended).
    for case, frames in (("frames_beyond_the_state", {}), ("frames_partly_listed", {"substeps/step": 37, "substeps/name": 36, "substeps/time": 34})):
        h5 = os.path.join(d, f"{case}.h5")
        shutil.copy(os.path.join(d, "full.h5"), h5)
        with h5py.File(h5, "r+") as f:
            f.attrs["status"] = np.bytes_("incomplete")
            for name in series:
                f[name].resize((4,))
            for name, n in frames.items():
                f[name].resize((n,) + f[name].shape[1:])
        p = ctflow.run(args.np, RUN + SUB + ["-restart", f"{case}.h5"])
        check("restarting from step 3" in p.stdout, f"{case}: expected a restart from step 3:\n{p.stdout}")
        compare_files(h5, os.path.join(d, "full.h5"), exact=True)
        for suffix in ("", "_substeps", "_attention"):
            # the copied index still links the states up to the restart to full.d/, the restart's own to {case}.d/
            text = [open(os.path.join(d, f"{name}{suffix}.xmf")).read().replace(f"{name}.h5", "X").replace(f"{case}.d/", "X/").replace("full.d/", "X/")
                    for name in (case, "full")]
            check(text[0] == text[1], f"{case}{suffix}.xmf differs from the uninterrupted run's")
        print(f"{case}: the restarted file and its three indexes equal the uninterrupted run's")
    os.remove(os.path.join(d, "full.h5"))
    kill_restart(ctflow, args, LONG[:-1] + ["0.02", "-traj_substeps"], 51)


SWEEP = ["-Nx", "12", "-Ny", "8", "-T", "0.375", "-dt", "0.125"]  # 4 states


def listed_items(xmf):
    return [item for _, item in xmf_states(xmf)] if os.path.exists(xmf) else []


def check_killed_trial(d, ref, content, np_):
    """What a run killed in directory d left: nothing, or an index that opens and lists only states, maps and frames
    equal (bitwise) to the uninterrupted run's, with .xmf files listing no more than the index. Returns the number of
    states listed, or -1 if the run had marked its index complete."""
    h5 = os.path.join(d, "run.h5")
    if not os.path.exists(h5):
        check(all(not os.path.exists(os.path.join(d, f"run{x}.xmf")) for x in ("", "_substeps", "_attention")), "an .xmf without its index")
        return 0
    with h5py.File(h5, "r") as f, h5py.File(ref, "r") as r:
        n = len(f["time"])
        complete = f.attrs["status"] == b"complete"  # killed after its last commit: nothing to restart
        check(not complete or n == 4, f"the index says 'complete' with {n} states")
        check(all(len(f[name]) == n for name in SERIES), "the 1-D series have different lengths")
        check(np.array_equal(f["time"][...], r["time"][:n]) and np.array_equal(f["step"][...], r["step"][:n]), "listed times or steps differ")
        for k in range(n):
            check(np.array_equal(f[f"u/{k:06d}"][...], r[f"u/{k:06d}"][...]), f"listed state {k} is not the uninterrupted run's")
            if content:
                check(np.array_equal(f[f"attention/{k:06d}"][...], r[f"attention/{k:06d}"][...]), f"listed map {k} differs")
        if content:
            m = len(f["substeps/time"])
            check(all(len(f[name]) == m for name in FRAME_SERIES), "the frame series have different lengths")
            check(m == 0 or f["substeps/step"][m - 1] <= f["step"][n - 1], "frames listed beyond the last listed state")
            for k in range(m):
                check(np.array_equal(f[f"substeps/u/{k:06d}"][...], r[f"substeps/u/{k:06d}"][...]), f"listed frame {k} differs")
        for suffix, group in (("", "u"), ("_substeps", "substeps/u"), ("_attention", "attention")):
            items = listed_items(os.path.join(d, f"run{suffix}.xmf"))
            check(items == [segment_item(f, f"{group}/{k:06d}") for k in range(len(items))], f"run{suffix}.xmf lists more than the index")
    return -1 if complete else n


def mode_kill_sweep(ctflow, args):
    check(args.preload and os.path.exists(args.preload), "kill-sweep needs --preload kill_at_write.so")
    run = SWEEP + (["-traj_substeps", "-traj_attention", "-traj_entropy"] if args.content else [])
    root = ctflow.cwd
    ctflow.run(args.np, run + ["-traj", "ref.h5"])
    ref = os.path.join(root, "ref.h5")
    counted = os.path.join(root, "count")
    os.mkdir(counted)
    env = {"LD_PRELOAD": args.preload, "CTFLOW_KILL_DIR": counted, "CTFLOW_KILL_COUNT": os.path.join(root, "counts")}
    Ctflow(ctflow.exe, ctflow.mpiexec, counted).run(args.np, run + ["-traj", "run.h5"], env=env)
    with open(os.path.join(root, "counts")) as f:
        changes = max(int(line) for line in f)
    kinds, restarts = {}, 0
    for at in range(1, changes + 1, args.stride):
        d = os.path.join(root, f"kill{at}")
        os.mkdir(d)
        trial = Ctflow(ctflow.exe, ctflow.mpiexec, d)
        # (mpiexec waits 1 s before it SIGKILLs the other ranks of a killed run, unless told not to)
        p = trial.run(args.np, run + ["-traj", "run.h5"], expect_success=False,
                      env={"LD_PRELOAD": args.preload, "CTFLOW_KILL_DIR": d, "CTFLOW_KILL_AT": str(at), "OMPI_MCA_odls_base_sigkill_timeout": "0"})
        check(p.returncode != 0, f"the run to be killed at change {at} of {changes} finished")
        try:
            n = check_killed_trial(d, ref, args.content, args.np)
            kinds[n] = kinds.get(n, 0) + 1
            restarts += n > 0
            if n and restarts % args.restart_every == 1 % args.restart_every:
                trial.run(args.np, run + ["-restart", "run.h5"])
                compare_files(os.path.join(d, "run.h5"), ref, exact=True)
                check(check_xmf_matches(os.path.join(d, "run.xmf"), os.path.join(d, "run.h5")) == (4, 4), "the restarted run.xmf does not list 4 states")
        except Failure as e:
            raise Failure(f"killed before file change {at} of {changes}: {e}")
        shutil.rmtree(d)
    print(f"{len(range(1, changes + 1, args.stride))} kills among {changes} file changes (states listed: trials {dict(sorted(kinds.items()))}); "
          f"each left a readable index of complete states; {(restarts + args.restart_every - 1) // args.restart_every} restarts "
          "reproduced the uninterrupted run bitwise")


def mode_content_bad(ctflow, args):
    d = ctflow.cwd
    cases = [
        ("no_attention_leaf", ["-split_tree", "seq(layernorm, avg(seq(ffn1, relu), identity))", "-traj_attention"],
         r"-traj_attention saves the weights of the 'attention' operator, but the splitting scheme 'seq\(layernorm, .*\)' has no 'attention' leaf"),
        ("entropy_no_attention_leaf", ["-split_tree", "seq(layernorm, avg(seq(ffn1, relu), identity))", "-traj_entropy"],
         r"-traj_entropy is the entropy of the 'attention' operator's weights, but the splitting scheme 'seq\(layernorm, .*\)' has no 'attention' leaf"),
        ("map_too_large", ["-traj_attention", "-traj_attention_max_mb", "0"],
         r"-traj_attention: the attention map of one state, N_h N_x\^2 = 2 x 12\^2 doubles \(0\.0 MB\), exceeds -traj_attention_max_mb 0"),
        ("negative_bound", ["-traj_attention", "-traj_attention_max_mb", "-1"], r"-traj_attention_max_mb must not be negative, got -1"),
        ("frames_without_file", ["-traj_substeps", "-traj", "none"], r"-traj_substeps and -traj_attention save into the trajectory file, but -traj is 'none'"),
    ]
    for case, extra, regex in cases:
        p = ctflow.run(args.np, RUN + ["-traj", "out.h5"] + extra, expect_success=False)
        errors = [line for line in p.stderr.splitlines() if line.startswith("ctflow: error")]
        check(p.returncode != 0, f"{case}: ctflow succeeded")
        check(len(errors) == 1 and re.search(regex, errors[0]), f"{case}: expected one error matching {regex!r}, got:\n{p.stderr}")
        check(os.listdir(d) == [], f"{case}: files were created: {os.listdir(d)}")
        print(f"{case}: {errors[0]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("ranks", "kill-restart", "restart-truncated", "restart-bad", "plot", "paraview", "substeps", "attention",
                                    "substeps-restart", "content-bad", "kill-sweep"))
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--preload", help="kill-sweep: the kill_at_write library")
    p.add_argument("--stride", type=int, default=1, help="kill-sweep: kill before every stride-th file change")
    p.add_argument("--content", action="store_true", help="kill-sweep: with frames, maps and entropy")
    p.add_argument("--restart-every", type=int, default=3, help="kill-sweep: restart every n-th killed run that listed a state")
    p.add_argument("--ctflow", required=True)
    args, mpiexec = parse_with_mpiexec(p, sys.argv[1:])
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
