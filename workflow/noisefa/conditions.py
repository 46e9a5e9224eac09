"""Training conditions: a learning rule, whether the network starts noise-pretrained, a label
and a colour (figures take both from here; ``figures.style.PALETTE`` is built from it).

The paper compares three everywhere (bp, fa_wo, fa_w); ss, dfa, kp and wm are the other rules
of ``learning_rules`` (sign-symmetry, direct feedback alignment, Kolen-Pollack, weight mirror)
from a random init. Noise pretraining always trains with FA (``stages/pretrain.py``), so FA is
the only rule with a pretrained condition for now. A new condition is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    name: str
    rule: str
    pretrained: bool
    label: str
    color: str


CONDITIONS: dict[str, Condition] = {
    "bp": Condition("bp", "bp", False, "BP", "#444444"),
    "fa_wo": Condition("fa_wo", "fa", False, "FA w/o", "#1f77b4"),
    "fa_w": Condition("fa_w", "fa", True, "FA w/", "#d62728"),
    "ss": Condition("ss", "ss", False, "SS", "#2ca02c"),
    "dfa": Condition("dfa", "dfa", False, "DFA", "#9467bd"),
    "kp": Condition("kp", "kp", False, "KP", "#ff7f0e"),
    "wm": Condition("wm", "wm", False, "WM", "#8c564b"),
}


def get_condition(name: str) -> Condition:
    try:
        return CONDITIONS[name]
    except KeyError:
        raise KeyError(f"unknown condition {name!r}; known conditions: {sorted(CONDITIONS)}") from None
