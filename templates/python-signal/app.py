"""A ratio signal in Python: growth of the numerator over the look-back divided by the
denominator's, and the regime it indicates."""

import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.indicator import (
    RatioInput,
    Regime,
    SignalError_InsufficientData,
    SignalError_InvalidInput,
    SignalValue,
)


class Indicator(exports.Indicator):
    def compute(self, input: RatioInput) -> SignalValue:
        n, d = input.numerator, input.denominator
        if len(n) != len(d):
            raise Err(SignalError_InvalidInput(f"series lengths differ: {len(n)} and {len(d)}"))
        if input.lookback < 1:
            raise Err(SignalError_InvalidInput("lookback must be at least 1"))
        if len(n) < input.lookback + 1:
            raise Err(SignalError_InsufficientData(f"need {input.lookback + 1} closes, have {len(n)}"))
        for series in (n, d):
            for x in series:
                if not (math.isfinite(x) and x > 0):
                    raise Err(SignalError_InvalidInput(f"close {x} is not a positive finite number"))
        k = input.lookback
        ratio = (n[-1] / n[-1 - k]) / (d[-1] / d[-1 - k])
        if ratio > 1:
            regime = input.above
        else:
            regime = Regime.RISK_OFF if input.above == Regime.RISK_ON else Regime.RISK_ON
        return SignalValue(name=input.name, ratio=ratio, regime=regime)
