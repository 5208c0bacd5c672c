import matplotlib.pyplot as plt

quarters = ["Q1", "Q2", "Q3", "Q4"]
revenue = [12.5, 15.1, 14.2, 18.9]
margin = [0.21, 0.24, 0.19, 0.27]
fig, ax = plt.subplots(figsize=(6, 4))
bars = ax.bar(quarters, revenue, color="#4c72b0", label="Revenue (M$)")
ax.bar_label(bars, fmt="%.1f")
ax2 = ax.twinx()
ax2.plot(quarters, margin, color="#dd8452", marker="o", linewidth=2, label="Margin")
ax.set_title("Revenue and margin by quarter")
ax.set_ylabel("Revenue (M$)")
ax2.set_ylabel("Margin")
fig.legend(loc="upper left", bbox_to_anchor=(0.12, 0.88))
plt.tight_layout()
plt.savefig("revenue.png", dpi=150)
