#!/usr/bin/python3
"""The BLAS kernel selection of the live executable, under mpiexec (label "blas").

    run_selection.py MPIEXEC... -- CTFLOW

Each case starts every rank through `sh -c '... exec ctflow'`, so that the shell's process id is the rank's:
a marker CTFLOW_BLAS_SELECTION="<pid> selected <BLIS from> <to> <OpenBLAS from> <to>" ("-": none) then makes
ctflow believe it has just re-executed itself with BLIS_ARCH_TYPE and OPENBLAS_CORETYPE set for the <to>s
(BLIS's configuration numbers: penryn is 5, generic the last), which exercises the check and the fall-back
re-exec, before MPI_Init, on every rank. The machine's own CPU decides the last case (each library's choice,
or a selection: a real re-exec where a library does not know the CPU).
Checks the -blas_view line of every run, and the trajectory's attribute `blas`.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from view_attribute import expect_in_line, viewed_line  # noqa: E402


def run(mpiexec, ctflow, env_prefix, workdir, extra=()):
    shell = f'{env_prefix} exec "{ctflow}" -Nx 12 -Ny 4 -Nh 2 -T 0.25 -dt 0.125 -blas_view -traj run.h5 {" ".join(extra)}'
    env = {k: v for k, v in os.environ.items() if k not in ("BLIS_ARCH_TYPE", "OPENBLAS_CORETYPE", "CTFLOW_BLAS_SELECTION")}
    out = subprocess.run(mpiexec + ["sh", "-c", shell], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {shell}\n{out.stdout}{out.stderr}")
    return viewed_line(out.stdout, "BLAS", "blas", workdir)


def main():
    split = sys.argv.index("--")
    mpiexec, ctflow = sys.argv[1:split], os.path.abspath(sys.argv[split + 1])
    with tempfile.TemporaryDirectory() as work:
        # An explicit BLIS_ARCH_TYPE is respected, even an old configuration (5: penryn).
        expect_in_line(run(mpiexec, ctflow, "BLIS_ARCH_TYPE=5", work), r"kernels penryn: BLIS_ARCH_TYPE=5 set in the environment")
        # Just re-executed onto penryn "selected" from generic: BLIS runs it and the check GEMM passes.
        expect_in_line(run(mpiexec, ctflow, 'BLIS_ARCH_TYPE=5 CTFLOW_BLAS_SELECTION="$$ selected generic penryn - -"', work),
                       r"kernels penryn: selected by ctflow \(BLIS chose generic", r"check GEMM passed")
        # BLIS did not load the requested configuration (penryn requested, haswell = 3 loaded): one more
        # re-exec, without the variable, on BLIS's own choice, and no further selection.
        expect_in_line(run(mpiexec, ctflow, 'BLIS_ARCH_TYPE=3 CTFLOW_BLAS_SELECTION="$$ selected generic penryn - -"', work),
                       r"BLIS's choice \(ctflow's selection penryn was rejected: not-loaded\)")
        # A marker of another process (inherited) is ignored.
        expect_in_line(run(mpiexec, ctflow, 'BLIS_ARCH_TYPE=5 CTFLOW_BLAS_SELECTION="1 selected generic penryn - -"', work),
                       r"BLIS_ARCH_TYPE=5 set in the environment")
        # An explicit OPENBLAS_CORETYPE is respected, even an old core; BLIS is selected or kept as without it.
        expect_in_line(run(mpiexec, ctflow, "OPENBLAS_CORETYPE=Prescott", work),
                       r"OpenBLAS [\d.]+, kernels Prescott: OPENBLAS_CORETYPE=Prescott set in the environment, for products with m n k < 16384;")
        # Just re-executed with both libraries "selected": each runs the requested kernels and passes its check GEMM.
        both = 'CTFLOW_BLAS_SELECTION="$$ selected generic penryn Prescott SkylakeX"'
        expect_in_line(run(mpiexec, ctflow, f"BLIS_ARCH_TYPE=5 OPENBLAS_CORETYPE=SkylakeX {both}", work),
                       r"kernels penryn: selected by ctflow \(BLIS chose generic .*, check GEMM passed;",
                       r"kernels SkylakeX: selected by ctflow \(OpenBLAS chose Prescott .*, check GEMM passed,")
        # OpenBLAS did not load the requested core (SkylakeX requested, Haswell loaded): one more re-exec without
        # either variable, both libraries on their own choice, and why.
        expect_in_line(run(mpiexec, ctflow, f"BLIS_ARCH_TYPE=5 OPENBLAS_CORETYPE=Haswell {both}", work),
                       r"BLIS's choice \(ctflow's selection penryn was withdrawn with OpenBLAS's SkylakeX, rejected: not-loaded\)",
                       r"OpenBLAS's choice \(ctflow's selection SkylakeX was rejected: not-loaded\)")
        # Nothing set: each library's choice when it is the best for this CPU, else a verified selection.
        best, selected = r"the best for this CPU's [\w/-]+", r"selected by ctflow .* check GEMM passed"
        expect_in_line(run(mpiexec, ctflow, "", work), rf"^BLIS [\d.]+, kernels \w+: (BLIS's choice, {best}|{selected});",
                       rf"; OpenBLAS [\d.]+, kernels \w+: (OpenBLAS's choice, {best}|{selected}), for products")

if __name__ == "__main__":
    main()
