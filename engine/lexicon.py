"""Text to concepts: the lexicon's phrases matched in one pass per field, on word boundaries.

Phrases are matched case-insensitively, in one pass, except abbreviations (a phrase with two or more capitals
and no space, such as PKI, V2X or IdM), which must appear with their capitals so that "ITS"
never matches the pronoun "its". Every phrase also matches its plural. Punctuation and runs of
spaces are equivalent ("end-to-end" = "end to end").

Cost bound (hostile text included): matching is one Aho-Corasick pass, O(n + m) for a prepared
text of n characters and m matches, and m <= K * n where K is the most lexicon keys that can end
at one place (fixed by the lexicon, and bounded by the loader's limits on phrases per concept,
engine/ruleset.py). Every per-match step after it is O(1): `not_within` blocker spans are
collected in the same pass and applied by one backward sweep over hits and blocker spans (both
come in end order), never by checking a hit against every span; callers cap the evidence kept per
concept (MAX_EVIDENCE). So a text that repeats one phrase costs time linear in its length.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import ahocorasick

# Every character of the Basic Multilingual Plane that is not a letter or digit reads as a space.
_SPACES = {cp: " " for cp in range(0x10000) if not chr(cp).isalnum()}
_VOWELS = set("aeiou")
MAX_EVIDENCE = 3


def normalise(text: str) -> str:
    """Punctuation and whitespace runs become one space, padded so boundaries are spaces."""
    return " " + " ".join(text.translate(_SPACES).split()) + " "


def prepare(text: str) -> tuple[str, str]:
    """(normalised, lower-cased normalised) text: what `spans_prepared` reads."""
    norm = normalise(text)
    return norm, _lower(norm)


SEPARATOR = "\x00"  # between texts prepared together: never normalised away, never inside a phrase
_SPACES_BUT_SEPARATOR = {cp: c for cp, c in _SPACES.items() if cp != ord(SEPARATOR)}


def prepare_joined(texts: list[str]) -> tuple[str, str, list[int]]:
    """prepare() of several texts at once (one pass of each string operation, one scan later):
    the prepared texts joined by SEPARATOR, and where each text ends in them."""
    joined = f" {SEPARATOR} ".join(t.replace(SEPARATOR, " ") if SEPARATOR in t else t for t in texts)
    norm = " " + " ".join(joined.translate(_SPACES_BUT_SEPARATOR).split()) + " "
    return norm, _lower(norm), _ends(norm)


def replace_prepared(norm: str, ends: list[int], i: int, text: str) -> tuple[str, str, list[int]]:
    """prepare_joined() after the i-th text is replaced by `text`, re-preparing only that text."""
    start = ends[i - 1] + 1 if i else 0
    norm = norm[:start] + normalise(text.replace(SEPARATOR, " ")) + norm[ends[i]:]
    return norm, _lower(norm), _ends(norm)


def _ends(norm: str) -> list[int]:
    ends: list[int] = []
    at = norm.find(SEPARATOR)
    while at >= 0:
        ends.append(at)
        at = norm.find(SEPARATOR, at + 1)
    ends.append(len(norm))
    return ends


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
    if not base.endswith("s") or base.endswith("ss"):  # "weakness" -> "weaknesses"; "devices" is plural already
        head, _, last = base.rpartition(" ")
        forms.add(f"{head} {plural(last)}".strip())
    return forms


# Words too common to mean anything on their own: a phrase or blocker matched in any case and made
# only of them would match nearly every sentence of English (a blocker "the" is a span at every
# "the"). The loader refuses them; abbreviations, matched by their capitals ("ITS"), are exempt.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be been before being below between
both but by can could did do does doing down during each either else for from further had has have having
he her here hers him his how i if in into is it its itself just may me might more most must my neither no
nor not of off on once only or other our ours out over own per same shall she should so some such than that
the their theirs them then there these they this those through thus to too under until up upon us very via
was we were what when where whether which while who whom whose why will with within without would yet you
your yours
""".split())
MIN_PHRASE_CHARS = 3  # letters and digits of a phrase matched in any case, unless it has a digit ("5G")


def weak_phrase(phrase: str) -> str | None:
    """Why a lexicon phrase (or blocker) would match nearly everything, or None if it is specific."""
    words = _lower(normalise(phrase).strip())
    if not words:
        return None  # matches nothing at all: lint reports that one
    if is_abbreviation(phrase):
        return None  # matched only with its capitals: "ITS" is not "its"
    if all(w in STOP_WORDS for w in words.split()):
        return "is made of common words only (" + ", ".join(repr(w) for w in words.split()[:5]) + ")"
    if len(words.replace(" ", "")) < MIN_PHRASE_CHARS and not any(c.isdigit() for c in words):
        return f"is shorter than {MIN_PHRASE_CHARS} letters (an abbreviation matched by its capitals may be 2)"
    return None


BLOCK = "!"  # prefix of a pseudo-concept: "!x" marks a span where concept x must not match
COND = "?"  # "?<n>": a phrase of context rule n, counting for its concept only near a context phrase
NEAR = "&"  # "&<n>": a context phrase of context rule n


@dataclass(frozen=True)
class Context:
    """A lexicon `requires` entry: `phrases` of `concept` count only with a `near` phrase at most
    `within` words away in the same field (no phrases: all of the concept's phrases)."""

    concept: str
    phrases: tuple[str, ...]
    near: tuple[str, ...]
    within: int


@dataclass(frozen=True)
class Hit:
    concept: str
    field: str
    words: str
    start: int = 0
    end: int = 0


@dataclass
class Matcher:
    """Compiled lexicon: one case-folded automaton; abbreviations are checked against their capitals."""

    automaton: ahocorasick.Automaton
    phrase_count: int
    owners: dict[str, list[str]] = field(default_factory=dict)
    contexts: tuple[Context, ...] = ()

    def scan(self, field_name: str, text: str) -> list[Hit]:
        """All concept hits in one field's text, evidence words as written (normalised)."""
        return [Hit(c, field_name, w, a, b) for c, w, a, b in self.spans(text)]

    def spans(self, text: str) -> list[tuple[str, str, int, int]]:
        """(concept, words, start, end) of every hit; the hot path, so plain tuples and one pass."""
        if not text:
            return []
        return self.spans_prepared(*prepare(text))

    def found(self, low: str) -> bool:
        """Whether any phrase occurs in prepared lower-cased text (abbreviations ignored)."""
        if not len(self.automaton):
            return False
        return any(value[1] for _, value in self.automaton.iter(low))

    def spans_prepared(self, norm: str, low: str) -> list[tuple[str, str, int, int]]:
        """spans() on text already passed through prepare(). O(n + matches): see the module docstring."""
        if not len(self.automaton):
            return []
        hits: list[tuple[str, str, int, int]] = []
        blocks: list[tuple[str, int, int]] = []  # (concept blocked, start, end), in end order like hits
        pending: list[tuple[int, int, str, int, int]] = []  # (context rule, place in hits, words, start, end)
        nears: list[tuple[int, int, int]] = []  # (context rule, start, end) of context phrases
        append = hits.append
        # Keys carry a space at each end, so every match is on word boundaries.
        for end, (length, folded, exact, blocking, cond, near) in self.automaton.iter(low):
            start = end - length + 2
            words = norm[start:end]
            for concept in folded:
                append((concept, words, start, end - 1))
            if blocking:
                for concept in blocking:
                    blocks.append((concept, start, end - 1))
            if cond:
                for n in cond:
                    pending.append((n, len(hits), words, start, end - 1))
            if near:
                for n in near:
                    nears.append((n, start, end - 1))
            if exact:
                found = exact.get(words)
                if found:
                    for concept in found[0]:
                        append((concept, words, start, end - 1))
                    for concept in found[1]:
                        blocks.append((concept, start, end - 1))
                    for n in found[2]:
                        pending.append((n, len(hits), words, start, end - 1))
                    for n in found[3]:
                        nears.append((n, start, end - 1))
        if pending:
            hits = self._in_context(low, hits, pending, nears)
        return _unblocked(hits, blocks) if blocks else hits

    def _in_context(self, low: str, hits: list[tuple[str, str, int, int]], pending: list[tuple[int, int, str, int, int]],
                    nears: list[tuple[int, int, int]]) -> list[tuple[str, str, int, int]]:
        """`hits` with the conditional hits that have their context inserted in text order.
        O((p + c) log n + n) for p conditional hits and c context spans: words and fields are
        numbered once, each hit is placed against its rule's context spans by bisection."""
        if not nears:
            return hits
        spaces = [m.start() for m in re.finditer(" ", low)]
        seps = [m.start() for m in re.finditer(SEPARATOR, low)]
        by_rule: dict[int, tuple[list[int], list[int], list[int]]] = {}  # rule -> sorted ends, sorted starts, ends' places
        for n, start, end in nears:
            ends, starts, places = by_rule.setdefault(n, ([], [], []))
            ends.append(bisect.bisect_right(spaces, end))
            starts.append(bisect.bisect_right(spaces, start))
            places.append(end)
        for ends, starts, _ in by_rule.values():
            ends.sort()
            starts.sort()
        kept: list[tuple[int, tuple[str, str, int, int]]] = []
        for n, place, words, start, end in pending:
            spans = by_rule.get(n)
            if spans is None:
                continue
            ends, starts, _ = spans
            within = self.contexts[n].within
            hs, he = bisect.bisect_right(spaces, start), bisect.bisect_right(spaces, end)
            before = bisect.bisect_left(ends, hs)  # context spans ending before the hit
            after = len(starts) - bisect.bisect_right(starts, he)  # context spans starting after it
            near = before + after < len(ends)  # one overlaps it
            if not near and before and hs - ends[before - 1] <= within:
                near = _same_field(seps, spaces, ends[before - 1], hs)
            if not near and after and starts[len(starts) - after] - he <= within:
                near = _same_field(seps, spaces, he, starts[len(starts) - after])
            if near:
                kept.append((place, (self.contexts[n].concept, words, start, end)))
        if not kept:
            return hits
        out: list[tuple[str, str, int, int]] = []
        at = 0
        for place, hit in kept:  # pending (and so kept) come in text order, as hits do
            out.extend(hits[at:place])
            out.append(hit)
            at = place
        out.extend(hits[at:])
        return out


def _same_field(seps: list[int], spaces: list[int], word_a: int, word_b: int) -> bool:
    """Whether two word numbers (1-based, as counted by bisect over `spaces`) are in one field."""
    a, b = spaces[word_a - 1], spaces[min(word_b, len(spaces)) - 1]
    return bisect.bisect_left(seps, a) == bisect.bisect_left(seps, b)


def _unblocked(hits: list[tuple[str, str, int, int]], blocks: list[tuple[str, int, int]]) -> list[tuple[str, str, int, int]]:
    """The hits not inside a blocker span of their concept, in one backward sweep: hits and spans
    both come in end order, so walking back from the end, the spans seen so far are exactly those
    ending at or after the current hit, and the lowest start among them per concept says whether
    one contains it. O(hits + spans)."""
    never = 1 << 62
    lowest: dict[str, int] = {}  # concept -> lowest start of its spans ending at or after the hit
    keep = [True] * len(hits)
    j = len(blocks) - 1
    for i in range(len(hits) - 1, -1, -1):
        concept, _, start, end = hits[i]
        while j >= 0 and blocks[j][2] >= end:
            blocked, b_start, _ = blocks[j]
            if b_start < lowest.get(blocked, never):
                lowest[blocked] = b_start
            j -= 1
        if lowest.get(concept, never) <= start:
            keep[i] = False
    return [h for h, k in zip(hits, keep) if k]


def compile_matcher(phrases: dict[str, list[str]], not_within: dict[str, list[str]] | None = None,
                    requires: list[Context] | None = None) -> Matcher:
    """Build the matcher from {concept: [phrases]}; `owners` maps each surface form to its concepts.
    `not_within[c]` lists phrases inside which concept c does not count ("de-identification").
    `requires`: phrases of a concept that count only near a context phrase (Context)."""
    phrases = {c: list(p) for c, p in phrases.items()}
    contexts = tuple(requires or ())
    conditional: dict[str, set[str]] = {}
    for n, ctx in enumerate(contexts):
        own = list(ctx.phrases) or list(phrases.get(ctx.concept, []))
        conditional.setdefault(ctx.concept, set()).update(own)
        phrases[COND + str(n)] = own
        phrases[NEAR + str(n)] = list(ctx.near)
    for concept, conds in conditional.items():
        if concept in phrases:  # a conditional phrase is matched through its context rule only
            phrases[concept] = [p for p in phrases[concept] if p not in conds]
    for concept, blockers in (not_within or {}).items():
        if blockers:
            phrases[BLOCK + concept] = blockers
    # key (lower-cased form) -> (concepts matching in any case, {exact form: concepts})
    table: dict[str, tuple[list[str], dict[str, list[str]]]] = {}
    claims: dict[str, list[str]] = {}
    for concept, plist in phrases.items():
        for phrase in plist:
            abbreviation = is_abbreviation(phrase)
            for form in variants(phrase):
                folded, exact = table.setdefault(_lower(form), ([], {}))
                bucket = exact.setdefault(form, []) if abbreviation else folded
                if concept not in bucket:
                    bucket.append(concept)
                claim = claims.setdefault(("=" if abbreviation else "~") + form, [])
                if concept not in claim:
                    claim.append(concept)
    automaton = ahocorasick.Automaton()
    for key, (folded, exact) in table.items():
        spaced = f" {key} "  # prepared text is padded with spaces: a match is a whole-word match
        # (length, concepts, {exact form: (concepts, concepts blocked)} or None, concepts blocked):
        # blocker pseudo-concepts are kept apart, so the hot path never tests a concept's name.
        split = _split(folded)
        automaton.add_word(spaced, (len(spaced), split[0], {form: _split(cs) for form, cs in exact.items()} or None,
                                    split[1], split[2], split[3]))
    if len(automaton):
        automaton.make_automaton()
    # Which concepts claim each surface form (blocker and context pseudo-concepts left out, a
    # conditional phrase claimed by its concept): lint reads this.
    owners: dict[str, list[str]] = {}
    for form, claim in claims.items():
        names: list[str] = []
        for c in claim:
            name = contexts[int(c[1:])].concept if c[0] == COND else None if c[0] in (BLOCK, NEAR) else c
            if name is not None and name not in names:
                names.append(name)
        owners[form] = names
    return Matcher(automaton, len(owners), {f: c for f, c in owners.items() if c}, contexts)


def _split(concepts: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """(concepts, concepts blocked, context rules it is a conditional phrase of, context rules it
    is a context phrase of) of one form."""
    return (tuple(c for c in concepts if c[0] not in (BLOCK, COND, NEAR)), tuple(c[1:] for c in concepts if c[0] == BLOCK),
            tuple(int(c[1:]) for c in concepts if c[0] == COND), tuple(int(c[1:]) for c in concepts if c[0] == NEAR))
