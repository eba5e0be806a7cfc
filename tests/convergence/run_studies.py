#!/usr/bin/python3
"""The convergence studies of docs/convergence.md: every registered splitting scheme refined in Δt on (a) smooth
operators only and (b) the paper's full model with projections, and the spatial orders in x, y, h. Writes one
CSV per study, the figures (tools/plot_convergence.py) and prints the tables of observed orders as Markdown.

  run_studies.py --ctflow build/ctflow --plot tools/plot_convergence.py --workdir /tmp/studies [--figures docs/figures] [--check]

--check asserts the smooth orders against the registered ones (±0.15; solver/timestepping/splitting_schemes.cpp).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from convergence_study import orders, parse_study_arguments, run_study  # noqa: E402

SCHEMES = {"lie": 1, "strang": 2, "parallel": 1, "parallel_add": 1, "symmetric": 2, "hybrid": 1}
BASE = ["-Nx", "8", "-Ny", "6", "-Nh", "1", "-T", "0.5", "-split_substep", "ts"]
MODELS = {
    # (a) attention and two linear feed-forward flows: three non-commuting smooth flows, RK4 substeps
    "smooth": BASE + ["-dt", "0.0625", "-split_order", "attention,ffn1,ffn2", "-study_levels", "5", "-study_reference", "richardson"],
    # (b) the paper's order: attention, layer norm, the feed-forward block (ReLU projections, skip relaxation), layer
    # norm; from Δt = T/32 (at Δt ≥ T/16 Lie and Strang are still O(1) away from their limit)
    "paper": BASE + ["-dt", "0.015625", "-study_levels", "5", "-study_reference", "richardson"],
}
SPACE = {  # Strang with RK4 substeps at a fixed Δt: the spatial error alone
    "x": BASE + ["-dt", "0.0625", "-T", "0.25", "-split", "strang", "-split_order", "attention,ffn1,ffn2", "-study_refine", "x",
                 "-study_levels", "5", "-study_reference", "richardson"],
    "y": BASE + ["-dt", "0.0625", "-T", "0.25", "-split", "strang", "-split_order", "attention,ffn1,ffn2", "-study_refine", "y",
                 "-study_levels", "5", "-study_reference", "richardson"],
    # seed 0: the default seed's W^Q, W^K do not depend on h, and the midpoint rule integrates W^V's cos(π h/L_h) exactly
    "h": BASE + ["-dt", "0.0625", "-T", "0.25", "-split", "strang", "-split_order", "attention,ffn1,ffn2", "-study_refine", "h",
                 "-study_levels", "4", "-study_reference", "finest", "-controls_seed", "0"],
}


def study(args, name, options):
    proc, rows, path = run_study(args, name, options)
    if rows is None:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ctflow: error:")]
        return None, errors[0] if errors else f"exit {proc.returncode}"
    return rows, path


def main():
    args = parse_study_arguments(__doc__)
    problems = []
    for model, options in MODELS.items():
        print(f"\n### {model}\n\n| scheme | e_L2, coarsest … finest | observed orders (L2), coarse → fine | max-norm orders |\n|---|---|---|---|")
        tables = []
        for scheme, order in SCHEMES.items():
            rows, info = study(args, f"{model}_{scheme}", options + ["-split", scheme])
            if rows is None:
                print(f"| {scheme} | fails: {info} | | |")
                if model == "smooth":
                    problems.append(f"{model} {scheme}: {info}")
                continue
            tables.append((scheme, info))
            errs = [r["e_L2"] for r in rows if r["e_L2"]]
            print(f"| {scheme} | {float(errs[0]):.2e} … {float(errs[-1]):.2e} | {', '.join(f'{o:.2f}' for o in orders(rows))} | "
                  f"{', '.join(f'{o:.2f}' for o in orders(rows, 'max'))} |")
            if model == "smooth" and args.check:
                bad = [o for o in orders(rows) + orders(rows, "max") if abs(o - order) > 0.15]
                if bad:
                    problems.append(f"{model} {scheme}: orders {bad}, registered {order}")
        if tables:
            subprocess.run([sys.executable, args.plot, *[t[1] for t in tables], "--labels", ",".join(t[0] for t in tables),
                            "--title", f"{model}: error vs Δt (ts substeps)", "-o", os.path.join(args.figures, f"convergence_dt_{model}.png")],
                           check=True)
    print("\n### space\n\n| refined | e_L2, coarse → fine | observed orders (L2) |\n|---|---|---|")
    tables = []
    for var, options in SPACE.items():
        rows, info = study(args, f"space_{var}", options)
        if rows is None:
            problems.append(f"space {var}: {info}")
            continue
        tables.append((var, info))
        errs = [r["e_L2"] for r in rows if r["e_L2"]]
        print(f"| {var} | {', '.join(f'{float(e):.2e}' for e in errs)} | {', '.join(f'{o:.2f}' for o in orders(rows))} |")
    for var, path in tables:
        subprocess.run([sys.executable, args.plot, path, "--x", var, "--title", f"refinement in {var} (Strang, Δt fixed)",
                        "-o", os.path.join(args.figures, f"convergence_{var}.png")], check=True)
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
