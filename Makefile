# Fresh machine: `make run` (set up + main job on CPU) and `make test` (set up + tests).
.PHONY: setup run test bench lint

setup:
	bash scripts/setup_env.sh

run: setup
	.venv/bin/verm-rl render --examples --out outputs/render_demo

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	.venv/bin/python benchmarks/render_throughput.py

lint: setup
	.venv/bin/ruff check .
