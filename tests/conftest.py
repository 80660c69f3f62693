"""Suite-wide settings: one torch thread.

The suite is mostly small tensors stepped in Python loops; on the 2-core machines the
tests run on, a second intra-op thread measured 10-30x slower per small op (thread
hand-off dominates), and the tests' numbers do not depend on the thread count.
"""

import torch

torch.set_num_threads(1)
