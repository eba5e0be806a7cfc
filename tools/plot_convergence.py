#!/usr/bin/python3
"""Plot the error tables of ctflow convergence studies (ctflow -study_levels ... -study_csv FILE) on log-log
axes, with reference slopes of order 1 and 2, to a PNG.

  /usr/bin/python3 tools/plot_convergence.py study.csv -o study.png
  /usr/bin/python3 tools/plot_convergence.py lie.csv strang.csv --labels lie,strang --norm max -o dt.png
  /usr/bin/python3 tools/plot_convergence.py hard.csv relax.csv --labels hard,relax --sensitivity -o s.png

--sensitivity plots, instead of the errors, the distances S = |u(θ) − u(θ')| to the perturbed controls of a study
with -study_sensitivity (one curve per perturbation and file): flat curves are a limit that depends on the controls,
curves falling like the errors a limit that forgets them.

The abscissa is Δt when it varies between levels, else 1/N of the first grid size that varies (x, y, h;
proportional to the cell width, the domain being fixed); --x chooses explicitly. Rows without an error (the
finest level when it is the reference) are skipped.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

AXES = {"dt": ("dt", "Δt"), "x": ("Nx", "1/N_x  (∝ Δx)"), "y": ("Ny", "1/N_y  (∝ Δy)"), "h": ("Nh", "1/N_h  (∝ Δh)")}


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "e_L2" not in rows[0]:
        sys.exit(f"plot_convergence.py: {path} is not a ctflow study table (no e_L2 column)")
    return rows


def abscissa(rows, choice):
    if choice == "auto":
        for c in ("dt", "x", "y", "h"):
            col = AXES[c][0]
            if len({r[col] for r in rows}) > 1:
                choice = c
                break
        else:
            sys.exit("plot_convergence.py: nothing varies between the levels")
    col, label = AXES[choice]
    return [float(r[col]) if choice == "dt" else 1.0 / float(r[col]) for r in rows], label


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", nargs="+", help="study tables (ctflow -study_csv)")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.add_argument("--x", choices=("auto", "dt", "x", "y", "h"), default="auto", help="abscissa (default: what varies)")
    p.add_argument("--norm", choices=("L2", "max"), default="L2", help="error norm (default L2)")
    p.add_argument("--labels", help="comma-separated legend entries, one per CSV (default: the file names)")
    p.add_argument("--title", default="", help="plot title")
    p.add_argument("--sensitivity", action="store_true", help="plot the S columns of -study_sensitivity instead of the errors")
    args = p.parse_args()
    labels = args.labels.split(",") if args.labels else args.csv
    if len(labels) != len(args.csv):
        sys.exit("plot_convergence.py: --labels needs one entry per CSV file")

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    starts, xlabel = [], ""
    for path, label in zip(args.csv, labels):
        rows = read(path)
        x, xlabel = abscissa(rows, args.x)
        columns = [(f"e_{args.norm}", label)]
        if args.sensitivity:
            prefix = f"S_{args.norm}("
            columns = [(c, f"{label}, θ' = {c[len(prefix):-1]}") for c in rows[0] if c.startswith(prefix)]
            if not columns:
                sys.exit(f"plot_convergence.py: {path} has no sensitivity columns (run the study with -study_sensitivity)")
        for col, name in columns:
            pts = [(xi, float(r[col])) for xi, r in zip(x, rows) if r[col] not in ("", None)]
            pts = [(xi, e) for xi, e in pts if e > 0]
            if not pts:
                continue
            ax.loglog(*zip(*pts), "o-", label=name)
            starts.append((pts[0][0], pts[-1][0], pts[0][1]))
    if not starts:
        sys.exit("plot_convergence.py: no positive errors to plot")
    # Reference slopes from the coarsest abscissa: order 1 above the largest error there, order 2 below the
    # smallest, so that they frame the curves without hiding them.
    x0 = max(s[0] for s in starts)
    x1 = min(s[1] for s in starts) if min(s[1] for s in starts) < x0 else x0 / 8
    for order, e0, style in ((1, 2 * max(s[2] for s in starts), "k--"), (2, 0.5 * min(s[2] for s in starts), "k:")):
        ax.loglog([x0, x1], [e0, e0 * (x1 / x0) ** order], style, label=f"order {order}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"|u(θ) − u(θ')| ({args.norm} norm, level-0 grid)" if args.sensitivity else f"error ({args.norm} norm, level-0 grid)")
    if args.title:
        ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output)


if __name__ == "__main__":
    main()
