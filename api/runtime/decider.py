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
from api.runtime.deciders import KEPT_RULE_SETS, code_digest, owners_digest
from api.runtime.holder import files_fingerprint
from api.runtime.settings import Settings
from engine import Proposal, RuleSet, triage
from engine.errors import RuleLoadError
from engine.ruleset import file_revision, rule_files


def serve(inbox: Connection, outbox: Connection) -> None:
    """A decider's life: load, check it is what the server decides with, say so, then decide one
    request at a time until the pipe closes."""
    spec = json.loads(inbox.recv_bytes())
    try:
        # The code first (cheap): a decider on other code is refused before it loads anything.
        if code_digest() != spec["code"]:
            raise RuntimeError("the code on disk is not the code the server runs (restart the service)")
        rt = bootstrap.build(
            Settings(rules_dir=spec["rules_dir"], registry_file=spec["registry_file"], cache_dir=spec["cache_dir"]),
            registry=spec["registry"],
        )
        owners = rt.holder.known_owners()
        if owners_digest(owners) != spec["owners"]:
            raise RuntimeError("the registry's owners differ from the server's (the registry file changed)")
        if spec["registry"] and (rt.registry is None or rt.registry.revision != spec["registry_revision"]):
            raise RuntimeError("the registry is not the server's (the registry file changed)")
    except Exception as exc:  # noqa: BLE001 - told to the server, which starts no decider then
        _say(outbox, b"E" + f"{type(exc).__name__}: {exc}".encode())
        return
    first = rt.rules
    # What is loaded lives as long as the process: out of the collector's way (fewer full collections to walk it).
    gc.collect()
    gc.freeze()
    kept: dict[str, RuleSet] = {first.revision: first}
    # Revisions asked for that the directory did not hold, with the files' fingerprint then: asked
    # again while the files are unchanged, the answer is the same without reading them again.
    refused: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], bytes]] = {}
    registry = rt.registry
    if not _say(outbox, b"R" + json.dumps({"revision": first.revision}).encode()):
        return
    while True:
        try:
            frame = inbox.recv_bytes()
        except (EOFError, OSError):
            return  # the server closed its end, or died
        head, _, body = frame.partition(b"\n")
        try:
            want = json.loads(head)
            if want["registry"] and (registry is None or registry.revision != want["registry_revision"]):
                _say(outbox, b"Sthe registry revision differs")
                continue
            rs = kept.get(want["revision"])
            if rs is None:
                rs, why = _load(Path(want["rules"]), want["revision"], owners, refused, rt.holder.loader)
                if rs is None:
                    _say(outbox, b"S" + why)
                    continue
                if len(kept) >= KEPT_RULE_SETS:
                    kept.pop(next(iter(kept))).close()
                kept[rs.revision] = rs
            decision = triage(Proposal.model_validate_json(body), rs, registry if want["registry"] else None)
        except Exception as exc:  # noqa: BLE001 - the server decides this one itself
            _say(outbox, b"E" + f"{type(exc).__name__}: {exc}".encode())
            continue
        if not _say(outbox, b"D" + decision.model_dump_json().encode()):
            return


def _load(
    directory: Path,
    revision: str,
    owners: dict[str, str],
    refused: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], bytes]],
    loader: Callable[[Path, dict[str, str]], RuleSet],
) -> tuple[RuleSet | None, bytes]:
    """The rule set of `revision` from `directory`, or None and why (remembered in `refused`
    until the directory's files change)."""
    seen = files_fingerprint(directory)
    key = (str(directory), revision)
    known = refused.get(key)
    if known is not None and known[0] == seen:
        return None, known[1]
    try:
        # The files' revision first (a hash: milliseconds); compiled only when it is the one asked for.
        if file_revision(rule_files(directory), directory) != revision:
            rs = None
        else:
            rs = loader(directory, owners)
    except RuleLoadError as exc:
        why = f"the rule directory does not load ({len(exc.issues)} issue(s))".encode()
    else:
        if rs is not None and rs.revision == revision:
            refused.pop(key, None)
            return rs, b""
        if rs is not None:
            rs.close()
        why = b"the rule files on disk are not the serving revision"
    if len(refused) >= KEPT_RULE_SETS:
        refused.pop(next(iter(refused)))
    refused[key] = (seen, why)
    return None, why


def _say(outbox: Connection, frame: bytes) -> bool:
    """Send a frame to the server; False when it is gone (its end closed: this decider ends)."""
    try:
        outbox.send_bytes(frame)
    except OSError:
        return False
    return True


def main(argv: list[str]) -> None:
    # A decider has a session of its own (no terminal's Ctrl-C); a SIGINT sent to it all the same
    # is ignored too: the server's end of the pipe closing is what ends a decider.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(argv[0]), writable=False), Connection(int(argv[1]), readable=False))


if __name__ == "__main__":
    main(sys.argv[1:])
