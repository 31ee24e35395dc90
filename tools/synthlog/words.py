"""Word lists the generator draws names and addresses from, and the one random pick.

Why a module of its own: every stream (the background, each scenario) makes up
people, partners and dictionary logins from the same lists, so a sample and a
bench draw from one vocabulary.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar


def word_list(text: str) -> tuple[str, ...]:
    """A word list written as one string (keeps the tables short)."""
    return tuple(text.split())


LOCAL_DOMAINS = ("example.com", "example.net", "example.org")
"""The domains a generated server hosts (its users' addresses, local delivery)."""


FIRST = word_list(
    "anna ben clara david eva felix greta hans ida jonas karin lukas maria nina oskar"
    " paula quentin rita stefan tanja ute viktor wanda xaver yvonne zoe julia peter"
    " sabine thomas andrea michael sandra martin petra frank"
)


LAST = word_list(
    "schmidt mueller weber wagner becker hoffmann schulz koch richter klein wolf"
    " neumann schwarz braun zimmermann krueger hartmann lange werner krause lehmann"
    " koehler maier kaiser"
)


WORDS = word_list(
    "info kontakt office team service buchhaltung vertrieb support einkauf personal empfang technik"
)


PARTNER_DOMAINS = word_list(
    "mueller-bau.de stadtwerke-nord.de kanzlei-weber.de autohaus-koch.de"
    " praxis-braun.de hotel-seeblick.at druckerei-lange.de steuerbuero-klein.de"
    " immobilien-wolf.de schreinerei-maier.de verlag-richter.de bio-hof-kaiser.de"
    " architekten-werner.ch it-service-krause.de fahrschule-lehmann.de"
)


SPAM_DOMAINS = ("mailer.xyz", "promo-deals.top", "S510.gigasys", "bulk.biz")


SPRAY_NAMES = word_list(
    "admin info test sales support office contact webmaster postmaster mail user"
    " billing hr marketing noreply root backup scanner printer kontakt buchhaltung"
    " service team web"
)


T = TypeVar("T")


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """One of ``items``, uniformly: one ``rng.random()`` draw (``rng.choice`` draws differently,
    and every sample's bytes depend on the sequence of draws)."""
    return items[int(rng.random() * len(items))]
