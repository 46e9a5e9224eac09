"""Training conditions: a learning rule and whether the network starts noise-pretrained, derived
from the learning-rule registry (``noisefa.learning_rules.LEARNING_RULES``), never typed in.

A rule with a ``pretrained_color`` has two conditions, ``<rule>_wo`` (random init) and ``<rule>_w``
(noise-pretrained); any other rule has one, named as the rule. The paper compares three everywhere
(bp, fa_wo, fa_w); ss, dfa, kp and wm are the other rules of ``learning_rules``. Noise pretraining
always trains with FA (``stages/pretrain.py``), as in the paper. Figures take labels and colours
from here (``figures.style.PALETTE`` is built from it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .learning_rules import LEARNING_RULES, LearningRule


@dataclass(frozen=True)
class Condition:
    name: str
    rule: str
    pretrained: bool
    label: str
    color: str

    @property
    def learning_rule(self) -> LearningRule:
        return LEARNING_RULES[self.rule]

    @property
    def aligns_b(self) -> bool:
        """Whether the W-B angle of its networks measures alignment to the feedback it uses."""
        return self.learning_rule.aligns_b

    @property
    def paper(self) -> bool:
        return self.learning_rule.paper

    def same_as_fa(self, depth: int) -> bool:
        return int(depth) in self.learning_rule.same_as_fa_at


def conditions_of(rules: dict[str, LearningRule]) -> dict[str, Condition]:
    out = {}
    for r in rules.values():
        label = r.label or r.name.upper()
        if r.pretrained_color:
            out[f"{r.name}_wo"] = Condition(f"{r.name}_wo", r.name, False, f"{label} w/o", r.color)
            out[f"{r.name}_w"] = Condition(f"{r.name}_w", r.name, True, f"{label} w/", r.pretrained_color)
        else:
            out[r.name] = Condition(r.name, r.name, False, label, r.color)
    return out


CONDITIONS: dict[str, Condition] = conditions_of(LEARNING_RULES)


def get_condition(name: str) -> Condition:
    try:
        return CONDITIONS[name]
    except KeyError:
        raise KeyError(f"unknown condition {name!r}; known conditions: {sorted(CONDITIONS)}") from None
