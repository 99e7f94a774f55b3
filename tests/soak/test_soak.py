"""The soak script at a tiny size, through its own `timeline serve --demo`: mixed reads and
writes with no error, every acknowledged write logged, and the answers at a past knownAt
unchanged although the load rewrote the policy retroactively (the present answer differs)."""

from __future__ import annotations

import asyncio

import pytest
from soak import own_server, soak

pytestmark = [pytest.mark.slow]


def test_a_short_soak_has_no_errors_and_leaves_past_answers_unchanged() -> None:
    with own_server() as (url, token):
        report = asyncio.run(soak(url, token, seconds=3, concurrency=3, write_share=0.4))
    assert report.reads > 0 and report.writes > 0, report.summary()
    assert report.errors == 0, report.summary()
    assert report.writes_logged, report.summary()
    assert report.present_rewritten, report.summary()
    assert report.past_answers_unchanged, report.summary()
