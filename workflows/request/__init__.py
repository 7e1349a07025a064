"""The request workflow: RequestWorkflow (workflow.py) and the parts it owns."""

from workflows.request.workflow import RequestWorkflow

__all__ = ["RequestWorkflow"]
