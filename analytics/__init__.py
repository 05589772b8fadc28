"""Bayesian trust from retrodiction evidence; knows nothing of Dask or the store."""

from .evidence import EvidenceBlock, TrustKey, pack_evidence, unpack_evidence
from .intervals import conformal_offsets, recency_weights
from .optimized_trust_tracker import (
    SCHEMA_VERSION,
    ForecastErrors,
    OptimizedTrustTracker,
    StepTrust,
    TrustEstimate,
)
from .posterior import beta_interval, dependent_posterior, design_effect
from .trust_update_buffer import TrustUpdateBuffer

__all__ = ["EvidenceBlock", "ForecastErrors", "OptimizedTrustTracker", "SCHEMA_VERSION", "StepTrust", "TrustEstimate", "TrustKey",
           "TrustUpdateBuffer", "beta_interval", "conformal_offsets", "dependent_posterior", "design_effect",
           "pack_evidence", "recency_weights", "unpack_evidence"]
