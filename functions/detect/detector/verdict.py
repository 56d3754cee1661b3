"""The answer a person reads: ``real``, ``uncertain`` or ``fake``, and why.

``label`` (REAL/FAKE) compares P(fake) with the card's threshold, as it always has. ``verdict`` is
more honest: near the threshold the model is often wrong, so a band around it (the card's
``verdict_policy.uncertain_band``, measured on validation) answers ``uncertain``, and so does a face
too small to judge (``min_face_side`` px) or an image with no face (the model judges faces).
Cards without a ``verdict_policy`` (models before 3.0) have no band: ``verdict`` is then the label.
"""
from __future__ import annotations

from typing import NamedTuple

REAL, UNCERTAIN, FAKE = "real", "uncertain", "fake"


class Policy(NamedTuple):
    threshold: float
    low: float          # P(fake) < low: real
    high: float         # P(fake) >= high: fake; in between: uncertain
    min_face_side: int  # a face box side (px of the upload) below this is too small to judge

    @classmethod
    def from_card(cls, card: dict) -> "Policy":
        t = float(card["threshold"])
        block = card.get("verdict_policy") or {}
        low, high = block.get("uncertain_band", (t, t))
        return cls(t, float(low), float(high), int(block.get("min_face_side", 0)))


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def decide(p: float, policy: Policy, *, face_side: float | None = None, no_face: bool = False) -> tuple[str, str]:
    """P(fake) of the judged input -> (verdict, reason). ``face_side``: the judged face's box side
    in upload pixels; ``no_face``: the whole image was judged because no face was found."""
    if no_face:
        return UNCERTAIN, ("No face was found. The model judges faces, so the whole image's "
                           f"P(fake) {_pct(p)} is only indicative.")
    if face_side is not None and face_side < policy.min_face_side:
        return UNCERTAIN, (f"The face is {face_side:.0f} px across; faces under {policy.min_face_side} px "
                           "are too small to judge.")
    if p >= policy.high:
        return FAKE, (f"P(fake) {_pct(p)} is above the uncertain band ({_pct(policy.low)}–{_pct(policy.high)})."
                      if policy.high > policy.low else f"P(fake) {_pct(p)} is at or above the threshold {_pct(policy.threshold)}.")
    if p < policy.low:
        return REAL, (f"P(fake) {_pct(p)} is below the uncertain band ({_pct(policy.low)}–{_pct(policy.high)})."
                      if policy.high > policy.low else f"P(fake) {_pct(p)} is below the threshold {_pct(policy.threshold)}.")
    return UNCERTAIN, (f"P(fake) {_pct(p)} is close to the threshold {_pct(policy.threshold)} "
                       f"(uncertain band {_pct(policy.low)}–{_pct(policy.high)}): the model cannot tell.")


def image_verdict(faces: list[dict], policy: Policy) -> int | None:
    """Which face speaks for the image: the most-fake face among those large enough to judge, else
    the most-fake face. ``faces``: dicts with ``fake_probability`` and ``side``. None when empty."""
    if not faces:
        return None
    judged = [i for i, f in enumerate(faces) if f["side"] >= policy.min_face_side] or list(range(len(faces)))
    return max(judged, key=lambda i: faces[i]["fake_probability"])


def describe(policy: Policy) -> dict:
    return {
        "threshold": policy.threshold,
        "uncertain_band": [policy.low, policy.high],
        "min_face_side": policy.min_face_side,
        "rule": (f"fake when P(fake) >= {policy.high:g}; real when P(fake) < {policy.low:g}; uncertain in "
                 f"between, when the judged face is under {policy.min_face_side} px, or when no face is found. "
                 f"label stays FAKE when P(fake) >= the threshold {policy.threshold:g}, else REAL"),
    }
