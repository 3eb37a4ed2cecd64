"""A decider process (api/runtime/deciders.py starts it: `python -m api.runtime.decider IN OUT`,
the file descriptors of its two pipes): load what the server serves, say so, then decide one
request at a time until the server's end of the pipe closes. The frames are those written at the
top of deciders.py."""

from __future__ import annotations

import gc
import json
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from api.runtime import bootstrap
from api.runtime.cache import code_fingerprint
from api.runtime.deciders import KEPT_RULE_SETS, owners_digest
from api.runtime.holder import files_fingerprint
from api.runtime.settings import Settings
from engine import Proposal, RuleSet, triage
from engine.errors import RuleLoadError


def serve(inbox: Connection, outbox: Connection) -> None:
    """A decider's life: load, check it is what the server decides with, say so, then decide one
    request at a time until the pipe closes."""
    spec = json.loads(inbox.recv_bytes())
    try:
        rt = bootstrap.build(
            Settings(rules_dir=spec["rules_dir"], registry_file=spec["registry_file"], cache_dir=spec["cache_dir"]),
            registry=spec["registry"],
        )
        if code_fingerprint().hex() != spec["code"]:
            raise RuntimeError("the code on disk is not the code the server runs (restart the service)")
        owners = rt.holder.known_owners()
        if owners_digest(owners) != spec["owners"]:
            raise RuntimeError("the registry's owners differ from the server's (the registry file changed)")
    except Exception as exc:  # noqa: BLE001 - told to the server, which starts no decider then
        outbox.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())
        return
    first = rt.rules
    # What is loaded lives as long as the process: out of the collector's way (fewer full collections to walk it).
    gc.collect()
    gc.freeze()
    kept: dict[str, RuleSet] = {first.revision: first}
    # Revisions asked for that the directory did not hold, with the files' fingerprint then: asked
    # again while the files are unchanged, the answer is the same without reading them again.
    refused: dict[str, tuple[tuple[tuple[str, int, int], ...], bytes]] = {}
    registry = rt.registry
    outbox.send_bytes(b"R" + json.dumps({"revision": first.revision}).encode())
    while True:
        try:
            frame = inbox.recv_bytes()
        except (EOFError, OSError):
            return  # the server closed its end, or died
        head, _, body = frame.partition(b"\n")
        try:
            want = json.loads(head)
            if want["registry"] and (registry is None or registry.revision != want["registry_revision"]):
                outbox.send_bytes(b"Sthe registry revision differs")
                continue
            rs = kept.get(want["revision"])
            if rs is None:
                rs, why = _load(Path(want["rules"]), want["revision"], owners, refused, rt.holder.loader)
                if rs is None:
                    outbox.send_bytes(b"S" + why)
                    continue
                if len(kept) >= KEPT_RULE_SETS:
                    kept.pop(next(iter(kept))).close()
                kept[rs.revision] = rs
            decision = triage(Proposal.model_validate_json(body), rs, registry if want["registry"] else None)
        except Exception as exc:  # noqa: BLE001 - the server decides this one itself
            outbox.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())
            continue
        outbox.send_bytes(b"D" + decision.model_dump_json().encode())


def _load(
    directory: Path,
    revision: str,
    owners: dict[str, str],
    refused: dict[str, tuple[tuple[tuple[str, int, int], ...], bytes]],
    loader: Callable[[Path, dict[str, str]], RuleSet],
) -> tuple[RuleSet | None, bytes]:
    """The rule set of `revision` from `directory`, or None and why (remembered in `refused`
    until the directory's files change)."""
    seen = files_fingerprint(directory)
    known = refused.get(revision)
    if known is not None and known[0] == seen:
        return None, known[1]
    try:
        rs = loader(directory, owners)
    except RuleLoadError as exc:
        why = f"the rule directory does not load ({len(exc.issues)} issue(s))".encode()
    else:
        if rs.revision == revision:
            refused.pop(revision, None)
            return rs, b""
        rs.close()
        why = b"the rule files on disk are not the serving revision"
    if len(refused) >= KEPT_RULE_SETS:
        refused.pop(next(iter(refused)))
    refused[revision] = (seen, why)
    return None, why


def main(argv: list[str]) -> None:
    # Ctrl-C reaches the whole process group: the server drains its requests first, and its end
    # of the pipe closing is what ends a decider.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(argv[0]), writable=False), Connection(int(argv[1]), readable=False))


if __name__ == "__main__":
    main(sys.argv[1:])
