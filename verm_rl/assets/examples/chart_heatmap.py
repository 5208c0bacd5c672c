import matplotlib.pyplot as plt
import numpy as np

data = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.3], [0.5, 0.3, 0.7]])
labels = ["alpha", "beta", "gamma"]
fig, ax = plt.subplots(figsize=(5, 4))
im = ax.imshow(data, cmap="YlGnBu")
ax.set_xticks(range(3), labels)
ax.set_yticks(range(3), labels)
for i in range(3):
    for j in range(3):
        ax.text(j, i, f"{data[i, j]:.1f}", ha="center", va="center")
fig.colorbar(im, ax=ax)
ax.set_title("Correlation")
