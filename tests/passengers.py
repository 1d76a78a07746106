"""A small Titanic-like dataset: class and sex decide survival, as on the real ship."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["pclass", "sex", "age", "fare", "embarked", "sibsp"]
# A first-class woman, spelled as the model knows it and as a spreadsheet might.
KNOWN_WOMAN = {"pclass": "1st", "sex": "female", "age": 30, "fare": 80.0, "embarked": "S"}
MISSPELT_WOMAN = {**KNOWN_WOMAN, "pclass": "first", "sex": "Female"}


def passengers(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Six features and 'survived' (yes/no); women and first class mostly survive."""
    rng = np.random.default_rng(seed)
    pclass = rng.choice(["1st", "2nd", "3rd"], size=rows, p=[0.25, 0.25, 0.5])
    sex = rng.choice(["female", "male"], size=rows, p=[0.4, 0.6])
    age = rng.uniform(1, 70, size=rows).round()
    fare = np.where(pclass == "1st", 80.0, np.where(pclass == "2nd", 25.0, 8.0))
    fare = (fare * rng.uniform(0.7, 1.3, size=rows)).round(2)
    logit = 3.0 * (sex == "female") + 2.0 * (pclass == "1st") + 0.8 * (pclass == "2nd")
    logit = logit - 2.2 - 0.02 * (age - 30)
    survived = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "pclass": pclass,
            "sex": sex,
            "age": age,
            "fare": fare,
            "embarked": rng.choice(["C", "Q", "S"], size=rows, p=[0.2, 0.1, 0.7]),
            "sibsp": rng.integers(0, 4, size=rows),
            "survived": survived,
        }
    )
