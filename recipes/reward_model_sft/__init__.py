"""Supervised fine-tuning of a Visual-ERM-style judge (Qwen-VL family) on ``verm-rl make-judge-data`` output."""
