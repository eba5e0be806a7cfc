#!/usr/bin/python3
"""MPI scaling of ctflow (issue 6, target 4): strong scaling at fixed N_x, weak scaling at fixed N_x per rank.

    /usr/bin/python3 bench/bench_scaling.py [--np 1 2] [--nx 8192] [--nx-per-rank 4096] [--ny 128] [--heads 2]

The analytic controls, a random initial state (standard normal, seed 0), the default Lie splitting (attention, layer norm, feed-forward
block, layer norm), -T 1 -dt 0.25 (4 steps), one thread per rank. Times are the PETSc log stage
`Integrate` (-log_view). Strong scaling: ideal time t_1 / P, efficiency t_1 / (P t_P). Weak scaling:
N_x = P · --nx-per-rank; attention's work grows like N_x², so the work per rank is not constant and the
ideal time is t_1 · W_P / W_1, with W the Integrate stage's flop count per rank (PETSc's stage total
over the ranks divided by P; the same count as bench_vs_torch.py); efficiency = ideal / t_P. Every run writes its final state; the largest
relative difference from the np = 1 state of the same N_x is printed (round-off expected: the ring
exchange changes only the order of the softmax's sums).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctflow_run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--np", type=int, nargs="+", default=[1, 2])
    p.add_argument("--nx", type=int, default=8192)
    p.add_argument("--nx-per-rank", type=int, default=4096)
    p.add_argument("--ny", type=int, default=128)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--T", default="1")
    p.add_argument("--dt", default="0.25")
    ctflow_run.add_run_arguments(p, "bench_scaling")
    args = p.parse_args()
    ctflow = ctflow_run.enter_workdir(args)
    if args.np[0] != 1:
        sys.exit("--np must start with 1 (the reference run)")
    common = ["-Ny", str(args.ny), "-Nh", str(args.heads), "-T", args.T, "-dt", args.dt, "-traj_every", "1000000",
              "-traj_entropy", "false"]

    runs = {}

    def run(np_, nx):  # each (np, N_x) once: the strong runs serve as weak ones and as references
        if (np_, nx) not in runs:
            out = f"nx{nx}_np{np_}.h5"
            if not os.path.exists(f"u0_nx{nx}.h5"):
                ctflow_run.write_random_state(f"u0_nx{nx}.h5", nx, args.ny)
            r = ctflow_run.run(ctflow, np_, ["-Nx", str(nx), "-u0", f"u0_nx{nx}.h5", "-traj", out] + common, args.mpiexec)
            r["u"] = ctflow_run.final_state(out)
            runs[np_, nx] = r
        return runs[np_, nx]

    print(f"# N_y = {args.ny}, N_h = {args.heads}, T = {args.T}, dt = {args.dt}; one thread per rank")
    print(f"\n## strong scaling, N_x = {args.nx}\n")
    print("| np | Integrate [s] | ideal [s] | efficiency | max rel. diff vs np = 1 |")
    print("|---|---|---|---|---|")
    worst = 0.0
    base = None
    for np_ in args.np:
        r = run(np_, args.nx)
        base = base or r
        diff = ctflow_run.rel_diff(r["u"], base["u"])
        worst = max(worst, diff)
        ideal = base["time"] / np_
        print(f"| {np_} | {r['time']:.3g} | {ideal:.3g} | {ideal / r['time']:.2f} | {diff:.1e} |", flush=True)

    print(f"\n## weak scaling, N_x = np × {args.nx_per_rank}\n")
    print("| np | N_x | Integrate [s] | flop per rank | ideal [s] | efficiency | max rel. diff vs np = 1 |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for np_ in args.np:
        nx = np_ * args.nx_per_rank
        r = run(np_, nx)
        base = base or r
        ref = run(1, nx)
        diff = ctflow_run.rel_diff(r["u"], ref["u"])
        worst = max(worst, diff)
        ideal = base["time"] * (r["flops"] / np_) / (base["flops"] / args.np[0])
        print(f"| {np_} | {nx} | {r['time']:.3g} | {r['flops'] / np_:.3g} | {ideal:.3g} | {ideal / r['time']:.2f} | {diff:.1e} |", flush=True)
    if not worst <= 1e-12:
        sys.exit(f"final states differ across rank counts: {worst:.2e}")


if __name__ == "__main__":
    main()
