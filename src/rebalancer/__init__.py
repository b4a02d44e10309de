"""Synthetic rebalancer: keeps a spot portfolio's effective mix on target with perp hedges.

Spot is never traded; perpetual-futures positions carry the adjustment.
"""

__version__ = "0.1.0"
