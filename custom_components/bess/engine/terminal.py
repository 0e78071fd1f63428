"""What a kWh left in the battery at the end of the horizon is worth, by default.

The rule: the cheapest buy price of the horizon, after a round trip through the battery,
and never below zero:

    terminal value = max(min(buy), 0) × charge efficiency × discharge efficiency

A stored kWh can always displace at least the cheapest purchase, so it is worth something:
with 0 the plan empties the battery by the end of the horizon, exporting stored solar for little
before a morning that will need it. The round trip's losses keep the value below what it costs
to store a kWh bought at that price, (min(buy) + wear) / charge efficiency, so the plan never buys
energy only to leave it in the battery on a guess about prices nobody has published. In effect
the plan keeps stored energy rather than export it below charge efficiency × min(buy), and
stores surplus solar rather than export it for less than the value it keeps; every purchase it
can displace inside the horizon still comes first.

Chosen by `bench/closed_loop.py --terminal-rules` over four 14-day sequences (spring with a
DST change and negative prices, winter, summer, autumn DST), with perfect and noisy forecasts,
against 0, evcc's 0.9 × min price, bess-manager's capped median buy price, the median sell price,
the refill cost and min buy × discharge efficiency. When the horizon runs through tomorrow the
rules are within 0.01 % of each other (the refill cost loses 0.6 % in summer); when it stops at
midnight (tomorrow's prices late) this rule and evcc's have the best worst case (90.8 % against
83.4 % for 0 and 83.3 % for the capped median; with 10 % load and 20 % solar errors 80.7 %
against 71.1 % and 71.0 %) and the best mean. For a battery of 95 % each way it is evcc's rule;
here it follows the battery's efficiencies.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

from .models import BatterySettings


def default_terminal_value(
    buy: Sequence[float], sell: Sequence[float], battery: BatterySettings
) -> float:
    """Return the default worth (currency per kWh stored) of energy left at the horizon's end.

    `buy` and `sell` are the horizon's final prices, one per period; `sell` is taken so that
    callers need not change if the rule ever uses it (no rule on sell prices did better).
    """
    if not buy:
        raise ValueError("a terminal value needs the horizon's buy prices; there are none")
    if not all(math.isfinite(price) for price in buy):
        raise ValueError("a buy price of the horizon is not a finite number")
    round_trip = battery.charge_efficiency * battery.discharge_efficiency
    return max(min(buy), 0.0) * round_trip
