"""Bayesian trust from retrodiction outcomes; knows nothing of Dask or the store."""

from .optimized_trust_tracker import OptimizedTrustTracker, TrustEstimate, TrustUpdate
from .trust_update_buffer import TrustUpdateBuffer

__all__ = ["OptimizedTrustTracker", "TrustEstimate", "TrustUpdate", "TrustUpdateBuffer"]
