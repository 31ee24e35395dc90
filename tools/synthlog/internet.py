"""The rest of the internet as the log sees it: mailbox providers, inbound MTAs, client networks.

Why: deliveries go to the MX of real-looking providers (with their own reply
wording), inbound mail comes from their MTAs, users connect from home and
mobile ranges and bots from abuse-heavy ones: the shapes real logs have.
"""

from __future__ import annotations

import random
from bisect import bisect
from itertools import accumulate

from synthlog.words import PARTNER_DOMAINS, word_list

# Big providers: (mx host, mx ip, success reply template); {n} is a random number.
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "gmail.com": (
        "gmail-smtp-in.l.google.com",
        "142.250.102.27",
        "250 2.0.0 OK  {n} a640c23a62f3a-{h}.{n2} - gsmtp",
    ),
    "googlemail.com": (
        "gmail-smtp-in.l.google.com",
        "142.250.102.26",
        "250 2.0.0 OK  {n} 5b1f17b1804b1-{h}.{n2} - gsmtp",
    ),
    "outlook.com": (
        "outlook-com.olc.protection.outlook.com",
        "52.101.68.15",
        "250 2.6.0 <{m}> [InternalId={n}, Hostname=AM8P190MB0994.EURP190.PROD.OUTLOOK.COM]"
        " Queued mail for delivery",
    ),
    "hotmail.com": (
        "hotmail-com.olc.protection.outlook.com",
        "52.101.73.17",
        "250 2.6.0 <{m}> [InternalId={n}, Hostname=PAXP193MB1742.EURP193.PROD.OUTLOOK.COM]"
        " Queued mail for delivery",
    ),
    "yahoo.com": ("mta7.am0.yahoodns.net", "67.195.204.72", "250 ok dirdel"),
    "web.de": (
        "mx-ha03.web.de",
        "212.227.17.8",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "gmx.de": (
        "mx00.emig.gmx.net",
        "212.227.15.9",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "gmx.net": (
        "mx01.emig.gmx.net",
        "212.227.17.5",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "t-online.de": ("mx00.t-online.de", "194.25.134.8", "250 2.0.0 Message accepted."),
    "icloud.com": (
        "mx01.mail.icloud.com",
        "17.57.154.33",
        "250 2.0.0 Ok: queued as {h}",
    ),
    "orange.fr": (
        "smtp-in.orange.fr",
        "80.12.242.15",
        "250 2.0.0 {h} mail accepted for delivery",
    ),
}


PROVIDER_WEIGHTS = (30, 3, 8, 6, 5, 10, 10, 4, 8, 4, 2)
_NAMES = tuple(PROVIDERS)
_CUM = tuple(accumulate(PROVIDER_WEIGHTS))


# Inbound MTAs that deliver to us: (client name, ip prefix, sender domains).
INBOUND_MTAS = (
    ("mail-wm1-f{a}.google.com", "209.85.128.", ("gmail.com",)),
    ("mail-ej1-f{a}.google.com", "209.85.218.", ("gmail.com", "googlemail.com")),
    (
        "mail-db8eur05on20{a}.outbound.protection.outlook.com",
        "40.107.20.",
        ("outlook.com", "hotmail.com"),
    ),
    ("mout.gmx.net", "212.227.17.", ("gmx.de", "gmx.net")),
    ("mout.web.de", "212.227.15.", ("web.de",)),
    ("a48-{a}.smtp-out.amazonses.com", "54.240.48.", ("amazon.de", "news.shop-example.com")),
    ("mx{a}.partner-mail.net", "185.12.64.", PARTNER_DOMAINS),
)


# Home and mobile networks of our users: (rDNS template or "unknown", prefix).
ACCESS_NETS = (
    ("p{x}.dip0.t-ipconnect.de", "84.150."),
    ("p{x}.dip0.t-ipconnect.de", "91.61."),
    ("ip{x}.dynamic.kabel-deutschland.de", "95.90."),
    ("dynamic-{x}.vodafone-ip.de", "2.204."),
    ("unknown", "176.1."),
    ("i{x}.versanet.de", "89.246."),
    ("unknown", "2a02:8109:b240:"),
    ("unknown", "2003:e4:bf1a:"),
)


# Botnets and scanners (public ranges seen in abuse reports; synthetic hosts).
BOT_NETS = word_list(
    "45.141.84. 80.94.95. 141.98.11. 185.196.8. 193.32.162. 103.149.28. 179.43.180."
    " 5.34.207. 91.92.240. 194.169.175. 78.128.112. 117.50.190."
)


def provider(rng: random.Random) -> str:
    """A big mailbox provider's domain, drawn by its share of the mail (``PROVIDER_WEIGHTS``)."""
    return _NAMES[bisect(_CUM, rng.random() * _CUM[-1])]
