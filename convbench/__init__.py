"""convbench: strong and weak MPI scaling benchmarks of a C 2-D convolution layer.

The package stays import-light: submodules (kernel, reference, ...) import numpy and the
compiled extension themselves.
"""

__version__ = "0.1.0"
