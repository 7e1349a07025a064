"""The output workflow: OutputWorkflow (workflow.py) and the unit steps it owns."""

from workflows.output.workflow import OutputWorkflow

__all__ = ["OutputWorkflow"]
