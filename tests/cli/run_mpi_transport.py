#!/usr/bin/python3
"""Open MPI's shared-memory copy mechanism chosen at start-up, on the live executable (labels "mpi", "cli").

    run_mpi_transport.py MPIEXEC... -- CTFLOW

Every rank decides by itself, before MPI_Init, from the environment and the MCA parameter files (ranks that
disagree would fail in their first large message): with nothing set ctflow selects copy-in/copy-out ("none"); a
value in the environment or in a parameter file is kept. Each case runs a 64 × 64 problem whose ring messages
(16 KB) are above the transport's 4 KB eager limit, checks the -mpi_view line against the trajectory's attribute
`mpi`, and that the final state is bitwise the same whichever copy moved it. Started without a launcher, ctflow
starts isolated on ob1 unless the environment chooses (the same final state either way).
"""
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from view_attribute import expect_in_line, viewed_line  # noqa: E402


def run(mpiexec, ctflow, env_extra, workdir, params):
    chosen_by_ctflow = ("single_copy_mechanism", "OMPI_MCA_pml", "OMPI_MCA_ess_singleton_isolated")
    env = {k: v for k, v in os.environ.items() if not any(c in k for c in chosen_by_ctflow)}
    env["OMPI_MCA_mca_base_param_files"] = params  # only the test's file, not the machine's
    env.update(env_extra)
    cmd = mpiexec + [ctflow, "-Nx", "64", "-Ny", "64", "-Nh", "2", "-T", "0.5", "-dt", "0.25", "-mpi_view", "-traj", "run.h5"]
    out = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}) with {env_extra}:\n{out.stdout}{out.stderr}")
    line = viewed_line(out.stdout, "MPI", "mpi", workdir)
    with h5py.File(os.path.join(workdir, "run.d", "000002.h5")) as f:  # the state at T
        final = f["u"][...].tobytes()
    return line, final


def expect(result, pattern, reference):
    line, final = result
    if reference is not None and final != reference:
        sys.exit(f"the final state differs from the first case's: {line}")
    expect_in_line(line, pattern)


def main():
    split = sys.argv.index("--")
    mpiexec, ctflow = sys.argv[1:split], os.path.abspath(sys.argv[split + 1])
    with tempfile.TemporaryDirectory() as work:
        empty, chosen = os.path.join(work, "empty.conf"), os.path.join(work, "chosen.conf")
        open(empty, "w").close()
        with open(chosen, "w") as f:
            f.write("# the user's choice\nbtl_vader_single_copy_mechanism = cma\nbtl_sm_single_copy_mechanism = cma\n")
        first = run(mpiexec, ctflow, {}, work, empty)
        expect(first, r"^Open MPI v[\d.]+, shared memory: btl_(vader|sm)_single_copy_mechanism=none selected by ctflow \([^)]*\)$", None)
        expect(run(mpiexec, ctflow, {"OMPI_MCA_btl_vader_single_copy_mechanism": "cma"}, work, empty),
               r"OMPI_MCA_btl_vader_single_copy_mechanism=cma set in the environment$", first[1])
        expect(run(mpiexec, ctflow, {}, work, chosen), r"single_copy_mechanism set in an MCA parameter file$", first[1])
        if "Open MPI v4." in first[0]:  # a singleton: the same process without mpiexec
            alone = run([], ctflow, {}, work, empty)
            expect(alone, r"; started without a launcher: ess_singleton_isolated=1 selected by ctflow, pml=ob1 selected by ctflow$", None)
            expect(run([], ctflow, {"OMPI_MCA_pml": "ob1", "OMPI_MCA_ess_singleton_isolated": "0"}, work, empty),
                   r"launcher: OMPI_MCA_ess_singleton_isolated=0 set in the environment, OMPI_MCA_pml=ob1 set in the environment$",
                   alone[1])


if __name__ == "__main__":
    main()
