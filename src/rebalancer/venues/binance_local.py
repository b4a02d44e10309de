"""Old import path of the local Binance client (kept for tests and benchmarks): see venues.local."""

from .local import LocalBinance, LocalBinanceSync, lean_options, make_local_binance, point_at

__all__ = ["LocalBinance", "LocalBinanceSync", "lean_options", "make_local_binance", "point_at"]
