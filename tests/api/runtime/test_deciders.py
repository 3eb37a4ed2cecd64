"""Deciding in worker processes (api/runtime/deciders.py): the same decisions as in-process, the
rule revision each request names, and every fault answered in the server's own process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.runtime import bootstrap, deciders
from api.runtime.bootstrap import Runtime
from api.runtime.deciders import DeciderPool
from api.runtime.settings import Settings, default_size
from api.web.app import create_app
from engine import Decision, Proposal, load_rules, triage
from engine.maintainer.goldens import fixture_files, load_fixtures
from engine.registry import load_default_registry

ROOT = Path(__file__).resolve().parents[3]
READY_WITHIN = 90.0  # seconds: a decider loads from the parse cache in a second or two


def wait_ready(pool: DeciderPool, want: int = 1) -> dict[str, int]:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline and pool.status()["ready"] < want:
        time.sleep(0.05)
    return pool.status()


def same(a: Decision, b: Decision) -> bool:
    return a.model_dump(exclude={"decision_id"}) == b.model_dump(exclude={"decision_id"})


def proposals() -> list[Proposal]:
    found: list[Proposal] = []
    for path in fixture_files(ROOT / "fixtures" / "proposals"):
        found += [f.proposal for f in load_fixtures(path)[0]]
    return found[::7]  # a spread of the golden proposals: every home, flags, related work


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    runtime = bootstrap.build(Settings(decide_processes=1))
    runtime.start_deciders()
    assert runtime.deciders is not None
    assert wait_ready(runtime.deciders)["ready"] == 1, "the decider did not load"
    yield runtime
    runtime.close()


@pytest.fixture
def fresh_pool() -> Iterator[Runtime]:
    """A runtime with a decider of its own, for the tests that kill or stop it."""
    runtime = bootstrap.build(Settings(decide_processes=1))
    runtime.start_deciders()
    assert runtime.deciders is not None and wait_ready(runtime.deciders)["ready"] == 1
    yield runtime
    runtime.close()


def the_decider(rt: Runtime) -> int:
    assert rt.deciders is not None
    (decider,) = rt.deciders._live
    return decider.proc.pid


def decided_while_stopped(rt: Runtime, pid: int, proposal: Proposal) -> Decision | None:
    """The pool's answer while its decider is stopped (SIGSTOP), the decider let go on after."""
    assert rt.deciders is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        return rt.deciders.decide(proposal, rt.rules, rt.registry)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:  # killed and reaped meanwhile
            pass


def test_default_size_leaves_a_core_to_the_server() -> None:
    assert default_size(decide_threads=2, server_workers=1, cores=2) == 1
    assert default_size(decide_threads=2, server_workers=1, cores=8) == 2  # no more than threads to feed them
    assert default_size(decide_threads=2, server_workers=1, cores=1) == 0
    assert default_size(decide_threads=4, server_workers=3, cores=8) == 0  # the server processes share the cores
    assert Settings(decide_processes=0).resolved_decide_processes() == 0
    assert Settings(decide_processes=None, workers=2).resolved_decide_processes() == 0


def test_usable_cores_keep_within_a_cgroup_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.runtime import settings as settings_module

    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(settings_module, "CPU_MAX", cpu_max)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(8)), raising=False)
    assert settings_module.usable_cores() == 8  # no quota file
    cpu_max.write_text("max 100000\n")
    assert settings_module.usable_cores() == 8
    cpu_max.write_text("150000 100000\n")  # --cpus=1.5
    assert settings_module.usable_cores() == 2
    cpu_max.write_text("50000 100000\n")
    assert settings_module.usable_cores() == 1 and default_size(2, 1, settings_module.usable_cores()) == 0


def test_a_decider_decides_as_the_engine_does(rt: Runtime) -> None:
    pool = rt.deciders
    assert pool is not None
    before = pool.status()["decided"]
    cases = proposals()
    assert len(cases) >= 10
    for proposal in cases:
        for registry in (rt.registry, None):
            found = pool.decide(proposal, rt.rules, registry)
            assert found is not None, proposal.title
            assert same(found, triage(proposal, rt.rules, registry)), proposal.title
    assert pool.status()["decided"] == before + 2 * len(cases)


def test_runtime_triage_uses_the_decider(rt: Runtime) -> None:
    assert rt.deciders is not None
    before = rt.deciders.status()
    proposal = proposals()[0]
    assert same(rt.triage(proposal, rt.rules, rt.registry), triage(proposal, rt.rules, rt.registry))
    after = rt.deciders.status()
    assert after["decided"] == before["decided"] + 1
    assert after["decided_in_server"] == before["decided_in_server"]


def test_threads_take_turns_at_a_busy_decider(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(deciders, "CHECKOUT_WAIT", 60.0)  # turns, not the cap on waiting (next test)
    pool = rt.deciders
    assert pool is not None
    cases = proposals()[:6]
    before = pool.status()
    with ThreadPoolExecutor(3) as ex:  # three lane threads, one decider: each waits for its turn
        found = list(ex.map(lambda p: pool.decide(p, rt.rules, rt.registry), cases))
    assert all(f is not None and same(f, triage(p, rt.rules, rt.registry)) for f, p in zip(found, cases))
    after = pool.status()
    assert after["decided"] == before["decided"] + len(cases)
    assert after["decided_in_server"] == before["decided_in_server"]


def test_a_caller_does_not_queue_behind_a_decider_that_is_not_free(rt: Runtime) -> None:
    pool = rt.deciders
    assert pool is not None
    held = pool._idle.get(timeout=10)  # as another thread deciding, slowly
    try:
        before = pool.status()["decided_in_server"]
        proposal = proposals()[5]
        assert pool.decide(proposal, rt.rules, rt.registry) is None  # after CHECKOUT_WAIT, not DECIDE_TIMEOUT
        assert pool.status()["decided_in_server"] == before + 1
        assert same(rt.triage(proposal, rt.rules, rt.registry), triage(proposal, rt.rules, rt.registry))
    finally:
        pool._idle.put(held)
    assert pool.decide(proposals()[5], rt.rules, rt.registry) is not None


def test_a_finder_of_the_callers_own_is_not_sent(rt: Runtime) -> None:
    pool = rt.deciders
    assert pool is not None
    other = load_default_registry()  # equal content, another object: the decider cannot know it
    before = pool.status()["decided"]
    assert pool.decide(proposals()[0], rt.rules, other) is None
    assert pool.status()["decided"] == before


def test_the_decider_follows_the_revision_each_request_names(
    rt: Runtime, rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deciders, "DECIDE_TIMEOUT", 120.0)  # it compiles the edited rules: a slow machine too
    pool = rt.deciders
    assert pool is not None and rt.registry is not None
    owners = rt.registry.owners()
    catalogue = rules_copy / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text() + "\n# an edit: another revision\n")
    edited = load_rules(rules_copy, owners)
    assert edited.revision != rt.rules.revision
    proposal = proposals()[1]
    found = pool.decide(proposal, edited, rt.registry)
    assert found is not None and found.ruleset.revision == edited.revision
    assert same(found, triage(proposal, edited, rt.registry))
    # The serving rules again (kept loaded in the decider: requests in flight across a reload).
    back = pool.decide(proposal, rt.rules, rt.registry)
    assert back is not None and back.ruleset.revision == rt.rules.revision
    edited.close()


def test_rules_on_disk_that_differ_from_the_serving_revision_are_decided_here(
    rt: Runtime, rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deciders, "DECIDE_TIMEOUT", 120.0)
    pool = rt.deciders
    assert pool is not None and rt.registry is not None
    catalogue = rules_copy / "catalogue.yaml"
    text = catalogue.read_text()
    catalogue.write_text(text + "\n# the edit the server loaded\n")
    serving = load_rules(rules_copy, rt.registry.owners())
    catalogue.write_text(text + "\n# an edit made after, not loaded\n")
    before = pool.status()
    # The decider has not seen the serving revision, and the directory now holds another: it
    # does not decide with rules the server is not serving, and this process decides instead.
    assert pool.decide(proposals()[2], serving, rt.registry) is None
    after = pool.status()
    assert after["decided_in_server"] == before["decided_in_server"] + 1
    assert after["ready"] == 1 and after["replaced"] == before["replaced"]  # a stale request is no fault
    serving.close()


def test_a_killed_decider_is_answered_here_and_replaced(fresh_pool: Runtime) -> None:
    pool = fresh_pool.deciders
    assert pool is not None
    os.kill(the_decider(fresh_pool), signal.SIGKILL)
    proposal = proposals()[3]
    # The answer comes all the same, from this process.
    assert same(
        fresh_pool.triage(proposal, fresh_pool.rules, fresh_pool.registry),
        triage(proposal, fresh_pool.rules, fresh_pool.registry),
    )
    status = wait_ready(pool)
    assert status["replaced"] == 1 and status["decided_in_server"] == 1
    assert pool.decide(proposal, fresh_pool.rules, fresh_pool.registry) is not None


def test_a_stuck_decider_is_killed_after_the_timeout(fresh_pool: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = fresh_pool.deciders
    assert pool is not None
    monkeypatch.setattr(deciders, "DECIDE_TIMEOUT", 1.0)
    pid = the_decider(fresh_pool)
    assert decided_while_stopped(fresh_pool, pid, proposals()[4]) is None
    status = wait_ready(pool)
    assert status["replaced"] == 1 and status["ready"] == 1
    assert the_decider(fresh_pool) != pid


def test_a_decider_on_other_code_or_other_owners_is_not_started(rt: Runtime) -> None:
    pool = rt.deciders
    assert pool is not None
    for key, said in (("code", "code on disk"), ("owners", "owners differ"), ("registry_revision", "not the server's")):
        other = DeciderPool(dict(pool.spec, **{key: "0" * 64}), rt.registry, 1)
        with pytest.raises(RuntimeError, match=said):
            other._launch()
        assert not other._live


def test_a_revision_the_directory_lacks_is_not_compiled_nor_read_again_until_the_files_change(
    rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.runtime import decider

    calls: list[Path] = []
    hashed: list[Path] = []

    def loader(directory: Path, owners: dict[str, str]) -> Any:
        calls.append(directory)
        return load_rules(directory, owners)

    real_revision = decider.file_revision

    def counting_revision(paths: list[Path], root: Path) -> str:
        hashed.append(root)
        return real_revision(paths, root)

    monkeypatch.setattr(decider, "file_revision", counting_revision)
    refused: dict[Any, Any] = {}
    found, why = decider._load(rules_copy, "not-this-revision", {}, refused, loader)
    assert found is None and b"not the serving revision" in why
    assert calls == [] and len(hashed) == 1  # the files hashed, nothing compiled
    assert decider._load(rules_copy, "not-this-revision", {}, refused, loader)[0] is None
    assert len(hashed) == 1  # the second request answered from what the first found
    (rules_copy / "catalogue.yaml").write_text((rules_copy / "catalogue.yaml").read_text() + "\n# edited\n")
    assert decider._load(rules_copy, "not-this-revision", {}, refused, loader)[0] is None
    assert len(hashed) == 2 and calls == []  # the files changed: read again
    right = load_rules(rules_copy, {})
    loaded, _ = decider._load(rules_copy, right.revision, {}, refused, loader)
    assert loaded is not None and loaded.revision == right.revision and len(calls) == 1
    for rs in (right, loaded):
        rs.close()


def test_a_decider_given_back_after_close_is_ended_not_kept(fresh_pool: Runtime) -> None:
    pool = fresh_pool.deciders
    assert pool is not None
    held = pool._idle.get(timeout=10)  # a request out while the pool closes
    pool.close()
    pool._give_back(held)
    assert held.to_child.closed and held.from_child.closed and held.proc.poll() is not None
    assert pool._idle.empty()


def test_a_write_blocked_on_a_stopped_decider_ends_at_the_deadline(
    fresh_pool: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = fresh_pool.deciders
    assert pool is not None
    monkeypatch.setattr(deciders, "DECIDE_TIMEOUT", 1.0)
    pid = the_decider(fresh_pool)
    # Stopped, it reads nothing more: a proposal larger than the pipe blocks the write itself.
    big = Proposal.model_validate({"title": "Security of smart irrigation gateways", "text": "sensor " * 14_000})
    assert decided_while_stopped(fresh_pool, pid, big) is None  # the watchdog ended it
    status = wait_ready(pool)
    assert status["replaced"] == 1 and status["ready"] == 1


def test_closing_kills_a_decider_in_use_and_leaves_its_pipes_to_its_holder(fresh_pool: Runtime) -> None:
    pool = fresh_pool.deciders
    assert pool is not None
    held = pool._idle.get(timeout=10)
    pool.close()
    assert held.proc.poll() is not None  # killed
    assert not held.to_child.closed and not held.from_child.closed  # the holder sees them end, and closes them
    with pytest.raises((OSError, EOFError)):
        held.to_child.send_bytes(b"{}\n{}")
        held.from_child.recv_bytes()
    held.close()


def test_closing_ends_the_deciders() -> None:
    runtime = bootstrap.build(Settings(decide_processes=1))
    runtime.start_deciders()
    assert runtime.deciders is not None and wait_ready(runtime.deciders)["ready"] == 1
    (decider,) = runtime.deciders._live
    runtime.close()
    assert decider.proc.poll() is not None
    assert runtime.deciders.decide(proposals()[0], runtime.rules, runtime.registry) is None


def test_the_service_decides_in_its_decider(tmp_path: Path) -> None:
    settings = Settings(decide_processes=1, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        rt = client.app.state.runtime  # type: ignore[attr-defined]
        assert wait_ready(rt.deciders)["ready"] == 1
        r = client.post("/v1/triage", json={"title": "Security requirements for smart parking sensors"})
        assert r.status_code == 200 and r.headers["x-decision-log"] == "recorded"
        health = client.get("/healthz").json()
        assert health["deciders"]["decided"] == 1 and health["deciders"]["decided_in_server"] == 0
        stored = rt.decision_log().get(r.json()["decision_id"])
        assert stored is not None and stored.home == r.json()["home"]
