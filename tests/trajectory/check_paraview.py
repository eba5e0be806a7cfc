"""Run by pvbatch (trajectory_e2e.py paraview): opens a ctflow .xmf with each of ParaView's three XDMF readers and
checks, on the server side, the time steps, the grid (ParaView's X axis carries /grid/y with N_y points, its Y axis
/grid/x with N_x points), the range of u at every time and, through SaveData to CSV, every value of the last state.

  pvbatch check_paraview.py RUN.xmf EXPECTED.json     (EXPECTED: times, x, y, ranges, last, from the HDF5 file)
"""
import csv
import json
import os
import sys

from paraview.simple import SaveData, XDMFReader, Xdmf3ReaderS, Xdmf3ReaderT


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def main(xmf, expected_path):
    with open(expected_path) as f:
        ex = json.load(f)
    Nx, Ny, times = len(ex["x"]), len(ex["y"]), ex["times"]
    problems = []
    readers = {"XDMFReader": lambda: XDMFReader(FileNames=[xmf]), "Xdmf3ReaderS": lambda: Xdmf3ReaderS(FileName=[xmf]),
               "Xdmf3ReaderT": lambda: Xdmf3ReaderT(FileName=[xmf])}
    for name, make in readers.items():
        reader = make()
        steps = list(reader.TimestepValues)
        if len(steps) != len(times) or not all(close(a, b) for a, b in zip(steps, times)):
            problems.append(f"{name}: time steps {steps}, expected {times}")
            continue
        for t, (lo, hi) in zip(times, ex["ranges"]):
            reader.UpdatePipeline(t)
            info = reader.GetDataInformation()
            extent, bounds = list(info.GetExtent()), list(info.GetBounds())
            if extent != [0, Ny - 1, 0, Nx - 1, 0, 0] or info.GetNumberOfPoints() != Nx * Ny:
                problems.append(f"{name} t={t}: extent {extent}, {info.GetNumberOfPoints()} points; expected N_y = {Ny} along X, N_x = {Nx} along Y")
            want = [ex["y"][0], ex["y"][-1], ex["x"][0], ex["x"][-1], 0, 0]
            if not all(close(a, b) for a, b in zip(bounds, want)):
                problems.append(f"{name} t={t}: bounds {bounds}, expected {want} (X: y, Y: x)")
            got = reader.PointData["u"].GetRange()
            if not (close(got[0], lo) and close(got[1], hi)):
                problems.append(f"{name} t={t}: range of u {got}, expected {(lo, hi)}")
        csv_path = os.path.join(os.path.dirname(expected_path), f"{name}.csv")
        reader.UpdatePipeline(times[-1])
        SaveData(csv_path, proxy=reader, PointDataArrays=["u"], Precision=17)
        with open(csv_path) as f:
            values = [float(row["u"]) for row in csv.DictReader(f)]
        # Point order: X (y) fastest, as u is stored (N_x, N_y) row-major.
        if len(values) != Nx * Ny or not all(close(a, b, 1e-15) for a, b in zip(values, ex["last"])):
            problems.append(f"{name}: the values of the last state differ from /u (first: {values[:3]} vs {ex['last'][:3]})")
        print(f"{name}: {len(steps)} time steps, {Ny} x {Nx} points, range of u at t = {times[-1]}: {got}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ParaView check passed")


main(sys.argv[1], sys.argv[2])
