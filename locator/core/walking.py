"""Walking-time estimates from straight-line (geodesic) distances: one place for the constants.

Nothing here routes over a street network: a walk in minutes is **estimated** from the
geodesic distance, a detour factor and a walking speed, and every page or file that shows
one labels it as an estimate.

Constants
---------
:data:`WALK_SPEED_M_S` = 1.2 m/s (4.3 km/h), the average pedestrian walking speed the
Highway Capacity Manual uses for signal timing (4.0 ft/s; Transportation Research Board,
*Highway Capacity Manual*, 2010). It is at the slow end of healthy adults' comfortable
pace (about 1.3–1.5 m/s between 20 and 59 years: Bohannon R.W., "Comfortable and maximum
walking speed of adults aged 20–79 years", *Age and Ageing* 26(1):15–19, 1997), which
suits a tired worker carrying things.

:data:`DETOUR_FACTOR` = 1.3, network distance over straight-line distance ("circuity").
Measured circuity of city street networks is mostly 1.2–1.4 (Levinson D., El-Geneidy A.,
"The minimum circuity frontier and the journey to work", *Regional Science and Urban
Economics* 39(6):732–738, 2009; Giacomin D.J., Levinson D.M., "Road network circuity in
metropolitan areas", *Environment and Planning B* 42(6):1040–1053, 2015); Beijing's
gated compounds and super-blocks argue for the upper half, so 1.3.

:data:`CYCLE_SPEED_M_S` = 4.2 m/s (15 km/h), for the riders' cycling estimates: the average
cycling speed measured in Copenhagen's city traffic is 15.5 km/h (City of Copenhagen,
*Bicycle Account 2014*), and China's e-bike standard caps motor assistance at 25 km/h
(GB 17761-2018), so 15 km/h is a cautious door-to-door pace with stops at junctions. The
same :data:`DETOUR_FACTOR` applies.

With both, 15 walk minutes reach about 831 m in a straight line, and the 双15 radius of
1 km is about an 18-minute walk. (The programme's own pairing of 1 km with 15 minutes
implies 1.1 m/s with no detour at all.) The riders' pages should reuse these constants
rather than define their own.
"""

from __future__ import annotations

from typing import Final

#: Walking speed, metres per second (see the module docstring for the source).
WALK_SPEED_M_S: Final = 1.2
#: Network distance / straight-line distance (circuity; see the module docstring).
DETOUR_FACTOR: Final = 1.3
#: Cycling speed, metres per second (see the module docstring for the source).
CYCLE_SPEED_M_S: Final = 4.2


def walk_minutes(distance_m: float) -> float:
    """Estimated walking time for a straight-line distance.

    Parameters
    ----------
    distance_m : float
        Geodesic (straight-line) distance, metres, >= 0.

    Returns
    -------
    float
        Minutes: ``distance_m * DETOUR_FACTOR / WALK_SPEED_M_S / 60``.

    Examples
    --------
    >>> round(walk_minutes(1000.0), 1)
    18.1
    """
    return distance_m * DETOUR_FACTOR / WALK_SPEED_M_S / 60.0


def reach_m(minutes: float) -> float:
    """The straight-line distance an estimated walk of ``minutes`` covers (inverse of :func:`walk_minutes`).

    Parameters
    ----------
    minutes : float
        Walking time, minutes, >= 0.

    Returns
    -------
    float
        Geodesic metres: ``minutes * 60 * WALK_SPEED_M_S / DETOUR_FACTOR``.

    Examples
    --------
    >>> round(reach_m(15.0))
    831
    """
    return minutes * 60.0 * WALK_SPEED_M_S / DETOUR_FACTOR


def cycle_minutes(distance_m: float) -> float:
    """Estimated cycling time for a straight-line distance.

    Parameters
    ----------
    distance_m : float
        Geodesic (straight-line) distance, metres, >= 0.

    Returns
    -------
    float
        Minutes: ``distance_m * DETOUR_FACTOR / CYCLE_SPEED_M_S / 60``.

    Examples
    --------
    >>> round(cycle_minutes(5800.0), 1)
    29.9
    """
    return distance_m * DETOUR_FACTOR / CYCLE_SPEED_M_S / 60.0
