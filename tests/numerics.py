"""How tests compare two computations: in float64, with a tolerance derived, not tuned to a CPU.

The same float32 code rounds differently on different CPUs (AVX2, AVX-512, ARM: other kernel
blockings and reduction orders), and BatchNorm over a small batch amplifies a rounding
difference where a unit's batch variance is near zero: measured on an AVX-512 machine, one
float32 epoch (10 steps at batch 32) turned differences of ~1e-7 into 7.8e-4, a factor ~1e4.
A test whose claim is "the same computation, arranged differently" (a stack against networks
trained alone, the engine against the usual loop, the inference path against autograd) runs
in float64 instead: unit roundoff 1.1e-16, so even a 1e5-fold amplification over the few
dozen steps a test takes leaves ~1e-11 (measured: the engine against the usual loop, that
epoch in float64, 6.2e-12 at most). ``F64`` allows 1e-8 relative and 1e-9 absolute, a
100-fold margin over that and still ~1e5 times smaller than the change a real defect makes
(a wrong gradient, a shuffled batch or two networks mixed move weights by 1e-3 or more).

Within-machine identities (the same config twice, resume after a kill) stay bit-exact:
they compare one machine with itself running the same kernels on the same shapes.
"""

import torch

F64 = {"rtol": 1e-8, "atol": 1e-9}


def float64(model: torch.nn.Module) -> torch.nn.Module:
    """The model with every parameter and buffer (W, B, D, BatchNorm statistics) in float64."""
    return model.double()
