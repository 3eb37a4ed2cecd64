"""Shared pieces of the benchmarks: a typical 2 KB proposal and synthetic rules."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from engine import bundled_rules_dir, load_rules

# A typical proposal: an A.1-style justification of about 2 KB, in our own words.
TYPICAL = {
    "title": "Security requirements and guidelines for IoT gateways in smart water distribution networks",
    "summary": (
        "Water utilities deploy thousands of battery-powered sensors and gateways along their distribution "
        "networks to measure pressure, flow and quality. These gateways relay readings to a utility platform and "
        "receive commands that open or close valves. Compromised gateways can falsify readings, hide leaks or "
        "operate valves, with physical consequences for the network and its customers. This draft Recommendation "
        "analyses the threats to gateways and sensors in water distribution, describes use cases for monitoring "
        "and control, and specifies security requirements for device authentication, protection of data in "
        "transit and at rest, secure firmware update, logging of security events and recovery after an incident. "
        "It also gives guidelines for utilities on procurement and operation, and identifies where existing "
        "horizontal security mechanisms apply without change."
    ),
    "scope": (
        "The Recommendation covers gateways and field sensors of smart water distribution networks and the "
        "interfaces between them and the utility platform. It does not cover the design of the water network."
    ),
    "keywords": ["IoT gateway", "smart water", "authentication", "firmware update", "utility"],
    "questions": ["Q6/20"],
    "relations": ["X.1352", "Y.4806"],
    "liaisons": ["ITU-T SG17 Q6/17"],
    "reference": "Y.IoT-water-sec",
    "text": (
        "Introduction. Utilities increasingly rely on connected devices for operating distribution networks. "
        "The security of these devices is essential to service continuity and public health. Existing texts cover "
        "IoT devices in general; water-specific operating conditions such as long battery life, intermittent "
        "connectivity and remote locations justify specific requirements."
    ),
}


def synthetic_rules_dir(target: Path, count: int, seed: int = 7) -> Path:
    """A copy of the bundled rules plus `count` synthetic advisory rules over random lexicon concepts,
    shaped like the bundled ones: a derived item kind, a concept at keyword strength or more, and
    a second concept merely present."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(bundled_rules_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    if count == 0:
        return target
    rs = load_rules(target)
    concepts = sorted(rs.concepts)
    questions = sorted(rs.questions)
    rs.close()
    rng = random.Random(seed)
    lines = ["schema: iotsec-triage/rules@1", "rules:"]
    for i in range(count):
        a, b = rng.sample(concepts, 2)
        q = rng.choice(questions)
        kind = ("security_item", "iot_item")[i % 2]
        lines.append(
            f'  - {{id: synthetic.r{i:04d}, description: "Synthetic rule {i}.", source: "bench", stage: advisory, '
            f"when: {{all: [{kind}, {b}], min: {{{a}: 2}}}}, then: {{questions: [{q}]}}}}"
        )
    (target / "zz_synthetic.yaml").write_text("\n".join(lines) + "\n")
    return target
