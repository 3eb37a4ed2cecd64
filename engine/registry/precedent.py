"""Precedent from the registry: the nearest existing items and a linear classifier fitted on them.

Fitted once when the registry loads (PrecedentIndex.build), on each item's title (counted
twice) and own-words description:

- terms: lower-cased words (stop words dropped, plurals folded as for related work) and the
  pairs of neighbouring words; weight = (1 + ln tf) x idf, idf = ln((1 + N) / (1 + df)) + 1,
  each vector of unit length (the TF-IDF of scikit-learn, built here by hand so that a query
  costs a few dictionary look-ups and one sparse product, not a vectorizer call);
- k-NN: cosine of the proposal with every item (one sparse matrix-vector product); among the K closest, each
  SG's share of the summed squared similarities (`near_<sg>`); the best similarity (`near_top`);
- a classifier: multinomial logistic regression (scikit-learn, lbfgs) on the same vectors; its
  probabilities are `model_<sg>`; the terms that pushed the chosen SG most are its evidence;
- `prec_<sg>` = (near + model) / 2 and `prec_lead` = first minus second (engine/precedent.py).

The proposal is its title (counted TITLE_REPEAT times), keywords, scope, summary and the first
MAX_TEXT characters of its text. `leave_out` gives the same signals with some items removed
(k-NN) and the classifier of a fold that never saw them: the leave-one-out evaluation.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.facts import Ev
from engine.lexicon import SEPARATOR
from engine.precedent import MODEL, NEAR, PREC, Precedent
from engine.registry.text import folded, term, tokens
from engine.vocabulary import FIELDS

if TYPE_CHECKING:
    from engine.facts import Facts
    from engine.models import Proposal
    from engine.ruleset import RuleSet

K = 10
POWER = 2.0
TITLE_REPEAT = 2
MAX_TEXT = 4000
SHOWN_PRECEDENTS = 3
SHOWN_TERMS = 5
SHOWN_SGS = 3
ALPHA = 1e-5  # regularisation of the classifier
FOLDS = 10  # leave-one-out: classifiers fitted without each tenth of the items
STOP, _UNKNOWN = -2, -1  # word columns of a stop word and of a term no item has
_WORDS_KEPT = 100_000


_LOG_TF: list[float] = []


def _log_tf() -> list[float]:
    """1 + ln(tf) for tf = 0..255 (index 0 unused), worked out by numpy as _weights() does, so
    that a Python look-up gives the same figure to the last bit."""
    if not _LOG_TF:
        _LOG_TF.extend([0.0, *(1 + np.log(np.arange(1, 256, dtype=np.intp))).tolist()])
    return _LOG_TF


@dataclass(frozen=True)
class PrecedentItem:
    id: str
    title: str
    study_group: str
    description: str = ""


def terms(text: str) -> Counter[str]:
    """Words and neighbouring word pairs of a text (lower case, stop words out, plurals folded)."""
    words = tokens(text)
    out = Counter(words)
    out.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    return out


def item_text(it: PrecedentItem) -> str:
    return f"{it.title} \n{it.title} \n{it.description}"


def proposal_text(p: Proposal) -> str:
    return " \n".join(
        [p.title] * TITLE_REPEAT + [" ; ".join(p.keywords), p.scope[:MAX_TEXT], p.summary[:MAX_TEXT], p.text[:MAX_TEXT]]
    )


@dataclass
class _Model:
    classes: list[str]
    coef: np.ndarray[Any, Any]  # classes x vocabulary
    intercept: np.ndarray[Any, Any]
    _by_term: np.ndarray[Any, Any] | None = None  # vocabulary x classes: a query's terms are a few rows

    _intercepts: list[float] | None = None

    def rows(self, cols: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """coef[:, cols].T (a row per term, a column per class), gathered from the transposed copy."""
        if self._by_term is None:
            self._by_term = np.ascontiguousarray(self.coef.T)
        return self._by_term[cols]  # type: ignore[no-any-return]

    @property
    def intercepts(self) -> list[float]:
        if self._intercepts is None:
            self._intercepts = self.intercept.tolist()
        return self._intercepts


def base_number(rec_id: str) -> str:
    """The Recommendation an id is an edition or part of: 'X.1352 (2022)' -> 'X.1352', 'H.248.1 (V2)' -> 'H.248.1'."""
    return re.sub(r"\s*\((?:\d{4}|V\d+)\)\s*$", "", rec_id).strip()


def fold_of(rec_id: str, k: int = FOLDS) -> int:
    """A stable fold for an id, the same for every edition (independent of order and hash seed)."""
    return int(hashlib.sha256(base_number(rec_id).encode()).hexdigest(), 16) % k


@dataclass
class PrecedentIndex:
    """k-NN shares and classifier probabilities over a fixed list of items."""

    items: list[PrecedentItem]
    vocab: dict[str, int] = field(default_factory=dict)
    idf: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    owners: list[str] = field(default_factory=list)
    model: _Model | None = None
    folds: dict[int, _Model] = field(default_factory=dict)
    _rows: Any = None  # items x vocabulary, unit rows, CSR

    @classmethod
    def build(cls, items: Sequence[PrecedentItem], *, classifier: bool = True) -> PrecedentIndex:
        idx = cls(list(items))
        idx._fit_vectors()
        if classifier:
            idx.model = idx._fit(np.ones(len(idx.items), dtype=bool))
        return idx

    # ------------------------------------------------------------------ fitting
    def _fit_vectors(self) -> None:
        from scipy.sparse import csr_matrix

        counts = [terms(item_text(it)) for it in self.items]
        df: Counter[str] = Counter(t for c in counts for t in c)
        self.vocab = {t: i for i, t in enumerate(sorted(df))}
        n = len(self.items)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in sorted(df)])
        rows, cols, vals = [], [], []
        for r, c in enumerate(counts):
            v = {self.vocab[t]: (1 + math.log(f)) * self.idf[self.vocab[t]] for t, f in c.items()}
            norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
            for j, x in v.items():
                rows.append(r)
                cols.append(j)
                vals.append(x / norm)
        self._rows = csr_matrix((vals, (rows, cols)), shape=(n, len(self.vocab)))
        self.owners = [it.study_group for it in self.items]

    def _fit(self, mask: np.ndarray[Any, Any]) -> _Model | None:
        from sklearn.linear_model import SGDClassifier

        y = np.array(self.owners)[mask]
        if len(set(y)) < 2:
            return None
        # Logistic loss fitted by SGD (one-vs-rest): a second at most on a few thousand titles,
        # where lbfgs takes several. Seeded: the same registry gives the same model.
        lr = SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=50, tol=1e-4, random_state=0).fit(self._rows[mask], y)
        return _Model([str(c) for c in lr.classes_], np.asarray(lr.coef_), np.asarray(lr.intercept_))

    def fold_model(self, fold: int) -> _Model | None:
        """The classifier fitted without the items of `fold` (fitted on first use)."""
        if fold not in self.folds:
            mask = np.array([fold_of(it.id) != fold for it in self.items])
            model = self._fit(mask)
            if model is not None:
                self.folds[fold] = model
        return self.folds.get(fold)

    # ------------------------------------------------------------------ querying
    def query(self, text: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(columns, unit weights) of a text's known terms."""
        return self.query_words([tokens(text)])

    def query_facts(self, facts: Facts) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """query() of a proposal from the text its facts were drawn from (already normalised):
        the title counted TITLE_REPEAT times, each field's first MAX_TEXT characters."""
        # One array for the whole proposal: each field's words as columns (UNKNOWN for a word no
        # item has, STOP for a stop word), fields apart by an UNKNOWN, so that no pair spans two.
        cols_of = self._word_columns()
        get = cols_of.get
        ids: list[int] = []
        for fname, segment in zip(FIELDS, facts.prepared.split(SEPARATOR)):
            if len(segment) > MAX_TEXT:
                segment = segment[: segment.rfind(" ", 0, MAX_TEXT) + 1]
            words = folded(facts.prepared, segment)
            found = list(map(get, words))
            if None in found:
                found = [self._word_column(w) if c is None else c for c, w in zip(found, words)]
            found.append(_UNKNOWN)
            ids += found * (TITLE_REPEAT if fname == "title" else 1)  # type: ignore[arg-type]  # no None left
        return self._weights_of(ids)

    def query_words(self, fields: list[list[str]]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(columns, unit weights) of the known words and word pairs of each field's words."""
        found: list[int] = []
        for words in fields:
            found += self._known(words)
        return self._weights(found)

    def _known(self, words: list[str]) -> list[int]:
        """The columns of a field's known words and word pairs. A pair is looked up only when both
        its words are known (no item has any other pair), by the pair of their columns."""
        ids = list(map(self.vocab.get, words, repeat(-1, len(words))))
        found = [i for i in ids if i >= 0]
        pairs = self._pair_index()
        get = pairs.get
        width = len(self.vocab)
        found += [j for j in (get(a * width + b, -1) for a, b in zip(ids, ids[1:]) if a >= 0 and b >= 0) if j >= 0]
        return found

    _pairs: dict[int, int] | None = None

    def _pair_index(self) -> dict[int, int]:
        """Column of each known word pair, keyed by its words' columns (a * len(vocab) + b)."""
        if self._pairs is None:
            vocab, width = self.vocab, len(self.vocab)
            pairs: dict[int, int] = {}
            for term, j in vocab.items():
                a, sep, b = term.partition(" ")
                if sep and a in vocab and b in vocab:
                    pairs[vocab[a] * width + vocab[b]] = j
            self._pairs = pairs
        return self._pairs

    def _weights(self, found: list[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if not found:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        cols, tf = np.unique(np.array(found, dtype=np.intp), return_counts=True)
        v = (1 + np.log(tf)) * self.idf[cols]
        return cols, v / (math.sqrt(float(v @ v)) or 1.0)

    _cols_of_word: dict[str, int] | None = None

    def _word_columns(self) -> dict[str, int]:
        """Column of each folded word seen so far (STOP for a stop word, UNKNOWN for a term no
        item has): a proposal's words cost one dictionary look-up each."""
        if self._cols_of_word is None:
            self._cols_of_word = {}
        return self._cols_of_word

    def _word_column(self, word: str) -> int:
        counted = term(word)
        col = STOP if not counted else self.vocab.get(counted, _UNKNOWN)
        known = self._word_columns()
        if len(known) < _WORDS_KEPT:
            known[word] = col
        return col

    _idf_list: list[float] | None = None

    def _weights_of(self, ids: list[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """_weights() of a run of word columns (STOP dropped; a pair is two neighbouring known words).
        Plain Python up to the two arrays: a few hundred words, where each small numpy call costs
        more cold (5-10 us) than the list, dictionary and Counter passes that replace it."""
        ids = [i for i in ids if i != STOP]
        width = len(self.vocab)
        keys = [a * width + b for a, b in zip(ids, ids[1:]) if a >= 0 and b >= 0]
        found = [i for i in ids if i >= 0]
        if keys:
            found += [j for j in map(self._pair_index().get, keys, repeat(-1, len(keys))) if j >= 0]
        if not found:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        if self._idf_list is None:
            self._idf_list = self.idf.tolist()
        idf, log_tf = self._idf_list, _log_tf()
        tf = Counter(found)
        cols = sorted(tf)
        if max(tf.values()) >= len(log_tf):  # a word more than 255 times: past the table
            log_tf = [*log_tf, *(1 + np.log(np.arange(len(log_tf), max(tf.values()) + 1))).tolist()]
        v = np.array([log_tf[tf[c]] * idf[c] for c in cols])
        return np.array(cols, dtype=np.intp), v / (math.sqrt(float(v @ v)) or 1.0)

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        return self.signals(self.query_facts(facts), rs.catalogue.study_groups)

    def from_text(
        self, text: str, study_groups: Iterable[str], *, leave_out: Iterable[int] = (), fold: int | None = None
    ) -> Precedent:
        """Signals for a plain text (see signals())."""
        return self.signals(self.query(text), study_groups, leave_out=leave_out, fold=fold)

    def signals(
        self,
        query: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
        study_groups: Iterable[str],
        *,
        leave_out: Iterable[int] = (),
        fold: int | None = None,
    ) -> Precedent:
        """Signals for a query; `leave_out` (item positions) are not neighbours, and `fold` picks
        the classifier fitted without that fold."""
        known = set(study_groups)
        cols, vals = query
        signals: dict[str, int] = {}
        evidence: dict[str, list[Ev]] = {}
        if not len(cols):
            return Precedent(signals, evidence)
        sims = self._similarities(cols, vals)
        for i in leave_out:
            sims[i] = 0.0
        part = np.argpartition(-sims, K)[:K] if len(sims) > K else np.arange(len(sims))
        # Plain Python from here: K items and a few classes, where each numpy call costs more than
        # its arithmetic. sorted() is stable, as argsort(kind="stable") was: ties keep their order.
        ranked_top = sorted(zip(part.tolist(), sims[part].tolist()), key=lambda t: -t[1])
        top_list: list[int] = [i for i, si in ranked_top if si > 0]
        top_sims: list[float] = [si for _, si in ranked_top[: len(top_list)]]  # the positive ones come first
        near: dict[str, float] = {}
        owners = self.owners
        if top_list:
            weights = [si**POWER for si in top_sims]
            total = sum(weights) or 1.0
            for i, wi in zip(top_list, weights):
                near[owners[i]] = near.get(owners[i], 0.0) + wi / total
            signals["near_top"] = round(100 * top_sims[0])
            evidence["near_top"] = [self._shown(top_list[0], top_sims[0])]
        model = self.fold_model(fold) if fold is not None else self.model
        probs: dict[str, float] = {}
        coefs: np.ndarray[Any, Any] | None = None
        if model is not None:
            coefs = model.rows(cols)  # query terms x classes
            z: list[float] = (vals @ coefs).tolist()
            # One-vs-rest, normalised as scikit-learn's predict_proba.
            p = [1.0 / (1.0 + math.exp(-(zi + bi))) for zi, bi in zip(z, model.intercepts)]
            p_total = sum(p) or 1.0
            probs = {sg: pi / p_total for sg, pi in zip(model.classes, p)}
        prec = {sg: (near.get(sg, 0.0) + probs.get(sg, near.get(sg, 0.0))) / 2 for sg in {*near, *probs}}
        names = self._signal_names()
        for at, values in enumerate((near, probs, prec)):
            for sg, x in values.items():
                if sg in known:
                    v = round(100 * x)
                    if v:
                        signals[names(sg)[at]] = v
        ranked = sorted((round(100 * v) for sg, v in prec.items() if sg in known), reverse=True)
        if ranked:
            signals["prec_lead"] = ranked[0] - (ranked[1] if len(ranked) > 1 else 0)
        # Evidence for the few Study Groups existing work points to most (the ones a rule may read
        # high), each worked out when a reason first reads it: most decisions read one or two.
        shown_sgs = sorted((sg for sg in prec if sg in known), key=lambda g: -prec[g])[:SHOWN_SGS]
        return Precedent(signals, _Evidence(self, evidence, shown_sgs, top_list, top_sims, model, coefs, cols, vals))

    _names_of_sg: dict[str, tuple[str, str, str]] | None = None

    def _signal_names(self) -> Callable[[str], tuple[str, str, str]]:
        """A Study Group's near_, model_ and prec_ signal names, made once per Study Group."""
        if self._names_of_sg is None:
            self._names_of_sg = {}
        made = self._names_of_sg

        def names(sg: str) -> tuple[str, str, str]:
            found = made.get(sg)
            if found is None:
                low = sg.lower()
                found = made[sg] = (NEAR + low, MODEL + low, PREC + low)
            return found

        return names

    _postings: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None

    def _similarities(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Cosine of a query (sorted columns, unit weights) with every item, from the postings of
        its columns only (an inverted index: the items holding each term), summed per item in
        column order: the same figures as the items' rows times the query vector."""
        if self._postings is None:
            by_col = self._rows.tocsc()
            by_col.sort_indices()
            self._postings = (
                np.asarray(by_col.indptr, dtype=np.intp),
                np.asarray(by_col.indices, dtype=np.intp),
                np.asarray(by_col.data, dtype=float),
            )
        ptr, item_of, weight_of = self._postings
        starts = ptr[cols]
        counts = ptr[cols + 1] - starts
        ends = counts.cumsum()  # methods, not np.cumsum / np.repeat: those add a Python wrapper each
        at = np.arange(int(ends[-1])) + (starts - (ends - counts)).repeat(counts)
        return np.bincount(item_of[at], weights=weight_of[at] * vals.repeat(counts), minlength=len(self.items))

    _labels: list[str] | None = None

    def _shown(self, i: int, sim: float) -> Ev:
        if self._labels is None:
            self._labels = [f"{it.id} {it.title} ({it.study_group}, " for it in self.items]
        return Ev("registry", f"{self._labels[i]}{sim:.2f})", "precedent")

    _names: list[str] | None = None
    _editions: dict[str, list[int]] | None = None

    def editions(self) -> dict[str, list[int]]:
        """The positions of each Recommendation's editions and parts, by base number (made once)."""
        if self._editions is None:
            found: dict[str, list[int]] = {}
            for i, it in enumerate(self.items):
                found.setdefault(base_number(it.id), []).append(i)
            self._editions = found
        return self._editions

    def _terms(self) -> list[str]:
        if self._names is None:
            self._names = sorted(self.vocab, key=self.vocab.__getitem__)
        return self._names


class _Evidence(Mapping[str, list[Ev]]):
    """The evidence of one query's signals: `near_top` as given, and for each shown Study Group
    (the same list under its near_, model_ and prec_ names) its closest precedents and the
    classifier terms that pushed it most, worked out when one of its names is first read. Its
    names are known beforehand; a Study Group with neither shows an empty list."""

    def __init__(
        self,
        index: PrecedentIndex,
        given: dict[str, list[Ev]],
        shown_sgs: list[str],
        top: list[int],
        top_sims: list[float],
        model: _Model | None,
        coefs: np.ndarray[Any, Any] | None,  # query terms x classes
        cols: np.ndarray[Any, Any],
        vals: np.ndarray[Any, Any],
    ) -> None:
        self._index, self._top, self._top_sims = index, top, top_sims
        self._model, self._coefs, self._cols, self._vals = model, coefs, cols, vals
        self._done = given
        self._sg_of = {prefix + sg.lower(): sg for sg in shown_sgs for prefix in (NEAR, MODEL, PREC)}
        self._names = [*given, *self._sg_of]

    def __getitem__(self, name: str) -> list[Ev]:
        found = self._done.get(name)
        if found is None:
            sg = self._sg_of[name]  # KeyError for a name without evidence, as a dict
            found = self._work_out(sg)
            for prefix in (NEAR, MODEL, PREC):
                self._done[prefix + sg.lower()] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _work_out(self, sg: str) -> list[Ev]:
        """The closest precedents of `sg` among the K nearest (best first), then its classifier terms."""
        index, owners = self._index, self._index.owners
        evs = [index._shown(i, si) for i, si in zip(self._top, self._top_sims) if owners[i] == sg][:SHOWN_PRECEDENTS]
        model, coefs = self._model, self._coefs
        if model is not None and coefs is not None and sg in model.classes:
            contrib = coefs[:, model.classes.index(sg)] * self._vals
            order: list[int] = np.argsort(-contrib)[:SHOWN_TERMS].tolist()
            pushed: list[float] = contrib.tolist()
            names, col_list = index._terms(), self._cols.tolist()
            words = [names[col_list[j]] for j in order if pushed[j] > 0]
            if words:
                evs.append(Ev("registry", f"classifier terms for {sg}: " + ", ".join(words), "precedent"))
        return evs


def leave_out(index: PrecedentIndex, rec_id: str) -> LeaveOut:
    """The index as if `rec_id` and its other editions did not exist."""
    return LeaveOut(index, index.editions().get(base_number(rec_id), []), fold_of(rec_id))


@dataclass
class LeaveOut:
    """A precedent source that judges one proposal as if some registry items did not exist."""

    index: PrecedentIndex
    positions: list[int]
    fold: int

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        return self.index.signals(
            self.index.query_facts(facts), rs.catalogue.study_groups, leave_out=self.positions, fold=self.fold
        )
