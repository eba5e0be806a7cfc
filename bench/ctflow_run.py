"""Running the ctflow executable under mpiexec and reading what the benchmarks need from its output:
the `Integrate` log stage (-log_view), the peak memory per rank (-memory_view) and the final state."""
import os
import re
import shutil
import subprocess

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT_CTFLOW = os.path.join(ROOT, "build", "ctflow")


def add_run_arguments(parser, workdir_name):
    """The options every script shares: the executable, the MPI launcher and the working directory."""
    parser.add_argument("--ctflow", default=DEFAULT_CTFLOW)
    parser.add_argument("--mpiexec", default="mpiexec")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", workdir_name))


def enter_workdir(args):
    """Creates and enters args.workdir; returns the absolute path of the ctflow executable."""
    ctflow = os.path.abspath(args.ctflow)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    return ctflow


def environment():
    """One thread per rank; Open MPI refuses to run as root without these two variables."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def run(ctflow, np_, options, mpiexec="mpiexec"):
    """Runs ctflow on np_ ranks with -log_view -memory_view; returns a dict with the Integrate stage's
    time [s] (average over ranks) and flop count (the sum over ranks: PETSc's stage summary divides the
    time by the number of ranks but not the flops), the peak memory of the largest rank [bytes], and the
    full stdout."""
    cmd = [shutil.which(mpiexec) or mpiexec]
    if np_ > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    cmd += ["-n", str(np_), ctflow] + options + ["-log_view", "-memory_view"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=environment())
    if out.returncode != 0:
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    stage = re.search(r"^\s*\d+:\s+Integrate:\s+(\S+)\s+\S+%\s+(\S+)", out.stdout, re.M)
    memory = re.search(r"Maximum \(over computational time\) process memory:\s+total\s+(\S+)\s+max\s+(\S+)", out.stdout)
    return {"time": float(stage.group(1)), "flops": float(stage.group(2)), "peak_rank_bytes": float(memory.group(2)),
            "command": " ".join(cmd), "stdout": out.stdout}


def write_random_state(path, nx, ny, seed=0):
    """A standard-normal initial state (-u0 file): unlike the analytic f, whose x-modes integrate to ~0
    against the nearly uniform γ of the analytic controls, it gives attention a non-trivial output."""
    with h5py.File(path, "w") as f:
        f["u0"] = np.random.default_rng(seed).standard_normal((nx, ny))


def final_state(path):
    with h5py.File(path) as f:
        return f["u"][sorted(f["u"])[-1]][...]


def increment(path):
    """u(T) − u(0) from a trajectory file: after one Euler step of one flow with Δt = 1, the flow's A(0, u0)."""
    with h5py.File(path) as f:
        names = sorted(f["u"])
        return f["u"][names[-1]][...] - f["u"][names[0]][...]


def rel_diff(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())
