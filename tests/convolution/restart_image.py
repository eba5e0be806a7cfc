#!/usr/bin/python3
"""-restart of a run on a two-dimensional Ω_y (image states (N_x, N_y1, N_y2)): the run is killed before its n-th file
change (tests/trajectory/kill_at_write.c), continued with -restart, and its states must equal the uninterrupted run's
bit for bit (the same rank count).

  restart_image.py --ctflow CTFLOW --preload LIBKILL --workdir DIR -- MPIEXEC...
"""
import argparse
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

OPTIONS = ["-controls_type", "convolutional", "-Nx", "6", "-Ny1", "8", "-Ny2", "6", "-T", "0.5", "-dt", "0.125", "-traj_substeps"]


def states(path):
    with h5py.File(path) as f:
        assert f.attrs["status"] == b"complete", "the trajectory is not complete"
        return [f["u"][n][...] for n in sorted(f["u"])] + [f["substeps/u"][n][...] for n in sorted(f["substeps/u"])]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ctflow", required=True)
    p.add_argument("--preload", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("mpiexec", nargs=argparse.REMAINDER)
    args = p.parse_args()
    mpiexec = (args.mpiexec[1:] if args.mpiexec[:1] == ["--"] else args.mpiexec) + ["-n", "2"]
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    os.chdir(args.workdir)
    subprocess.run(mpiexec + [args.ctflow] + OPTIONS + ["-traj", "whole.h5"], check=True, capture_output=True)
    env = dict(os.environ, CTFLOW_KILL_DIR=os.getcwd(), CTFLOW_KILL_AT="40", LD_PRELOAD=args.preload)
    killed = subprocess.run(mpiexec + ["-x", "LD_PRELOAD", "-x", "CTFLOW_KILL_DIR", "-x", "CTFLOW_KILL_AT", args.ctflow] + OPTIONS + ["-traj", "run.h5"],
                            env=env, capture_output=True)
    if killed.returncode == 0:
        sys.exit("the run was not killed")
    with h5py.File("run.h5") as f:
        print(f"killed after {len(f['time'])} of 5 states")
    subprocess.run(mpiexec + [args.ctflow] + OPTIONS + ["-traj", "run.h5", "-restart", "run.h5"], check=True, capture_output=True)
    a, b = states("run.h5"), states("whole.h5")
    if len(a) != len(b) or any(not np.array_equal(x, y) for x, y in zip(a, b)):
        sys.exit("the restarted run differs from the uninterrupted one")
    print(f"restarted: {len(a)} states and frames equal the uninterrupted run's bit for bit")


if __name__ == "__main__":
    main()
