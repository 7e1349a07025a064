"""Right-sized jobs: measurements of finished work units correct the sizing (events per
job, memory) of the units whose SUBDAG has not started, in rounds of at most 2x."""

from wms2.sizing.decide import Decision, Limits, Sizing, decide
from wms2.sizing.rounds import RoundResult, sizing_round

__all__ = ["Decision", "Limits", "RoundResult", "Sizing", "decide", "sizing_round"]
