"""Train a Visual-ERM-style judge by SFT on ``verm-rl make-judge-data`` output.

    torchrun --nproc_per_node=8 -m recipes.reward_model_sft.main data.root=data/judge   # one node
    sbatch --nodes=2 slurm/train_judge.sh data.root=data/judge zero=zero3           # Slurm, multi-node
"""

from __future__ import annotations

import logging

import hydra

from recipes.reward_model_sft.train import run

CONFIG_DIR = "../../hydra_configs/reward_model_sft"


@hydra.main(config_path=CONFIG_DIR, config_name="sft", version_base=None)
def main(cfg) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = run(cfg)
    logging.getLogger(__name__).info("judge saved to %s (use it as judge.model_path)", out["output_dir"])


if __name__ == "__main__":
    main()
