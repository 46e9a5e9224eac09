"""Training conditions: a learning rule and whether the network starts noise-pretrained, derived
from the learning-rule registry (``noisefa.nets.learning_rules.LEARNING_RULES``), never typed in.

A rule with a ``pretrained_color`` has two conditions, ``<rule>_wo`` (random init) and ``<rule>_w``
(noise-pretrained); any other rule has one, named as the rule. The paper compares three everywhere
(bp, fa_wo, fa_w); ss, dfa, kp and wm are the other rules of ``learning_rules``. Noise pretraining
always trains with FA (``stages/pretrain.py``), as in the paper. Figures take labels and colours
from here (``figures.style.PALETTE`` is built from it).

The *controls* (``CONTROLS``, issue 22) are FA conditions that start elsewhere (``noisefa.nets.starts``):
``fa_aligned`` (W aligned to B without noise), ``fa_newb`` (the noise-pretrained W with a fresh B),
``fa_scaled`` (the untrained W with the pretrained readout's norm) and ``fa_fresh`` (FA w/ pretrained
on the config's fresh-noise set, `controls.fresh_noise`). Each trains exactly like FA w/o and FA
w/, from the same seeded W and B and data order; ``noisefa.analysis.mechanism`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..nets.learning_rules import LEARNING_RULES, LearningRule


@dataclass(frozen=True)
class Condition:
    name: str
    rule: str
    pretrained: bool
    label: str
    color: str
    start: str = "init"  # where its networks start (noisefa.nets.starts.STARTS)
    fresh_noise: bool = False  # its twin pretrains on `controls.fresh_noise`, not the experiment's set

    @property
    def learning_rule(self) -> LearningRule:
        return LEARNING_RULES[self.rule]

    @property
    def control(self) -> bool:
        return self.name in CONTROLS

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
            out[f"{r.name}_w"] = Condition(f"{r.name}_w", r.name, True, f"{label} w/", r.pretrained_color, "noise")
        else:
            out[r.name] = Condition(r.name, r.name, False, label, r.color)
    return out


# ``pretrained``: the job reads the twin's checkpoint (fa_aligned for its `matched` target; a
# dose-response job at a fixed angle reads it too, unused, so that every control has one input set).
CONTROLS: dict[str, Condition] = {
    "fa_aligned": Condition("fa_aligned", "fa", True, "FA aligned (no noise)", "#17becf", "aligned"),
    "fa_newb": Condition("fa_newb", "fa", True, "FA w/, new B", "#e377c2", "newb"),
    "fa_scaled": Condition("fa_scaled", "fa", True, "FA scaled readout", "#bcbd22", "scaled"),
    "fa_fresh": Condition("fa_fresh", "fa", True, "FA w/ (fresh noise)", "#ff9896", "noise", fresh_noise=True),
}
CONDITIONS: dict[str, Condition] = {**conditions_of(LEARNING_RULES), **CONTROLS}


def get_condition(name: str) -> Condition:
    try:
        return CONDITIONS[name]
    except KeyError:
        raise KeyError(f"unknown condition {name!r}; known conditions: {sorted(CONDITIONS)}") from None
