"""Column types read from files: codes stay text, decimal commas are numbers."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typed_files import LABEL_OF_CODE, codes_frame, decimal_comma_csv

from dsba.config import Settings
from dsba.data.ingestion import parse_bytes, read_bytes
from dsba.service import LocalService


@pytest.fixture(scope="module")
def codes_service(tmp_path_factory: pytest.TempPathFactory) -> LocalService:
    """A store holding model "codes", trained on a CSV whose code column decides the label."""
    root = tmp_path_factory.mktemp("codes")
    service = LocalService(Settings(registry_dir=root / "registry", train_threads=1))
    raw = codes_frame().to_csv(index=False).encode()
    dataset = read_bytes(raw, source="codes.csv", filename="codes.csv")
    service.train(dataset, target="label", name="codes", params={"n_estimators": 10})
    return service


def schema_kinds(service: LocalService, ref: str) -> dict[str, tuple[str, list | None]]:
    """Each feature's kind and categories as stored with the model."""
    schema = service.registry.get_schema(ref)
    return {f["name"]: (f["kind"], f["categories"]) for f in schema["features"]}


def test_codes_model_stores_the_codes_as_written(codes_service):
    assert schema_kinds(codes_service, "codes")["code"] == ("categorical", sorted(LABEL_OF_CODE))


def test_cli_predicts_digit_codes_of_a_csv_as_the_codes_they_are(codes_service, cli, tmp_path):
    # Only digits in this file: read by their look, 007 and 008 would be the numbers 7 and 8,
    # and 5 next to a blank cell the number 5.0; all three are categories of the model.
    data = tmp_path / "score.csv"
    data.write_text("code,noise\n007,0.1\n008,0.2\n5,0.3\n,0.4\n008,\n")
    result = cli(codes_service.settings.registry_dir, "--json", "predict", "codes", str(data))
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    labels = [row["label"] for row in answer["predictions"]]
    assert labels[:3] + labels[4:] == ["a", "b", "c", "b"]
    assert answer["warnings"] == [] and "warning" not in result.stderr


def test_cli_writes_the_codes_back_as_they_were_read(codes_service, cli, tmp_path):
    data = tmp_path / "score.csv"
    data.write_text("code,noise\n007,0.1\n008,0.2\n")
    out = tmp_path / "scored.csv"
    result = cli(codes_service.settings.registry_dir, "predict", "codes", str(data), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(out, dtype=str)
    assert scored["code"].tolist() == ["007", "008"]
    assert scored["prediction"].tolist() == ["a", "b"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_whole_numbers_with_a_gap_still_name_their_category(codes_service, cli, tmp_path, fmt):
    # An int column with a missing value (Parquet written by Arrow, JSON numbers) reaches
    # pandas as floats: 5 becomes 5.0, whose text is not the category "5".
    table = pa.table({"code": pa.array([5, None, 5]), "noise": pa.array([0.1] * 3)})
    buffer = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, buffer)
    else:
        buffer.write("".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode())
    parsed, detected = parse_bytes(buffer.getvalue(), filename=f"score.{fmt}")
    assert detected == fmt and parsed["code"].dtype == np.float64
    data = tmp_path / f"score.{fmt}"
    data.write_bytes(buffer.getvalue())
    result = cli(codes_service.settings.registry_dir, "--json", "predict", "codes", str(data))
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    labels = [row["label"] for row in answer["predictions"]]
    assert labels[0] == labels[2] == "c"
    assert answer["warnings"] == []


def test_a_training_csv_keeps_zero_padded_codes_as_text(tmp_path):
    # Every value is digits, most with leading zeros: zip codes or product codes, not amounts.
    frame = codes_frame().query("code in ['007', '008']").reset_index(drop=True)
    frame.loc[frame.index[::2], "code"] = frame["code"][::2].str.replace("00", "10")
    raw = frame.to_csv(index=False).encode()
    parsed, _ = parse_bytes(raw, filename="zips.csv")
    assert sorted(parsed["code"].unique()) == ["007", "008", "107", "108"]
    service = LocalService(Settings(registry_dir=tmp_path / "registry", train_threads=1))
    service.train(
        read_bytes(raw, source="zips.csv", filename="zips.csv"),
        target="label",
        name="zips",
        params={"n_estimators": 5},
    )
    kind, categories = schema_kinds(service, "zips")["code"]
    assert (kind, categories) == ("categorical", ["007", "008", "107", "108"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"n;x\n1;a\n10;b\n0;c\n", [1, 10, 0]),  # a lone 0 is zero, not a padded code
        (b"n;x\n0.5;a\n01.5;b\n", [0.5, 1.5]),  # only whole numbers are codes
        (b"n,x\n 07,a\n-1,b\n", [7, -1]),  # a sign makes it a number
    ],
)
def test_numbers_without_padding_stay_numbers(raw, expected):
    parsed, _ = parse_bytes(raw, filename="data.csv")
    assert parsed["n"].tolist() == expected


def test_a_semicolon_file_with_decimal_commas_trains_on_numbers(tmp_path, cli):
    raw, _ = decimal_comma_csv()
    parsed, _ = parse_bytes(raw, filename="weather.csv")
    assert parsed["price"].dtype == np.float64 and parsed["temperature"].dtype == np.float64
    service = LocalService(Settings(registry_dir=tmp_path / "registry", train_threads=1))
    dataset = read_bytes(raw, source="weather.csv", filename="weather.csv")
    service.train(dataset, target="label", name="weather", params={"n_estimators": 20})
    kinds = schema_kinds(service, "weather")
    assert kinds == {"temperature": ("numeric", None), "price": ("numeric", None)}

    score, labels = decimal_comma_csv(rows=40, seed=1)
    data = tmp_path / "score.csv"
    data.write_bytes(score)
    result = cli(tmp_path / "registry", "--json", "predict", "weather", str(data))
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    predicted = [row["label"] for row in answer["predictions"]]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.9
    assert answer["warnings"] == []


@pytest.mark.parametrize(
    ("raw", "column"),
    [
        (b"v;x\n1,5;a\n2,5 mm;b\n", ["1,5", "2,5 mm"]),  # not a number in every row
        (b"v;x\n1.5;a\n2,5;b\n", ["1.5", "2,5"]),  # two decimal marks in one column
        (b'v,x\n"1,5",a\n"2,5",b\n', ["1,5", "2,5"]),  # a comma file: its commas are no decimals
    ],
)
def test_decimal_commas_are_read_only_where_every_value_has_that_form(raw, column):
    parsed, _ = parse_bytes(raw, filename="data.csv")
    assert parsed["v"].tolist() == column


def test_a_semicolon_file_reads_thousands_and_missing_values():
    parsed, _ = parse_bytes(b"v;x\n1.234,5;a\n;b\n-0,25;c\n7;d\n", filename="data.csv")
    assert parsed["v"].tolist()[0] == 1234.5 and np.isnan(parsed["v"][1])
    assert parsed["v"].tolist()[2:] == [-0.25, 7.0]


def test_schema_text_columns_are_read_as_text():
    raw = b"code,n\n007,1\n8,2\n"
    parsed, _ = parse_bytes(raw, filename="data.csv", text_columns={"n", "absent"})
    assert parsed["n"].tolist() == ["1", "2"]
    assert parsed["code"].tolist() == ["007", "8"]
