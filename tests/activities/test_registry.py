"""The worker registers what it runs: every activity the workflows call by name (the
Activity enum) is one of the activity classes' methods, found without a hand-kept list."""

from __future__ import annotations

from activities.deps import ActivityDeps
from activities.registry import activity_methods, activity_name, all_activities
from activities.requests import RequestActivities
from wms2.messages import Activity


def test_every_activity_the_workflows_call_is_registered(deps: ActivityDeps) -> None:
    names = [activity_name(fn) for fn in all_activities(deps)]
    assert len(names) == len(set(names))  # a worker refuses two activities of one name
    assert {a.value for a in Activity} <= set(names)
    assert set(names) <= {a.value for a in Activity}  # nothing registered under a stray name


def test_an_activity_class_lists_its_bound_activity_methods(deps: ActivityDeps) -> None:
    acts = RequestActivities(deps)
    found = activity_methods(acts)
    assert acts.import_request in found and all(m.__self__ is acts for m in found)
    assert activity_name(RequestActivities.__init__) is None
