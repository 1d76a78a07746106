"""Type the columns of CSV text: codes stay text, decimal commas become numbers."""

from __future__ import annotations

import io
from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# pandas' default missing-value markers (read_csv's na_values), so files read as they did.
NULL_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]
_DIGITS = r"^\s*[0-9]+\s*$"
_PADDED = r"^\s*0[0-9]"
_SAMPLE_ROWS = 100
_CHUNK_BYTES = 1 << 20
# 29,0 or -1.234,5: a decimal comma, optionally with dots grouping the thousands.
_DECIMAL_COMMA = r"^\s*[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]+)(,[0-9]+)?\s*$"


def _read(
    data: bytes, delimiter: str, text: Collection[str], only: list[str] | None = None
) -> pa.Table:
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(text, pa.string()),
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        include_columns=only,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter)
    return pacsv.read_csv(io.BytesIO(data), parse_options=parse, convert_options=convert)


def _has_padded_cell(data: bytes, delimiter: str) -> bool:
    """Whether a cell may start with 0 and a digit: a cheap, generous test on the bytes."""
    starts = np.frombuffer(f'{delimiter}\n\r" '.encode(), dtype=np.uint8)
    # Numpy over bounded chunks: a regular expression took 2 s on 15 MB, and whole-file
    # masks would cost several times the file in memory.
    for begin in range(0, len(data), _CHUNK_BYTES):
        chunk = np.frombuffer(data[begin : begin + _CHUNK_BYTES + 2], dtype=np.uint8)
        # uint8 arithmetic: bytes below "0" wrap high, so one comparison finds the digits.
        zero_digit = np.flatnonzero((chunk[1:-1] == ord("0")) & ((chunk[2:] - ord("0")) < 10))
        if np.isin(chunk[zero_digit], starts).any():
            return True
    return False


def _zero_padded(data: bytes, delimiter: str, table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """The text of integer columns written as digits with a leading zero (zip codes, "007")."""
    integers = [f.name for f in table.schema if pa.types.is_integer(f.type)]
    # One scan of the bytes spares a second parse of files without any zero-padded cell.
    if not integers or not _has_padded_cell(data, delimiter):
        return {}
    texts = _read(data, delimiter, integers, only=integers)
    padded = {}
    for name in integers:
        column = texts.column(name)
        digits = pc.all(pc.match_substring_regex(column, _DIGITS)).as_py()
        if digits and pc.any(pc.match_substring_regex(column, _PADDED)).as_py():
            padded[name] = column
    return padded


def _decimal_comma(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as numbers if every value is written with a decimal comma, else None."""
    if not pa.types.is_string(column.type) or column.null_count == len(column):
        return None
    # Most text columns fail on their first values: test those before the whole column.
    sample = column.slice(0, _SAMPLE_ROWS)
    if pc.all(pc.match_substring_regex(sample, _DECIMAL_COMMA)).as_py() is False:
        return None
    if not pc.any(pc.match_substring(column, ",")).as_py():
        return None
    text = pc.ascii_trim_whitespace(column)
    if pc.any(pc.match_substring(text, ".")).as_py():
        # Dots group thousands (1.234,5), but only where every value has exactly that form.
        if not pc.all(pc.match_substring_regex(text, _DECIMAL_COMMA)).as_py():
            return None
        text = pc.replace_substring(text, ".", "")
    try:
        # A second comma in a value fails the cast; one replacement is three times faster.
        return pc.cast(pc.replace_substring(text, ",", ".", max_replacements=1), pa.float64())
    except pa.ArrowInvalid:
        return None


def read_csv(data: bytes, delimiter: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Parse UTF-8 CSV: text_columns and zero-padded codes as text, decimal commas as numbers."""
    text = set(text_columns)
    table = _read(data, delimiter, text)
    for name, column in _zero_padded(data, delimiter, table).items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
        text.add(name)
    # A comma separates fields in a comma file; elsewhere (";" above all) it marks decimals.
    if delimiter != ",":
        for index, field in enumerate(table.schema):
            numbers = None if field.name in text else _decimal_comma(table.column(index))
            if numbers is not None:
                table = table.set_column(index, field.name, numbers)
    # null-typed columns (every cell empty) become float64, as pandas' own reader does.
    nulls = [i for i, f in enumerate(table.schema) if pa.types.is_null(f.type)]
    for index in nulls:
        name = table.schema.field(index).name
        table = table.set_column(index, name, table.column(index).cast(pa.float64()))
    return table.to_pandas()
