"""The verl 0.9.1 recipe: GRPO with the Visual-ERM reward (see README.md in this folder)."""
