#!/usr/bin/env python3
"""Fault-injection tests of ctflow (tests/faults/CMakeLists.txt runs each mode; docs/errors.md is the catalogue):

  fault_cases.py MODE [--np N] [--shim enospc_at_write.so] [--cases K] --ctflow EXE -- MPIEXEC...

  enospc          a full disk (the LD_PRELOAD shim) at the first segment, mid-run, on one rank: one error line, no
                  hang; a run stopped mid-run keeps its listed states and -restart finishes it bitwise
  enospc-tmpfs    the same on a real 1,300 kB tmpfs (needs root and mount; exit 77, skipped, otherwise)
  replace         a new run over a complete trajectory: the old one is kept, byte for byte, when the new run fails
                  before its first state is listed (full disk, bad step); replaced completely when it succeeds
  concurrent      a second run on the -traj of a running one is refused; the first finishes intact
  restart-fuzz    fixed-seed mutants of an interrupted trajectory (byte flips and truncations of the last segment,
                  segments swapped within and between runs, links re-pointed, /step and /time edited): -restart gives
                  one clean error or the uninterrupted run's result bitwise
  reader-fuzz     fixed-seed byte flips and truncations of the HDF5 inputs (controls, u0, image with ViT controls, a
                  trajectory index for -restart): every run is a clean error or a success, never a crash or a hang
  rank-local      faults of one rank: an address-space limit (ulimit -v) on the last rank, a corrupt /u0 chunk that
                  only the last rank reads: one error line from every rank count
  command-line    an empty argument '' and per-rank differences that need a shell to set up
  long-work       a run estimated far beyond the machine says so up front (killed once it did)

A "clean error" is a non-zero exit with exactly one 'ctflow: error:' line on stderr, no PETSc or HDF5 error stack,
no signal, within the timeout. Every mode works in a fresh temporary directory.
"""
import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mpiexec_ctflow import CtflowCommand, Failure, check, parse_with_mpiexec  # noqa: E402
from mpi_session import kill_session  # noqa: E402

RUN = ["-Nx", "12", "-Ny", "8", "-T", "1", "-dt", "0.125"]  # 9 states of 12 x 8 (768 bytes each)
STACKS = re.compile(r"PETSC ERROR|HDF5-DIAG|Sanitizer|runtime error:")  # PETSc's, HDF5's error stacks; ASan/LSan/UBSan reports
TIMEOUT = 60


class Ctflow(CtflowCommand):
    def run(self, np_, args, env=None, command=None, timeout=TIMEOUT):
        """(exit status or None on timeout, stdout, stderr)."""
        proc = subprocess.Popen(command or self.command(np_, args), cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace", start_new_session=True, env=dict(os.environ, **(env or {})))
        try:
            out, err = proc.communicate(timeout=timeout)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            kill_session(proc)
            return None, "", ""

    def ok(self, np_, args, env=None):
        status, out, err = self.run(np_, args, env)
        check(status == 0, f"ctflow {' '.join(args)} failed ({status}):\n{out}\n{err}")
        check(not STACKS.search(err), f"ctflow {' '.join(args)}: a sanitizer report:\n{err}")
        return out

    def clean_error(self, np_, args, regex=None, env=None, command=None, what=None):
        """Runs and checks for a clean error; returns stderr."""
        status, out, err = self.run(np_, args, env, command)
        what = what or " ".join(args)
        check(status is not None, f"{what} (np {np_}): hung (killed after {TIMEOUT} s)")
        check(status != 0, f"{what} (np {np_}): exit status 0, expected an error")
        check(status < 128, f"{what} (np {np_}): killed by a signal ({status})\n{err}")
        lines = re.findall(r"^ctflow: error.*$", err, re.M)
        check(len(lines) == 1, f"{what} (np {np_}): {len(lines)} 'ctflow: error' lines, expected one:\n{err}")
        check(not STACKS.search(err + out), f"{what} (np {np_}): an error stack or a sanitizer report was printed:\n{err}")
        check(not regex or re.search(regex, lines[0]), f"{what} (np {np_}): the error does not match /{regex}/:\n{lines[0]}")
        return lines[0]

    def clean_outcome(self, np_, args, env=None, what=None):
        """A clean error or a success; returns the exit status."""
        status, out, err = self.run(np_, args, env)
        what = what or " ".join(args)
        check(status is not None, f"{what} (np {np_}): hung (killed after {TIMEOUT} s)")
        check(status < 128, f"{what} (np {np_}): killed by a signal ({status})\n{err}")
        check(not STACKS.search(err + out), f"{what} (np {np_}): an error stack or a sanitizer report was printed:\n{err}")
        if status != 0:
            n = len(re.findall(r"^ctflow: error", err, re.M))
            check(n == 1, f"{what} (np {np_}): exit {status} with {n} 'ctflow: error' lines, expected one:\n{err}")
        return status


def sha(path):
    """Of a file, or of a directory's files."""
    if os.path.isdir(path):
        return hashlib.sha256("".join(name + sha(os.path.join(path, name)) for name in sorted(os.listdir(path))).encode()).hexdigest()
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def trajectory_sha(d, name):
    return {p: sha(os.path.join(d, p)) for p in (f"{name}.h5", f"{name}.d", f"{name}.xmf") if os.path.exists(os.path.join(d, p))}


def final_state(path):
    with h5py.File(path, "r") as f:
        n = len(f["time"])
        return f.attrs["status"], n, f[f"u/{n - 1:06d}"][...]


def interrupt(path, keep):
    """A finished trajectory cut back to its first `keep` states, status incomplete: an interrupted run."""
    with h5py.File(path, "r+") as f:
        f.attrs["status"] = np.bytes_("incomplete")
        for name in ["step", "time"] + [f"diagnostics/{d}" for d in f["diagnostics"]]:
            f[name].resize((keep,))


def shim_env(d, after, rank=None):
    env = {"LD_PRELOAD": ARGS.shim, "CTFLOW_ENOSPC_DIR": d, "CTFLOW_ENOSPC_AFTER": str(after)}
    if rank is not None:
        env["CTFLOW_ENOSPC_RANK"] = str(rank)
    return env


def mode_enospc(ctflow):
    d = ctflow.cwd
    ctflow.ok(ARGS.np, RUN + ["-traj", "reference.h5"])
    _, _, reference = final_state(os.path.join(d, "reference.h5"))
    last = ARGS.np - 1
    # The first segment cannot be written (on the last rank only): nothing is left behind.
    err = ctflow.clean_error(ARGS.np, RUN + ["-traj", "first.h5"], r"could not (write|create)", env=shim_env(d, 0, last))
    check(not any(n.startswith("first") for n in os.listdir(d)), f"a run that wrote nothing left files: {os.listdir(d)}")
    # Mid-run: the states listed before the disk filled stay (status incomplete); -restart finishes the run.
    # The last rank writes its rows of each segment (12/np tokens x 8 features); rank 0 also HDF5's metadata and the index.
    budget = 40000 if ARGS.np == 1 else 3 * (12 // ARGS.np) * 8 * 8 + 8
    err = ctflow.clean_error(ARGS.np, RUN + ["-traj", "mid.h5"], r"could not write", env=shim_env(d, budget, last))
    status, listed, _ = final_state(os.path.join(d, "mid.h5"))
    check(status == b"incomplete" and 0 < listed < 9, f"mid-run: status {status}, {listed} states listed")
    ctflow.ok(ARGS.np, RUN + ["-restart", "mid.h5"])
    status, listed, u = final_state(os.path.join(d, "mid.h5"))
    check(status == b"complete" and listed == 9 and np.array_equal(u, reference), "the restart after a full disk differs from the reference")
    print(f"np {ARGS.np}: full disk at the first and a middle segment: one error line each; {err}; restart bitwise")


def mode_enospc_tmpfs(ctflow):
    if os.geteuid() != 0:
        print("not root: no tmpfs (the shim tests cover ENOSPC)")
        return 77
    mnt = os.path.join(ctflow.cwd, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1300k", "tmpfs", mnt], capture_output=True).returncode != 0:
        print("cannot mount a tmpfs here (the shim tests cover ENOSPC)")
        return 77
    try:
        args = ["-Nx", "1024", "-Ny", "64", "-Nh", "1", "-T", "1", "-dt", "0.125", "-traj", os.path.join(mnt, "run.h5")]
        err = ctflow.clean_error(ARGS.np, args, r"its file system has [0-9.]+ [kM]?B free|no space left on the file system")
        check(not os.path.exists(os.path.join(mnt, "run.h5")) or os.path.getsize(os.path.join(mnt, "run.h5")) > 0, "an empty index was left")
        print(f"np {ARGS.np}: a real full tmpfs: {err}")
    finally:
        subprocess.run(["umount", mnt])
    return 0


def mode_replace(ctflow):
    d = ctflow.cwd
    ctflow.ok(ARGS.np, RUN + ["-traj", "run.h5"])
    before = trajectory_sha(d, "run")
    for what, args, env in (("a full disk", RUN + ["-traj", "run.h5"], shim_env(d, 0)),
                            ("a bad value found before output", RUN + ["-traj", "run.h5", "-dt", "0"], None),
                            ("a zero-variance token at the first step", ["-Nx", "12", "-Ny", "8", "-traj", "run.h5", "-split_tree",
                                                                         "seq(layernorm)", "-u0", "const.h5"], None)):
        if "const.h5" in args:
            with h5py.File(os.path.join(d, "const.h5"), "w") as f:
                f["u0"] = np.ones((12, 8))
        ctflow.clean_error(ARGS.np, args, env=env, what=what)
        check(trajectory_sha(d, "run") == before, f"{what}: the earlier trajectory changed")
        check(not [n for n in os.listdir(os.path.join(d, "run.d")) if not re.fullmatch(r"\d{6}\.h5", n)], "staged segments left behind")
    # A successful new run replaces it completely: its own states only, final names, nothing staged.
    ctflow.ok(ARGS.np, ["-Nx", "6", "-Ny", "4", "-T", "0.5", "-dt", "0.25", "-traj", "run.h5"])
    status, listed, u = final_state(os.path.join(d, "run.h5"))
    check(status == b"complete" and listed == 3 and u.shape == (6, 4), f"replaced: status {status}, {listed} states of {u.shape}")
    check(sorted(os.listdir(os.path.join(d, "run.d"))) == ["000000.h5", "000001.h5", "000002.h5"], f"segments: {os.listdir(os.path.join(d, 'run.d'))}")
    with h5py.File(os.path.join(d, "run.h5"), "r") as f:
        check(f.get("u/000000", getlink=True).filename == "run.d/000000.h5", "the first state is not linked by its final name")
    print(f"np {ARGS.np}: an earlier trajectory survives three failed runs byte for byte and is replaced by a successful one")


def mode_concurrent(ctflow):
    d = ctflow.cwd
    slow = ["-Nx", "64", "-Ny", "16", "-T", "5", "-dt", "0.0002", "-traj_every", "500", "-traj", "run.h5"]  # 25000 steps (~10 s), 51 states
    first = subprocess.Popen(ctflow.command(ARGS.np, slow), cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        deadline = time.time() + TIMEOUT
        while not os.path.exists(os.path.join(d, "run.xmf")) and time.time() < deadline:
            time.sleep(0.05)
        check(os.path.exists(os.path.join(d, "run.xmf")), "the first run did not start writing")
        err = ctflow.clean_error(ARGS.np, ["-Nx", "32", "-Ny", "16", "-traj", "run.h5"], r"being written by another run")
        check(first.poll() is None, "the first run ended before the second was tried (make it slower)")
        check(first.wait(timeout=4 * TIMEOUT) == 0, f"the first run failed:\n{first.stderr.read()}")
    finally:
        if first.poll() is None:
            kill_session(first)
    status, listed, u = final_state(os.path.join(d, "run.h5"))
    check(status == b"complete" and listed == 51 and u.shape == (64, 16), f"the first run's file: {status}, {listed} states of {u.shape}")
    print(f"np {ARGS.np}: {err}; the first run finished intact")


def restart_mutants(d, rng):
    """(name, edit(dir)) of the interrupted trajectory run.h5 (5 of 9 states listed) in d."""
    def flip(k):
        def edit(w):
            path = os.path.join(w, "run.d", "000004.h5")
            data = bytearray(open(path, "rb").read())
            for _ in range(k):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            open(path, "wb").write(bytes(data))
        return edit

    def truncate(w):
        path = os.path.join(w, "run.d", "000004.h5")
        os.truncate(path, rng.randrange(os.path.getsize(path)))

    def swap_within(w):
        shutil.copy(os.path.join(w, "run.d", "000002.h5"), os.path.join(w, "run.d", "000004.h5"))

    def swap_between(w):
        shutil.copy(os.path.join(w, "other.d", "000004.h5"), os.path.join(w, "run.d", "000004.h5"))

    def repoint(w):
        with h5py.File(os.path.join(w, "run.h5"), "r+") as f:
            del f["u/000004"]
            f["u/000004"] = h5py.ExternalLink("run.d/000003.h5", "/u")

    def edit_series(name, value):
        def edit(w):
            with h5py.File(os.path.join(w, "run.h5"), "r+") as f:
                f[name][4] = value
        return edit

    cases = [(f"flip{k}x{i}", flip(k)) for k in (1, 4, 32) for i in range(ARGS.cases)]
    cases += [(f"truncate{i}", truncate) for i in range(ARGS.cases // 2 + 1)]
    cases += [("swap-within", swap_within), ("swap-between", swap_between), ("repoint", repoint), ("step", edit_series("step", 8)),
              ("time", edit_series("time", 0.75))]
    return cases


def mode_restart_fuzz(ctflow):
    d = ctflow.cwd
    rng = random.Random(12)
    ctflow.ok(ARGS.np, RUN + ["-traj", "reference.h5"])
    _, _, reference = final_state(os.path.join(d, "reference.h5"))
    ctflow.ok(ARGS.np, RUN + ["-traj", "run.h5"])
    ctflow.ok(ARGS.np, RUN + ["-traj", "other.h5", "-controls_seed", "3"])  # another run of the same sizes
    interrupt(os.path.join(d, "run.h5"), 5)
    snapshot(d, ["run.h5", "run.xmf", "run.d"], "pristine")
    counts = {"error": 0, "bitwise": 0}
    for name, edit in restart_mutants(d, rng):
        restore(d, ["run.h5", "run.xmf", "run.d"], "pristine")
        edit(d)
        status = ctflow.clean_outcome(ARGS.np, RUN + ["-restart", "run.h5"], what=f"restart from mutant {name}")
        if status == 0:
            state, listed, u = final_state(os.path.join(d, "run.h5"))
            check(state == b"complete" and listed == 9 and np.array_equal(u, reference), f"mutant {name}: restart succeeded with a wrong result")
            counts["bitwise"] += 1
        else:
            counts["error"] += 1
        if name in ("swap-within", "swap-between", "repoint", "step", "time"):
            check(status != 0, f"mutant {name} was accepted")
    print(f"np {ARGS.np}: restart mutants: {counts['error']} clean errors, {counts['bitwise']} bitwise-correct restarts, no wrong result")


def reader_inputs(d):
    """Valid inputs: (name, file, ctflow arguments using it)."""
    rng = np.random.default_rng(5)
    with h5py.File(os.path.join(d, "controls.h5"), "w") as f:
        for n in range(2):
            g = f.create_group(f"layers/{n}")
            for name in ("WQ", "WK", "WV"):
                g[name] = rng.normal(0, 0.3, (2, 8, 8))
            for j in (1, 2):
                g[f"W{j}"] = rng.normal(0, 0.3, (8, 8))
                g[f"b{j}"] = rng.normal(0, 0.3, (8,))
            g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0
    with h5py.File(os.path.join(d, "u0.h5"), "w") as f:
        f["u0"] = rng.normal(0, 1, (6, 8))
    Ny, C, H, W, p = 8, 2, 4, 4, 2
    with h5py.File(os.path.join(d, "vit.h5"), "w") as f:
        g = f.create_group("layers/0")
        for name in ("WQ", "WK", "WV"):
            g[name] = rng.normal(0, 0.3, (2, Ny, Ny))
        for j in (1, 2):
            g[f"W{j}"] = rng.normal(0, 0.3, (Ny, Ny))
            g[f"b{j}"] = rng.normal(0, 0.3, (Ny,))
        g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0
        v = f.create_group("vit")
        for name, value in (("channels", C), ("image_height", H), ("image_width", W), ("patch_size", p)):
            v.attrs[name] = float(value)
        v["patch_embedding"] = rng.normal(0, 0.3, (C * p * p, Ny))
        v["patch_bias"] = rng.normal(0, 0.3, (Ny,))
        v["class_token"] = rng.normal(0, 0.3, (Ny,))
        v["position_embedding"] = rng.normal(0, 0.3, ((H // p) * (W // p) + 1, Ny))
        v["head_weight"] = rng.normal(0, 0.3, (Ny, 3))
        v["head_bias"] = rng.normal(0, 0.3, (3,))
    with h5py.File(os.path.join(d, "image.h5"), "w") as f:
        f["image"] = rng.normal(0, 1, (C, H, W))
    return [("controls", "controls.h5", ["-controls", "controls.h5", "-u0", "u0.h5", "-traj", "none"]),
            ("u0", "u0.h5", ["-controls", "controls.h5", "-u0", "u0.h5", "-traj", "none"]),
            ("vit controls", "vit.h5", ["-controls", "vit.h5", "-image", "image.h5", "-traj", "none"]),
            ("image", "image.h5", ["-controls", "vit.h5", "-image", "image.h5", "-traj", "none"])]


def snapshot(d, names, into):
    """Copies the files and directories `names` of d into d/into (replacing it)."""
    target = os.path.join(d, into)
    shutil.rmtree(target, ignore_errors=True)
    os.mkdir(target)
    for n in names:
        (shutil.copytree if os.path.isdir(os.path.join(d, n)) else shutil.copy)(os.path.join(d, n), os.path.join(target, n))


def restore(d, names, source):
    for n in names:
        shutil.rmtree(os.path.join(d, n), ignore_errors=True) if os.path.isdir(os.path.join(d, n)) else None
        (shutil.copytree if os.path.isdir(os.path.join(d, source, n)) else shutil.copy)(os.path.join(d, source, n), os.path.join(d, n))


def mode_reader_fuzz(ctflow):
    d = ctflow.cwd
    rng = random.Random(7)
    inputs = reader_inputs(d)
    for name, path, args in inputs:
        ctflow.ok(ARGS.np, args)  # valid as written
    ctflow.ok(ARGS.np, RUN + ["-traj", "run.h5"])
    interrupt(os.path.join(d, "run.h5"), 5)
    inputs.append(("trajectory index", "run.h5", RUN + ["-restart", "run.h5"]))
    snapshot(d, ["run.h5", "run.xmf", "run.d"], "pristine")
    tally = {"error": 0, "success": 0}
    for name, path, args in inputs:
        original = open(os.path.join(d, path), "rb").read()
        for i in range(ARGS.cases):
            data = bytearray(original)
            if i % 4 == 3:
                data = data[:rng.randrange(len(data))]
            else:
                for _ in range(rng.choice((1, 2, 8))):
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            open(os.path.join(d, path), "wb").write(bytes(data))
            status = ctflow.clean_outcome(ARGS.np, args, what=f"{name} mutant {i}")
            tally["success" if status == 0 else "error"] += 1
            if path == "run.h5":
                restore(d, ["run.h5", "run.xmf", "run.d"], "pristine")
        open(os.path.join(d, path), "wb").write(original)
    print(f"np {ARGS.np}: {sum(tally.values())} input mutants: {tally['error']} clean errors, {tally['success']} successes, no crash or hang")


def mode_rank_local(ctflow):
    d = ctflow.cwd
    last = ARGS.np - 1
    # A memory limit on the last rank only: refused up front, by every rank, in one line. (Not under AddressSanitizer
    # (tools/sanitize), which reserves terabytes of address space for its shadow memory and cannot start under ulimit -v.)
    if "ASAN_OPTIONS" not in os.environ:
        shell = f'if [ "$OMPI_COMM_WORLD_RANK" = {last} ]; then ulimit -v 1500000; fi; exec {ctflow.exe} -Nx 4000000 -Ny 16 -traj none'
        err = ctflow.clean_error(ARGS.np, [], r"address-space limit|more than the node's memory",
                                 command=ctflow.mpiexec + ["-n", str(ARGS.np), "sh", "-c", shell], what="ulimit -v on the last rank")
        print(f"np {ARGS.np}: {err}")
    # A /u0 whose chunk of the last rank's tokens is corrupt (Fletcher32 fails there only).
    rows = 64
    with h5py.File(os.path.join(d, "u0.h5"), "w") as f:
        f.create_dataset("u0", data=np.random.default_rng(1).normal(size=(rows, 8)), chunks=(4, 8), fletcher32=True)
        info = f["u0"].id.get_chunk_info_by_coord((rows - 4, 0))
    with open(os.path.join(d, "u0.h5"), "r+b") as f:
        f.seek(info.byte_offset + 10)
        byte = f.read(1)
        f.seek(info.byte_offset + 10)
        f.write(bytes([byte[0] ^ 0x40]))
    err = ctflow.clean_error(ARGS.np, ["-u0", "u0.h5", "-traj", "none"], r"could not read the dataset /u0")
    print(f"np {ARGS.np}: {err}")


def mode_command_line(ctflow):
    ctflow.clean_error(ARGS.np, ["-Nx", "", "-traj", "none"], r"empty value ''")
    check(not os.path.exists(os.path.join(ctflow.cwd, "ctflow.h5")), "an error left ctflow.h5")
    print(f"np {ARGS.np}: an empty argument is one error line")


def mode_long_work(ctflow):
    proc = subprocess.Popen(ctflow.command(ARGS.np, ["-Nx", "100000", "-Ny", "2", "-Nh", "1", "-attention_materialise", "-traj", "none"]),
                            cwd=ctflow.cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    noted, deadline = None, time.time() + TIMEOUT
    try:
        for line in proc.stdout:
            if "note:" in line:
                noted = line.strip()
                break
            check(time.time() < deadline, "no note within the timeout")
    finally:
        kill_session(proc)
    check(noted and re.search(r"estimated to take [0-9.]+ (hours|days)", noted), f"no up-front note of the cost: {noted}")
    print(f"np {ARGS.np}: {noted}")


MODES = {"enospc": mode_enospc, "enospc-tmpfs": mode_enospc_tmpfs, "replace": mode_replace, "concurrent": mode_concurrent,
         "restart-fuzz": mode_restart_fuzz, "reader-fuzz": mode_reader_fuzz, "rank-local": mode_rank_local,
         "command-line": mode_command_line, "long-work": mode_long_work}


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--np", type=int, default=1)
    p.add_argument("--shim", help="enospc_at_write.so")
    p.add_argument("--cases", type=int, default=4, help="mutants per kind (fuzz modes)")
    p.add_argument("--ctflow", required=True)
    ARGS, mpiexec = parse_with_mpiexec(p, sys.argv[1:])
    work = tempfile.mkdtemp(prefix="ctflow_faults_")
    try:
        status = MODES[ARGS.mode](Ctflow(ARGS.ctflow, mpiexec, work)) or 0
    except Failure as e:
        print(f"FAILED ({ARGS.mode}, np {ARGS.np}, in {work}): {e}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
