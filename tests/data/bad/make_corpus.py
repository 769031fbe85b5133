"""Write the bad-input corpus files of ``cases.json`` (run from the repo root:
``.venv/bin/python tests/data/bad/make_corpus.py``). The files are committed; this script
documents exactly how each was made (byte-level problems cannot be seen in an editor).
The expected outcomes in ``cases.json`` were written by hand from the ingest rules,
not recorded from a run.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

REPORT_HEADER = ["report_id", "observed_at", "lat", "lon", "source", "kind", "episode_id", "person_ref", "grading"]
EPISODE_HEADER = ["episode_id", "person_ref", "missing_from", "returned_at", "placement_type",
                  "found_lat", "found_lon", "risk_level"]


def report(**kw) -> dict:
    row = {"report_id": "R1", "observed_at": "2025-03-01T22:15:00+11:00", "lat": "-33.8700", "lon": "151.2070",
           "source": "police", "kind": "sighting", "episode_id": "E1", "person_ref": "CHILD-REF-0001",
           "grading": "B2"}
    row.update(kw)
    return row


def episode(**kw) -> dict:
    row = {"episode_id": "E1", "person_ref": "CHILD-REF-0001", "missing_from": "2025-03-01T21:00:00+11:00",
           "returned_at": "2025-03-02T09:00:00+11:00", "placement_type": "residential",
           "found_lat": "-33.8700", "found_lon": "151.2070", "risk_level": "high"}
    row.update(kw)
    return row


def csv_text(header: list[str], rows: list[dict], delimiter: str = ",", newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return buf.getvalue()


def write(name: str, data: str | bytes) -> None:
    (HERE / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def reports(name: str, rows: list[dict], **kw) -> None:
    write(name, csv_text(REPORT_HEADER, rows, **kw))


def write_large(folder: Path) -> None:
    """Files too big to commit, written by the test into its temporary folder."""
    text = csv_text(REPORT_HEADER, [report(), report(report_id="R2", grading="x" * 1_000_000)])
    (folder / "long_field.csv").write_text(text, encoding="utf-8")
    # issue 12 item 10: 200,000 columns (a 1.5 MB header line), refused from a bounded read
    wide = ",".join(REPORT_HEADER + [f"c{i}" for i in range(200_000)])
    (folder / "wide_header.csv").write_text(wide + "\n" + ",".join(report().values()) + "\n", encoding="utf-8")


def main() -> None:
    # ---- coordinates
    reports("lat_out_of_range.csv", [report(), report(report_id="R2", lat="-95.1"), report(report_id="R3", lat="91")])
    reports("lon_out_of_range.csv", [report(), report(report_id="R2", lon="190"), report(report_id="R3", lon="-181")])
    reports("swapped_latlon.csv", [report(report_id=f"R{i}", lat=f"{151.2 + i / 1000:.4f}", lon="-33.8700")
                                   for i in range(1, 4)])
    reports("swapped_some_rows.csv", [report(), report(report_id="R2", lat="151.2070", lon="-33.8700")])
    reports("swapped_latlon_study_area.csv", [report(report_id=f"R{i}", lat=f"{30.5 + i / 1000:.4f}", lon="-19.5000")
                                              for i in range(1, 4)])
    write("boundary_lon_below_90.geojson", json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "test area"},
        "geometry": {"type": "Polygon", "coordinates": [[[30.0, -20.0], [31.0, -20.0], [31.0, -19.0],
                                                         [30.0, -19.0], [30.0, -20.0]]]}}]}))
    write("boundary_sydney.geojson", json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "test area"},
        "geometry": {"type": "Polygon", "coordinates": [[[151.15, -33.90], [151.25, -33.90], [151.25, -33.85],
                                                         [151.15, -33.85], [151.15, -33.90]]]}}]}))
    reports("outside_study_area.csv", [report(), report(report_id="R2", lat="-33.7000", lon="151.0000")])
    reports("null_island.csv", [report(), report(report_id="R2", lat="0", lon="0"),
                                report(report_id="R3", lat="0.0", lon="-0.0")])
    reports("nan_inf.csv", [report(report_id="R1", lat="nan"), report(report_id="R2", lon="inf"),
                            report(report_id="R3", lat="-Infinity"), report(report_id="R4", lat="NaN")])
    reports("decimal_comma.csv", [report(), report(report_id="R2", lat="-33,8700")])
    reports("empty_strings.csv", [report(report_id=""), report(report_id="R2", observed_at=""),
                                  report(report_id="R3", lat=""), report(report_id="R4", lon="   ")])
    # ---- timestamps
    reports("unparseable_timestamps.csv", [
        report(report_id="R1", observed_at="not a time"), report(report_id="R2", observed_at="2025-13-01"),
        report(report_id="R3", observed_at="2025-02-30 10:00"), report(report_id="R4", observed_at="03/04/25 10:00"),
        report(report_id="R5", observed_at="32/13/2025"), report(report_id="R6", observed_at="2025-03-01 10:00 AEDT")])
    reports("slash_dates.csv", [
        report(report_id="R1", observed_at="03/04/2025 10:00"), report(report_id="R2", observed_at="3/4/2025"),
        report(report_id="R3", observed_at="25/04/2025"), report(report_id="R4", observed_at="2025-03-01T10:00:00+11:00")])
    reports("slash_dates_impossible_dmy.csv", [report(report_id="R1", observed_at="31/02/2025"),
                                               report(report_id="R2", observed_at="01.03.2025 09:30")])
    reports("timezone_offsets.csv", [
        report(report_id="R1", observed_at="2025-03-01T11:15:00Z"),
        report(report_id="R2", observed_at="2025-03-01T22:15:00+11:00"),
        report(report_id="R3", observed_at="2025-03-01T16:45:00+05:30"),
        report(report_id="R4", observed_at="2025-03-01 11:15:00+00"),
        report(report_id="R5", observed_at="2025-03-01T06:15:00-05:00")])
    reports("naive_local_time.csv", [report(observed_at="2025-05-01 10:00")])
    reports("excel_serial_dates.csv", [report(report_id="R1", observed_at="45717.5"),
                                       report(report_id="R2", observed_at="45717")])
    reports("future_timestamps.csv", [report(report_id="R1", observed_at="2025-06-02T00:00:00Z"),
                                      report(report_id="R2", observed_at="2025-06-01T00:10:00Z"),
                                      report(report_id="R3", observed_at="2099-01-01")])
    reports("implausible_timestamps.csv", [report(report_id="R1", observed_at="1899-12-31"),
                                           report(report_id="R2", observed_at="0003-04-25"),
                                           report(report_id="R3", observed_at="1970-01-02T00:00:00Z")])
    write("returned_before_missing.csv", csv_text(EPISODE_HEADER, [
        episode(), episode(episode_id="E2", returned_at="2025-02-28T09:00:00+11:00")]))
    write("absurd_duration.csv", csv_text(EPISODE_HEADER, [
        episode(episode_id="E1", missing_from="2024-01-01T00:00:00Z", returned_at="2024-12-31T00:00:00Z"),
        episode(episode_id="E2", missing_from="2024-01-01T00:00:00Z", returned_at="2025-01-05T00:00:00Z")]))
    # ---- ids and enums
    reports("conflicting_duplicate_id.csv", [report(report_id="A", kind="sighting"),
                                             report(report_id="A", kind="found"), report(report_id="B")])
    reports("identical_duplicate_rows.csv", [report(), report(), report(report_id="R2")])
    reports("unknown_enums.csv", [report(report_id="R1", source="martians"), report(report_id="R2", kind="rumour"),
                                  report(report_id="R3", source="Police Officer")])
    reports("enum_case_whitespace.csv", [
        report(report_id="R1", source=" Police ", kind="SIGHTING"),
        report(report_id="R2", source="Child Protection", kind="RHI Disclosure"),
        report(report_id="R3", source="youth-service", kind="Adult of Concern"),
        report(report_id="R4", source="RETURN_INTERVIEW", kind="found ")])
    # ---- encodings and CSV structure
    good = csv_text(REPORT_HEADER, [report(), report(report_id="R2", grading="Caf\u00e9")])
    write("non_utf8_latin1.csv", good.encode("latin-1"))
    write("non_utf8_truncated_char.csv", csv_text(REPORT_HEADER, [report(grading="")]).encode("utf-8") + b"\xe2\x82")
    write("bom.csv", b"\xef\xbb\xbf" + csv_text(REPORT_HEADER, [report()]).encode("utf-8"))
    write("bom_crlf_excel.csv", b"\xef\xbb\xbf" + csv_text(
        ["Report ID", "Observed At", "Lat", "Lon", "Source", "Kind"],
        [{"Report ID": "R1", "Observed At": "2025-03-01 22:15", "Lat": "-33.87", "Lon": "151.207",
          "Source": "Police", "Kind": "Sighting"}], newline="\r\n").encode("utf-8"))
    reports("semicolon_delimited.csv", [report()], delimiter=";")
    write("tab_delimited.tsv", csv_text(REPORT_HEADER, [report()], delimiter="\t"))
    write("duplicate_header.csv", "report_id,observed_at,lat,lon,lat\nR1,2025-03-01T22:15:00+11:00,-33.87,151.2,-33.88\n")
    write("duplicate_header_case.csv", "report_id,observed_at,Lat,lon,lat \nR1,2025-03-01T22:15:00+11:00,-33.87,151.2,-33.88\n")
    write("empty.csv", b"")
    write("blank_lines_only.csv", "\n\n  \n")
    write("header_only.csv", ",".join(REPORT_HEADER) + "\n")
    write("ragged_row.csv", csv_text(REPORT_HEADER, [report()]) + "R2,2025-03-01,-33.87,151.2,police,sighting,E1,X,B2,extra\n")
    write("unterminated_quote.csv", csv_text(REPORT_HEADER, [report()]) + 'R2,2025-03-01,-33.87,151.2,police,sighting,E1,X,"B2\n')
    write("quoted_commas_newlines.csv", csv_text(REPORT_HEADER, [report(grading="B2, per \"intel\"\nsecond line")]))
    write("hash_first_char.csv", csv_text(REPORT_HEADER, [report(report_id="#R1")]))
    reports("unicode_values.csv", [report(report_id="R-\u00e9\u4e2d\U0001F600", episode_id="\u05e9\u05dc\u05d5\u05dd",
                                          person_ref="CHILD-\u00fc\u00df")])
    reports("whitespace_padded.csv", [report(report_id="  R1 ", lat=" -33.8700 ", lon="\t151.2070", kind=" sighting")])
    reports("long_id.csv", [report(report_id="R" * 1001)])
    write("missing_required_column.csv", csv_text(["report_id", "observed_at", "lat"],
                                                  [{"report_id": "R1", "observed_at": "2025-03-01", "lat": "-33.8"}]))
    reports_with_name = REPORT_HEADER + ["child_name"]
    write("identifying_column.csv", csv_text(reports_with_name, [report(child_name="Jane Citizen")]))
    write("junk_columns.csv", csv_text(REPORT_HEADER + ["officer_shoe_size", ""], [report(officer_shoe_size="9")]))
    write("not_really.xlsx", b"PK\x03\x04 not really a workbook")
    # ---- Parquet
    table = pa.table({
        "report_id": ["R1", "R2", "R3", "R4"],
        "observed_at": ["2025-03-01T22:15:00+11:00", "2025-03-01T22:15:00+11:00", "03/04/2025", "45717.5"],
        "lat": [-33.87, float("nan"), -33.87, -95.0],
        "lon": [151.207, 151.2, float("inf"), 151.2],
        "source": ["police", "police", "police", "police"],
        "kind": ["sighting", "sighting", "sighting", "sighting"],
    })
    pq.write_table(table, HERE / "bad_values.parquet")
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    write("truncated.parquet", data[: len(data) // 2])
    write("csv_named_parquet.parquet", csv_text(REPORT_HEADER, [report()]))
    write("empty.parquet", b"")
    # ---- issue 12 item 9: values must not change silently
    pq.write_table(pa.table({"report_id": ["R1"], "observed_at": ["2025-03-01T22:15:00+11:00"], "lat": [-33.87],
                             "Lat": [-34.0], "lon": [151.2]}), HERE / "duplicate_header_case.parquet")
    reports("utc_offset_out_of_range.csv", [
        report(report_id="R1", observed_at="2025-03-01T22:15:00+14:00"),
        report(report_id="R2", observed_at="2025-03-01T22:15:00+15:00"),
        report(report_id="R3", observed_at="2025-03-01T22:15:00-14:30"),
        report(report_id="R4", observed_at="2025-03-01 22:15:00+9900"),
        report(report_id="R5", observed_at="2025-03-01T22:15:00-12:00")])
    reports("double_sign_numbers.csv", [
        report(report_id="R1", lat="+-33.76"), report(report_id="R2", lon="-+151.2"),
        report(report_id="R3", lat="-33_870"), report(report_id="R4", lat="0x21"),
        report(report_id="R5", lat="-3.387e1"), report(report_id="R6", lon="+151.2070")])
    write("fractional_hex_ages.csv", csv_text(EPISODE_HEADER + ["age_years"], [
        episode(episode_id="E1", age_years="15.5"), episode(episode_id="E2", age_years="0x0F"),
        episode(episode_id="E3", age_years="1e1"), episode(episode_id="E4", age_years="15.0"),
        episode(episode_id="E5", age_years=" 14 "), episode(episode_id="E6", age_years="0b1111")]))
    reports("control_chars_in_ids.csv", [
        report(report_id="R\x001"), report(report_id="R2", person_ref="CHILD\x07REF"),
        report(report_id="R3", episode_id="E\x1b[31m1"), report(report_id="R4\u0085"), report(report_id="R5")])
    reports("zero_width_ids.csv", [
        report(report_id="R\u200b1", episode_id="\ufeffE1", person_ref="\uff23\uff28\uff29\uff2c\uff24-REF-0001"),
        report(report_id="R1\u2060", episode_id="E1", person_ref="CHILD-REF-0001\u200d"),
        report(report_id="\u200b", person_ref="P")])
    reports("date_only_times.csv", [
        report(report_id="R1", observed_at="2025-03-01"), report(report_id="R2", observed_at="2025-03-01T10:00"),
        report(report_id="R3", observed_at="2025/03/02")])
    reports("dst_gap_and_fold.csv", [
        report(report_id="R1", observed_at="2024-10-06 02:30"),   # Sydney skips 02:00-03:00: no such time
        report(report_id="R2", observed_at="2025-04-06 02:30"),   # Sydney repeats 02:00-03:00: twice
        report(report_id="R3", observed_at="2025-04-06T02:30:00+11:00"),  # an offset says which: not flagged
        report(report_id="R4", observed_at="2024-10-06 03:30")])
    write("equity_free_text.csv", csv_text(EPISODE_HEADER + ["gender", "disability", "lgbtqia"], [
        episode(episode_id="E1", gender="jane doe (dob 04/03/2011)", disability="see notes", lgbtqia=""),
        episode(episode_id="E2", gender="Non-Binary", disability="Y", lgbtqia="prefer not to say"),
        episode(episode_id="E3", gender="M", disability="not stated", lgbtqia="<b>yes</b>")]))
    reports_with_email = REPORT_HEADER + ["E-Mail"]
    write("identifying_column_punctuation.csv", csv_text(reports_with_email, [report(**{"E-Mail": "a@b.c"})]))


if __name__ == "__main__":
    main()
