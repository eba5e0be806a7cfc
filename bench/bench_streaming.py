#!/usr/bin/python3
"""Attention without an N_x × N_x matrix: peak memory of the streaming softmax (issue 6, target 3).

    /usr/bin/python3 bench/bench_streaming.py [--nx 65536] [--ny 128] [--np 2] [--compare-nx 4096]

One attention flow step (-split_order attention -T 1 -dt 1; analytic controls, one head, d_head = N_y) at
N_x = --nx on --np ranks, streaming (the default): reports the Integrate stage's time and the peak memory
of the largest rank (PETSc -memory_view, the process's maximum resident set), against the 8 N_h N_x² bytes
a materialised score matrix needs (32 GiB at N_x = 65536). Then, at --compare-nx where both fit, the
streaming path against the materialised one with whole row blocks (-attention_materialise
-attention_tile N_x: each rank forms its N_x/P × N_x rows of γ at once): peak memory of both and the
maximum difference of the attention outputs A(0, u0) = u(1) − u(0) from a random u0 (round-off expected:
at most 8 ulp of max |u|, since A is read off the states).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctflow_run  # noqa: E402

GIB = 2.0 ** 30


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nx", type=int, default=65536)
    p.add_argument("--ny", type=int, default=128)
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--compare-nx", type=int, default=4096)
    ctflow_run.add_run_arguments(p, "bench_streaming")
    args = p.parse_args()
    ctflow = ctflow_run.enter_workdir(args)
    common = ["-Ny", str(args.ny), "-Nh", "1", "-T", "1", "-dt", "1", "-split_order", "attention"]

    big = ctflow_run.run(ctflow, args.np, ["-Nx", str(args.nx)] + common + ["-traj", "none"], args.mpiexec)
    dense = 8.0 * args.nx ** 2
    print(f"# streaming attention, N_x = {args.nx}, N_y = {args.ny}, N_h = 1, {args.np} ranks, one step")
    print(f"    {big['command']}")
    print("| N_x | path | Integrate [s] | peak memory of the largest rank [GiB] | N_x² score matrix [GiB] |")
    print("|---|---|---|---|---|")
    print(f"| {args.nx} | streaming | {big['time']:.3g} | {big['peak_rank_bytes'] / GIB:.3f} | {dense / GIB:.3f} |")

    rows = {}
    ctflow_run.write_random_state("u0.h5", args.compare_nx, args.ny)
    for name, extra in (("streaming", []), ("materialised", ["-attention_materialise", "-attention_tile", str(args.compare_nx)])):
        out = f"{name}.h5"
        rows[name] = ctflow_run.run(ctflow, args.np, ["-Nx", str(args.compare_nx), "-u0", "u0.h5"] + common + extra +
                                    ["-traj", out, "-traj_entropy", "false"], args.mpiexec)
        rows[name]["A"] = ctflow_run.increment(out)
        rows[name]["u"] = ctflow_run.final_state(out)
    dense = 8.0 * args.compare_nx ** 2
    for name, r in rows.items():
        print(f"| {args.compare_nx} | {name} | {r['time']:.3g} | {r['peak_rank_bytes'] / GIB:.3f} | {dense / GIB:.3f} |")
    a_s, a_m = rows["streaming"]["A"], rows["materialised"]["A"]
    diff, scale_a, scale_u = float(np.abs(a_s - a_m).max()), float(np.abs(a_m).max()), float(np.abs(rows["materialised"]["u"]).max())
    print(f"\nN_x = {args.compare_nx}, random u0, A = u(1) − u(0): max |A_streaming − A_materialised| = {diff:.1e}, "
          f"relative to max |A| = {diff / scale_a:.1e} (floor from reading A off u: ε max|u| / max|A| = "
          f"{np.finfo(float).eps * scale_u / scale_a:.1e}), relative to max |u| = {diff / scale_u:.1e}")
    if not diff <= 8 * np.finfo(float).eps * scale_u:
        sys.exit(f"streaming and materialised attention differ by more than 8 ulp of the state: {diff:.2e}")

if __name__ == "__main__":
    main()
