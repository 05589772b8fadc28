#!/usr/bin/env python3
"""Write data/sample.csv: six synthetic daily series, 2021-2023, seeded.

The series are chosen so that the retrodiction has something to say: some
are easy for seasonal models, some only a random walk (nothing beats naive),
one is noise around a level (naive is poor there). Rerunning this script
reproduces the file byte for byte.

    python data/generate_sample.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240101
OUT = Path(__file__).with_name("sample.csv")


def generate() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    days = pd.date_range("2021-01-01", "2023-12-31", freq="D")
    n = len(days)
    t = np.arange(n)
    weekly = np.sin(2 * np.pi * t / 7)
    yearly = np.sin(2 * np.pi * t / 365.25)
    ar_noise = np.zeros(n)
    shocks = rng.normal(0, 1.0, n)
    for i in range(1, n):
        ar_noise[i] = 0.8 * ar_noise[i - 1] + shocks[i]
    levels = np.repeat(rng.normal(0, 20, n // 120 + 1), 120)[:n]
    return pd.DataFrame({
        "timestamp": days.strftime("%Y-%m-%d"),
        "retail_sales": 200 + 0.05 * t + 15 * weekly + rng.normal(0, 3, n),
        "electricity_load": 500 + 60 * weekly + 80 * yearly + rng.normal(0, 10, n),
        "temperature": 12 + 10 * yearly + ar_noise,
        "stock_index": 1000 + np.cumsum(rng.normal(0, 8, n)),
        "web_traffic": 5000 + 800 * weekly + 10 * levels + rng.normal(0, 150, n),
        "sensor_reading": 50 + rng.normal(0, 2, n),
    }).round(3)


if __name__ == "__main__":
    generate().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
