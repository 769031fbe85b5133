"""The weekly benchmark's note on the run's own privacy scan (a withheld folder must be visible in RESULTS.md)."""

from benchmarks.figures import _privacy_note


def test_findings_are_counted_and_named_by_file_and_kind():
    meta = {"weekly": {"privacy": {"findings": [
        {"file": "patrol_map.html", "kind": "placement_coordinate"},
        {"file": "patrol_map.html", "kind": "placement_coordinate"},
        {"file": "report.html", "kind": "small_count"}]}}}
    note = _privacy_note(meta)
    assert "3 findings" in note and "withheld" in note
    assert "patrol_map.html: placement_coordinate" in note and "report.html: small_count" in note


def test_no_findings_says_published():
    assert "no findings" in _privacy_note({"weekly": {"privacy": {"findings": []}}})
    assert "no findings" in _privacy_note({})
