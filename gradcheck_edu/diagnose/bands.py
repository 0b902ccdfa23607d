"""Every threshold the checklist judges by, in one place.

Each :class:`Band` is the healthy range of one measurement. An item judges with the band's
limits and its message quotes the same band (``band.healthy()``), so the number that decides
and the number that teaches are one definition. Change a limit here and both follow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Band", "BANDS", "UPDATE_RATIO", "DEAD_UNITS", "SATURATED", "ACTIVATION_STD",
           "GRAD_NORM", "INITIAL_LOSS", "MSE_OUTPUT_POWER", "OVERFIT_LOSS", "VAL_GAP",
           "REG_RATIO", "CAPACITY_GAIN", "TANH_SATURATION", "SIGMOID_SATURATION", "GAP_FLOOR",
           "CURVE_UNDERFIT", "VAL_RISE", "INPUT_SCALE", "IMBALANCE", "DUPLICATES",
           "LEAK_CORRELATION"]


@dataclass(frozen=True)
class Band:
    """The healthy range ``low <= value <= high`` of one measurement (None: no bound).

    Attributes
    ----------
    what : str
        The measurement, as the messages name it.
    low, high : float or None
    fmt : str
        How the messages print a limit (a format spec: ``".0%"``, ``".0e"``, ``"g"``).

    Examples
    --------
    >>> DEAD_UNITS.healthy()
    'healthy: dead units at most 50%'
    >>> DEAD_UNITS.contains(0.2), DEAD_UNITS.contains(0.75)
    (True, False)
    """

    what: str
    low: float | None
    high: float | None
    fmt: str = "g"

    def with_limits(self, low: float | None = None, high: float | None = None) -> Band:
        """This band with a caller's own limits (None keeps the band's); itself when unchanged.

        >>> DEAD_UNITS.with_limits(high=0.3).healthy()
        'healthy: dead units at most 30%'
        """
        low = self.low if low is None else low
        high = self.high if high is None else high
        return self if (low, high) == (self.low, self.high) else replace(self, low=low, high=high)

    def contains(self, value: float) -> bool:
        """True when ``value`` is finite-or-unbounded and inside the band."""
        if value != value:  # NaN is never healthy
            return False
        return (self.low is None or value >= self.low) and \
            (self.high is None or value <= self.high)

    def healthy(self) -> str:
        """The band as the messages state it: ``"healthy: <what> from <low> to <high>"``."""
        lo = None if self.low is None else format(self.low, self.fmt)
        hi = None if self.high is None else format(self.high, self.fmt)
        if lo is not None and hi is not None:
            return f"healthy: {self.what} from {lo} to {hi}"
        if hi is not None:
            return f"healthy: {self.what} at most {hi}"
        return f"healthy: {self.what} at least {lo}"


# ||delta W|| / ||W|| per step, median over the training run's epochs (one step each). The rule
# of thumb is ~1e-3; the band spans a decade below and two above it, because Adam moves every
# weight by about lr per step (ratios of 1e-3 to 1e-2 for learning rates that train well).
# The first step from initialization is not judged: it runs far higher (up to ~0.5 with Adam).
UPDATE_RATIO = Band("update/weight ratio (median over training)", 1e-4, 1e-1, ".0e")
# Fraction of ReLU units that are zero on every sample of the batch.
DEAD_UNITS = Band("dead units", None, 0.5, ".0%")
# Fraction of tanh/sigmoid outputs in the flat tails (see TANH_SATURATION, SIGMOID_SATURATION).
SATURATED = Band("saturated outputs", None, 0.5, ".0%")
# What counts as saturated: |tanh| beyond 0.99, sigmoid below 0.01 or above 0.99.
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
# Standard deviation of a layer's activations: below this the signal has vanished.
ACTIVATION_STD = Band("activation std", 1e-3, None, ".0e")
# Norm of each weight's gradient on the whole set: below vanishes, above explodes.
GRAD_NORM = Band("weight gradient norms", 1e-8, 1e4, ".0e")
# The untrained classifier's loss over the loss at chance (-ln(1/C), ln 2).
INITIAL_LOSS = Band("initial loss / loss at chance", None, 1.5, "g")
# MSE: the mean square of the untrained outputs (He/Xavier: of order 1).
MSE_OUTPUT_POWER = Band("mean square of the untrained outputs", None, 10.0, "g")
# The loss a correct model reaches on a tiny set (evaluation mode).
OVERFIT_LOSS = Band("tiny-set loss", None, 0.05, "g")
# (final validation loss - final training loss) / max(final training loss, GAP_FLOOR * loss at
# chance): a gap above the band with a validation loss that rose from its minimum by more
# than a tenth is overfitting. The floor keeps two losses far below chance (0.02 against 0.01)
# from counting as a 100% gap.
VAL_GAP = Band("validation gap", None, 0.5, ".0%")
GAP_FLOOR = 0.05
# Regularization loss over data loss: above the band the penalty hides the data gradient.
REG_RATIO = Band("regularization loss / data loss", None, 1.0, "g")
# How much lower a larger variant of the model (2x the hidden units, at least 64), trained the
# same way for the same budget, brings the final training loss, as a fraction of the loss at
# chance. More than this: the model is too small for the data.
CAPACITY_GAIN = Band("what a larger model gains, as a fraction of the loss at chance", None,
                     0.1, ".0%")

# Judged from the training curve alone (no larger model to compare with): a final training
# loss above this fraction of the loss at chance (or of the first epoch's loss) is underfitting.
CURVE_UNDERFIT = Band("final training loss / loss at chance", None, 0.5, ".0%")
# A validation loss that rose from its minimum by more than this fraction of the minimum.
VAL_RISE = 0.1

# Input scale: per feature, the 99th percentile of |x|, |mean| and std. Beyond this the inputs
# are wildly unscaled (pixels left at 0-255 or 0-16, a feature in thousands): the initial
# loss, the gradients and the learning rate all inherit the scale, so the checklist stops.
INPUT_SCALE = Band("input scale (99th percentile of |x|, |mean|, std per feature)", None, 10.0,
                   "g")
# Most frequent class over least frequent class.
IMBALANCE = Band("class imbalance (largest / smallest class)", None, 10.0, "g")
# Share of rows that repeat an earlier row.
DUPLICATES = Band("duplicate rows", None, 0.1, ".0%")
# A feature whose correlation with a regression target reaches this is the target itself.
LEAK_CORRELATION = 0.999

# Every band above, by the name the tests and the docs use.
BANDS = {"update_ratio": UPDATE_RATIO, "dead_units": DEAD_UNITS, "saturated": SATURATED,
         "activation_std": ACTIVATION_STD, "gradients": GRAD_NORM, "initial_loss": INITIAL_LOSS,
         "mse_initial_loss": MSE_OUTPUT_POWER, "overfit": OVERFIT_LOSS, "val_gap": VAL_GAP,
         "regularization": REG_RATIO, "capacity": CAPACITY_GAIN,
         "curve_underfit": CURVE_UNDERFIT, "input_scale": INPUT_SCALE,
         "imbalance": IMBALANCE, "duplicates": DUPLICATES}
