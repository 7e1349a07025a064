"""The local pool: simulated sites with slots, shared by every local DAGMan runner.

One JSON file under a lock (`<state>/local-condor/pool/`) holds the pool's sites and
slot counts, the idle jobs of every runner (priority, submit order, DESIRED_Sites, request)
and the running ones. Each runner process negotiates for its own idle jobs a few times a
second: one pass over all idle jobs, highest JobPrio first, then submit order, each given
a site of its DESIRED_Sites with a free slot (the one with most free slots). A runner only
starts the jobs that pass gives to it, so a high-priority job of another DAG is never
overtaken. WMS2 edits idle jobs here as it would with `Schedd.edit` on a real pool
(JobPrio, DESIRED_Sites) and removes idle jobs that can run nowhere (the node's retry
re-runs its PRE script, which re-elects).

A job held for memory (wms2.condor.local.memlimit) waits in the `held` table until WMS2
releases it with more memory, as it would with `Schedd.edit` and `Schedd.act(Release)`.

With `any_site` (no WMS2_LOCAL_SITES), the pool is one site that takes every job whatever
its DESIRED_Sites, as the local backend always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from wms2.condor.handles import HeldJob
from wms2.condor.local import gpus as gpu_slots

POLL_SEC = 0.1
# One line per job started: `<time> <cluster> <site> <request> <JobPrio> <landing|job>`,
# for operators
# (what ran where) and tests (in which order).
MATCH_LOG = "matches.log"


def machine_ad_path(pool_dir: Path, site: str) -> Path:
    """The machine ad a job at `site` sees ($_CONDOR_MACHINE_AD)."""
    return Path(pool_dir) / f"{site}.ad"


State = dict[str, Any]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def negotiate(state: State) -> dict[str, str]:
    """key -> site for the idle jobs that get a slot now (pure: one matchmaking pass)."""
    slots: dict[str, int] = state["sites"]
    free = dict(slots)
    for job in state["running"].values():
        if job["site"] in free:
            free[job["site"]] -= 1
    if not any(n > 0 for n in free.values()):
        return {}  # the pool is full: nothing to sort
    # Highest JobPrio, then submit order, taken lazily: the pass ends when no slot is left.
    heap = [
        (-int(v["priority"]), int(v["seq"]), k)
        for k, v in state["idle"].items()
        if not v.get("removed")
    ]
    heapq.heapify(heap)
    matches: dict[str, str] = {}
    last: dict[str, int] = dict(state.get("last_start", {}))
    tick = itertools.count(state.get("starts", 0) + 1)
    left = sum(n for n in free.values() if n > 0)
    free_gpus = gpu_slots.free_gpus(state)
    while heap and left > 0:
        key = heapq.heappop(heap)[2]
        sites = state["idle"][key]["sites"]
        need = state["idle"][key].get("gpu")  # a GPU job matches only a GPU site that fits
        wanted = list(slots) if state.get("any_site") or not sites else sites
        open_sites = [
            s for s in wanted if free.get(s, 0) > 0 and gpu_slots.fits(need, s, state, free_gpus)
        ]
        if not open_sites:
            continue
        # Most free slots first; among equals the one that started a job least recently,
        # so that equal sites share the work as a negotiator's ranking spreads it.
        site = max(open_sites, key=lambda s: (free[s], -last.get(s, 0), s))
        free[site] -= 1
        if need:
            free_gpus[site] -= need["count"]
        left -= 1
        last[site] = next(tick)
        matches[key] = site
    return matches


class PoolFile:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "pool.json"
        self.lock_path = self.dir / "lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[State]:
        """The state, to read and change; written back when the block ends."""
        with self.lock():
            state = self.load()
            yield state
            self.save(state)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def load(self) -> State:
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            state = {}
        state.setdefault("sites", {})
        state.setdefault("idle", {})
        state.setdefault("running", {})
        state.setdefault("held", {})
        state.setdefault("seq", 0)
        return state

    def save(self, state: State) -> None:
        tmp = self.path.with_name(f"pool.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, separators=(",", ":")))
        os.replace(tmp, self.path)

    def configure(
        self,
        sites: dict[str, int],
        any_site: bool,
        host: str,
        gpus: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """`gpus`: the GPU sites (WMS2_LOCAL_GPUS), site -> {gpus, memory_mb, capability,
        runtime}."""
        gpus = dict(gpus or {})
        for site, slots in sites.items():
            machine_ad_path(self.dir, site).write_text(
                f'Name = "slot1@{site}.{host}"\nGLIDEIN_CMSSite = "{site}"\nCpus = {slots}\n'
                + gpu_slots.machine_ad_lines(gpus.get(site))
            )
        with self.locked() as state:
            state["sites"], state["any_site"] = dict(sites), any_site
            state["gpus"] = gpus

    def edit_idle(
        self,
        request: str | None,
        priority: int | None = None,
        unavailable: set[str] | None = None,
        landings_only: bool = False,
    ) -> tuple[int, int]:
        """Like `Schedd.edit` on the request's idle jobs (every request's with None): a
        new JobPrio, and DESIRED_Sites without `unavailable` sites (a job left with none is
        removed). (edited, removed)"""
        edited = removed = 0
        with self.locked() as state:
            for job in state["idle"].values():
                if (request is not None and job.get("request") != request) or job.get("removed"):
                    continue
                if landings_only and not job.get("landing"):
                    continue
                if priority is not None and job["priority"] != priority:
                    job["priority"] = priority
                    edited += 1
                if unavailable and set(job["sites"]) & unavailable:
                    left = [s for s in job["sites"] if s not in unavailable]
                    if left:
                        job["sites"] = left
                        edited += 1
                    else:
                        job["removed"] = True
                        removed += 1
        return edited, removed

    def memory_held(self, requests: set[str] | None = None) -> list[HeldJob]:
        """The jobs held for memory (of `requests`, of all with None) that WMS2 may
        release with more memory (they carry a maximum) and has not released yet."""
        held = self.snapshot()["held"]
        return [
            HeldJob(
                job_id=f"{key}.0",
                request_name=job["request"],
                node=job["node"],
                request_mb=job["request_memory"],
                max_mb=job["max_memory"],
                hold_code=job["code"],
                hold_subcode=job["subcode"],
                reason=job["reason"],
                usage_mb=job["usage"],
            )
            for key, job in held.items()
            if (requests is None or job["request"] in requests)
            and job.get("max_memory") is not None
            and "released_with" not in job
        ]

    def release_with_memory(self, job_ids: list[str], memory_mb: int) -> int:
        """Schedd.edit(RequestMemory) and Schedd.act(Release) of held jobs in one go: each
        one's runner sees it released and runs it again with `memory_mb`."""
        released = 0
        with self.locked() as state:
            for job_id in job_ids:
                job = state["held"].get(job_id.split(".")[0])
                if job is not None and "released_with" not in job:
                    job["released_with"] = int(memory_mb)
                    released += 1
        return released

    def snapshot(self) -> State:
        with self.lock():
            return self.load()


class JobRemoved(Exception):
    """WMS2 removed the idle job (it could run nowhere)."""


class PoolClient:
    """One runner process's side: its idle jobs wait here for a slot."""

    def __init__(self, pool: PoolFile, alive: Callable[[int], bool] = _alive) -> None:
        self.pool, self.alive, self.pid = pool, alive, os.getpid()
        self.waiting: dict[str, tuple[dict[str, Any], asyncio.Future[str]]] = {}
        self.finished: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._news = asyncio.Event()  # a claim or a release here: negotiate now

    def _wake(self) -> None:
        self._news.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._negotiate_loop())

    async def claim(
        self,
        key: str,
        priority: int,
        sites: list[str],
        request: str,
        landing: bool = False,
        gpu: dict[str, Any] | None = None,
    ) -> str:
        """Wait for a slot (and the GPUs `gpu` asks for); the site it is at. JobRemoved
        if WMS2 removed the job."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = {
            "priority": priority,
            "sites": sites,
            "request": request,
            "pid": self.pid,
            "landing": landing,
            **({"gpu": gpu} if gpu else {}),
        }
        self.waiting[key] = (entry, fut)
        self._wake()
        try:
            return await fut
        except BaseException:
            self.release(key)  # cancelled while idle, or a slot nobody will use
            raise
        finally:
            self.waiting.pop(key, None)

    def release(self, key: str) -> None:
        self.finished.add(key)
        self._wake()

    async def hold(self, key: str, entry: dict[str, Any]) -> int:
        """Hold the job (`entry`: request, node, request_memory, max_memory, code, subcode,
        reason, usage) until someone releases it; its new RequestMemory. Held jobs are
        rare: each waits by polling the pool's file."""
        with self.pool.locked() as state:
            state["held"][key] = {**entry, "pid": self.pid}
        try:
            while True:
                job = self.pool.snapshot()["held"].get(key, {})
                if "released_with" in job:
                    return int(job["released_with"])
                await asyncio.sleep(POLL_SEC * 2)
        finally:
            with self.pool.locked() as state:
                state["held"].pop(key, None)

    async def _negotiate_loop(self) -> None:
        # In the event loop itself: the lock is held for a small file's read and write.
        # A claim or release in this runner negotiates at once (what other runners free
        # is seen within POLL_SEC).
        while self.waiting or self.finished:
            self._news.clear()
            await asyncio.sleep(0)  # let the jobs that end together release first
            self._negotiate_once()
            if self.waiting:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._news.wait(), POLL_SEC)

    def _negotiate_once(self) -> None:
        finished, self.finished = self.finished, set()
        outcomes: list[tuple[asyncio.Future[str], str | None]] = []
        started: list[str] = []
        with self.pool.lock():
            state = self.pool.load()
            jobs = (*state["idle"].values(), *state["running"].values(), *state["held"].values())
            pids = {j["pid"] for j in jobs}
            dead = {p for p in pids if p != self.pid and not self.alive(p)}
            changed = bool(dead or finished)
            for table in ("idle", "running", "held"):
                for key in [k for k, j in state[table].items() if j["pid"] in dead]:
                    del state[table][key]
            for key in finished:
                state["idle"].pop(key, None)
                state["running"].pop(key, None)
            for key, (entry, fut) in list(self.waiting.items()):
                if key not in state["idle"] and not fut.done():
                    state["seq"] += 1
                    state["idle"][key] = {**entry, "seq": state["seq"]}
                    changed = True
            matches = negotiate(state)
            for key, (_, fut) in list(self.waiting.items()):
                job = state["idle"].get(key)
                if fut.done() or job is None:
                    continue
                if job.get("removed"):
                    del state["idle"][key]
                    outcomes.append((fut, None))
                elif key in matches:
                    del state["idle"][key]
                    state["starts"] = state.get("starts", 0) + 1
                    state.setdefault("last_start", {})[matches[key]] = state["starts"]
                    state["running"][key] = {
                        "site": matches[key],
                        "pid": self.pid,
                        "request": job["request"],
                        "priority": job["priority"],
                        "gpus": (job.get("gpu") or {}).get("count", 0),
                    }
                    outcomes.append((fut, matches[key]))
                    role = "landing" if job.get("landing") else "job"
                    started.append(f"{time.time():.3f} {key} {matches[key]} {job['request']} "
                                   f"{job['priority']} {role}\n")  # fmt: skip
            if changed or outcomes:  # a poll that found nothing new writes nothing
                self.pool.save(state)
        if started:
            with open(self.pool.dir / MATCH_LOG, "a") as log:
                log.write("".join(started))
        for fut, site in outcomes:
            _settle(fut, site)


def _settle(fut: asyncio.Future[str], site: str | None) -> None:
    if fut.done():
        return
    if site is None:
        fut.set_exception(JobRemoved())
    else:
        fut.set_result(site)
