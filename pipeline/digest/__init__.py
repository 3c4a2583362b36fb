"""The daily digest: a period's drops, their causes and what to change.

``compute`` gets the numbers from the store, ``render`` formats them (Markdown,
HTML, Slack blocks), ``image`` draws the static timeline, ``deliver`` mails or
posts the result and records deliveries.
"""

from pipeline.digest.compute import (  # noqa: F401
    Digest,
    DigestError,
    Period,
    compute_from_store,
    day_period,
    since_period,
    yesterday_period,
)
