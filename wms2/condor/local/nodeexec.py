"""Running one node's parts as subprocesses: PRE/POST scripts and the job itself.

Jobs with file transfer run in a fresh scratch directory, as on an execute node: the
transfer_input_files are copied in, the job runs there, and on exit the
transfer_output_files (or every new top-level file) are copied back to the initial
directory. Every process gets its own process group, so removal can kill what it spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from wms2.condor.local.memlimit import MemoryExceeded, over_limit
from wms2.condor.local.submitfile import JobDescription
from wms2.dagman.dagfile import ScriptSpec

# DAGMan's $RETURN for a job that could not be started (submit failure).
SUBMIT_FAILED = -1001


@dataclass
class Machine:
    """What the local 'execute node' looks like to a job."""

    machine_ad: Path
    scratch_root: Path


# Where the runner lists the process groups of its running jobs and scripts (one empty
# file per group, named by its id), so that if the runner itself is killed, whoever finds
# it gone can kill what it left running. None: not recorded.
PROCESS_GROUPS: Path | None = None


async def _wait(proc: asyncio.subprocess.Process) -> int:
    mark = PROCESS_GROUPS / str(proc.pid) if PROCESS_GROUPS is not None else None
    if mark is not None:
        mark.touch()  # each node runs in its own session: its group id is its pid
    try:
        return await proc.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    finally:
        if mark is not None:
            mark.unlink(missing_ok=True)


async def _wait_within(proc: asyncio.subprocess.Process, limit_mb: int) -> int:
    """_wait, stopping the job (SIGKILL, as a cgroup's OOM killer) if its resident memory
    passes limit_mb: MemoryExceeded then."""
    if limit_mb <= 0:
        return await _wait(proc)
    waiting = asyncio.ensure_future(_wait(proc))
    watching = asyncio.ensure_future(over_limit(proc.pid, limit_mb))
    try:
        await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        watching.cancel()
        waiting.cancel()  # _wait kills the process group
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        raise
    if waiting.done():
        watching.cancel()
        return waiting.result()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await waiting
    raise MemoryExceeded(watching.result(), limit_mb)


def _exit_value(code: int) -> int:
    # asyncio reports death by signal N as -N, which is also DAGMan's $RETURN convention.
    return code


MACRO_TOKEN = re.compile(r"^\$(\w+)$")


def expand_script_args(args: tuple[str, ...], macros: dict[str, str]) -> list[str]:
    """DAGMan script macros are whole tokens, case-insensitive ($JOB, $RETURN, ...)."""
    out = []
    for a in args:
        m = MACRO_TOKEN.match(a)
        out.append(macros.get(m.group(1).upper(), a) if m else a)
    return out


async def run_script(script: ScriptSpec, macros: dict[str, str], cwd: Path, log: Path) -> int:
    argv = [script.executable, *expand_script_args(script.arguments, macros)]
    with open(log, "ab") as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            out.write(f"cannot run {argv[0]}: {e}\n".encode())
            return 1
        return _exit_value(await _wait(proc))


def _copy_in(item: str, job: JobDescription, scratch: Path) -> None:
    src = Path(item) if Path(item).is_absolute() else job.initialdir / item
    contents_only = item.endswith("/")
    if src.is_dir():
        dest = scratch if contents_only else scratch / src.name
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, scratch / src.name)


def _copy_out(scratch: Path, job: JobDescription, before: set[str]) -> None:
    names = job.transfer_output_files
    if names is None:
        names = [p.name for p in scratch.iterdir() if p.name not in before]
    for name in names:
        src = scratch / name
        if not src.exists():
            continue
        dest = job.initialdir / Path(name).name
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)


def log_event(job: JobDescription, code: str, cluster: int, text: str) -> None:
    """An event in the job's user log (evicted, held, released: the runner's verdicts)."""
    _event(job, code, cluster, text)


def _event(job: JobDescription, code: str, cluster: int, text: str) -> None:
    if job.log is None:
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(job.log, "a") as f:
        f.write(f"{code} ({cluster:03d}.000.000) {stamp} {text}\n...\n")


def _slot_lines(machine: Machine) -> str:
    """The execute event's slot lines, as HTCondor writes them (SlotName and the machine
    attributes it is configured to log): POST scripts read the job's site from them."""
    try:
        ad = machine.machine_ad.read_text()
    except OSError:
        return ""
    attrs = dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', ad, re.MULTILINE))
    lines = [f"\tSlotName: {attrs['Name']}"] if "Name" in attrs else []
    if "GLIDEIN_CMSSite" in attrs:
        lines.append(f'\tGLIDEIN_CMSSite = "{attrs["GLIDEIN_CMSSite"]}"')
    return "".join(f"\n{x}" for x in lines)


async def run_job(
    job: JobDescription, node: str, cluster: int, machine: Machine, memory_limit: bool = False
) -> int:
    """Run the job; returns its exit value (negative: killed by that signal; -1001: it
    could not be started). With `memory_limit`, MemoryExceeded if it used more than its
    request_memory (its outputs are not transferred, as for an evicted job)."""
    _event(
        job,
        "000",
        cluster,
        f"Job submitted from host: <local> DAG Node: {node} "
        f"RequestCpus = {job.request_cpus} RequestMemory = {job.request_memory}",
    )
    scratch = machine.scratch_root / f"{cluster}.{node}"
    cwd = job.initialdir
    before: set[str] = set()
    try:
        if job.transfer:
            scratch.mkdir(parents=True, exist_ok=True)
            for item in job.transfer_input_files:
                _copy_in(item, job, scratch)
            before = {p.name for p in scratch.iterdir()}
            cwd = scratch
        env = {
            **os.environ,
            **job.environment,
            "_CONDOR_MACHINE_AD": str(machine.machine_ad),
            "_CONDOR_SCRATCH_DIR": str(cwd),
            "_CONDOR_JOB_IWD": str(job.initialdir),
        }
        out = open(job.output, "wb") if job.output else asyncio.subprocess.DEVNULL  # noqa: SIM115
        err = open(job.error, "wb") if job.error else asyncio.subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = await asyncio.create_subprocess_exec(
                str(job.executable),
                *job.arguments,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            _event(job, "009", cluster, f"Job was aborted: cannot execute {job.executable}: {e}")
            return SUBMIT_FAILED
        finally:
            for f in (out, err):
                if hasattr(f, "close"):
                    f.close()
        _event(job, "001", cluster, "Job executing on host: <local>" + _slot_lines(machine))
        limit = job.request_memory if memory_limit else 0
        code = _exit_value(await _wait_within(proc, limit))
        if job.transfer:
            _copy_out(scratch, job, before)
        _event(job, "005", cluster, f"Job terminated. (1) Normal termination (return value {code})")
        return code
    except (OSError, shutil.Error) as e:
        _event(job, "009", cluster, f"Job was aborted: file transfer failed: {e}")
        return SUBMIT_FAILED
    finally:
        if job.transfer:
            shutil.rmtree(scratch, ignore_errors=True)
