"""A decider process (api/runtime/deciders.py starts it: `python -m api.runtime.decider IN OUT`,
the file descriptors of its two pipes): load what the server serves, say so, then decide one
request at a time until the server's end of the pipe closes. The frames are those written at the
top of deciders.py."""

from __future__ import annotations

import gc
import json
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from api.runtime import bootstrap
from api.runtime.deciders import KEPT_RULE_SETS
from api.runtime.settings import Settings
from engine import Proposal, RuleSet, triage


def serve(inbox: Connection, outbox: Connection) -> None:
    """A decider's life: load, say so, then decide one request at a time until the pipe closes."""
    spec = json.loads(inbox.recv_bytes())
    try:
        rt = bootstrap.build(
            Settings(rules_dir=spec["rules_dir"], registry_file=spec["registry_file"], cache_dir=spec["cache_dir"]),
            registry=spec["registry"],
        )
    except Exception as exc:  # noqa: BLE001 - told to the server, which starts no decider then
        outbox.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())
        return
    first = rt.rules
    # What is loaded lives as long as the process: out of the collector's way (fewer full collections to walk it).
    gc.collect()
    gc.freeze()
    kept: dict[str, RuleSet] = {first.revision: first}
    registry = rt.registry
    outbox.send_bytes(
        b"R" + json.dumps({"revision": first.revision, "registry": registry.revision if registry else None}).encode()
    )
    while True:
        try:
            frame = inbox.recv_bytes()
        except (EOFError, OSError):
            return  # the server closed its end, or died
        head, _, body = frame.partition(b"\n")
        try:
            want = json.loads(head)
            if want["registry"] and (registry is None or registry.revision != want["registry_revision"]):
                outbox.send_bytes(b"Sregistry revision differs")
                continue
            rs = kept.get(want["revision"])
            if rs is None:
                rs = rt.holder.loader(Path(want["rules"]), rt.holder.known_owners())
                if rs.revision != want["revision"]:
                    outbox.send_bytes(b"Srules on disk differ from the serving revision")
                    continue
                if len(kept) >= KEPT_RULE_SETS:
                    kept.pop(next(iter(kept)))
                kept[rs.revision] = rs
            decision = triage(Proposal.model_validate_json(body), rs, registry if want["registry"] else None)
        except Exception as exc:  # noqa: BLE001 - the server decides this one itself
            outbox.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())
            continue
        outbox.send_bytes(b"D" + decision.model_dump_json().encode())


def main(argv: list[str]) -> None:
    inbox = Connection(int(argv[0]), writable=False)
    outbox = Connection(int(argv[1]), readable=False)
    try:
        serve(inbox, outbox)
    except KeyboardInterrupt:  # the server's Ctrl-C reaches its deciders too
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
