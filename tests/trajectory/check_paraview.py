"""Run by pvbatch (trajectory_e2e.py paraview): opens ctflow .xmf files with each of ParaView's three XDMF readers and
checks, on the server side, the time steps, the grid, the range of the field at every time and, through SaveData to
CSV, every value of the last entry.

  pvbatch check_paraview.py RUN.xmf EXPECTED.json [RUN_substeps.xmf EXPECTED_substeps.json …]

EXPECTED (from the HDF5 file): field, axes (coordinate arrays, slowest first, as the dataset is stored), times,
ranges, last. ParaView's X axis is the fastest (last) one: for the states (x, y) X carries /grid/y and Y /grid/x;
for the attention maps (h, x, η) X is η, Y is x and Z is h.
"""
import csv
import json
import os
import sys

from paraview.simple import SaveData, XDMFReader, Xdmf3ReaderS, Xdmf3ReaderT

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from paraview_checks import check_pairs, close  # noqa: E402


def check(xmf, expected_path, problems):
    with open(expected_path) as f:
        ex = json.load(f)
    field, times = ex["field"], ex["times"]
    fast_first = ex["axes"][::-1] + [[0.0]] * (3 - len(ex["axes"]))  # X, Y, Z
    sizes = [len(a) for a in fast_first]
    npoints = sizes[0] * sizes[1] * sizes[2]
    want_extent = [e for n in sizes for e in (0, n - 1)]
    want_bounds = [b for a in fast_first for b in (a[0], a[-1])]
    readers = {"XDMFReader": lambda: XDMFReader(FileNames=[xmf]), "Xdmf3ReaderS": lambda: Xdmf3ReaderS(FileName=[xmf]),
               "Xdmf3ReaderT": lambda: Xdmf3ReaderT(FileName=[xmf])}
    name_of = os.path.basename(xmf)
    for name, make in readers.items():
        reader = make()
        steps = list(reader.TimestepValues)
        if len(steps) != len(times) or not all(close(a, b) for a, b in zip(steps, times)):
            problems.append(f"{name_of} {name}: time steps {steps}, expected {times}")
            continue
        for t, (lo, hi) in zip(times, ex["ranges"]):
            reader.UpdatePipeline(t)
            info = reader.GetDataInformation()
            extent, bounds = list(info.GetExtent()), list(info.GetBounds())
            if extent != want_extent or info.GetNumberOfPoints() != npoints:
                problems.append(f"{name_of} {name} t={t}: extent {extent}, {info.GetNumberOfPoints()} points; expected {want_extent}")
            if not all(close(a, b) for a, b in zip(bounds, want_bounds)):
                problems.append(f"{name_of} {name} t={t}: bounds {bounds}, expected {want_bounds}")
            got = reader.PointData[field].GetRange()
            if not (close(got[0], lo) and close(got[1], hi)):
                problems.append(f"{name_of} {name} t={t}: range of {field} {got}, expected {(lo, hi)}")
        csv_path = os.path.join(os.path.dirname(expected_path), f"{name_of}.{name}.csv")
        reader.UpdatePipeline(times[-1])
        SaveData(csv_path, proxy=reader, PointDataArrays=[field], Precision=17)
        with open(csv_path) as f:
            values = [float(row[field]) for row in csv.DictReader(f)]
        # Point order: X fastest, as the dataset is stored row-major.
        if len(values) != npoints or not all(close(a, b, 1e-15) for a, b in zip(values, ex["last"])):
            problems.append(f"{name_of} {name}: the values of the last entry differ from the file (first: {values[:3]} vs {ex['last'][:3]})")
        print(f"{name_of} {name}: {len(steps)} time steps, {' x '.join(map(str, sizes))} points, range of {field} at t = {times[-1]}: {got}")


check_pairs(check, sys.argv[1:])
