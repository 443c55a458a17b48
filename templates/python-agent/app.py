"""A simulation agent in Python: seeded order flow around a mid price that wanders.

The host calls `start` with the scenario of `POST /api/simulations` (when the run names this
component as its `generator`), then `next_batch` until the run ends. The same seed gives the
same flow.
"""

import random

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.generator import Scenario
from wit_world.imports.types import OrderKind, OrderRequest, Side, TimeInForce

# The host asks for at most this many orders per call.
MAX_BATCH = 65_536


class State:
    """What a run keeps between calls. componentize-py makes a new `Generator` for each call
    of the export, so the state lives in the module, which lives as long as the instance (one
    per run)."""

    def __init__(self) -> None:
        self.scenario: Scenario | None = None
        self.rng = random.Random(0)
        self.mids: dict[str, int] = {}


STATE = State()


class Generator(exports.Generator):
    def start(self, scenario: Scenario) -> None:
        if not scenario.symbols:
            raise Err("scenario.symbols must name at least one symbol")
        if scenario.max_quantity < 1:
            raise Err("scenario.max-quantity must be at least 1")
        if scenario.accounts < 1:
            raise Err("scenario.accounts must be at least 1")
        if scenario.market_percent > 100:
            raise Err("scenario.market-percent must be from 0 to 100")
        STATE.scenario = scenario
        STATE.rng = random.Random(scenario.seed)
        STATE.mids = {symbol: scenario.mid for symbol in scenario.symbols}

    def next_batch(self, max: int) -> list[OrderRequest]:
        s, rng, mids = STATE.scenario, STATE.rng, STATE.mids
        if s is None:
            return []
        orders = []
        for _ in range(min(max, MAX_BATCH)):
            symbol = rng.choice(s.symbols)
            # The mid takes a one-tick step with a chance of volatility-bp in 10 000.
            if rng.randrange(10_000) < s.volatility_bp:
                mids[symbol] = max_(1, mids[symbol] + rng.choice((-1, 1)))
            mid = mids[symbol]
            side = rng.choice((Side.BUY, Side.SELL))
            market = rng.randrange(100) < s.market_percent
            # Buyers bid under the mid and sellers offer over it, so limits rest until crossed.
            offset = rng.randint(1, max_(s.spread, 1))
            price = mid - offset if side == Side.BUY else mid + offset
            orders.append(
                OrderRequest(
                    symbol=symbol,
                    side=side,
                    kind=OrderKind.MARKET if market else OrderKind.LIMIT,
                    price=0 if market else max_(price, 1),
                    quantity=rng.randint(1, s.max_quantity),
                    time_in_force=TimeInForce.IOC if market else TimeInForce.GTC,
                    post_only=False,
                    client_order_id=None,
                    account=f"agent-{rng.randrange(s.accounts)}",
                )
            )
        return orders


def max_(a: int, b: int) -> int:
    # `max` is the export's parameter name inside next_batch.
    return a if a > b else b
