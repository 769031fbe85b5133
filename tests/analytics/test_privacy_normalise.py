"""Identifiers are NFKC-normalised with zero-width characters removed before pseudonymising (issue 12 item 9)."""

from __future__ import annotations

import pytest

from analytics.privacy import ZERO_WIDTH, normalise_ref, pseudonymise

KEY = b"k" * 32


@pytest.mark.parametrize("raw", [
    "CHILD-REF-0001", " CHILD-REF-0001 ", "CHILD-REF-0001\u200b", "\ufeffCHILD-REF-0001", "CHILD\u200c-REF\u200d-0001",
    "CHILD-REF-\u20600001", "\uff23\uff28\uff29\uff2c\uff24-REF-0001", "CHILD-REF-\uff10\uff10\uff10\uff11",
    "\u00a0CHILD-REF-0001\u3000", "\u202eCHILD-REF-0001\u202c", "CHILD\u00ad-REF-0001", "\u200fCHILD-REF-0001\u2069",
])
def test_one_reference_written_many_ways_is_one_pseudonym(raw):
    assert normalise_ref(raw) == "CHILD-REF-0001"
    assert pseudonymise([raw], KEY) == pseudonymise(["CHILD-REF-0001"], KEY)


def test_different_references_stay_different():
    a, b, c = pseudonymise(["CHILD-1", "CHILD-2", "child-1"], KEY)
    assert len({a, b, c}) == 3


def test_normalising_is_idempotent_and_leaves_pseudonyms_and_controls_alone():
    pk = pseudonymise(["x"], KEY)[0]
    assert normalise_ref(pk) == pk and pseudonymise([pk], KEY) == pseudonymise([normalise_ref(pk)], KEY)
    for text in ("R\u00e9\u4e2d", "\u00c5ngstr\u00f6m", "R\x001"):
        assert normalise_ref(normalise_ref(text)) == normalise_ref(text)
    assert normalise_ref("R\x001") == "R\x001"  # ingest rejects it (bad_id), it is not silently changed
    assert all(ch not in normalise_ref("a" + ZERO_WIDTH + "b") for ch in ZERO_WIDTH)
