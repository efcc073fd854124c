"""The file splitter: RFC 4180 records, the header rules, field counts, quotes, encodings."""

from __future__ import annotations

import pytest

from spark_app.parse.csvsplit import (
    BAD_HEADER,
    MALFORMED_ROW,
    MAX_RAW_CHARS,
    SPLIT_SCHEMA,
    UNCLOSED_QUOTE,
    Record,
    split_plain,
    split_records,
    split_table,
)

HEADER = b"event_id,user_id,product_id,event_type,price,event_time"
ROW = b"e1,u1,p1,view,1.00,2024-01-01T00:00:00Z"
USERS_HEADER = b"user_id,name,email,city,registered_at"
PRODUCTS_HEADER = b"product_id,name,category,list_price"


def lines(*rows: bytes) -> bytes:
    """A file of these lines, each ending in a newline."""
    return b"".join(row + b"\n" for row in rows)


def test_plain_file_gives_one_record_per_data_line() -> None:
    second = ROW.replace(b"e1", b"e2")
    records = split_records(lines(HEADER, ROW, second))
    assert records == [
        Record("events", 2, ROW.decode(), ROW.decode().split(","), None, None),
        Record("events", 3, second.decode(), second.decode().split(","), None, None),
    ]


def test_bom_crlf_and_missing_final_newline_are_accepted() -> None:
    records = split_records(b"\xef\xbb\xbf" + HEADER + b"\r\n" + ROW + b"\r\n" + ROW)
    assert [(r.line_no, r.problem, r.fields[0]) for r in records] == [
        (2, None, "e1"),
        (3, None, "e1"),
    ]
    assert records[0].raw == ROW.decode()


def test_header_is_trimmed_and_case_insensitive() -> None:
    header = b" Event_ID ,USER_ID,product_id , event_type,Price,EVENT_TIME"
    [record] = split_records(lines(header, ROW))
    assert (record.kind, record.problem) == ("events", None)


@pytest.mark.parametrize(
    ("header", "row", "kind"),
    [
        (USERS_HEADER, b"u1,Ann,ann@example.com,Oslo,2024-01-01 00:00:00", "users"),
        (b" User_ID , NAME,Email ,CITY, Registered_At ", b"u1,Ann,a@b,,2024-01-01", "users"),
        (PRODUCTS_HEADER, b"p1,Lamp,home,19.99", "products"),
        (b"PRODUCT_ID , Name,\tcategory, List_Price\t", b"p1,Lamp,home,19.99", "products"),
    ],
)
def test_users_and_products_headers_are_recognised(header: bytes, row: bytes, kind: str) -> None:
    [record] = split_records(lines(header, row))
    assert record == Record(kind, 2, row.decode(), row.decode().split(","), None, None)


@pytest.mark.parametrize(
    "header",
    [
        b"user_id,event_id,product_id,event_type,price,event_time",  # reordered
        b"event_id,user_id,product_id,event_type,price",  # one name short
        b"user_id,name,email,city",  # the users header, one name short
        b"product_id,name,category,list_price,extra",  # the products header, one too many
        b"id,value",
    ],
)
def test_a_header_matching_no_kind_rejects_every_data_line(header: bytes) -> None:
    records = split_records(lines(header, ROW, b"", b"a,b", ROW))
    assert [(r.line_no, r.problem, r.fields) for r in records] == [
        (2, BAD_HEADER, []),
        (4, BAD_HEADER, []),
        (5, BAD_HEADER, []),
    ]
    assert all(r.detail == f"header was: {header.decode()}" for r in records)


def test_blank_lines_are_skipped_and_line_numbers_kept() -> None:
    records = split_records(b"\n" + HEADER + b"\n\n   \n" + ROW + b"\n\r\n")
    assert [r.line_no for r in records] == [5]


def test_quoted_commas_quotes_and_newlines() -> None:
    data = HEADER + b'\n"e,1","say ""hi""","multi\nline",view,1,2024-01-01T00:00:00Z\n' + ROW
    records = split_records(data)
    assert records[0].fields[:3] == ["e,1", 'say "hi"', "multi\nline"]
    assert records[0].raw.startswith('"e,1"') and "\n" in records[0].raw
    assert [r.line_no for r in records] == [2, 4]


def test_a_wrong_field_count_is_a_malformed_row() -> None:
    records = split_records(lines(HEADER, b"a,b,c", ROW + b",extra", ROW))
    assert [(r.line_no, r.problem, r.detail, r.fields) for r in records] == [
        (2, MALFORMED_ROW, "3 fields, expected 6", []),
        (3, MALFORMED_ROW, "7 fields, expected 6", []),
        (4, None, None, ROW.decode().split(",")),
    ]
    assert records[1].raw == (ROW + b",extra").decode()


def test_the_field_count_is_that_of_the_files_kind() -> None:
    records = split_records(lines(USERS_HEADER, ROW, b"u1,Ann,a@b,Oslo,2024-01-01"))
    assert [(r.kind, r.problem, r.detail) for r in records] == [
        ("users", MALFORMED_ROW, "6 fields, expected 5"),
        ("users", None, None),
    ]


def test_an_unclosed_quote_rejects_its_line_and_the_rest_is_read_again() -> None:
    valid = [b"e%d,u1,p1,view,12.50,2026-11-22 10:0%d:00" % (i, i) for i in range(5)]
    broken = b'uq-1,u1,p1,view,"12.50,2026-11-22 10:00:00'
    records = split_records(lines(HEADER, broken, *valid))
    assert records[0] == Record("events", 2, broken.decode(), [], MALFORMED_ROW, UNCLOSED_QUOTE)
    assert records[1:] == [
        Record("events", line, row.decode(), row.decode().split(","), None, None)
        for line, row in enumerate(valid, start=3)
    ]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_a_quote_left_open_on_the_last_line_alone(ending: bytes) -> None:
    broken = b'e2,u1,p1,view,"1.00,2024-01-01T00:00:00Z'
    records = split_records(HEADER + b"\n" + ROW + b"\n" + broken + ending)
    assert [(r.line_no, r.problem, r.detail) for r in records] == [
        (2, None, None),
        (3, MALFORMED_ROW, UNCLOSED_QUOTE),
    ]
    assert records[1].raw == broken.decode()


def test_a_quoted_field_closed_on_a_later_line_is_one_record() -> None:
    records = split_records(lines(HEADER, b'e1,u1,"p', b'1",view,1.00,2024-01-01', ROW))
    assert [(r.line_no, r.problem) for r in records] == [(2, None), (4, None)]
    assert records[0].fields[:3] == ["e1", "u1", "p\n1"]


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2003", "\t", " "])
def test_unicode_whitespace_is_trimmed_from_fields(space: str) -> None:
    row = f"{space}e1{space},u1{space},{space}p1,view{space}{space},1.00,2024-01-01T00:00:00Z"
    [record] = split_records(HEADER + b"\n" + row.encode())
    assert record.fields == ["e1", "u1", "p1", "view", "1.00", "2024-01-01T00:00:00Z"]
    assert record.raw == row  # the raw line is kept as it was


def test_unicode_whitespace_inside_a_field_is_kept() -> None:
    row = "e1,u1,p1,view,1.00,2024-01-01\u00a000:00:00"
    [record] = split_records(HEADER + b"\n" + row.encode())
    assert record.fields[5] == "2024-01-01\u00a000:00:00"


def test_a_line_of_unicode_whitespace_is_blank() -> None:
    records = split_records(lines(HEADER, "\u3000\u00a0".encode(), ROW))
    assert [r.line_no for r in records] == [3]


def test_invalid_utf8_line_is_malformed_and_others_survive() -> None:
    records = split_records(HEADER + b"\ne\xff1,u,p,view,1,2024-01-01T00:00:00Z\n" + ROW)
    assert [(r.line_no, r.problem) for r in records] == [(2, MALFORMED_ROW), (3, None)]
    assert records[0].detail == "not valid UTF-8"
    assert "\ufffd" in records[0].raw


def test_empty_and_header_only_files_have_no_records() -> None:
    assert split_records(b"") == []
    assert split_records(HEADER) == []
    assert split_records(HEADER + b"\r\n\r\n") == []
    assert split_records(USERS_HEADER + b"\n") == []


def test_very_long_field_is_kept_but_raw_is_capped() -> None:
    long_id = b"x" * (MAX_RAW_CHARS * 2)
    records = split_records(HEADER + b"\n" + long_id + ROW[2:])
    assert records[0].fields[0] == long_id.decode()
    assert len(records[0].raw) < MAX_RAW_CHARS + 100
    assert records[0].raw.endswith(
        f"...[{len(long_id) + len(ROW) - 2 - MAX_RAW_CHARS} more characters]"
    )


def _rows(records: list[Record]) -> list[dict[str, object]]:
    names = ("kind", "source_line", "raw_line", "fields", "problem", "detail")
    return [dict(zip(names, record, strict=True)) for record in records]


PLAIN_FILES = {
    "plain": lines(HEADER, ROW, ROW.replace(b"e1", b"e2")),
    "bom, crlf, no final newline": b"\xef\xbb\xbf" + HEADER + b"\r\n" + ROW + b"\r\n" + ROW,
    "blank and whitespace lines": b"\n \t\n" + HEADER + b"\n\n   \n" + ROW + b"\n\t\n\r\n",
    "spaces and tabs around fields": lines(HEADER, b" e1\t, u1 ,p1,\tview , 1.00 ,2024-01-01 "),
    "empty fields": lines(HEADER, b"e1,,p1,view,,", b",,,,,"),
    "header in another case, spaced": lines(
        b" Event_ID , USER_ID,product_id,event_type,price,EVENT_TIME", ROW
    ),
    "users": lines(USERS_HEADER, b"u1,Ann,a@b,Oslo,2024-01-01", b"u2, Bo ,b@c,,2024-01-02"),
    "products": lines(PRODUCTS_HEADER, b"p1,Lamp,home,9.99"),
    "header only": HEADER + b"\r\n\r\n",
    "empty": b"",
    "delete character is data": lines(HEADER, b"e1\x7f,u1,p1,view,1.00,2024-01-01"),
}

SPECIAL_FILES = {
    "quotes": lines(HEADER, b'e1,u1,"p,1",view,1.00,2024-01-01', ROW),
    "unclosed quote": lines(HEADER, b'e1,u1,"p1,view,1.00,2024-01-01', ROW),
    "field count": lines(HEADER, b"a,b,c", ROW + b",extra", ROW),
    "bad header": lines(b"id,user", ROW),
    "unicode whitespace": ("\u00a0e1,u1,p1,view,1.00,2024-01-01\n".encode()),
    "invalid utf-8": HEADER + b"\ne\xff1,u,p,view,1,2024-01-01T00:00:00Z\n" + ROW,
    "lone carriage return": HEADER + b"\r" + ROW + b"\n" + ROW,
    "control character str.strip() trims": lines(HEADER, b"\x1ce1,u1,p1,view,1.00,2024-01-01"),
    "vertical tab": lines(HEADER, b"e1\x0b,u1,p1,view,1.00,2024-01-01"),
    "very long line": lines(HEADER, b"x" * (MAX_RAW_CHARS + 1) + ROW[2:]),
    "header only, unknown": b"nope\n",
}


@pytest.mark.parametrize("data", PLAIN_FILES.values(), ids=PLAIN_FILES.keys())
def test_plain_files_take_the_vectorised_split_with_the_same_records(data: bytes) -> None:
    table = split_plain(data)
    assert table is not None
    assert table.schema == SPLIT_SCHEMA
    assert table.to_pylist() == _rows(split_records(data))


@pytest.mark.parametrize("data", SPECIAL_FILES.values(), ids=SPECIAL_FILES.keys())
def test_other_files_take_the_record_by_record_split(data: bytes) -> None:
    assert split_plain(data) is None
    table = split_table(data)
    assert table.schema == SPLIT_SCHEMA
    assert table.to_pylist() == _rows(split_records(data))
