"""Test-time scaling with judge feedback (``verm-rl tts``): draft → render → judge → revise."""

from verm_rl.tts.inputs import TTSInput, read_inputs
from verm_rl.tts.loop import InputResult, Round, RoundScorer, TTSConfig, TTSRunner, best_round
from verm_rl.tts.run import run_tts

__all__ = ["InputResult", "Round", "RoundScorer", "TTSConfig", "TTSInput", "TTSRunner", "best_round", "read_inputs",
           "run_tts"]
