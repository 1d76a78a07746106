"""A real imbalanced binary table: breast cancer with the malignant class cut to about 5%."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer


def imbalanced_cancer(seed: int = 0, share: float = 0.05) -> pd.DataFrame:
    """scikit-learn's bundled breast cancer table, keeping share malignant rows (seeded)."""
    frame = load_breast_cancer(as_frame=True).frame
    # sklearn codes malignant as 0; the minority gets a name that sorts last, so it is the
    # positive class (classes are sorted) as an analyst would expect.
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    benign = frame[frame["diagnosis"] == "benign"]
    minority = round(share * len(benign) / (1 - share))
    malignant = frame[frame["diagnosis"] == "malignant"].sample(minority, random_state=seed)
    both = pd.concat([benign, malignant])
    return both.sample(frac=1, random_state=seed).reset_index(drop=True)
