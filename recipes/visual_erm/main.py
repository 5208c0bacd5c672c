"""Train: GRPO with the Visual-ERM reward on verl 0.9.1.

    python -m recipes.visual_erm.main experiment=chart2code_verm        # on a Ray cluster with GPUs
    slurm/submit.sh experiment=chart2code_verm                   # on Slurm
"""

from __future__ import annotations

import hydra
from omegaconf import OmegaConf

CONFIG_DIR = "../../hydra_configs"


def make_task_runner():
    """verl's V1 task runner, running our trainer (``trainer_mode`` stays ``sync``)."""
    import ray
    from verl.trainer.main_ppo import TaskRunnerV1

    base = TaskRunnerV1.__ray_actor_class__

    class VisualERMTaskRunner(base):
        def run(self, config):
            import transfer_queue as tq
            from verl.utils.logging_utils import configure_verl_logging

            from recipes.visual_erm.trainer import VisualERMTrainer

            configure_verl_logging()
            config.transfer_queue.enable = True
            OmegaConf.resolve(config)
            self.config = config
            tq.init(config.transfer_queue)
            succeeded = False
            try:
                self.trainer = VisualERMTrainer(config=config)
                self.trainer.init()
                self.init_agent_loop_manager()
                self.trainer.fit(self.agent_loop_manager)
                succeeded = True
            finally:
                try:
                    tracking = getattr(self.trainer, "logger", None)
                    if tracking is not None:
                        tracking.finish(exit_code=0 if succeeded else 1)
                finally:
                    tq.close()

    return ray.remote(num_cpus=1)(VisualERMTaskRunner)


@hydra.main(config_path=CONFIG_DIR, config_name="visual_erm", version_base=None)
def main(config) -> None:
    import sys

    from recipes.visual_erm.config_check import ConfigError, check_config

    try:
        check_config(config)  # an unknown arm/judge/task fails here, before verl, Ray or any GPU
    except ConfigError as e:
        sys.exit(f"config error: {e}")  # the message names the key and what is valid: no traceback
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    if config.trainer.v1.trainer_mode != "sync":
        raise ValueError("trainer.v1.trainer_mode must stay 'sync' for this recipe")
    auto_set_device(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    run_ppo(config, task_runner_class=make_task_runner())


def cli() -> None:
    """The command line: ``verm.*`` overrides checked against the schema before Hydra composes."""
    from recipes.visual_erm.config_check import run_checked

    run_checked(main)


if __name__ == "__main__":
    cli()
