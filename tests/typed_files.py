"""Small files whose column types matter: zero-padded codes and decimal commas."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The code alone decides the label; "007" and 7 are different codes to the user.
LABEL_OF_CODE = {"007": "a", "008": "b", "5": "c", "x9": "d"}


def codes_frame(rows_per_code: int = 30) -> pd.DataFrame:
    """A code column (text, with zero-padded digit codes) that determines the label."""
    rng = np.random.default_rng(0)
    codes = [code for code in LABEL_OF_CODE for _ in range(rows_per_code)]
    return pd.DataFrame(
        {
            "code": codes,
            "noise": rng.normal(size=len(codes)).round(3),
            "label": [LABEL_OF_CODE[code] for code in codes],
        }
    )


def decimal_comma_csv(rows: int = 120, seed: int = 0) -> tuple[bytes, list[str]]:
    """A ';' file of a Excel-style locale: temperatures like 29,0 decide the label."""
    rng = np.random.default_rng(seed)
    temperature = rng.uniform(10, 40, rows).round(1)
    price = rng.uniform(500, 5000, rows).round(2)
    label = np.where(temperature > 25, "hot", "cold").tolist()
    lines = ["temperature;price;label"]
    for t, p, y in zip(temperature, price, label, strict=True):
        whole, cents = f"{p:.2f}".split(".")
        grouped = f"{int(whole):,}".replace(",", ".")
        lines.append(f"{t:.1f}".replace(".", ",") + f";{grouped},{cents};{y}")
    return ("\n".join(lines) + "\n").encode(), label
