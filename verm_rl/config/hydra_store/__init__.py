"""Registers :class:`VermConfig` in Hydra's ConfigStore as ``verm_schema``.

``hydra_configs/visual_erm.yaml`` lists ``pkg://verm_rl.config.hydra_store`` in ``hydra.searchpath``: Hydra
imports this package when it builds the search path, before it reads the defaults list, so every
composition of that config (the recipe, ``verm-rl plan``, tests calling ``hydra.compose``) finds the schema
without importing anything first. The defaults entry ``verm_schema@verm`` puts it under ``verm``.
"""

from hydra.core.config_store import ConfigStore

from verm_rl.config.schema import VermConfig

SCHEMA_NAME = "verm_schema"

ConfigStore.instance().store(name=SCHEMA_NAME, node=VermConfig)
