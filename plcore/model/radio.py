"""Radio link budget: path loss, channel gain and noise (the usual 3GPP-style macro-cell numbers).

Defaults follow the setting common in edge-inference papers, including this one's family: path loss
``128.1 + 37.6 log10(d / 1 km)`` dB, log-normal shadowing, 0.2 W transmit power and thermal noise of
-174 dBm/Hz. They are parameters, not facts about the paper: the book says where they come from.
"""

from __future__ import annotations

import numpy as np

NOISE_DBM_HZ = -174.0   # thermal noise PSD at 290 K
POWER_W = 0.2           # user transmit power


def dbm_hz_to_w_hz(dbm_hz: float) -> float:
    """Convert a power spectral density from dBm/Hz to W/Hz."""
    return 10.0 ** (dbm_hz / 10.0) * 1e-3


def path_loss_db(distance_m):
    """Path loss (dB) ``128.1 + 37.6 log10(d_km)``; ``distance_m`` in metres, > 0."""
    d = np.asarray(distance_m, dtype=float)
    if np.any(d <= 0):
        raise ValueError("path_loss_db: distances must be > 0 m")
    return 128.1 + 37.6 * np.log10(d / 1e3)


def channel_gain(distance_m, shadowing_db=0.0):
    """Linear channel power gain at ``distance_m`` (m) with ``shadowing_db`` (dB) added to the loss."""
    return 10.0 ** (-(path_loss_db(distance_m) + np.asarray(shadowing_db, dtype=float)) / 10.0)


def a_hz(distance_m, shadowing_db=0.0, power_w=POWER_W, noise_dbm_hz=NOISE_DBM_HZ):
    """``a = p g / N0`` (Hz), the link's SNR-bandwidth product (MODEL.md section 1)."""
    return power_w * channel_gain(distance_m, shadowing_db) / dbm_hz_to_w_hz(noise_dbm_hz)
