"""The spatial decomposition's row geometry, for the ranks: it lives in
convbench.workload.halo, beside the batch partition, so that the cost model can count the halo
the ranks exchange from the same definition."""
from convbench.workload.halo import Rows, max_distance, split, transfers

__all__ = ["Rows", "split", "transfers", "max_distance"]
