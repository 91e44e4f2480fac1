"""Golden values for Metrics/StudentT.swift and Metrics/CrossedMean.swift (Tests/DataTests/MetricsTests.swift).

Student's t tail probabilities and quantiles from SciPy, at integer and Satterthwaite (fractional) degrees of
freedom; and, for one small patients x seeds table, the random-effects variance of the mean from the
two-way ANOVA mean squares, computed here with NumPy independently of the Swift code. Run with the torch venv:
    ~/.venvs/torch/bin/python scripts/golden/student_t.py
and paste the printed literals into the tests.
"""
import numpy as np
from scipy import stats

for t, df in [(2.0, 1.0), (2.0, 2.0), (1.5, 3.7), (0.3, 10.0), (4.0, 2.0), (2.5, 55.2), (6.0, 200.0)]:
    print(f"p t={t} df={df}: {2 * stats.t.sf(t, df)!r}")
for q, df in [(0.975, 1.0), (0.975, 2.0), (0.975, 4.6), (0.8, 2.0), (0.975, 1000.0), (0.025, 7.0)]:
    print(f"quantile q={q} df={df}: {stats.t.ppf(q, df)!r}")

d = np.array([[1.0, 2.5, 0.5], [3.0, 4.0, 2.0], [-1.0, 1.5, 0.0], [2.0, 3.5, 1.0], [0.5, 2.0, 1.5]])
P, S = d.shape
m = d.mean()
a, b = d.mean(axis=1), d.mean(axis=0)
msp = S * ((a - m) ** 2).sum() / (P - 1)
mss = P * ((b - m) ** 2).sum() / (S - 1)
mse = ((d - a[:, None] - b[None, :] + m) ** 2).sum() / ((P - 1) * (S - 1))
var = (msp + mss - mse) / (P * S)
df = (msp + mss - mse) ** 2 / (msp ** 2 / (P - 1) + mss ** 2 / (S - 1) + mse ** 2 / ((P - 1) * (S - 1)))
print("table", d.tolist())
print(f"mean {m!r} msp {msp!r} mss {mss!r} mse {mse!r} var {var!r} df {df!r}")
print(f"p {2 * stats.t.sf(abs(m) / np.sqrt(var), df)!r} half95 {stats.t.ppf(0.975, df) * np.sqrt(var)!r}")
