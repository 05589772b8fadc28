"""The names of the model-selection rules (see selection.py); light, so the command line can offer them."""

__all__ = ["SELECTION_RULES"]

SELECTION_RULES = ("trust-low", "trust-mean", "mase")
