"""The file splitter: RFC 4180 records, the header rule, blank lines, encodings."""

from __future__ import annotations

from spark_app.parse.csvsplit import MAX_RAW_CHARS, Record, split_records

HEADER = b"event_id,user_id,product_id,event_type,price,event_time"
ROW = b"e1,u1,p1,view,1.00,2024-01-01T00:00:00Z"


def test_plain_file_gives_one_record_per_data_line() -> None:
    records = split_records(HEADER + b"\n" + ROW + b"\n" + ROW.replace(b"e1", b"e2") + b"\n")
    assert [r.line_no for r in records] == [2, 3]
    assert records[0] == Record(2, ROW.decode(), ROW.decode().split(","), None, None)


def test_bom_crlf_and_missing_final_newline_are_accepted() -> None:
    records = split_records(b"\xef\xbb\xbf" + HEADER + b"\r\n" + ROW + b"\r\n" + ROW)
    assert [(r.line_no, r.problem, r.fields[0]) for r in records] == [
        (2, None, "e1"),
        (3, None, "e1"),
    ]
    assert records[0].raw == ROW.decode()


def test_header_is_trimmed_and_case_insensitive() -> None:
    header = b" Event_ID ,USER_ID,product_id , event_type,Price,EVENT_TIME"
    assert split_records(header + b"\n" + ROW)[0].problem is None


def test_wrong_or_reordered_header_rejects_every_data_line() -> None:
    reordered = b"user_id,event_id,product_id,event_type,price,event_time"
    records = split_records(reordered + b"\n" + ROW + b"\n\n" + ROW + b"\n")
    assert [(r.line_no, r.problem) for r in records] == [(2, "bad_header"), (4, "bad_header")]
    assert "user_id,event_id" in (records[0].detail or "")


def test_blank_lines_are_skipped_and_line_numbers_kept() -> None:
    records = split_records(b"\n" + HEADER + b"\n\n   \n" + ROW + b"\n\r\n")
    assert [r.line_no for r in records] == [5]


def test_quoted_commas_quotes_and_newlines() -> None:
    data = HEADER + b'\n"e,1","say ""hi""","multi\nline",view,1,2024-01-01T00:00:00Z\n' + ROW
    records = split_records(data)
    assert records[0].fields[:3] == ["e,1", 'say "hi"', "multi\nline"]
    assert records[0].raw.startswith('"e,1"') and "\n" in records[0].raw
    assert [r.line_no for r in records] == [2, 4]


def test_field_count_is_left_to_validation() -> None:
    records = split_records(HEADER + b"\na,b,c\n" + ROW + b",extra\n")
    assert [len(r.fields) for r in records] == [3, 7]
    assert all(r.problem is None for r in records)


def test_invalid_utf8_line_is_malformed_and_others_survive() -> None:
    records = split_records(HEADER + b"\ne\xff1,u,p,view,1,2024-01-01T00:00:00Z\n" + ROW)
    assert [(r.line_no, r.problem) for r in records] == [(2, "malformed_row"), (3, None)]
    assert records[0].detail == "not valid UTF-8"
    assert "\ufffd" in records[0].raw


def test_empty_and_header_only_files_have_no_records() -> None:
    assert split_records(b"") == []
    assert split_records(HEADER) == []
    assert split_records(HEADER + b"\r\n\r\n") == []


def test_very_long_field_is_kept_but_raw_is_capped() -> None:
    long_id = b"x" * (MAX_RAW_CHARS * 2)
    records = split_records(HEADER + b"\n" + long_id + ROW[2:])
    assert records[0].fields[0] == long_id.decode()
    assert len(records[0].raw) < MAX_RAW_CHARS + 100
    assert records[0].raw.endswith("more characters]")
