"""The registry of existing ITU-T work items, and related-work detection for a proposal.

The registry is a YAML data file maintainers edit (schema `iotsec-triage/registry@1`), read
with the project's safe loader and validated like the rules: a broken file never loads, and
every problem is reported as `file:line:column: message`.

Related work: how similar an item is to a proposal
--------------------------------------------------
    score(p, d) = ALPHA * text(p, d) + (1 - ALPHA) * concepts(p, d)      (0..1)

- text(p, d): cosine between BM25-weighted term vectors (k1 = 1.2, b = 0.75). An item's terms
  come from its title (counted twice), description and topics; a term's weight is
  idf(t) * tf(k1 + 1) / (tf + k1(1 - b + b |d| / avgdl)) with idf(t) = ln(1 + (N - n + 0.5) / (n + 0.5))
  over the N registry items. The proposal's terms come from its fields, counted with the
  catalogue's field weights (title 3, keywords 2, scope 2, summary 1, the first 4000 characters
  of the text 1) and saturated the same way (without length normalisation). Words are
  lower-cased, a few stop words dropped, plurals folded, and common long forms folded into their
  abbreviation (ABBREVIATIONS below: "Internet of things" = "IoT").
- concepts(p, d): cosine between lexicon-concept vectors: the concepts the rule set's matcher
  finds in the item's title and description (weight idf(c), doubled in the title) against those
  the proposal's facts carry (weight idf(c) x the field level of the concept, 1..3).
- ALPHA = 0.6. An item is related when score >= THRESHOLD (0.45) and score >= RELATIVE (0.8)
  x the best score of any item for this proposal (a clear best match keeps its weaker siblings
  out), best first, at most MAX_RELATED (5).
- Explicit relations win: an item the proposal cites is related whatever its text score, with
  score = max(score, CITED_SCORE) and relation "cited"; "revised" when the citation is marked as
  a revision or extension; otherwise relation "similar".

Any related item raises OVERLAP_EXISTING_WORK naming the ids; a related item held by the other
SG (SG20 when the home or lead is SG17 and vice versa; both when the home is joint or
undetermined) raises COORDINATE_Q6_17_Q6_20 naming that item.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.lexicon import SEPARATOR
from engine.models import Flag, Proposal, RelatedWork
from engine.precedent import NO_PRECEDENT, Precedent
from engine.registry.items import WorkItem, default_registry_file, read_items
from engine.registry.precedent import PrecedentIndex, PrecedentItem
from engine.registry.related import flags_for
from engine.registry.text import folded, term_counts, tokens, weighted_terms
from engine.vocabulary import FIELDS

if TYPE_CHECKING:
    from engine.facts import Facts
    from engine.ruleset import RuleSet

ALPHA = 0.6
THRESHOLD = 0.45
RELATIVE = 0.8
MAX_RELATED = 5
CITED_SCORE = 0.9
K1 = 1.2
B = 0.75
ITEM_FIELD_WEIGHTS = {"title": 2, "description": 1, "topics": 1}
MAX_QUERY_TEXT = 4000


def _cosine_norm(vec: dict[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vec.values())) or 1.0


def _row_weights(vocab: dict[str, int], idf: dict[str, float], unseen: float) -> np.ndarray[Any, Any]:
    """idf by matrix row; the last row (words no item has) gets the unseen weight."""
    out = np.full(len(vocab) + 1, unseen)
    for t, row in vocab.items():
        out[row] = idf[t]
    return out


def _unit_matrix(vectors: list[dict[str, float]]) -> tuple[dict[str, int], np.ndarray[Any, Any]]:
    """Vocabulary -> row, and a (vocabulary x items) matrix whose columns are unit vectors."""
    vocab: dict[str, int] = {}
    for vec in vectors:
        for t in vec:
            vocab.setdefault(t, len(vocab))
    matrix = np.zeros((len(vocab) + 1, len(vectors)))  # the last row stays zero: words no item has
    for i, vec in enumerate(vectors):
        norm = _cosine_norm(vec)
        for t, w in vec.items():
            matrix[vocab[t], i] = w / norm
    return vocab, matrix


@dataclass
class _ConceptIndex:
    """Lexicon concepts of every item under one rule set (cached by rule-set revision)."""

    found: list[dict[str, float]]
    idf: dict[str, float]
    vocab: dict[str, int]
    matrix: np.ndarray[Any, Any]
    row_idf: np.ndarray[Any, Any]


@dataclass
class Registry:
    """The existing work items, indexed once for related-work scoring."""

    items: list[WorkItem]
    file: str = ""
    revision: str = ""
    by_id: dict[str, WorkItem] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    _idf: dict[str, float] = field(default_factory=dict)
    _vocab: dict[str, int] = field(default_factory=dict)
    _matrix: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros((1, 0)))
    _row_idf: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(1))
    _concepts: dict[str, _ConceptIndex] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _curated: Registry | None = None
    precedent_index: PrecedentIndex | None = None  # set by enable_precedent(); None: no precedent signals

    def __post_init__(self) -> None:
        self.by_id = {it.id: it for it in self.items}
        self.positions = {it.id: i for i, it in enumerate(self.items)}
        self._build_text_index()

    def __len__(self) -> int:
        return len(self.items)

    def select(
        self, *, sg: str | None = None, question: str | None = None, topic: str | None = None, text: str | None = None
    ) -> list[WorkItem]:
        """The items held by `sg`, under `question`, with `topic`, and whose id, title, description
        or topics contain every word of `text` (case-insensitive); None selects everything."""
        words = text.lower().split() if text else []
        found = []
        for it in self.items:
            if (
                (sg and it.study_group != sg)
                or (question and it.question != question)
                or (topic and topic not in it.topics)
            ):
                continue
            if words:
                hay = " ".join((it.id, it.title, it.description, " ".join(it.topics))).lower()
                if not all(w in hay for w in words):
                    continue
            found.append(it)
        return found

    def curated(self) -> Registry:
        """The items kept by hand (work_items.yaml: the IoT-security work the landscape maps),
        without the imported Recommendations; the registry itself when it has no import."""
        if self._curated is None:
            kept = [it for it in self.items if not it.owner_from]
            self._curated = (
                self if len(kept) == len(self.items) else Registry(kept, file=self.file, revision=self.revision)
            )
        return self._curated

    def enable_precedent(self) -> Registry:
        """Fit the precedent index (k-NN and classifier) on every item, once per registry revision."""
        if self.precedent_index is None:
            self.precedent_index = precedent_index_for(self)
        return self

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        """Precedent signals for a proposal (engine/precedent.py); none before enable_precedent()."""
        if self.precedent_index is None:
            return NO_PRECEDENT
        return self.precedent_index.precedent(proposal, facts, rs)

    def owners(self) -> dict[str, str]:
        """Recommendation id -> the Study Group that holds it (feeds cited-Recommendation ownership)."""
        return {it.id: it.study_group for it in self.items}

    # ------------------------------------------------------------------ indexing
    def _build_text_index(self) -> None:
        docs: list[Counter[str]] = []
        for it in self.items:
            tf: Counter[str] = Counter()
            for name, text in (("title", it.title), ("description", it.description), ("topics", " ".join(it.topics))):
                for t in tokens(text):
                    tf[t] += ITEM_FIELD_WEIGHTS[name]
            docs.append(tf)
        n = len(docs) or 1
        avgdl = sum(sum(d.values()) for d in docs) / n or 1.0
        df: Counter[str] = Counter(t for d in docs for t in d)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        vectors = []
        for d in docs:
            dl = sum(d.values())
            vectors.append({t: self._idf[t] * f * (K1 + 1) / (f + K1 * (1 - B + B * dl / avgdl)) for t, f in d.items()})
        self._vocab, self._matrix = _unit_matrix(vectors)
        self._row_idf = _row_weights(self._vocab, self._idf, self._unseen())

    def concept_index(self, rs: RuleSet) -> _ConceptIndex:
        """The items' lexicon concepts under `rs`, computed once per rule-set revision."""
        cached = self._concepts.get(rs.revision)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._concepts.get(rs.revision)
            if cached is not None:
                return cached
            found: list[dict[str, float]] = []
            for it in self.items:
                levels: dict[str, float] = {}
                for fname, text, level in (("description", it.description, 1.0), ("title", it.title, 2.0)):
                    for hit in rs.matcher.scan(fname, text):
                        levels[hit.concept] = max(levels.get(hit.concept, 0.0), level)
                found.append(levels)
            n = len(found) or 1
            df: Counter[str] = Counter(c for f in found for c in f)
            idf = {c: math.log(1 + (n - k + 0.5) / (k + 0.5)) for c, k in df.items()}
            vocab, matrix = _unit_matrix([{c: idf[c] * lvl for c, lvl in f.items()} for f in found])
            index = _ConceptIndex(found, idf, vocab, matrix, _row_weights(vocab, idf, self._unseen()))
            if len(self._concepts) >= 4:  # a few revisions at most: reloads replace rule sets
                self._concepts.pop(next(iter(self._concepts)))
            self._concepts[rs.revision] = index
            return index

    # ------------------------------------------------------------------ scoring
    def _unseen(self) -> float:
        return math.log(1 + (len(self.items) + 0.5) / 0.5)

    @staticmethod
    def _cosines(
        names: Iterable[str],
        strength: np.ndarray[Any, Any],
        vocab: dict[str, int],
        matrix: np.ndarray[Any, Any],
        row_idf: np.ndarray[Any, Any],
    ) -> np.ndarray[Any, Any]:
        """Cosine of a query (names with a strength each, weighted by idf) with every item."""
        n = len(strength)
        if not n:
            return np.zeros(matrix.shape[1])
        rows = np.fromiter(map(vocab.get, names, repeat(len(vocab), n)), dtype=np.intp, count=n)
        weights = row_idf[rows] * strength
        # Words (or concepts) no item has keep their weight in the norm: they make the proposal less like any item.
        return (weights @ matrix[rows]) / (math.sqrt(float(weights @ weights)) or 1.0)  # type: ignore[no-any-return]

    def similar_terms(
        self, query: Mapping[str, int], concept_levels: Mapping[str, float], rs: RuleSet
    ) -> np.ndarray[Any, Any]:
        """Similarity (0..1) of every item, in registry order, to a query given as term counts and concept levels."""
        tf = np.fromiter(query.values(), dtype=float, count=len(query))
        levels = np.fromiter(concept_levels.values(), dtype=float, count=len(concept_levels))
        cidx = self.concept_index(rs)
        return ALPHA * self._cosines(query, tf * (K1 + 1) / (tf + K1), self._vocab, self._matrix, self._row_idf) + (
            1 - ALPHA
        ) * self._cosines(concept_levels, levels, cidx.vocab, cidx.matrix, cidx.row_idf)

    def similar(
        self,
        query_fields: dict[str, str],
        concept_levels: Mapping[str, float],
        rs: RuleSet,
        weights: Mapping[str, int] | None = None,
    ) -> np.ndarray[Any, Any]:
        """similar_terms() of texts by field, each counted with its field weight (the catalogue's by default)."""
        field_weights: Mapping[str, int] = weights if weights is not None else rs.catalogue.fields  # type: ignore[assignment]
        query = weighted_terms([(text, field_weights.get(fname, 1)) for fname, text in query_fields.items()])
        return self.similar_terms(query, concept_levels, rs)

    def query_terms(self, facts: Facts, rs: RuleSet) -> dict[str, int]:
        """The proposal's term counts, from the text its facts were drawn from (already normalised,
        excluded sentences dropped), each field counted with its weight; the text field's first
        MAX_QUERY_TEXT characters only."""
        field_weights: Mapping[str, int] = rs.catalogue.fields  # type: ignore[assignment]
        bag: list[str] = []
        for fname, segment in zip(FIELDS, facts.prepared.split(SEPARATOR)):
            if fname == "text" and len(segment) > MAX_QUERY_TEXT:
                segment = segment[: segment.rfind(" ", 0, MAX_QUERY_TEXT) + 1]
            bag += folded(facts.prepared, segment) * field_weights.get(fname, 1)
        return term_counts(bag)

    def scores(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> list[RelatedWork]:
        """Every item related to the proposal (score >= the cut, or cited), best first. Similar
        items come from the hand-kept work (curated()); a cited item from the whole registry."""
        cur = self.curated()
        category = rs.concept_category
        levels = {
            c: float(facts.signals.get(c, 0)) for c in facts.evidence if c in category and facts.signals.get(c, 0) > 0
        }
        sims = cur.similar_terms(cur.query_terms(facts, rs), levels, rs)
        cut = max(THRESHOLD, RELATIVE * float(sims.max(initial=0.0)))
        picked: dict[str, float] = {cur.items[int(i)].id: float(sims[i]) for i in np.flatnonzero(sims >= cut)}
        relation: dict[str, str] = {}
        for c in facts.citations:
            if c.rec not in self.by_id:
                continue
            if c.revised or relation.get(c.rec) != "revised":
                relation[c.rec] = "revised" if c.revised else relation.get(c.rec, "cited")
            j = cur.positions.get(c.rec)
            picked[c.rec] = max(float(sims[j]) if j is not None else 0.0, CITED_SCORE)
        ranked = sorted(picked.items(), key=lambda p: (-p[1], self.positions[p[0]]))
        out: list[RelatedWork] = []
        for rid, s in ranked:
            if len(out) >= MAX_RELATED and rid not in relation:
                continue
            it = self.by_id[rid]
            out.append(
                RelatedWork(
                    id=it.id,
                    study_group=it.study_group,
                    title=it.title,
                    score=round(min(s, 1.0), 3),
                    question=it.question,
                    relation=relation.get(rid, "similar"),
                )
            )
        return out

    def related(
        self, proposal: Proposal, facts: Facts, home: str, lead: str | None, rs: RuleSet
    ) -> tuple[list[RelatedWork], list[Flag]]:
        """The related work of a decided proposal, and the flags it raises."""
        related = self.scores(proposal, facts, rs)
        return related, flags_for(related, home, rs.catalogue.flags)


_PRECEDENT_CACHE: dict[str, PrecedentIndex] = {}
_PRECEDENT_LOCK = threading.Lock()


def precedent_index_for(registry: Registry) -> PrecedentIndex:
    """The precedent index of a registry's items, fitted once per content (the last few kept)."""
    key = (
        registry.revision
        or hashlib.sha256(
            "\n".join(f"{it.id}\t{it.study_group}\t{it.title}" for it in registry.items).encode()
        ).hexdigest()
    )
    with _PRECEDENT_LOCK:
        found = _PRECEDENT_CACHE.get(key)
        if found is None:
            found = PrecedentIndex.build(
                [PrecedentItem(it.id, it.title, it.study_group, it.description) for it in registry.items]
            )
            if len(_PRECEDENT_CACHE) >= 4:
                _PRECEDENT_CACHE.pop(next(iter(_PRECEDENT_CACHE)))
            _PRECEDENT_CACHE[key] = found
        return found


def load_registry(path: Path | str) -> Registry:
    """Read and check a registry file and index it; RegistryLoadError lists every located problem."""
    items, revision = read_items(path)
    return Registry(items, file=str(path), revision=revision)


def load_default_registry() -> Registry:
    """The bundled registry of existing work items."""
    return load_registry(default_registry_file())
