"""Training conditions: a learning rule, and whether the network starts noise-pretrained.

The paper compares three everywhere; a new condition is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    name: str
    rule: str
    pretrained: bool
    label: str


CONDITIONS: dict[str, Condition] = {
    "bp": Condition("bp", "bp", False, "BP"),
    "fa_wo": Condition("fa_wo", "fa", False, "FA w/o"),
    "fa_w": Condition("fa_w", "fa", True, "FA w/"),
}


def get_condition(name: str) -> Condition:
    try:
        return CONDITIONS[name]
    except KeyError:
        raise KeyError(f"unknown condition {name!r}; known conditions: {sorted(CONDITIONS)}") from None
