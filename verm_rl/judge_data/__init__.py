"""Data for training and checking judges, built on everything below it: ``synth`` (``verm-rl synth``:
synthetic references with injected errors, and how well the structural critic recovers them) and
``make`` (``verm-rl make-judge-data``: real policy outputs and injected errors labelled by a teacher).

They sit above ``data``, ``policy``, ``eval`` and ``tts`` (they drive policies, judges and the
agreement metrics), so that ``data`` stays below those and the library's imports go one way.
"""
