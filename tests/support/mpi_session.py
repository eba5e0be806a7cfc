"""Killing an mpiexec run started with start_new_session=True, ranks included."""
import os
import signal


def kill_session(proc):
    """SIGKILL mpiexec and every rank: Open MPI puts ranks in process groups of their own, but in mpiexec's session."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[3]) == proc.pid:  # field 6 of stat: the session id
                        os.kill(int(entry), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    proc.wait()
