"""How a worker runs WMS2's workflow code: in Temporal's sandbox, with WMS2's own
workflow modules imported once per process.

The sandbox imports every module a workflow uses afresh for each workflow run, unless
the module is passed through. WMS2's domain modules already are (`imports_passed_through`
around every `wms2` import); the `workflows` package itself was not, so each cached
request carried its own copy of ~15 modules: their functions, classes and enums, about
300 kB of a ~480 kB request (bench/memory.py --tracemalloc). Passed through, they are
shared. What that gives up: the sandbox no longer proxies the standard-library modules
these modules import (a stray `datetime.now()` in them is not refused at run time); the
`workflows` modules hold no mutable module state, do no I/O, read no clock, and replays
of the recorded histories (tests/workflows/test_replay.py, with this runner) catch
non-determinism.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

SHARED_MODULES = ("workflows",)  # a package passes its submodules through too


def workflow_runner() -> SandboxedWorkflowRunner:
    """The runner of every WMS2 worker, test worker and replayer."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES)
    )
