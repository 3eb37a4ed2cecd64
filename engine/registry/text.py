"""Words of a text as related-work scoring counts them: lower-cased ASCII words, a few stop words
dropped, plurals folded, and common long forms folded into their abbreviation
("Internet of things" = "IoT")."""

from __future__ import annotations

import threading
from collections import Counter

import ahocorasick

# Long forms folded into one token, so that "Internet of things" and "IoT" are the same word.
ABBREVIATIONS = {
    "internet of things": "iot",
    "vehicle to everything": "v2x",
    "distributed ledger technology": "dlt",
    "distributed ledger": "dlt",
    "quantum key distribution": "qkd",
    "personally identifiable information": "pii",
    "ubiquitous sensor network": "usn",
    "intelligent transport system": "its",
    "intelligent transportation system": "its",
    "smart sustainable cities": "smartcity",
    "smart city": "smartcity",
    "smart cities": "smartcity",
    "digital twin": "digitaltwin",
    "zero trust": "zerotrust",
    "identity management": "idm",
    "over the air": "ota",
}
STOP_WORDS = frozenset(
    "a an and are as at be based by for from in into is it its of on or over such that the this to under using "
    "via which with within without their these those can may will shall should how what when where also other "
    "new use used part".split()
)
# Anything but ASCII letters and digits separates words (what BM25 counts is ASCII vocabulary).
_PUNCTUATION = {cp: " " for cp in range(0x10000) if not (chr(cp).isascii() and chr(cp).isalnum())}


def _fold_automaton() -> ahocorasick.Automaton:
    """Long forms (singular and plural) between spaces, each with its abbreviation."""
    automaton = ahocorasick.Automaton()
    for long, short in ABBREVIATIONS.items():
        for plural in ("", "s"):
            key = f" {long}{plural} "
            automaton.add_word(key, (len(key), short))
    automaton.make_automaton()
    return automaton


_FOLDS = _fold_automaton()


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation as spaces, long forms folded into their abbreviation."""
    return fold_words(" " + " ".join(text.lower().translate(_PUNCTUATION).split()) + " ")


def fold_words(low: str) -> list[str]:
    """The words of lower-cased text already normalised to single spaces and padded with one at
    each end, long forms folded into their abbreviation."""
    found = [(end - length + 1, end, short) for end, (length, short) in _FOLDS.iter(low)]
    if not found:
        return low.split()
    pieces: list[str] = []
    pos = 0
    for start, end, short in sorted(found, key=lambda f: (f[0], -f[1])):  # earliest, then longest
        if start < pos:  # inside a long form already folded (a shared boundary space is fine)
            continue
        pieces += (low[pos : start + 1], short)
        pos = end
    pieces.append(low[pos:])
    return "".join(pieces).split()


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_TERM_CACHE: dict[str, str] = {}
_TERM_CACHE_MAX = 100_000


def term(word: str) -> str:
    """The counted form of a word ('' for a stop word), memoised: proposals repeat their vocabulary."""
    term = _TERM_CACHE.get(word)
    if term is None:
        term = "" if word in STOP_WORDS or len(word) < 2 else _fold(word)
        if len(_TERM_CACHE) < _TERM_CACHE_MAX:
            _TERM_CACHE[word] = term
    return term


def tokens(text: str) -> list[str]:
    """The words BM25 counts: normalised, stop words dropped, plurals folded."""
    terms = [term(word) for word in words(text)]
    return [t for t in terms if t]


def prepared_tokens(low: str, prepared: str | None = None) -> list[str]:
    """tokens() of text already prepared by the lexicon (lower case, single spaces, padded);
    `prepared` is the whole text it was cut from, when shared (see folded)."""
    words = fold_words(low) if prepared is None else folded(prepared, low)
    terms = list(map(_TERM_CACHE.get, words))  # mapped in C; only words never seen go through term()
    if None in terms:
        terms = [term(w) if t is None else t for t, w in zip(terms, words)]
    return [t for t in terms if t]


_LAST = threading.local()


def folded(prepared: str, segment: str) -> list[str]:
    """fold_words(segment) of a field of one proposal's prepared text, folded once for every
    reader of that decision (related work and precedent read the same fields). Remembered per
    thread for the last prepared text only (by identity: a new decision is a new text), so a
    proposal seen again is folded again. The list is shared: do not change it."""
    memo: tuple[str, dict[str, list[str]]] | None = getattr(_LAST, "memo", None)
    if memo is None or memo[0] is not prepared:
        memo = (prepared, {})
        _LAST.memo = memo
    found = memo[1].get(segment)
    if found is None:
        found = memo[1][segment] = fold_words(segment)
    return found


def weighted_terms(texts: list[tuple[str, int]]) -> dict[str, int]:
    """Term counts of several texts, each word counted `weight` times."""
    bag: list[str] = []
    for text, weight in texts:
        if text:
            bag += words(text) * weight
    return term_counts(bag)


def term_counts(bag: list[str]) -> dict[str, int]:
    """How often each term occurs in a bag of words: the query's hot path, so the words are
    mapped and counted in C, and only words never seen before go through term()."""
    terms = list(map(_TERM_CACHE.get, bag))
    if None in terms:
        terms = [term(w) if t is None else t for t, w in zip(terms, bag)]
    return Counter(filter(None, terms))
