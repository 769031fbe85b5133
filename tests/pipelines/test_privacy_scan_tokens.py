"""Issue 12 item 4: the privacy scan looks at text exactly as rendered.

A pseudonym or store id must be found next to punctuation or an underscore, HTML-escaped,
JSON-escaped, URL-escaped, upper-cased, or with its "_" turned into a space (how a report
label rendered ``pk_…`` as ``pk …`` and slipped past), whether the ids are looked for by
prefix (few ids) or by full tokenisation (many), in memory or in the store.
"""

from __future__ import annotations

import json

import pytest

from pipelines.privacy_scan import _candidate_tokens, _Forbidden, rendered_text, scan_outputs

PK = "pk_0123456789abcdef0123456789abcdef"
REF = "REF-ABC-0042"

RENDERINGS = {
    "plain": f"<td>{PK}</td>",
    "underscores_around": f"Gender: x_{PK}_y",
    "underscore_as_space": f"<td>Gender: {PK.replace('_', ' ')}</td>",
    "underscore_as_hyphen": f"label-{PK.replace('_', '-')}",
    "upper_case": f"<td>{PK.upper()}</td>",
    "punctuation": f"({PK}); [{PK}]. '{PK}'!",
    "html_escaped_underscore": f"<td>{PK.replace('_', '&#95;')}</td>",
    "html_named_reference": f"<td>{PK.replace('_', '&lowbar;')}</td>",
    "json_escaped": json.dumps({"label": f"<b>{PK}</b>"}).replace("<", "\\u003c").replace(">", "\\u003e"),
    "json_escaped_underscore": json.dumps({"g": PK}).replace("_", "\\u005f"),
    "url_escaped": f'<a href="?g={PK.replace("_", "%5F")}">x</a>',
}


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_a_pseudonym_is_found_however_it_is_rendered(tmp_path, name):
    (tmp_path / "report.html").write_text(f"<html><body>{RENDERINGS[name]}</body></html>", encoding="utf-8")
    findings = scan_outputs(tmp_path, None, set(), None)
    assert [f.kind for f in findings] == ["person_ref"], findings


STORE_ID_RENDERINGS = {
    "plain": f"<td>{REF}</td>",
    "glued_with_underscores": f"cell_{REF}_2025",
    "glued_with_hyphens": f"x-{REF}-y",
    "html_escaped": f"<td>{REF.replace('-', '&#45;')}</td>",
    "json_escaped": json.dumps({"a": f"<i>{REF}</i>"}).replace("<", "\\u003c").replace(">", "\\u003e"),
}


@pytest.mark.parametrize("many_prefixes", [False, True], ids=["by_prefix", "by_tokenising"])
@pytest.mark.parametrize("name", sorted(STORE_ID_RENDERINGS))
def test_a_store_id_is_found_however_it_is_rendered(tmp_path, name, many_prefixes):
    forbidden = {REF} | ({f"{chr(65 + i % 26)}{chr(65 + i // 26)}Z-{i}" for i in range(200)} if many_prefixes else set())
    assert (_Forbidden.build(forbidden).prefixes is None) == many_prefixes
    (tmp_path / "patrol_plan.csv").write_text(f"rank,label\n1,{STORE_ID_RENDERINGS[name]}\n", encoding="utf-8")
    findings = scan_outputs(tmp_path, None, forbidden, None)
    assert [(f.kind, f.detail.endswith("reference from the store")) for f in findings] == [("person_ref", True)]


@pytest.mark.parametrize("text", [
    "napkin spk_0123456789abcdef parking", "pk_ only", "pkg 12345678", "REF-ABC-00421", "XREF-ABC-0042",
    "<td>Gender: non binary</td>", "pk-abc",
])
def test_lookalikes_are_not_findings(tmp_path, text):
    (tmp_path / "report.html").write_text(f"<p>{text}</p>", encoding="utf-8")
    assert scan_outputs(tmp_path, None, {REF}, None) == []


def test_rendered_text_keeps_the_original_and_adds_decoded_stretches():
    text = "a&#95;b \\u005f %5F"
    assert rendered_text(text).split("\n") == [text, "a_b _ _"]
    assert rendered_text("plain") == "plain"
    far = "x" * 5000 + " pk&#95;0123456789abcdef " + "y" * 5000 + " tail"
    views = rendered_text(far).split("\n")
    assert views[0] == far and len(views) == 2 and "pk_0123456789abcdef" in views[1] and len(views[1]) < 2500
    glued = "q" * 300 + "&#95;" + "z" * 300
    assert rendered_text(glued).split("\n")[1] == "q" * 300 + "_" + "z" * 300  # widened to the whole token
    assert rendered_text("a &amp; b \\u003c %20") == "a &amp; b \\u003c %20"  # no token character escaped"


def test_glued_tokens_are_cut_at_separators_in_both_tokenisers():
    text = f"prefix_{PK}_suffix and more_{REF}"
    assert PK in _candidate_tokens(text, frozenset({"pk_"}), _Forbidden.build([PK]).rx)
    assert REF in _candidate_tokens(text, None, _Forbidden.build([REF]).rx)


def test_store_ids_glued_or_escaped_are_found_through_the_store(store, key, tmp_path):
    from pipelines.ingest import ingest_file
    from pipelines.privacy_scan import store_forbidden
    from tests.conftest import REPORT_HEADER, report, write_csv
    ingest_file(store, "reports", write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(report_id=REF)]), key)
    pseudonym = store.con.execute("select person_key from location_reports").fetchone()[0]
    out = tmp_path / "week"
    out.mkdir()
    (out / "report.html").write_text(f"<td>row_{REF}_x</td><td>{pseudonym.replace('_', '&#95;')}</td>")
    findings = scan_outputs(out, None, store_forbidden(store), None)
    assert len(findings) == 2 and {f.kind for f in findings} == {"person_ref"}
