"""The payload sandbox on its own: how a payload ends, and what it cannot reach."""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from b2grid.jobs.sandbox import Limits, Outcome, Request, Sandbox, hidden_paths
from b2grid.jobs.service import dumps_by_value

LIMITS = Limits(memory=1 * 2**30, wall_seconds=60.0)


def run(
    box: Sandbox,
    tmp_path: Path,
    fn: Any,
    *args: Any,
    limits: Limits = LIMITS,
    **kw: Any,
) -> Outcome:
    scratch = tmp_path / f"scratch-{time.monotonic_ns()}"
    scratch.mkdir()
    payload = dumps_by_value((fn, args, {}), fn)
    request = Request(
        "b2grid.jobs.sandbox:call_pickled",
        pickle.dumps(payload),
        str(scratch),
        limits,
        **kw,
    )
    return box.run(request)


@pytest.fixture
def box() -> Sandbox:
    """This process's payload server (started again if a test killed it)."""
    return Sandbox.shared()


def test_a_payload_returns_its_value_and_its_output(box: Sandbox, tmp_path) -> None:
    def hello(x: int) -> int:
        print("to stdout")
        os.write(2, b"to stderr, below Python\n")
        return x * 2

    out = run(box, tmp_path, hello, 21)
    assert (out.kind, out.value) == ("ok", 42)
    assert out.stdout == "to stdout\n"
    assert out.stderr == "to stderr, below Python\n"
    assert out.exit_code == 0


def test_a_payload_that_raises_says_what(box: Sandbox, tmp_path) -> None:
    def boom() -> None:
        raise ZeroDivisionError("the analysis divided by zero")

    out = run(box, tmp_path, boom)
    assert out.kind == "raised"
    assert out.error == "ZeroDivisionError: the analysis divided by zero"
    assert "in boom" in out.traceback


def test_a_payload_that_exits_ends_only_itself(box: Sandbox, tmp_path) -> None:
    out = run(box, tmp_path, os._exit, 7)
    assert out.kind == "crashed"
    assert "exited with status 7" in out.error
    assert out.exit_code == 7
    assert box.alive
    assert run(box, tmp_path, sum, [1, 2]).value == 3


def segfault() -> None:
    ctypes.string_at(0)


def test_a_segfault_is_named(box: Sandbox, tmp_path) -> None:
    out = run(box, tmp_path, segfault)
    assert out.kind == "crashed"
    assert out.signal == signal.SIGSEGV
    assert "Segmentation fault" in out.error


def hog() -> None:
    import numpy as np

    kept = []
    while True:
        kept.append(np.ones(25_000_000))  # 200 MB at a time, touched


def test_a_payload_past_its_memory_limit_is_ended(box: Sandbox, tmp_path) -> None:
    out = run(box, tmp_path, hog, limits=Limits(600 * 2**20, 120.0))
    assert out.kind == "memory"
    assert out.error.startswith("Job exceeded its memory limit")
    assert out.max_rss > 600 * 2**20
    assert out.signal == signal.SIGKILL


def test_a_hanging_payload_is_ended_at_its_wall_time(box: Sandbox, tmp_path) -> None:
    started = time.monotonic()
    out = run(box, tmp_path, time.sleep, 600, limits=Limits(2**30, 1.0))
    assert out.kind == "walltime"
    assert out.error == "Job has exceeded maximum wall clock time (1 s)"
    assert time.monotonic() - started < 60


def test_children_of_the_payload_die_with_it(box: Sandbox, tmp_path) -> None:
    def spawn(marker: str) -> None:
        import subprocess

        subprocess.Popen(["sleep", "300"])
        Path(marker).write_text("spawned")
        os._exit(3)

    marker = tmp_path / "spawned.txt"
    out = run(box, tmp_path, spawn, str(marker))
    assert out.kind == "crashed"
    assert marker.read_text() == "spawned"
    # the monitor killed the payload's whole process group
    leftovers = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _cmdline(p) == "sleep\x00300\x00"
    ]
    assert leftovers == []


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text()
    except OSError:
        return ""


def test_a_dead_payload_server_is_replaced(tmp_path) -> None:
    first = Sandbox.shared()
    os.kill(first.pid, signal.SIGKILL)
    first._proc.wait(timeout=30)
    second = Sandbox.shared()
    assert second is not first
    assert second.alive
    assert run(second, tmp_path, sum, [2, 3]).value == 5
    gone = run(first, tmp_path, sum, [2, 3])
    assert gone.kind == "lost"
    assert "unreachable" in gone.error


def snoop(secret: str, se_file: str, bound: str, scheduler_port: int) -> dict:
    """What a hostile payload tries: the catalog, the SE, the scheduler."""
    seen: dict[str, str] = {}
    tag = Path(secret).parent / "conditions" / "tags" / "gt.json"
    for name, attempt in (
        ("conditions", lambda: tag.read_text()),
        ("write_conditions", lambda: tag.write_text("{}")),
        ("catalog", lambda: Path(secret).read_text()),
        ("se_file", lambda: Path(se_file).read_text()),
        ("bound_input", lambda: Path(bound).read_text()),
        ("write_input", lambda: Path(bound).write_text("tampered")),
        ("proc_root", lambda: Path(f"/proc/1/root{secret}").read_text()),
        (
            "scheduler",
            lambda: socket.create_connection(("127.0.0.1", scheduler_port), 2),
        ),
        ("unmount", lambda: os.system(f"umount {Path(secret).parent} 2>/dev/null")),  # noqa: S605
        ("env", lambda: os.environ.get("B2GRID_HOME", "unset")),
    ):
        try:
            seen[name] = repr(attempt())
        except Exception as exc:
            seen[name] = type(exc).__name__
    seen["catalog_after_unmount"] = str(Path(secret).exists())
    return seen


def test_the_payload_cannot_reach_the_grid(box: Sandbox, tmp_path, monkeypatch):
    if not box.confined:
        pytest.skip(f"namespaces unavailable here: {box.confinement}")
    home = tmp_path / "home"
    (home / "se" / "KEK").mkdir(parents=True)
    secret = home / "catalog.sqlite"
    secret.write_text("the catalog")
    se_file = home / "se" / "KEK" / "f.root"
    se_file.write_text("event data")
    (home / "conditions" / "tags").mkdir(parents=True)
    (home / "conditions" / "tags" / "gt.json").write_text('{"tag": 1}')
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    scratch_in = tmp_path / "bound.root"
    try:
        out = run(
            box, tmp_path, snoop, str(secret), str(se_file), str(scratch_in), port,
            binds=((str(se_file), str(scratch_in)),), hidden=(str(home),),
            readable=(str(home / "conditions"),),
            env=(("B2GRID_SITE", "KEK"),),
        )  # fmt: skip
    finally:
        listener.close()
    assert out.kind == "ok", out.error
    seen = out.value
    assert seen["catalog"] == "FileNotFoundError"
    assert seen["se_file"] == "FileNotFoundError"
    assert seen["bound_input"] == repr("event data")  # its inputs, read-only
    assert seen["write_input"] == "OSError"
    assert seen["proc_root"] in ("PermissionError", "FileNotFoundError")
    assert seen["scheduler"] == "OSError"  # no network at all
    assert seen["catalog_after_unmount"] == "False"  # the mounts are locked
    assert seen["env"] == repr("unset")
    assert seen["conditions"] == repr('{"tag": 1}')  # read-only, like CVMFS
    assert seen["write_conditions"] == "OSError"
    assert se_file.read_text() == "event data"
    assert secret.read_text() == "the catalog"


def test_hidden_paths_keep_the_outermost(tmp_path) -> None:
    a = tmp_path / "home"
    b = a / "se" / "KEK"
    c = tmp_path / "elsewhere"
    assert hidden_paths([b, a, c, a]) == (str(a), str(c))
