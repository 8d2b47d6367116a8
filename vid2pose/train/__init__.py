"""Training the project's lifter on motion capture (cameras, noise, data, split, train, evaluate).

OpenMP threads are made to sleep rather than spin while they wait (``OMP_WAIT_POLICY=PASSIVE``,
unless set): on a machine whose cores are shared with other jobs, spinning threads of a
2-thread torch made training steps 2x slower than 1 thread, while passive waiting keeps the
gain of the second core when it is free. Effective only if set before torch is imported.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
