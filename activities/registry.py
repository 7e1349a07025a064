"""What a worker registers: every @activity.defn method of each activity class, found on
the class itself (temporalio marks each one with its definition), so an activity added to
a class is run without being listed a second time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.admission import AdmissionActivities
from activities.dags import DagActivities
from activities.deps import ActivityDeps
from activities.failures import FailureActivities
from activities.harvest import HarvestActivities
from activities.outputs import OutputActivities
from activities.pilot import PilotActivities
from activities.requests import RequestActivities
from activities.sites import SiteActivities
from activities.sizing import SizingActivities
from activities.staging import StagingActivities
from activities.tracking import TrackerActivities

# Each class is built once per worker with the worker's dependencies.
ACTIVITY_CLASSES: tuple[Callable[[ActivityDeps], object], ...] = (
    RequestActivities,
    AdmissionActivities,
    PilotActivities,
    DagActivities,
    TrackerActivities,
    OutputActivities,
    HarvestActivities,
    StagingActivities,
    SiteActivities,
    FailureActivities,
    SizingActivities,
)


def activity_name(fn: object) -> str | None:
    """The activity name `fn` is registered under, None if it is no activity."""
    # The attribute @activity.defn sets (the SDK reads it back the same way).
    definition = getattr(fn, "__temporal_activity_definition", None)
    return None if definition is None else str(definition.name)


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """The instance's bound activity methods."""
    cls = type(instance)
    return [
        getattr(instance, attr)
        for attr in sorted(dir(cls))
        if activity_name(getattr(cls, attr, None)) is not None
    ]


def all_activities(deps: ActivityDeps) -> list[Callable[..., Any]]:
    return [fn for make in ACTIVITY_CLASSES for fn in activity_methods(make(deps))]
