#!/usr/bin/python3
"""ParaView opens a 2-stage convolutional model's trajectory (tests/convolution):

  paraview_stages.py --ctflow CTFLOW --workdir DIR -- MPIEXEC...

Runs `MPIEXEC -n 2 CTFLOW -controls cvt.h5 -image image.h5 -traj run.h5 -traj_substeps` on the inputs of cvt_inputs.py and
has pvbatch (under xvfb-run) open run.xmf and run_substeps.xmf with ParaView's Xdmf3 readers
(check_paraview_stages.py): the number of times, the 3-D size (x, y1, y2) of the first and the last entry (stage 0's and
stage 1's grids) and the data range of the last one, against the HDF5 file read with h5py.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))


def expected(path, series):
    """Times, the (N_x, N_y1, N_y2) of the first and last entries and the range of the last, from the index."""
    with h5py.File(path) as f:
        group = f[series + "/u"] if series else f["u"]
        names = sorted(group)
        times = f[series + "/time"][...] if series else f["time"][...]
        first, last = group[names[0]][...], group[names[-1]][...]
    return {"times": [float(t) for t in times], "first_shape": list(first.shape), "last_shape": list(last.shape),
            "last_range": [float(last.min()), float(last.max())]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ctflow", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("mpiexec", nargs=argparse.REMAINDER)
    args = p.parse_args()
    mpiexec = args.mpiexec[1:] if args.mpiexec[:1] == ["--"] else args.mpiexec
    pvbatch, xvfb = shutil.which("pvbatch"), shutil.which("xvfb-run")
    if not (pvbatch and xvfb):
        sys.exit("pvbatch or xvfb-run not found: install ParaView and Xvfb (Debian: apt-get install paraview xvfb)")
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    subprocess.run([sys.executable, os.path.join(HERE, "cvt_inputs.py"), "."], check=True)
    run = subprocess.run(mpiexec + ["-n", "2", args.ctflow, "-controls", "cvt.h5", "-image", "image.h5", "-traj", "run.h5", "-traj_substeps"],
                         capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"ctflow failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    checks = []
    for xmf, series in (("run.xmf", ""), ("run_substeps.xmf", "substeps")):
        with open(xmf + ".json", "w") as f:
            json.dump(expected("run.h5", series), f)
        checks += [os.path.abspath(xmf), xmf + ".json"]  # the Xdmf3 readers resolve the HDF5 files from the .xmf's directory
    pv = subprocess.run([xvfb, "-a", pvbatch, os.path.join(HERE, "check_paraview_stages.py")] + checks, capture_output=True, text=True, timeout=240)
    print(pv.stdout)
    if pv.returncode or "ParaView check passed" not in pv.stdout:
        sys.exit(f"ParaView check failed ({pv.returncode}):\n{pv.stdout}\n{pv.stderr[-4000:]}")


if __name__ == "__main__":
    main()
