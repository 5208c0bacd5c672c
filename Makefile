# Fresh machine: `make run` (set up + main job on CPU) and `make test` (set up + tests).
.PHONY: setup setup-gpu run test bench lint

setup:
	bash scripts/setup_env.sh

# On a GPU node (a login node with the same CUDA image will do): the pinned set of requirements/gpu.lock.
setup-gpu:
	bash scripts/setup_env.sh --gpu

run: setup
	WANDB_MODE=offline .venv/bin/python -m recipes.visual_erm.cpu_step experiment=cpu_reward_step

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	.venv/bin/python benchmarks/render_throughput.py

lint: setup
	.venv/bin/ruff check .
