"""A small English stopword list for query expansion (NLTK's stopwords corpus is not installed).

Function words, auxiliaries, pronouns, question words and a few conversational fillers: words
whose synonyms would only add noise to a search.
"""

from __future__ import annotations

__all__ = ["STOPWORDS"]

_WORDS = """
    a about above after again against ago all almost along already also although always am among an
    and another any anybody anyone anything anyway anywhere are aren around as at away
    be became because become been before being below besides between beyond both but by
    can cannot cant could couldn
    did didn do does doesn doing don done down during
    each either else elsewhere enough etc even ever every everybody everyone everything everywhere
    few for from further
    get gets getting got gotten
    had hadn has hasn have haven having he her here hers herself him himself his how however
    i if in into is isn it its itself
    just
    kind
    least less let lets like likely
    made make makes many may maybe me might mine more most mostly much must my myself
    neither never no nobody none nor not nothing now nowhere
    of off often oh ok okay on once one ones only onto or other others otherwise ought our ours
    ourselves out over own
    per perhaps please
    quite
    rather really
    said same say says see seem seemed seems several shall she should shouldn since so some somebody
    someone something sometime sometimes somewhere soon still such sure
    tell than that the their theirs them themselves then there these they thing things this those
    though through thus till to together too toward towards
    under until up upon us use used using usually
    very via
    want wants was wasn way we well were weren what whatever when whenever where whereas wherever
    whether which while who whoever whom whose why will with within without won would wouldn
    yeah yes yet you your yours yourself yourselves
    ll re s t ve d m
"""

STOPWORDS: frozenset[str] = frozenset(_WORDS.split())
