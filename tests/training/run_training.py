#!/usr/bin/python3
"""End-to-end checks of `ctflow -train` (tests/training/CMakeLists.txt).

    /usr/bin/python3 tests/training/run_training.py CHECK --data DIR [--ctflow build/ctflow] [--mpiexec "mpirun"] [--workdir DIR]

CHECK is one of
  smoke      a random ViT on 16 images, 2 epochs at 2 ranks: one progress line per epoch, the history file, the
             trained controls run by `ctflow -controls FILE -image IMAGE` (and tools/plot_training.py draws the history);
             the paper's layered model trained on /inputs, /targets (mse), the loss decreasing; -train_out none and
             -train_history none write no file
  ranks      the same training (shuffled batches of 5, uneven splits) on 1, 2 and 4 ranks: trained controls within 1e-12
  nonfinite  the learning rate jumps to 1e40 in epoch 1: one error line naming the non-finite loss, no trained
             controls, and the checkpoint of epoch 1 kept
  restart    300 images, 12 epochs of a ViT with 65 tokens (about 0.1 s an epoch, so that the poll for the checkpoint
             catches the run) with a checkpoint every epoch at 2 ranks, killed with SIGKILL after the second
             checkpoint, then -train_restart: the trained controls and the loss history bitwise equal to an
             uninterrupted run's
  tao        full batch with TAO's lmvm (-tao_monitor): one line per iteration, the loss decreasing
  freeze     -train_freeze with patterns (a name, wildcards, with and without the leading '/') under TAO's lmvm and under
             SGD with momentum and weight decay, restarted from a checkpoint: the frozen arrays bitwise equal to the
             start, every other array changed; the first line names what is frozen
  cvt        a convolutional Transformer (§6.2; make_data.py's cvt.h5) trained 3 epochs on 16 images at 1, 2 and 4 ranks:
             the trained controls the same to 1e-12, the loss decreasing, and the test logits of the trainer
             (-train_test_logits) those of `ctflow -controls trained.h5 -image IMAGE` for every image, to 1e-12
  digits     examples/digits_vit.opts on the digits of tools/make_digits.py at 2 ranks: test accuracy ≥ 95% within 10 minutes
  digits_cvt the same for the convolutional Transformer of examples/digits_cvt.opts, from tools/make_cvt_controls.py
"""
import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from mpi_session import kill_session  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
TINY = ["-vit_dim", "8", "-vit_heads", "2", "-vit_mlp", "8", "-vit_layers", "2", "-vit_patch", "4"]


def ctflow(args, np_, extra, check=True):
    command = args.mpiexec.split() + ["-n", str(np_), args.ctflow, "-train"] + extra
    print("running:", " ".join(command), flush=True)
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, end="")
    if check and run.returncode != 0:
        sys.exit(f"ctflow failed ({run.returncode}):\n{run.stderr}")
    return run


def arrays(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset) and not n.startswith("training") else None)
    return out


def expect_record(path, epochs, losses, *options):
    """The trained file's record of the run that wrote it: epochs, the last training loss, the options."""
    with h5py.File(path) as f:
        a = f.attrs
        recorded = a["training_options"].decode() if isinstance(a["training_options"], bytes) else str(a["training_options"])
        assert a["training_epochs"] == epochs and str(a["training_ctflow_version"]), dict(a)
        assert (a["training_loss"] == losses[-1]) if epochs else "training_loss" not in a, (dict(a), losses)
        assert all(o in recorded for o in options), (options, recorded)


def smoke(args):
    data = os.path.join(args.data, "good.h5")
    run = ctflow(args, 2, ["-data", data, "-data_test", data, "-train_epochs", "2", "-train_batch", "4",
                           "-train_history", "history.h5", "-train_out", "trained.h5"] + TINY)
    lines = [l for l in run.stdout.splitlines() if l.startswith("epoch ")]
    assert len(lines) == 2 and "test accuracy" in lines[0], lines
    with h5py.File("history.h5") as f:
        for name in ("epoch", "train_loss", "test_loss", "test_accuracy", "gradient_norm", "learning_rate", "seconds"):
            assert f[name].shape == (2,), name
        assert np.all((f["test_accuracy"][...] >= 0) & (f["test_accuracy"][...] <= 1))
        expect_record("trained.h5", 2, f["train_loss"][...], "-train_epochs 2", "-train_batch 4", "-train_out trained.h5")
    ctflow(args, 1, ["-controls", "trained.h5", "-data", data, "-train_batch", "4", "-train_epochs", "0", "-train_out", "evaluated.h5"])
    expect_record("evaluated.h5", 0, [], "-controls trained.h5")  # the earlier run's loss is not carried over
    with h5py.File(data) as f, h5py.File("image.h5", "w") as g:
        g["image"] = f["images"][0]
    run = subprocess.run(args.mpiexec.split() + ["-n", "2", args.ctflow, "-controls", "trained.h5", "-image", "image.h5", "-traj", "none"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "logits:" in run.stdout, run.stderr
    plot = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "plot_training.py"), "history.h5", "history.png"], capture_output=True, text=True)
    assert plot.returncode == 0 and os.path.getsize("history.png") > 1000, plot.stderr
    states = os.path.join(args.data, "states.h5")
    ctflow(args, 2, ["-controls", os.path.join(args.data, "paper.h5"), "-data", states, "-data_test", states, "-train_epochs", "3",
                     "-train_batch", "4", "-train_lr", "1e-2", "-train_history", "states_history.h5", "-train_out", "paper_trained.h5"])
    with h5py.File("states_history.h5") as f:
        loss = f["train_loss"][...]
        assert "test_accuracy" not in f and loss[-1] < loss[0], loss
    before = set(os.listdir("."))
    run = ctflow(args, 2, ["-data", data, "-train_epochs", "1", "-train_batch", "4", "-train_out", "none", "-train_history", "none"] + TINY)
    assert set(os.listdir(".")) == before and "wrote the trained controls" not in run.stdout, set(os.listdir(".")) - before
    print("smoke: 2 epochs of a random ViT on images (history, trained controls run, plot), 3 of the paper's model on "
          f"/inputs, /targets (mse {loss[0]:.4f} → {loss[-1]:.4f}), and -train_out none -train_history none writing no file: ok")


def ranks(args):
    data = os.path.join(args.data, "good.h5")
    results = {}
    for np_ in (1, 2, 4):
        ctflow(args, np_, ["-data", data, "-train_epochs", "3", "-train_batch", "5", "-train_seed", "4", "-train_out", f"trained_np{np_}.h5"] + TINY)
        results[np_] = arrays(f"trained_np{np_}.h5")
    worst = max(np.abs(results[p][n] - results[1][n]).max() / max(np.abs(results[1][n]).max(), 1e-300) for p in (2, 4) for n in results[1])
    print(f"ranks: largest relative difference of the trained controls on 2 and 4 ranks against 1 rank: {worst:.2e}")
    assert worst <= 1e-12


def nonfinite(args):
    data = os.path.join(args.data, "good.h5")
    run = ctflow(args, 2, ["-data", data, "-train_epochs", "4", "-train_batch", "4", "-train_optimizer", "sgd", "-train_lr", "1e-3",
                           "-train_lr_schedule", "step", "-train_lr_step", "1", "-train_lr_gamma", "1e43", "-train_checkpoint", "checkpoint.h5",
                           "-train_checkpoint_every", "1", "-train_out", "trained.h5"] + TINY, check=False)
    errors = [l for l in run.stderr.splitlines() if l.startswith("ctflow: error:")]
    print(run.stderr)
    assert run.returncode != 0 and len(errors) == 1 and "non-finite" in errors[0] and "checkpoint.h5" in errors[0], errors
    assert not os.path.exists("trained.h5")
    with h5py.File("checkpoint.h5") as f:
        assert f["training"].attrs["epoch"] == 1 and np.all(np.isfinite(f["vit/head_weight"][...]))
    print("nonfinite: one error line, the checkpoint of epoch 1 kept, no trained controls: ok")


def restart(args):
    data = os.path.join(args.data, "many.h5")
    epochs = 12
    model = ["-vit_dim", "32", "-vit_heads", "2", "-vit_mlp", "64", "-vit_layers", "4", "-vit_patch", "1"]
    common = ["-data", data, "-train_epochs", str(epochs), "-train_batch", "16", "-train_seed", "2", "-train_checkpoint_every", "1"] + model
    ctflow(args, 2, common + ["-train_checkpoint", "reference_checkpoint.h5", "-train_history", "reference_history.h5", "-train_out", "reference.h5"])
    interrupted = common + ["-train_checkpoint", "checkpoint.h5", "-train_history", "history.h5", "-train_out", "trained.h5"]
    command = args.mpiexec.split() + ["-n", "2", args.ctflow, "-train"] + interrupted
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed_at = None
    while proc.poll() is None:
        try:
            with h5py.File("checkpoint.h5", "r") as f:
                epoch = int(f["training"].attrs["epoch"])
        except (OSError, KeyError):
            epoch = 0
        if epoch >= 2:
            kill_session(proc)
            killed_at = epoch
            break
        time.sleep(0.01)
    proc.wait()
    assert killed_at is not None and killed_at < epochs and not os.path.exists("trained.h5"), "the run ended before it could be killed"
    ctflow(args, 2, interrupted + ["-train_restart"])
    ours, reference = arrays("trained.h5"), arrays("reference.h5")
    assert all(np.array_equal(ours[n], reference[n]) for n in reference), "the restarted run differs from the uninterrupted one"
    with h5py.File("history.h5") as f, h5py.File("reference_history.h5") as g:
        assert np.array_equal(f["train_loss"][...], g["train_loss"][...]) and np.array_equal(f["epoch"][...], np.arange(epochs))
        expect_record("trained.h5", epochs, f["train_loss"][...], "-train_restart")
    print(f"restart: killed (SIGKILL) after the checkpoint of epoch {killed_at}; the restarted run is bitwise the uninterrupted one")


def tao(args):
    data = os.path.join(args.data, "good.h5")
    run = ctflow(args, 2, ["-data", data, "-train_optimizer", "tao", "-tao_type", "lmvm", "-tao_monitor", "-train_epochs", "6",
                           "-train_history", "history.h5", "-train_out", "trained.h5"] + TINY)
    assert re.search(r"TAO,  Function value", run.stdout), "no -tao_monitor output"
    with h5py.File("history.h5") as f:
        loss = f["train_loss"][...]
    assert len(loss) >= 3 and np.all(np.diff(loss) < 0), loss
    print(f"tao: lmvm, full batch, loss {loss[0]:.4f} → {loss[-1]:.4f} in {len(loss) - 1} iterations")


def freeze(args):
    data = os.path.join(args.data, "good.h5")
    common = ["-data", data, "-train_batch", "4", "-train_seed", "5"] + TINY
    ctflow(args, 2, common + ["-train_epochs", "0", "-train_out", "start.h5"])
    start = arrays("start.h5")
    cases = {  # optimiser options, patterns
        "tao": (["-train_optimizer", "tao", "-tao_type", "lmvm", "-train_epochs", "5"], ["/layers/1/*", "vit/class_token"]),
        "sgd": (["-train_optimizer", "sgd", "-train_momentum", "0.9", "-train_weight_decay", "0.1", "-train_lr", "0.05",
                 "-train_checkpoint", "checkpoint.h5", "-train_checkpoint_every", "1"], ["*/WQ", "final_norm/*", "layers/0/c"]),
    }
    for name, (options, patterns) in cases.items():
        flag = ["-train_freeze", ",".join(patterns)]
        if name == "sgd":  # 2 epochs, then a restart for 2 more: the frozen values come through the checkpoint
            ctflow(args, 2, common + options + flag + ["-train_epochs", "2", "-train_out", "none"])
            options = options + ["-train_restart"]
        run = ctflow(args, 2, common + options + flag + (["-train_epochs", "4"] if name == "sgd" else []) + ["-train_out", f"{name}.h5"])
        trained = arrays(f"{name}.h5")
        held = {n for n in start if any(fnmatch.fnmatch("/" + n, p if p.startswith("/") else "/" + p) for p in patterns)}
        assert held and len(held) < len(start), held
        wrong = [n for n in start if (n in held) != np.array_equal(start[n], trained[n])]
        assert not wrong, f"{name}: frozen arrays that moved or free arrays that did not: {wrong}"
        assert re.search(rf"^frozen: {len(held)} array\(s\)", run.stdout, re.M), run.stdout
        print(f"freeze, {name}: {len(held)} arrays kept bit for bit ({', '.join(sorted(held))}), the other {len(start) - len(held)} trained")


def cvt(args):
    data = os.path.join(args.data, "good.h5")
    common = ["-controls", os.path.join(args.data, "cvt.h5"), "-data", data, "-train_epochs", "3", "-train_batch", "5", "-train_lr", "0.01",
              "-train_seed", "3"]
    results = {}
    for np_ in (1, 2, 4):
        extra = ["-data_test", data, "-train_test_logits", "logits.h5", "-train_history", "history.h5"] if np_ == 2 else []
        ctflow(args, np_, common + extra + ["-train_out", f"trained_np{np_}.h5"])
        results[np_] = arrays(f"trained_np{np_}.h5")
    worst = max(np.abs(results[p][n] - results[1][n]).max() / max(np.abs(results[1][n]).max(), 1e-300) for p in (2, 4) for n in results[1])
    with h5py.File("history.h5") as f:
        loss = f["train_loss"][...]
    with h5py.File(data) as f, h5py.File("logits.h5") as g:
        images, logits = f["images"][...], g["logits"][...]
    run_error = 0.0
    for i, image in enumerate(images):
        with h5py.File("image.h5", "w") as f:
            f["image"] = image
        run = subprocess.run(args.mpiexec.split() + ["-n", "2", args.ctflow, "-controls", "trained_np2.h5", "-image", "image.h5", "-traj", "run.h5"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        with h5py.File("run.h5") as f:
            run_error = max(run_error, np.abs(f["logits"][...] - logits[i]).max() / np.abs(logits[i]).max())
    print(f"cvt: trained controls on 2 and 4 ranks against 1 rank: {worst:.2e}; loss {loss[0]:.4f} → {loss[-1]:.4f}; "
          f"the trainer's test logits against ctflow -image on {len(images)} images: {run_error:.2e}")
    assert worst <= 1e-12 and loss[-1] < loss[0] and run_error <= 1e-12


def digits(args):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_digits.py"), "."], check=True)
    start = time.time()
    ctflow(args, 2, ["-options_file", os.path.join(ROOT, "examples", "digits_vit.opts"), "-data", "digits_train.h5",
                     "-data_test", "digits_test.h5"])
    seconds = time.time() - start
    with h5py.File("digits_history.h5") as f:
        accuracy = f["test_accuracy"][-1]
    print(f"digits: test accuracy {accuracy:.4f} after {seconds:.0f} s on 2 ranks")
    assert accuracy >= 0.95 and seconds <= 600


def digits_cvt(args):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_digits.py"), "."], check=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_cvt_controls.py"), "digits_cvt_initial.h5", "--data", "digits_train.h5"],
                   check=True)
    start = time.time()
    ctflow(args, 2, ["-options_file", os.path.join(ROOT, "examples", "digits_cvt.opts"), "-controls", "digits_cvt_initial.h5",
                     "-data", "digits_train.h5", "-data_test", "digits_test.h5"])
    seconds = time.time() - start
    with h5py.File("digits_cvt_history.h5") as f:
        accuracy = f["test_accuracy"][-1]
    print(f"digits_cvt: test accuracy {accuracy:.4f} after {seconds:.0f} s on 2 ranks")
    assert accuracy >= 0.95 and seconds <= 600


def main():
    checks = {f.__name__: f for f in (smoke, ranks, nonfinite, restart, tao, freeze, cvt, digits, digits_cvt)}
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check", choices=list(checks))
    parser.add_argument("--data", required=True)
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    args.data = os.path.abspath(args.data)
    work = args.workdir or os.path.join(ROOT, "build", "tests", "training", args.check)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    for name in os.listdir("."):
        if name.endswith(".h5") or name.endswith(".part"):
            os.remove(name)
        elif name.endswith(".d"):  # a trajectory's segments
            shutil.rmtree(name)
    checks[args.check](args)


if __name__ == "__main__":
    main()
