"""FeaturePlan builds one record's matrix value by value and larger batches column by column;
for any single record both must give the same matrix, warnings, report and error. Where it
takes a batch at all, it reads boolean values as the pandas path does."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dsba.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    Feature,
    FeatureSchema,
    prepare_features,
)
from dsba.errors import InvalidInput
from dsba.model.feature_plan import FeaturePlan

SCHEMA = FeatureSchema(
    target="species",
    classes=["a", "b"],
    features=[
        Feature("island", CATEGORICAL, ["Biscoe", "Dream", "Torgersen"]),
        Feature("bill", NUMERIC),
        Feature("member", BOOLEAN),
        Feature("mass", NUMERIC),
        Feature("sex", CATEGORICAL, ["female", "male"]),
    ],
    dropped=[{"column": "row_id", "reason": "an identifier"}],
)
PLAN = FeaturePlan(SCHEMA)

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["Biscoe", "Dream", "male", "female", "Atlantis", "", "41.5"]),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, 16_777_217]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e39, -3.5e38, 3.4e38, math.inf, math.nan]),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["yes", " No ", "TRUE", "f", "1", "0", "maybe", "Yes\n", "ye s", "None"]),
)
# What a boolean feature may be sent: JSON's true/false, the words a CSV trains it on
# (any case, padded), and words that are not true/false.
TRUTH_VALUE = st.one_of(
    st.booleans(),
    st.sampled_from(["yes", "No", " YES ", "y", "N", "true", "False", "t", "F", "1", "0"]),
    st.sampled_from(["", "maybe", "on", "2", "nan", "None", "yes!", "\u00a0no\u00a0", "İ"]),
    st.none(),
)
# Mostly values of the feature's own kind, so most records reach the end of both paths.
VALUE_OF_KIND = {
    CATEGORICAL: st.sampled_from(["Biscoe", "Dream", "Torgersen", "male", "Atlantis"]),
    NUMERIC: st.one_of(st.floats(allow_nan=True), st.integers(-(10**6), 10**6)),
    BOOLEAN: TRUTH_VALUE,
}


@st.composite
def records(draw: st.DrawFn) -> dict:
    """A record of the schema's features (each maybe absent, null or of another type), plus
    maybe the target, a dropped column and a column the model does not know."""
    record = {}
    for feature in SCHEMA.features:
        choice = draw(st.sampled_from(["own", "own", "own", "null", "any", "absent"]))
        if choice == "own":
            record[feature.name] = draw(VALUE_OF_KIND[feature.kind])
        elif choice == "null":
            record[feature.name] = None
        elif choice == "any":
            record[feature.name] = draw(ANY_VALUE)
    for extra in ("species", "row_id", "tag"):
        if draw(st.booleans()):
            record[extra] = draw(ANY_VALUE)
    keys = draw(st.permutations(list(record)))
    return {key: record[key] for key in keys}


def outcome(build, record: dict):
    """What a path gives for one record: None, the error's message and details, or the
    matrix with everything that comes with it in comparable form."""
    try:
        result = build([record])
    except InvalidInput as error:
        return ("error", error.to_dict())
    if result is None:
        return None
    x, warnings, extra, report = result
    return (
        x.dtype,
        x.shape,
        x.tobytes(),  # bit for bit: NaN in the same places, the same float32 rounding
        warnings,
        extra,
        report.features,
        report.unusable.tolist(),
        {name: (rows.tolist(), values) for name, (rows, values) in report.unseen.items()},
        report.missing,
        report.warnings(),
        report.row_flags(),
        report.unreliable.tolist(),
    )


@settings(max_examples=600, deadline=None)
@given(records())
def test_one_record_gives_what_the_column_path_gives(record):
    assert outcome(lambda batch: PLAN._one(batch[0]), record) == outcome(PLAN._many, record)


def test_a_single_record_takes_the_value_path():
    record = {"island": "Dream", "bill": 40.5, "member": True, "mass": 3800, "sex": "male"}
    x, warnings, extra, report = PLAN.matrix([record])
    assert x.tolist() == [[1.0, 40.5, 1.0, 3800.0, 1.0]]
    assert (warnings, extra, report.warnings(), report.row_flags()) == ([], [], [], {})
    assert report.complete


def test_unseen_and_missing_values_are_reported_for_one_record():
    record = {"island": "Atlantis", "bill": None, "member": None, "mass": 1.0, "sex": "x"}
    _, warnings, _, report = PLAN.matrix([record])
    assert warnings == [
        "column 'island': unseen categories ['Atlantis'] treated as missing (rows [0])",
        "column 'sex': unseen categories ['x'] treated as missing (rows [0])",
    ]
    assert report.row_flags() == {
        0: {"unseen": {"island": "Atlantis", "sex": "x"}, "unreliable": True}
    }
    assert not report.complete
    assert np.isnan(PLAN.matrix([record])[0]).sum() == 4


VALID = {"island": "Dream", "bill": 40.5, "mass": 3800, "sex": "male"}


@settings(max_examples=300, deadline=None)
@given(st.lists(TRUTH_VALUE, min_size=1, max_size=4))
def test_boolean_words_read_as_the_pandas_path_reads_them(values):
    batch = [{**VALID, "member": value} for value in values]
    result = PLAN.matrix(batch)
    frame = pd.DataFrame.from_records(batch)
    try:
        expected = prepare_features(SCHEMA, frame)[0]["member"].to_numpy(np.float32)
    except InvalidInput:
        assert result is None  # the pandas path words the error
        return
    assert result is not None  # what pandas reads, the plan reads too
    assert result[0][:, 2].tobytes() == expected.tobytes()


def test_yes_no_words_take_the_value_path():
    records = [{**VALID, "member": "Yes"}, {**VALID, "member": " no"}, {**VALID, "member": None}]
    assert PLAN.matrix(records[:1])[0][0, 2] == 1.0
    assert np.array_equal(PLAN.matrix(records)[0][:, 2], [1.0, 0.0, np.nan], equal_nan=True)
    assert PLAN.matrix([{**VALID, "member": "maybe"}]) is None
