"""The one skeleton every metamorphic rewrite shares: parse the source, edit the parsed form in
place, refuse (``NotApplicable``) when the edit found nothing to change, write the form back."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from verm_rl.data.inject import NotApplicable

Rewriter = Callable[[str, random.Random], str]


def edit_rewrite(parse: Callable[[str], Any], dump: Callable[[Any], str]
                 ) -> Callable[[str], Callable[[Callable[[Any, random.Random], bool]], Rewriter]]:
    """A decorator factory for one source language: ``@edit(nothing)`` turns ``edit(form, rng) -> changed``
    into ``rewrite(source, rng) -> source``, raising ``NotApplicable(nothing)`` when nothing changed.
    ``parse`` raises ``NotApplicable`` itself on a source it cannot read."""

    def edit(nothing: str) -> Callable[[Callable[[Any, random.Random], bool]], Rewriter]:
        def wrap(fn: Callable[[Any, random.Random], bool]) -> Rewriter:
            @functools.wraps(fn)
            def rewrite(source: str, rng: random.Random) -> str:
                form = parse(source)
                if not fn(form, rng):
                    raise NotApplicable(nothing)
                return dump(form)

            return rewrite

        return wrap

    return edit
