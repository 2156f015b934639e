"""Search terms for Chinese text: CJK characters and their bigrams, Latin words and numbers.

A product is indexed under every character and every pair of neighbouring characters of its name,
category and description (and under each word of Latin letters or digits). A query is split the same
way, but a run of two or more Chinese characters asks for its bigrams only: "普洱茶" asks for 普洱 and 洱茶,
so "云南普洱熟茶饼" (which has 普洱) matches, and a single character ("茶") asks for itself. The database
does the matching and ranking (services/search.py); this module only turns text into terms, the same way
for SQLite and PostgreSQL, without a word list.
"""
import re
import unicodedata

# CJK unified ideographs (with extension A and the compatibility block), and runs of Latin letters/digits.
TOKEN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+")
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LETTERS_DIGITS_RE = re.compile(r"[a-z]+|[0-9]+")
TERM_MAX_LENGTH = 32


def normalise(text: str) -> str:
    """Full-width letters and digits to ASCII (NFKC), lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def _runs(text: str) -> list[str]:
    return TOKEN_RE.findall(normalise(text))


def document_terms(text: str) -> set[str]:
    """Every term ``text`` is found under: characters, bigrams, words and their letter/digit parts."""
    terms = set()
    for run in _runs(text):
        if CJK_RE.match(run):
            terms.update(run)
            terms.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            terms.add(run[:TERM_MAX_LENGTH])
            terms.update(part[:TERM_MAX_LENGTH] for part in LETTERS_DIGITS_RE.findall(run))
    return terms


def query_terms(text: str) -> list[str]:
    """The terms a query asks for, in order, without repeats: bigrams of Chinese runs (a lone character
    as itself), and whole Latin words or numbers."""
    terms = []
    for run in _runs(text):
        if CJK_RE.match(run) and len(run) > 1:
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run[:TERM_MAX_LENGTH])
    return list(dict.fromkeys(terms))


def query_characters(text: str) -> list[str]:
    """The single characters and words of a query: the looser search when its bigrams find nothing."""
    terms = []
    for run in _runs(text):
        terms.extend(run if CJK_RE.match(run) else [run[:TERM_MAX_LENGTH]])
    return list(dict.fromkeys(terms))


def weighted_terms(fields) -> dict[str, int]:
    """{term: weight} for (text, weight) fields: a term found in several fields adds up their weights."""
    weights: dict[str, int] = {}
    for text, weight in fields:
        for term in document_terms(text):
            weights[term] = weights.get(term, 0) + weight
    return weights
