"""Run by pvbatch (paraview_stages.py): opens the XDMF index of a staged model's trajectory with ParaView's Xdmf3 readers
and checks, on the server side, the time steps, the 3-D extent of the first and last entries (x, y1, y2: ParaView's Z, Y,
X) and the range of u in the last one. The legacy XDMFReader (Xdmf2) takes the first entry's extent for every time, so
it cannot read the later stages' grids; docs/trajectory-format.md says so.

  pvbatch check_paraview_stages.py RUN.xmf EXPECTED.json [RUN_substeps.xmf EXPECTED.json …]
"""
import json
import os
import sys

from paraview.simple import Xdmf3ReaderS, Xdmf3ReaderT

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from paraview_checks import check_pairs, close  # noqa: E402


def extent(shape):  # (x, y1, y2) stored slowest first: ParaView's X is y2, Y is y1, Z is x
    return [0, shape[2] - 1, 0, shape[1] - 1, 0, shape[0] - 1]


def check(xmf, expected_path, problems):
    with open(expected_path) as f:
        ex = json.load(f)
    readers = {"Xdmf3ReaderS": lambda: Xdmf3ReaderS(FileName=[xmf]), "Xdmf3ReaderT": lambda: Xdmf3ReaderT(FileName=[xmf])}
    name_of = os.path.basename(xmf)
    for name, make in readers.items():
        reader = make()
        steps = list(reader.TimestepValues)
        if len(steps) != len(ex["times"]) or not all(close(a, b) for a, b in zip(steps, ex["times"])):
            problems.append(f"{name_of} {name}: time steps {steps}, expected {ex['times']}")
            continue
        for t, shape in ((steps[0], ex["first_shape"]), (steps[-1], ex["last_shape"])):
            reader.UpdatePipeline(t)
            info = reader.GetDataInformation()
            if list(info.GetExtent()) != extent(shape) or info.GetNumberOfPoints() != shape[0] * shape[1] * shape[2]:
                problems.append(f"{name_of} {name} t={t}: extent {list(info.GetExtent())}, expected {extent(shape)} for (x, y1, y2) = {shape}")
        got = reader.PointData["u"].GetRange()
        lo, hi = ex["last_range"]
        if not (close(got[0], lo) and close(got[1], hi)):
            problems.append(f"{name_of} {name}: range of u at t = {steps[-1]} is {got}, expected {(lo, hi)}")
        print(f"{name_of} {name}: {len(steps)} times, first entry {ex['first_shape']}, last {ex['last_shape']}, range {got}")


check_pairs(check, sys.argv[1:])
