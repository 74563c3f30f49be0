"""Chart specs: what one chart shows (data, axes, colors, title and caption) as plain data.
``charts`` builds them from results; ``charts_plotly`` and ``charts_png`` only draw them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from quantarena.report.axes import Axis


@dataclass(frozen=True, kw_only=True)
class Chart(ABC):
    """What every chart has: ``key`` names its HTML element (``chart-KEY``), ``file`` its PNG."""

    key: str
    file: str
    label: str  # short name (PNG alt text)
    title: str
    caption: str

    @property
    @abstractmethod
    def has_data(self) -> bool:
        """Is there anything to draw? (A chart without data is skipped, with a note.)"""

    @property
    def categories(self) -> list[str]:
        """Variant names along a category axis, first on top (none on a scatter chart)."""
        return []


@dataclass(frozen=True)
class TradeoffPoint:
    name: str
    x: float
    y: float
    x_ci: tuple[float, float] | None
    on_frontier: bool


@dataclass(frozen=True)
class Series:
    """The points of one toolchain (one color)."""

    name: str
    color: str
    points: list[TradeoffPoint]


@dataclass(frozen=True, kw_only=True)
class TradeoffChart(Chart):
    """Top-1 against a cost (latency or size); the Pareto frontier as a step line."""

    x: Axis
    y: Axis
    series: list[Series]
    frontier: list[TradeoffPoint]

    @property
    def has_data(self) -> bool:
        return any(s.points for s in self.series)


@dataclass(frozen=True)
class Bar:
    name: str
    value: float
    color: str


@dataclass(frozen=True, kw_only=True)
class BarChart(Chart):
    """Latency or size per variant, when there is no accuracy to plot them against."""

    axis: Axis
    bars: list[Bar]

    @property
    def has_data(self) -> bool:
        return bool(self.bars)

    @property
    def categories(self) -> list[str]:
        return [b.name for b in self.bars]


@dataclass(frozen=True)
class LatencyRow:
    name: str
    color: str
    min: float
    p25: float | None
    p50: float
    p75: float | None
    p90: float
    p99: float
    max: float
    mean: float
    iterations: int


@dataclass(frozen=True, kw_only=True)
class LatencyChart(Chart):
    """Batch-1 latency spread per variant: box plots when every row has quartiles, else bars
    p50..p99 with whiskers min..max (results written before quartiles were stored)."""

    axis: Axis
    rows: list[LatencyRow]
    boxes: bool

    @property
    def has_data(self) -> bool:
        return bool(self.rows)

    @property
    def categories(self) -> list[str]:
        return [r.name for r in self.rows]


@dataclass(frozen=True)
class SpeedupSeries:
    label: str
    color: str
    values: list[float | None]  # one per ``SpeedupChart.names``; x > 1 is faster
    against: list[str | None]  # the variant each value is measured against
    #: 95% CI of each value (paired interleaved rounds), None where there is none
    ci: list[tuple[float, float] | None] | None = None


@dataclass(frozen=True, kw_only=True)
class SpeedupChart(Chart):
    axis: Axis
    names: list[str]
    series: list[SpeedupSeries]

    @property
    def has_data(self) -> bool:
        return any(v is not None for s in self.series for v in s.values)

    @property
    def categories(self) -> list[str]:
        return self.names


@dataclass(frozen=True, kw_only=True)
class MachineChart(Chart):
    """The machine over the interleaved rounds: each round's reference workload time relative
    to the run's fastest (1.0 = as fast as it got), with steal and other processes' CPU share."""

    offsets_s: list[float]  # start of each round, seconds into the rounds
    relative: list[float]
    steal: list[float | None]  # fraction of the machine's CPU
    others: list[float | None]

    @property
    def has_data(self) -> bool:
        return len(self.relative) >= 2
