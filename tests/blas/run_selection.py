#!/usr/bin/python3
"""The BLAS kernel selection of the live executable, under mpiexec (label "blas").

    run_selection.py MPIEXEC... -- CTFLOW

Each case starts every rank through `sh -c '... exec ctflow'`, so that the shell's process id is the rank's:
a marker CTFLOW_BLAS_SELECTION="<pid> selected <from> <to>" then makes ctflow believe it has just
re-executed itself with OPENBLAS_CORETYPE=<to>, which exercises the real re-exec, before MPI_Init, on
every rank. The machine's own CPU decides only the last case (the library's choice, or a selection).
Checks the -blas_view line of every run, and the trajectory's attribute `blas`.
"""
import os
import re
import subprocess
import sys
import tempfile

import h5py


def run(mpiexec, ctflow, env_prefix, workdir, extra=()):
    shell = f'{env_prefix} exec "{ctflow}" -Nx 12 -Ny 4 -Nh 2 -T 0.25 -dt 0.125 -blas_view -traj run.h5 {" ".join(extra)}'
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "CTFLOW_BLAS_SELECTION")}
    out = subprocess.run(mpiexec + ["sh", "-c", shell], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {shell}\n{out.stdout}{out.stderr}")
    lines = re.findall(r"^BLAS: (.*)$", out.stdout, re.M)
    if len(lines) != 1:
        sys.exit(f"expected one BLAS line from rank 0, got {lines}:\n{out.stdout}")
    with h5py.File(os.path.join(workdir, "run.h5")) as f:
        attribute = f.attrs["blas"]
        attribute = attribute.decode() if isinstance(attribute, bytes) else str(attribute)
    if attribute != lines[0]:
        sys.exit(f"trajectory attribute blas = {attribute!r}, -blas_view printed {lines[0]!r}")
    return lines[0]


def expect(line, *patterns):
    for p in patterns:
        if not re.search(p, line):
            sys.exit(f"'{p}' not in: {line}")
    print("ok:", line)


def main():
    split = sys.argv.index("--")
    mpiexec, ctflow = sys.argv[1:split], os.path.abspath(sys.argv[split + 1])
    with tempfile.TemporaryDirectory() as work:
        # An explicit OPENBLAS_CORETYPE is respected, even an old core.
        expect(run(mpiexec, ctflow, "OPENBLAS_CORETYPE=Prescott", work), r"kernels Prescott: OPENBLAS_CORETYPE=Prescott set in the environment")
        # Just re-executed onto Prescott "selected" from Katmai: the library runs it and the check GEMM passes.
        expect(run(mpiexec, ctflow, 'OPENBLAS_CORETYPE=Prescott CTFLOW_BLAS_SELECTION="$$ selected Katmai Prescott"', work),
               r"kernels Prescott: selected by ctflow \(the library chose Katmai", r"check GEMM passed")
        # The requested core did not load (no such core): one more re-exec, without the variable, on the
        # library's own choice, and no further selection.
        expect(run(mpiexec, ctflow, 'OPENBLAS_CORETYPE=NoSuchCore CTFLOW_BLAS_SELECTION="$$ selected Prescott NoSuchCore"', work),
               r"the library's choice \(ctflow's selection NoSuchCore was rejected: not-loaded\)")
        # A marker of another process (inherited) is ignored.
        expect(run(mpiexec, ctflow, 'OPENBLAS_CORETYPE=Prescott CTFLOW_BLAS_SELECTION="1 selected Katmai Prescott"', work),
               r"OPENBLAS_CORETYPE=Prescott set in the environment")
        # Nothing set: the library's choice when it is the best for this CPU, else a verified selection.
        expect(run(mpiexec, ctflow, "", work), r"kernels \w+: (the library's choice, the best|selected by ctflow .* check GEMM passed)")


if __name__ == "__main__":
    main()
