"""Radio link budget: path loss, channel gain and noise (3GPP TR 36.814 macro-cell numbers).

Defaults follow 3GPP TR 36.814 (Table A.2.1.1-2, macro cell, the setting common in edge-inference
papers, including this one's family): path loss ``128.1 + 37.6 log10(d / 1 km)`` dB, 8 dB
log-normal shadowing, users at least 35 m from the base station, thermal noise of -174 dBm/Hz and a
base-station receiver noise figure of 5 dB (the uplink's receiver), with 0.2 W (23 dBm) user
transmit power. They are parameters, not facts about the paper: the book says where they come from.

With these numbers and no shadowing, a user 35 m away sees an SNR of about 59 dB over 1 MHz
(Shannon: about 19.5 b/s/Hz) and one 300 m away about 24 dB (7.8 b/s/Hz). The Shannon rate has no
modulation cap; real links stop near 6-8 b/s/Hz (256-QAM), so the nearest users are optimistic.
"""

from __future__ import annotations

import numpy as np

NOISE_DBM_HZ = -174.0   # thermal noise PSD at 290 K
NOISE_FIGURE_DB = 5.0   # base-station receiver noise figure (TR 36.814)
MIN_DISTANCE_M = 35.0   # least user-to-base-station distance (TR 36.814, macro cell)
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


def cell_gains(rng, n: int, radius_m: float, min_distance_m: float = MIN_DISTANCE_M,
               shadowing_std_db: float = 8.0) -> np.ndarray:
    """Channel gains of ``n`` users dropped uniformly (by area) in the annulus between
    ``min_distance_m`` and ``radius_m`` (m), with log-normal shadowing of ``shadowing_std_db`` dB.

    Draws from the ``numpy.random.Generator`` ``rng``: the distances, then the shadowing.

    Returns
    -------
    ndarray, shape (n,)
        Linear power gains.
    """
    r = np.sqrt(rng.uniform(min_distance_m ** 2, radius_m ** 2, n))
    shadow = rng.normal(0.0, shadowing_std_db, n)
    return channel_gain(r, shadow)


def noise_psd_w_hz(noise_dbm_hz=NOISE_DBM_HZ, noise_figure_db=NOISE_FIGURE_DB) -> float:
    """Receiver noise power spectral density ``N0`` (W/Hz): thermal noise raised by the noise figure."""
    return dbm_hz_to_w_hz(noise_dbm_hz + noise_figure_db)


def a_hz(distance_m, shadowing_db=0.0, power_w=POWER_W, noise_dbm_hz=NOISE_DBM_HZ,
         noise_figure_db=NOISE_FIGURE_DB):
    """``a = p g / N0`` (Hz), the link's SNR-bandwidth product (MODEL.md section 1).

    Examples
    --------
    >>> a = a_hz([35.0, 300.0])
    >>> [round(float(x), 1) for x in np.log2(1 + a / 1e6)]  # b/s/Hz over 1 MHz, no shadowing
    [19.5, 7.8]
    """
    return power_w * channel_gain(distance_m, shadowing_db) / noise_psd_w_hz(noise_dbm_hz,
                                                                             noise_figure_db)
