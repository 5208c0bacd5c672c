"""The typed config of the ``verm`` section (schema, validation); Hydra registration in ``hydra_store``."""

from verm_rl.config.schema import (
    ActorSection,
    ClusterSection,
    DinoSection,
    JudgeSection,
    ModelSection,
    PipelineSection,
    RayActorSection,
    RenderSection,
    RewardSection,
    VermConfig,
)
from verm_rl.config.validate import ConfigError, check_key, check_value, section_config, verm_config

__all__ = [
    "ActorSection", "ClusterSection", "ConfigError", "DinoSection", "JudgeSection", "ModelSection",
    "PipelineSection", "RayActorSection", "RenderSection", "RewardSection", "VermConfig", "check_key",
    "check_value", "section_config", "verm_config",
]
