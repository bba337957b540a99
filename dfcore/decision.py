"""From a calibrated score and its evidence to one of three verdicts, with the error rates behind it.

    FAKE       manipulation detected: the score is at or above ``t_fake``, a level that at most 5% of the
               calibration pool's real clips reach;
    UNCERTAIN  inconclusive: the score lies between the two thresholds, or the evidence is too thin to judge
               (too few frames with a face, or a face too small to see);
    NO_SIGN    no manipulation detected: the score is below ``t_no_sign``, under which at most 10% of the
               calibration pool's fakes fall. Not proof that the clip is authentic;
    NO_FACE    no face was found to judge.

A still image is judged with thresholds calibrated on single face crops, not as a thin video.

The rule lives in the checkpoint's ``info["decision"]`` (written by ``dfcore.training.calibrate``), with the
calibration pool's scores per domain, so every verdict can say how rare its score is among real clips and
among fakes. A checkpoint calibrated before the rule existed has one threshold: it is both thresholds (no
UNCERTAIN band from the score), and the result says so.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

FAKE, UNCERTAIN, NO_SIGN, NO_FACE = "FAKE", "UNCERTAIN", "NO_SIGN", "NO_FACE"
VERDICTS = (FAKE, UNCERTAIN, NO_SIGN, NO_FACE)  # the stable machine names of the JSON's "verdict"
VERDICT_LABELS = {FAKE: "FAKE", UNCERTAIN: "UNCERTAIN", NO_SIGN: "NO SIGN FOUND", NO_FACE: "NO FACE"}
# One sentence under each verdict, wherever it is shown.
VERDICT_SENTENCES = {
    FAKE: "Manipulation detected.",
    UNCERTAIN: "Inconclusive: the evidence does not point clearly either way.",
    NO_SIGN: "No sign of manipulation was found. This is not proof that the clip is authentic.",
    NO_FACE: "No face was found, so nothing was judged.",
}
EVIDENCE_NOT_PROOF = "Evidence, not proof"

# A still image whose face box fills at least this share of it (along its width or height) is a face crop, what a
# face tracker or a dataset of crops gives, judged by its own calibration: a tight crop, with no scene around the
# face, scores on another scale than a photo of a person.
CROP_MIN_FILL = 0.8

# Thin evidence: below these a video is UNCERTAIN whatever its score.
MIN_FACE_SHARE = 0.5  # the face must be found in at least this share of the sampled frames...
MIN_FACE_FRAMES = 8  # ...and in at least this many frames
MIN_FACE_SIDE = 64  # the face's short side, in the video's own pixels, in most frames with a face

# Reason codes (the JSON's decision.reasons) and their plain sentences.
REASON_SENTENCES = {
    "between_thresholds": "The score lies between the level at which the model calls FAKE and the level below which "
                          "it finds no sign of manipulation.",
    "face_in_few_frames": "The face was found in fewer than half of the analysed frames: too little to judge.",
    "few_face_frames": f"The face was found in fewer than {MIN_FACE_FRAMES} frames: too little to judge.",
    "small_face": f"The face is smaller than {MIN_FACE_SIDE} pixels in most frames: too small to judge.",
}


@dataclass(frozen=True)
class Thresholds:
    """The two cut points on the calibrated fake probability, for one kind of input."""

    fake: float  # at or above: FAKE
    no_sign: float  # below: NO_SIGN; between the two: UNCERTAIN (no_sign <= fake)
    fake_interval: tuple[float, float] | None = None  # 95% bootstrap interval of ``fake``
    no_sign_interval: tuple[float, float] | None = None  # ... and of ``no_sign``
    crossed: bool = False  # the fitted no_sign lay above fake: the model separates the pool, there is no band

    @classmethod
    def from_dict(cls, d: dict) -> "Thresholds":
        iv = lambda k: tuple(d[k]) if d.get(k) else None  # noqa: E731 (a local reader, not a function to name)
        return cls(float(d["t_fake"]), float(d["t_no_sign"]), iv("t_fake_interval"), iv("t_no_sign_interval"),
                   bool(d.get("crossed", False)))

    def to_dict(self) -> dict:
        return {"t_fake": self.fake, "t_no_sign": self.no_sign,
                "t_fake_interval": list(self.fake_interval) if self.fake_interval else None,
                "t_no_sign_interval": list(self.no_sign_interval) if self.no_sign_interval else None,
                "crossed": self.crossed}


@dataclass(frozen=True)
class ScorePool:
    """The calibration pool's scores, per domain and label, sorted: how rare a score is among reals and fakes.

    Domains count equally (the share of a label is the mean over the domains that have it), so no single
    source decides what "rare" means.
    """

    scores: dict[str, dict[str, list[float]]]  # domain -> "real" / "fake" -> sorted calibrated probabilities

    @classmethod
    def from_dict(cls, d: dict) -> "ScorePool":
        return cls({dom: {lab: sorted(float(x) for x in v) for lab, v in by.items() if v} for dom, by in d.items()})

    def share_at_or_above(self, p: float, label: str) -> float | None:
        """The domain-weighted share of ``label`` ("real"/"fake") pool items scoring ``p`` or higher."""
        shares = []
        for by in self.scores.values():
            s = by.get(label)
            if s:
                shares.append((len(s) - bisect.bisect_left(s, p)) / len(s))
        return sum(shares) / len(shares) if shares else None

    def share_below(self, p: float, label: str) -> float | None:
        at_or_above = self.share_at_or_above(p, label)
        return None if at_or_above is None else 1.0 - at_or_above


@dataclass(frozen=True)
class DecisionRule:
    """A checkpoint's verdict rule: thresholds for videos and for still images, and the pools behind them."""

    video: Thresholds
    image: Thresholds
    video_pool: ScorePool | None = None  # None: calibrated before pools were kept
    image_pool: ScorePool | None = None
    three_way: bool = True  # False: a checkpoint calibrated with one threshold (no UNCERTAIN band from the score)
    description: str = ""  # how the thresholds were set, in words
    # Still images' own Platt scaling (temperature, bias) of the clip logit: one face scores on another scale
    # than a clip's frames together. None: images share the clips' calibration.
    image_calibration: tuple[float, float] | None = None
    # Face crops (CROP_MIN_FILL) have their own thresholds, calibration and pool; None: a crop is judged as a photo.
    crop: Thresholds | None = None
    crop_calibration: tuple[float, float] | None = None
    crop_pool: ScorePool | None = None

    @classmethod
    def from_checkpoint_info(cls, info: dict, threshold: float) -> "DecisionRule":
        """The rule a checkpoint records (``info["decision"]``); a one-threshold rule for older checkpoints."""
        d = info.get("decision")
        if not d:
            one = Thresholds(threshold, threshold)
            return cls(one, one, three_way=False,
                       description="calibrated with one threshold: FAKE at or above it, NO SIGN FOUND below it")
        pool = lambda k: ScorePool.from_dict(d[k]) if d.get(k) else None  # noqa: E731
        platt = lambda k: (float(d[k]["temperature"]), float(d[k]["bias"])) if d.get(k) else None  # noqa: E731
        return cls(Thresholds.from_dict(d["video"]), Thresholds.from_dict(d["image"]),
                   pool("video_scores"), pool("image_scores"), description=str(d.get("rule", "")),
                   image_calibration=platt("image_calibration"),
                   crop=Thresholds.from_dict(d["crop"]) if d.get("crop") else None,
                   crop_calibration=platt("crop_calibration"), crop_pool=pool("crop_scores"))

    def thresholds(self, is_image: bool, is_crop: bool = False) -> Thresholds:
        if is_image and is_crop and self.crop is not None:
            return self.crop
        return self.image if is_image else self.video

    def pool(self, is_image: bool, is_crop: bool = False) -> ScorePool | None:
        if is_image and is_crop and self.crop is not None:
            return self.crop_pool
        return self.image_pool if is_image else self.video_pool

    def calibration(self, is_crop: bool) -> tuple[float, float] | None:
        """A still image's own Platt scaling (a crop's when it has one); None: the clips'."""
        return self.crop_calibration if is_crop and self.crop is not None else self.image_calibration


def is_face_crop(width: int, height: int, box: tuple[float, float, float, float] | None) -> bool:
    """Whether a still image of this size, with this face box (x, y, w, h), is a face crop (:data:`CROP_MIN_FILL`)."""
    if box is None or width <= 0 or height <= 0:
        return False
    return max(box[2] / width, box[3] / height) >= CROP_MIN_FILL


@dataclass
class Decision:
    verdict: str  # one of VERDICTS
    reasons: list[str] = field(default_factory=list)  # UNCERTAIN's reason codes (REASON_SENTENCES), else empty
    real_share: float | None = None  # share of calibration reals scoring at least this high (None: unknown)
    fake_share: float | None = None  # share of calibration fakes scoring at least this high
    compared_with: str = "videos"  # what the shares are of: "videos", "face images" or "face crops"

    def sentences(self) -> list[str]:
        return [REASON_SENTENCES[r] for r in self.reasons]


def thin_evidence(n_frames: int, n_with_face: int, face_sides: list[float], is_image: bool) -> list[str]:
    """Reason codes for evidence too thin to judge (empty: enough to judge).

    Args:
        n_frames: frames analysed.
        n_with_face: of those, frames in which the subject's face was found.
        face_sides: the face's short side in the video's own pixels, per frame with a face.
        is_image: a still image is judged on its one face (no frame-count rule).
    """
    reasons = []
    if not is_image:
        if n_with_face < MIN_FACE_SHARE * n_frames:
            reasons.append("face_in_few_frames")
        if n_with_face < MIN_FACE_FRAMES:
            reasons.append("few_face_frames")
    if face_sides and sum(s < MIN_FACE_SIDE for s in face_sides) > len(face_sides) / 2:
        reasons.append("small_face")
    return reasons


def decide(probability: float | None, rule: DecisionRule, *, is_image: bool, n_frames: int, n_with_face: int,
           face_sides: list[float], is_crop: bool = False) -> Decision:
    """The verdict for one analysis.

    Args:
        probability: the calibrated clip fake probability; None when no face was found.
        rule: the model's :class:`DecisionRule`.
        is_image: judge with the single-frame thresholds.
        is_crop: a still image that is a face crop (:func:`is_face_crop`): the crops' thresholds.
        n_frames, n_with_face, face_sides: the evidence (see :func:`thin_evidence`).

    Returns:
        The :class:`Decision`, with the rarity of the score in the calibration pool when the rule keeps one.
    """
    if probability is None:
        return Decision(NO_FACE)
    t = rule.thresholds(is_image, is_crop)
    pool = rule.pool(is_image, is_crop)
    real_share = pool.share_at_or_above(probability, "real") if pool else None
    fake_share = pool.share_at_or_above(probability, "fake") if pool else None
    verdict, reasons = verdict_from(probability, t, thin_evidence(n_frames, n_with_face, face_sides, is_image))
    crops = is_image and is_crop and rule.crop is not None
    what = "face crops" if crops else "face images" if is_image else "videos"
    return Decision(verdict, reasons, real_share, fake_share, what)


def verdict_from(probability: float, t: Thresholds, thin: list[str]) -> tuple[str, list[str]]:
    """The verdict and its reason codes for a score, given the thin-evidence reasons (:func:`thin_evidence`)."""
    if thin:
        return UNCERTAIN, list(thin)
    if probability >= t.fake:
        return FAKE, []
    if probability < t.no_sign:
        return NO_SIGN, []
    return UNCERTAIN, ["between_thresholds"]


def percent(p: float | None) -> str:
    """A probability or share in percent, as every surface shows it ("<1%" and ">99%" at the ends)."""
    if p is None:
        return "n/a"
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1:
        return ">99%"
    return f"{p:.0%}"


def rarity_sentence(decision: Decision) -> str | None:
    """How rare the score is, in plain words: "2% of real videos in calibration score this high; 71% of fakes do"."""
    if decision.real_share is None or decision.fake_share is None:
        return None
    return (f"{percent(decision.real_share)} of real {decision.compared_with} in calibration score this high; "
            f"{percent(decision.fake_share)} of fakes do.")
