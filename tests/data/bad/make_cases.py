"""Write ``cases.json``: the expected outcome of every file of the bad-input corpus.

Run from the repo root: ``.venv/bin/python tests/data/bad/make_cases.py``. Expectations are
written by hand from the ingest rules (README "What it refuses and why"), never recorded
from a run; ``tests/pipelines/test_bad_inputs.py`` checks them.
"""
from pathlib import Path

import json
SWAP_A = ("swapped_latlon.csv: refused, lat and lon look swapped: all 3 located row(s) fall outside the valid latitude "
          "range (-90 to 90) but would be inside it with lat and lon exchanged (e.g. row 1: lat=151.201, lon=-33.87). "
          "Swap the two columns and ingest again.")
SWAP_B = ("swapped_latlon_study_area.csv: refused, lat and lon look swapped: all 3 located row(s) fall outside the "
          "study area but would be inside it with lat and lon exchanged (e.g. row 1: lat=30.501, lon=-19.5). "
          "Swap the two columns and ingest again.")
AMBIG_HINT = ("3 row(s) have day/month dates such as 03/04/2025 whose order is unknown; re-run with --date-order dmy "
              "(day first) or --date-order mdy (month first).")
#: issue 13 item 8: 25/04/2025 settles the file's order (the other two fit both orders).
ORDER_HINT = ("{n} row(s) with day/month dates were rejected (nothing was changed); 1 of them can only be day-first "
              "(row 3 observed_at=25/04/2025) and none can only be month-first, so the file's dates fit only one "
              "order: re-run with --date-order dmy.")
EXCEL_HINT = ("2 row(s) have spreadsheet day numbers (e.g. 45717.5) as dates; export dates as ISO 8601 text, "
              "or re-run with --excel-dates to convert them.")
UTC = "select report_id, strftime(timezone('UTC', observed_at), '%Y-%m-%d %H:%M') from location_reports order by 1"

def ok(read, accepted, rejected=0, reasons=None, duplicate=0, updated=0, **extra):
    e = {"read": read, "accepted": accepted, "updated": updated, "duplicate": duplicate, "rejected": rejected,
         "reasons": reasons or {}}
    e.update(extra)
    return e

C = []
def case(id, file, what, expect=None, refused=None, kind="reports", **kw):
    c = {"id": id, "kind": kind, "file": file, "what": what}
    c.update(kw)
    if refused is not None:
        c["refused"] = refused
    else:
        c["expect"] = expect
    C.append(c)

# coordinates
case("lat_out_of_range", "lat_out_of_range.csv", "latitudes beyond +-90", ok(3, 1, 2, {"lat_out_of_range": 2}))
case("lon_out_of_range", "lon_out_of_range.csv", "longitudes beyond +-180", ok(3, 1, 2, {"lon_out_of_range": 2}))
case("swapped_latlon", "swapped_latlon.csv", "every row has lat/lon exchanged (|lat| > 90), no study area", refused=SWAP_A)
case("swapped_latlon_study_area", "swapped_latlon_study_area.csv",
     "every row outside the study area but inside it when exchanged (both |values| <= 90)", refused=SWAP_B,
     boundary="boundary_lon_below_90.geojson")
case("swapped_some_rows", "swapped_some_rows.csv", "only some rows swapped: judged row by row, not refused",
     ok(2, 1, 1, {"lat_out_of_range": 1}))
case("outside_study_area", "outside_study_area.csv", "a point outside the boundary",
     ok(2, 1, 1, {"outside_study_area": 1}), boundary="boundary_sydney.geojson")
case("null_island", "null_island.csv", "0,0 (and 0.0,-0.0)", ok(3, 1, 2, {"null_island": 2}))
case("nan_inf", "nan_inf.csv", "NaN / inf / -Infinity coordinates",
     ok(4, 0, 4, {"bad_number:lat": 3, "bad_number:lon": 1}))
case("decimal_comma", "decimal_comma.csv", "a decimal comma (-33,8700) in a quoted field", ok(2, 1, 1, {"bad_number:lat": 1}))
case("empty_strings", "empty_strings.csv", "empty and blank required fields",
     ok(4, 0, 4, {"missing_required:lat": 1, "missing_required:lon": 1, "missing_required:observed_at": 1,
                  "missing_required:report_id": 1}))
# timestamps
case("unparseable_timestamps", "unparseable_timestamps.csv",
     "text, month 13, 30 February, two-digit year, impossible d/m, zone abbreviation", ok(6, 0, 6, {"bad_timestamp": 6}))
case("ambiguous_dates_default", "slash_dates.csv", "d/m/y dates under the default (ISO only) order",
     ok(4, 1, 3, {"ambiguous_date": 3}, hints=[ORDER_HINT.format(n=3)]))
case("ambiguous_dates_dmy", "slash_dates.csv", "the same file read day-first (a date without a time is kept, flagged)",
     ok(4, 4, flagged={"date_without_time": 2},
        stored={"sql": UTC, "rows": [["R1", "2025-04-02 23:00"], ["R2", "2025-04-02 13:00"],
                                     ["R3", "2025-04-24 14:00"], ["R4", "2025-02-28 23:00"]]}),
     options={"date_order": "dmy"})
case("ambiguous_dates_mdy", "slash_dates.csv", "the same file read month-first: 25/04/2025 is impossible",
     ok(4, 3, 1, {"bad_timestamp": 1}, hints=[ORDER_HINT.format(n=1)], flagged={"date_without_time": 1},
        stored={"sql": UTC, "rows": [["R1", "2025-03-03 23:00"], ["R2", "2025-03-03 13:00"],
                                     ["R4", "2025-02-28 23:00"]]}),
     options={"date_order": "mdy"})
case("impossible_dmy", "slash_dates_impossible_dmy.csv", "31/02 is impossible day-first; dotted dates work",
     ok(2, 1, 1, {"bad_timestamp": 1}, stored={"sql": UTC, "rows": [["R2", "2025-02-28 22:30"]]}),
     options={"date_order": "dmy"})
case("timezone_offsets", "timezone_offsets.csv", "Z, +11:00, +05:30, +00, -05:00: one instant, stored in UTC",
     ok(5, 5, stored={"sql": "select distinct strftime(timezone('UTC', observed_at), '%Y-%m-%d %H:%M') from location_reports",
                      "rows": [["2025-03-01 11:15"]]}))
case("naive_local_time", "naive_local_time.csv", "a naive time is local (Australia/Sydney, UTC+10 in May)",
     ok(1, 1, stored={"sql": UTC, "rows": [["R1", "2025-05-01 00:00"]]}))
case("excel_serial_dates", "excel_serial_dates.csv", "spreadsheet day numbers are refused by default",
     ok(2, 0, 2, {"excel_serial_date": 2}, hints=[EXCEL_HINT]))
case("excel_serial_dates_converted", "excel_serial_dates.csv", "--excel-dates converts them (local time)",
     ok(2, 2, stored={"sql": UTC, "rows": [["R1", "2025-03-01 01:00"], ["R2", "2025-02-28 13:00"]]}),
     options={"excel_dates": True})
case("future_timestamps", "future_timestamps.csv", "after now + 15 min (now = 2025-06-01T00:00Z)",
     ok(3, 1, 2, {"future_timestamp": 2}))
case("implausible_timestamps", "implausible_timestamps.csv", "before 1970 (a mis-read date)",
     ok(3, 1, 2, {"implausible_timestamp": 2}))
case("returned_before_missing", "returned_before_missing.csv", "returned before going missing",
     ok(2, 1, 1, {"returned_before_missing": 1}), kind="episodes")
case("absurd_duration", "absurd_duration.csv", "returned more than 365 days after going missing",
     ok(2, 1, 1, {"absurd_duration": 1}), kind="episodes")
# ids and enums
case("conflicting_duplicate_id", "conflicting_duplicate_id.csv", "same id, different content in one file",
     ok(3, 1, 2, {"conflicting_duplicate_id": 2}))
case("identical_duplicate_rows", "identical_duplicate_rows.csv", "the same row twice is a duplicate", ok(3, 2, duplicate=1))
case("unknown_enums", "unknown_enums.csv", "values outside the contract after normalisation",
     ok(3, 0, 3, {"unknown_enum:source": 2, "unknown_enum:kind": 1}))
case("enum_case_whitespace", "enum_case_whitespace.csv", "case, spaces, hyphens normalised before the enum check",
     ok(4, 4, stored={"sql": "select report_id, source, kind from location_reports order by 1",
                      "rows": [["R1", "police", "sighting"], ["R2", "child_protection", "rhi_disclosure"],
                               ["R3", "youth_service", "adult_of_concern"], ["R4", "return_interview", "found"]]}))
# encodings and structure
case("non_utf8_latin1", "non_utf8_latin1.csv", "a Latin-1 byte (é) in row 2",
     refused="non_utf8_latin1.csv: not UTF-8 text: byte 0xe9 at offset 240 (line 3) is not valid UTF-8; save the file "
             "as UTF-8 (in Excel: 'CSV UTF-8') and ingest it again.")
case("non_utf8_truncated_char", "non_utf8_truncated_char.csv", "the file ends inside a multi-byte character",
     refused="non_utf8_truncated_char.csv: not UTF-8 text: byte 0xe2 at offset 154 (line 3) is not valid UTF-8; save "
             "the file as UTF-8 (in Excel: 'CSV UTF-8') and ingest it again.")
case("bom", "bom.csv", "UTF-8 byte-order mark: accepted", ok(1, 1))
case("bom_crlf_excel", "bom_crlf_excel.csv", "Excel 'CSV UTF-8': BOM, CRLF, Title Case headers with spaces",
     ok(1, 1, stored={"sql": "select report_id, source, kind from location_reports", "rows": [["R1", "police", "sighting"]]}))
case("semicolon_delimited", "semicolon_delimited.csv", "semicolons: refused with a hint (never sniffed)",
     refused="semicolon_delimited.csv: only one column was found ('report_id;observed_at;lat;lon;source;kind;episode_id;"
             "person_'); the file looks semicolon-delimited. Save it as comma-separated CSV.")
case("tab_delimited", "tab_delimited.tsv", "a .tsv file is read tab-delimited", ok(1, 1))
case("duplicate_header", "duplicate_header.csv", "a column twice",
     refused="duplicate_header.csv: duplicate column 'lat' in the header.")
case("duplicate_header_case", "duplicate_header_case.csv", "'Lat' and 'lat ' are the same column",
     refused="duplicate_header_case.csv: duplicate column 'lat' in the header.")
case("empty_file", "empty.csv", "0 bytes",
     refused="empty.csv: empty file; nothing to ingest (a CSV needs at least a header row).")
case("blank_lines_only", "blank_lines_only.csv", "only blank lines",
     refused="blank_lines_only.csv: empty file; nothing to ingest (a CSV needs at least a header row).")
case("header_only", "header_only.csv", "a header and no rows: an empty batch is recorded", ok(0, 0))
case("ragged_row", "ragged_row.csv", "a row with an extra field",
     refused="ragged_row.csv: malformed CSV at line 3: Expected Number of Columns: 9 Found: 10; fix that line "
             "(quote fields that contain commas) and ingest again.")
case("unterminated_quote", "unterminated_quote.csv", "an opening quote never closed",
     refused="unterminated_quote.csv: malformed CSV at line 3: Value with unterminated quote found; fix that line "
             "(quote fields that contain commas) and ingest again.")
case("quoted_commas_newlines", "quoted_commas_newlines.csv", "commas, quotes and a newline inside a quoted field",
     ok(1, 1, stored={"sql": "select grading from location_reports", "rows": [["B2, per \"intel\"\nsecond line"]]}))
case("hash_first_char", "hash_first_char.csv", "a value starting with # is data, not a comment", ok(1, 1))
case("unicode_values", "unicode_values.csv", "accents, CJK, emoji, Hebrew in ids", ok(1, 1,
     stored={"sql": "select report_id, episode_id from location_reports",
             "rows": [["R-\u00e9\u4e2d\U0001F600", "\u05e9\u05dc\u05d5\u05dd"]]}))
case("whitespace_padded", "whitespace_padded.csv", "spaces and tabs around values are trimmed",
     ok(1, 1, stored={"sql": "select report_id, lat, lon, kind from location_reports",
                      "rows": [["R1", -33.87, 151.207, "sighting"]]}))
case("long_field", "long_field.csv", "a 1 MB field (limit 1000 characters)",
     ok(2, 1, 1, {"field_too_long:grading": 1},
        stored={"sql": "select detail, length(row_json) < 3000 from quarantine",
                "rows": [["1000000 characters (limit 1000)", True]]}), generated=True)
case("long_id", "long_id.csv", "a 1001-character id", ok(1, 0, 1, {"field_too_long:report_id": 1}))
case("missing_required_column", "missing_required_column.csv", "no lon column",
     refused="missing_required_column.csv: missing required column(s) lon for reports; found: lat, observed_at, report_id.")
case("identifying_column", "identifying_column.csv", "a child_name column",
     refused="identifying_column.csv: refused, it has identifying columns child_name; remove them, or re-run with "
             "--drop-identifying-columns to drop them before anything is stored.")
case("junk_columns", "junk_columns.csv", "columns outside the contract (and an unnamed one) are ignored",
     ok(1, 1, ignored_columns=["_unnamed_11", "officer_shoe_size"]))
case("unsupported_type", "not_really.xlsx", "a spreadsheet",
     refused="not_really.xlsx: unsupported file type .xlsx; use CSV (also .csv.gz), Parquet, GeoJSON, GeoPackage or a zipped shapefile.")
case("parquet_bad_values", "bad_values.parquet", "NaN, d/m/y and Excel dates in typed Parquet columns (the timestamp rule fires before inf / lat -95)",
     ok(4, 1, 3, {"ambiguous_date": 1, "bad_number:lat": 1, "excel_serial_date": 1},
        hints=[AMBIG_HINT.replace("3 row(s)", "1 row(s)"), EXCEL_HINT.replace("2 row(s)", "1 row(s)")]))
case("truncated_parquet", "truncated.parquet", "the first half of a Parquet file",
     refused="truncated.parquet: cannot be read (truncated or corrupt Parquet: no PAR1 footer); export it again.")
case("csv_named_parquet", "csv_named_parquet.parquet", "CSV text with a .parquet name",
     refused="csv_named_parquet.parquet: cannot be read (not a Parquet file: it does not start with PAR1).")
case("empty_parquet", "empty.parquet", "0 bytes", refused="empty.parquet: empty file; nothing to ingest.")
# ---- issue 12: values never change silently (item 9), equity vocabularies (4), wide headers (10), names (11)
case("duplicate_header_case_parquet", "duplicate_header_case.parquet", "Parquet columns 'lat' and 'Lat' are the same column",
     refused="duplicate_header_case.parquet: duplicate column 'lat' in the header.")
case("utc_offset_out_of_range", "utc_offset_out_of_range.csv", "offsets beyond +-14:00 do not exist",
     ok(5, 2, 3, {"bad_utc_offset": 3}))
case("double_sign_numbers", "double_sign_numbers.csv", "'+-33.76', '-+151.2', digit separators and hex are not numbers",
     ok(6, 2, 4, {"bad_number:lat": 3, "bad_number:lon": 1},
        stored={"sql": "select report_id, lat, lon from location_reports order by 1",
                "rows": [["R5", -33.87, 151.207], ["R6", -33.87, 151.207]]}))
case("fractional_hex_ages", "fractional_hex_ages.csv", "ages 15.5, 0x0F, 1e1, 0b1111 are not whole years; 15.0 and ' 14 ' are",
     ok(6, 2, 4, {"bad_number:age_years": 4},
        stored={"sql": "select episode_id, age_years from episodes order by 1", "rows": [["E4", 15], ["E5", 14]]}),
     kind="episodes")
case("control_chars_in_ids", "control_chars_in_ids.csv", "NUL, BEL, ESC and U+0085 in identifiers",
     ok(5, 1, 4, {"bad_id:report_id": 2, "bad_id:person_ref": 1, "bad_id:episode_id": 1},
        stored={"sql": "select detail from quarantine group by detail",
                "rows": [["a control character in the identifier"]]}))
case("zero_width_ids", "zero_width_ids.csv",
     "ids NFKC-normalised with zero-width characters removed: one report, one young person; an id of only U+200B is missing",
     ok(3, 1, 1, {"missing_required:report_id": 1}, duplicate=1,
        stored={"sql": "select report_id, episode_id, length(person_key) from location_reports",
                "rows": [["R1", "E1", 35]]}))
case("date_only_times", "date_only_times.csv",
     "a date without a clock time is kept at local midnight, flagged, and left out of hour-of-week windows",
     ok(3, 3, flagged={"date_without_time": 2},
        stored={"sql": "select report_id, time_known from location_reports order by report_id",
                "rows": [["R1", False], ["R2", True], ["R3", False]]}))
case("dst_gap_and_fold", "dst_gap_and_fold.csv",
     "a local time skipped by daylight saving is rejected; one repeated is kept and flagged",
     ok(4, 3, 1, {"nonexistent_local_time": 1}, flagged={"ambiguous_local_time": 1},
        stored={"sql": UTC, "rows": [["R2", "2025-04-05 16:30"], ["R3", "2025-04-05 15:30"],
                                     ["R4", "2024-10-05 16:30"]]}))
case("equity_free_text", "equity_free_text.csv", "free text in gender and the equity flags is recoded, counted, never stored",
     ok(3, 3, recoded={"gender": 1, "disability": 1, "lgbtqia": 1},
        stored={"sql": "select episode_id, gender, disability, lgbtqia from episodes order by 1",
                "rows": [["E1", "other", None, None], ["E2", "non_binary", True, None], ["E3", "male", None, None]]}),
     kind="episodes")
case("identifying_column_punctuation", "identifying_column_punctuation.csv", "an 'E-Mail' column is an email column",
     refused="identifying_column_punctuation.csv: refused, it has identifying columns e_mail; remove them, or re-run "
             "with --drop-identifying-columns to drop them before anything is stored.")
case("wide_header", "wide_header.csv", "200,000 columns: refused from the first 1 MB, never parsed whole",
     refused="wide_header.csv: refused, its header has at least 144961 columns (the limit is 1000); check the "
             "delimiter and that the first line is the header.", generated=True)
json.dump({"about": "Bad-input corpus: one entry per case. expect = exact accounting and reasons (plus hints, "
                    "ignored columns and stored values where given); refused = exact RefusedFileError message, store "
                    "unchanged. All cases ingest with now = 2025-06-01T00:00:00Z into a fresh store (Australia/Sydney, "
                    "res 9); boundary = a boundary file ingested first; options = ingest_file keyword arguments; "
                    "generated = written by make_corpus.write_large at test time (too big to commit).",
           "now": "2025-06-01T00:00:00+00:00", "cases": C},
          open(Path(__file__).resolve().parent / "cases.json", "w", encoding="utf-8"), indent=1, ensure_ascii=False)
