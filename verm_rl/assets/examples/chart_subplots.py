import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(0)
fig, axes = plt.subplots(2, 2, figsize=(8, 6))
x = np.linspace(0, 10, 100)
axes[0, 0].plot(x, np.sin(x), label="sin")
axes[0, 0].plot(x, np.cos(x), "--", label="cos")
axes[0, 0].legend()
axes[0, 0].set_title("Waves")
axes[0, 1].scatter(rng.normal(size=80), rng.normal(size=80), c="tab:green", alpha=0.6)
axes[0, 1].set_title("Scatter")
axes[1, 0].hist(rng.normal(size=500), bins=20, color="tab:purple")
axes[1, 0].set_title("Histogram")
axes[1, 1].pie([35, 25, 40], labels=["A", "B", "C"], autopct="%1.0f%%", colors=["#8dd3c7", "#ffffb3", "#bebada"])
axes[1, 1].set_title("Share")
fig.suptitle("Dashboard")
plt.tight_layout()
plt.show()
