"""Text to concepts: the lexicon's phrases matched in one pass per field, on word boundaries.

Phrases are matched case-insensitively, except abbreviations (a phrase with two or more capitals
and no space, such as PKI, V2X or IdM), which must appear with their capitals so that "ITS"
never matches the pronoun "its". Every phrase also matches its plural. Punctuation and runs of
spaces are equivalent ("end-to-end" = "end to end").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import ahocorasick

_NON_WORD = re.compile(r"[^0-9A-Za-z\u00C0-\uFFFF]+")
_VOWELS = set("aeiou")
MAX_EVIDENCE = 3


def normalise(text: str) -> str:
    """Punctuation and whitespace runs become one space, padded so boundaries are spaces."""
    return " " + _NON_WORD.sub(" ", text).strip() + " "


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def is_abbreviation(phrase: str) -> bool:
    return " " not in phrase and sum(c.isupper() for c in phrase) >= 2


def plural(word: str) -> str:
    if word[-1:].isdigit() or word[-1:].isupper():
        return word + "s"
    if word.endswith("y") and len(word) > 1 and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def variants(phrase: str) -> set[str]:
    """The surface forms a phrase matches (already normalised; lower-cased unless an abbreviation)."""
    base = normalise(phrase).strip()
    if not is_abbreviation(phrase):
        base = _lower(base)
    forms = {base}
    if not base.endswith("s"):
        head, _, last = base.rpartition(" ")
        forms.add(f"{head} {plural(last)}".strip())
    return forms


BLOCK = "!"  # prefix of a pseudo-concept: "!x" marks a span where concept x must not match


@dataclass(frozen=True)
class Hit:
    concept: str
    field: str
    words: str
    start: int = 0
    end: int = 0


@dataclass
class Matcher:
    """Compiled lexicon: two automata (case-insensitive, and case-sensitive for abbreviations)."""

    folded: ahocorasick.Automaton
    exact: ahocorasick.Automaton
    phrase_count: int
    owners: dict[str, list[str]] = field(default_factory=dict)

    def scan(self, field_name: str, text: str) -> list[Hit]:
        """All concept hits in one field's text, evidence words as written (normalised)."""
        if not text:
            return []
        norm = normalise(text)
        hits: list[Hit] = []
        blocks: list[Hit] = []
        for automaton, haystack in ((self.folded, _lower(norm)), (self.exact, norm)):
            if len(automaton) == 0:
                continue
            for end, (length, concepts) in automaton.iter(haystack):
                start = end - length + 1
                if haystack[start - 1] != " " or haystack[end + 1] != " ":
                    continue
                words = norm[start:end + 1]
                for concept in concepts:
                    hit = Hit(concept, field_name, words, start, end)
                    (blocks if concept.startswith(BLOCK) else hits).append(hit)
        if blocks:
            hits = [h for h in hits if not any(b.concept == BLOCK + h.concept and b.start <= h.start and h.end <= b.end
                                               for b in blocks)]
        return hits


def compile_matcher(phrases: dict[str, list[str]], not_within: dict[str, list[str]] | None = None) -> Matcher:
    """Build the matcher from {concept: [phrases]}; `owners` maps each surface form to its concepts.
    `not_within[c]` lists phrases inside which concept c does not count ("de-identification")."""
    phrases = dict(phrases)
    for concept, blockers in (not_within or {}).items():
        if blockers:
            phrases[BLOCK + concept] = blockers
    folded = ahocorasick.Automaton()
    exact = ahocorasick.Automaton()
    claims: dict[str, list[str]] = {}
    for concept, plist in phrases.items():
        for phrase in plist:
            target = exact if is_abbreviation(phrase) else folded
            for form in variants(phrase):
                claim = claims.setdefault(("=" if target is exact else "~") + form, [])
                if concept not in claim:
                    claim.append(concept)
                target.add_word(form, (len(form), claim))
    # Which concepts claim each surface form (blocker pseudo-concepts left out): lint reads this.
    owners = {form: [c for c in claim if not c.startswith(BLOCK)] for form, claim in claims.items()}
    for automaton in (folded, exact):
        if len(automaton):
            automaton.make_automaton()
    return Matcher(folded, exact, len(owners), {f: c for f, c in owners.items() if c})
