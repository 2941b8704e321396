"""Answering-machine detection benchmark: the node's detector and a baseline on one labelled corpus.

    .venv/bin/python tools/bench/amd.py [--scale 1.0] [--seed 1] [--workers 2] [--quick]

The corpus (tools/vectors/amd_corpus.py: espeak-ng people and greetings in 12 languages and every
variant, beeps, silence, noise, background noise, G.711) is generated at run time. Its tuning and
held-out parts were fixed before tuning. Every clip is fed, as a channel of one batched detector,
from the moment of the answer. Printed, for the tuning part, the held-out part and all:

* the confusion matrix of the final decision (truth x human/machine/unknown), accuracy, the rate
  of people classified as machines, accuracy per category;
* when the final decision came (p50/p95/max after the answer), and when a person got the prompt:
  the first ``human`` decision, final or presumed (p50/p95/max; for people who say a short word,
  also the floor), and how many machines got a presumed ``human`` first (their prompt started and
  was stopped);
* beeps: found (a reported beep whose end is within 100 ms of a true beep's end), end-time error
  (mean and p95 of |error|), beeps reported on clips without one;
* CPU: channels in real time per core (process CPU, one BLAS thread), frame by frame (1 channel)
  and batched (100 and 1,000 channels), every channel listening all the time;
* the baseline, measured in the same run on the same clips: Asterisk's app_amd rules with the
  defaults of its amd.conf.sample (silence = mean |sample| < 256; initial silence 2,500 ms ->
  MACHINE; greeting 1,500 ms of voice -> MACHINE; 800 ms silence after the greeting -> HUMAN;
  words of >= 100 ms separated by >= 50 ms, 2 words -> MACHINE; 5,000 ms -> NOTSURE).

Floors (exit status 1 if one is missed): >= 95 % correct on the held-out part; people classified
as machines <= 2 % (held-out and all); every final decision within 4 s of the answer; every
person who says a short word ("Hello?") that ends by 1.2 s gets a ``human`` decision (the prompt may
start) within 1.5 s of the answer, and one whose word ends later within 0.5 s of its end.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path[0] = str(ROOT)  # run as a script, sys.path[0] is tools/bench, whose email.py shadows the stdlib

from alertnode.media import amd  # noqa: E402
from alertnode.media.amd import AmdBeep, AmdConfig, AmdDecision, AmdDetector, Verdict  # noqa: E402
from tools.vectors import amd_corpus  # noqa: E402
from tools.vectors.amd_corpus import Clip  # noqa: E402

TRUTHS = ("human", "machine", "unknown")
FLOOR_HELDOUT_ACCURACY = 0.95
FLOOR_HUMAN_AS_MACHINE = 0.02
FLOOR_DECISION_MS = 4000.0
FLOOR_PROMPT_MS = 1500.0
FLOOR_WORD_END_MS = 1200.0
FLOOR_AFTER_WORD_MS = 500.0
SHORT_WORD_CATEGORIES = ("human_word", "human_again")
BEEP_MATCH_MS = 100.0


@dataclass
class Outcome:
    clip: Clip
    verdict: str  # final verdict ("" if none came)
    decided_ms: float  # after the answer (inf if none)
    first_human_ms: float  # first human decision, final or presumed (inf if none)
    presumed_then_machine: bool
    beeps: list[AmdBeep] = field(default_factory=list)


def run_detector(clips: Sequence[Clip], config: AmdConfig | None = None, seconds: float | None = None) -> list[Outcome]:
    """All clips as channels of batched detectors (128 at a time, by length), answered at 0 ms."""
    out: dict[int, Outcome] = {}
    order = sorted(range(len(clips)), key=lambda i: len(clips[i].samples))
    for b in range(0, len(order), 128):
        group = order[b : b + 128]
        n = max(len(clips[i].samples) for i in group)
        if seconds is not None:
            n = min(n, int(seconds * amd.SAMPLE_RATE))
        n -= n % amd.FRAME
        audio = np.zeros((len(group), n), dtype=np.int16)
        for r, i in enumerate(group):
            s = clips[i].samples[:n]
            audio[r, : len(s)] = s
        det = AmdDetector(len(group), config)
        for r in range(len(group)):
            det.start(r, 0.0)
        res = [Outcome(clips[i], "", float("inf"), float("inf"), False) for i in group]
        for t in range(n // amd.FRAME):
            for ev in det.process(audio[:, t * amd.FRAME : (t + 1) * amd.FRAME], t * amd.FRAME_MS):
                o = res[ev.channel]
                if isinstance(ev, AmdBeep):
                    o.beeps.append(ev)
                elif isinstance(ev, AmdDecision):
                    if ev.verdict is Verdict.HUMAN:
                        o.first_human_ms = min(o.first_human_ms, ev.after_answer_ms)
                    if ev.verdict is Verdict.MACHINE and o.first_human_ms < float("inf"):
                        o.presumed_then_machine = True
                    if ev.final:
                        o.verdict, o.decided_ms = ev.verdict.value, ev.after_answer_ms
        for r, i in enumerate(group):
            out[i] = res[r]
    return [out[i] for i in range(len(clips))]


def asterisk_amd(x: np.ndarray) -> tuple[str, float]:
    """Asterisk app_amd's rules with amd.conf.sample's defaults (see the module docstring)."""
    frames = len(x) // 160
    silent = np.abs(x[: frames * 160].astype(np.int32)).reshape(frames, 160).mean(axis=1) < 256
    initial, greeting_limit, after, total = 2500, 1500, 800, 5000
    min_word, between, max_words, max_word = 100, 50, 2, 5000
    silence = voice = consecutive = words = 0
    in_initial, in_greeting, in_word = True, False, True
    t = 0
    for k in range(frames):
        t += 20
        if t >= total:
            return "unknown", float(t)
        if silent[k]:
            silence += 20
            if silence >= between:
                in_word, consecutive = False, 0
            if in_initial and silence >= initial:
                return "machine", float(t)
            if in_greeting and silence >= after:
                return "human", float(t)
        else:
            silence = 0
            consecutive += 20
            voice += 20
            if consecutive >= min_word and not in_word:
                words += 1
                in_word = True
            if consecutive >= max_word or words >= max_words or (in_greeting and voice >= greeting_limit):
                return "machine", float(t)
            if consecutive >= min_word and not in_greeting:
                in_initial, in_greeting = False, True
    return "unknown", float(t)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def report(title: str, outcomes: Sequence[Outcome], verdict_of: Callable[[Outcome], str]) -> dict[str, float]:
    """Print the confusion matrix and rates; returns accuracy and human->machine rate."""
    n = len(outcomes)
    print(f"\n-- {title}: {n} clips")
    head = "truth / decided"
    print(f"{head:16s} {'human':>7s} {'machine':>8s} {'unknown':>8s} {'none':>5s}")
    for truth in TRUTHS:
        row = [o for o in outcomes if o.clip.truth == truth]
        counts = [sum(verdict_of(o) == v for o in row) for v in (*TRUTHS, "")]
        print(f"{truth:16s} {counts[0]:7d} {counts[1]:8d} {counts[2]:8d} {counts[3]:5d}")
    correct = sum(verdict_of(o) == o.clip.truth for o in outcomes)
    humans = [o for o in outcomes if o.clip.truth == "human"]
    h2m = sum(verdict_of(o) == "machine" for o in humans) / max(1, len(humans))
    acc = correct / max(1, n)
    print(f"accuracy {acc:6.1%}   people classified as machines {h2m:5.1%} ({len(humans)} people)")
    return {"accuracy": acc, "h2m": h2m}


def by_category(outcomes: Sequence[Outcome], verdict_of: Callable[[Outcome], str]) -> None:
    print(f"\n{'category':20s} {'tune':>11s} {'held-out':>11s}")
    for cat in amd_corpus.CATEGORIES:
        cells = []
        for split in ("tune", "heldout"):
            os_ = [o for o in outcomes if o.clip.category == cat and o.clip.split == split]
            ok = sum(verdict_of(o) == o.clip.truth for o in os_)
            cells.append(f"{ok:4d}/{len(os_):<4d}")
        print(f"{cat:20s} {cells[0]:>11s} {cells[1]:>11s}")


def _dist(label: str, values: Sequence[float]) -> None:
    finite = [v for v in values if v != float("inf")]
    never = len(values) - len(finite)
    print(
        f"{label:58s} p50 {pct(finite, 50):6.0f}  p95 {pct(finite, 95):6.0f}  "
        f"max {max(finite, default=float('nan')):6.0f}" + (f"  ({never} never)" if never else "")
    )


def by_condition(outcomes: Sequence[Outcome], verdict_of: Callable[[Outcome], str]) -> None:
    """Accuracy per background noise and per codec (all clips with speech)."""
    speech = [o for o in outcomes if o.clip.voice]
    rows: dict[str, list[Outcome]] = {}
    for o in speech:
        rows.setdefault(f"{o.clip.noise} {o.clip.snr_db or '':>4}", []).append(o)
        rows.setdefault(f"codec {o.clip.codec}", []).append(o)
    print(f"\n{'condition (clips with speech)':30s} {'correct':>12s} {'people as machines':>19s}")
    for key in sorted(rows):
        os_ = rows[key]
        ok = sum(verdict_of(o) == o.clip.truth for o in os_)
        people = [o for o in os_ if o.clip.truth == "human"]
        h2m = sum(verdict_of(o) == "machine" for o in people)
        print(f"{key:30s} {ok:5d}/{len(os_):<5d}  {h2m:9d}/{len(people):<5d}")


def timing(outcomes: Sequence[Outcome]) -> tuple[bool, bool]:
    print()
    _dist("final decision, ms after the answer, all", [o.decided_ms for o in outcomes])
    for truth in TRUTHS:
        _dist(f"  ... {truth}", [o.decided_ms for o in outcomes if o.clip.truth == truth])
    decided = [o.decided_ms for o in outcomes]
    humans = [o for o in outcomes if o.clip.truth == "human"]
    _dist("people: prompt may start (first human decision), ms", [o.first_human_ms for o in humans])
    _dist(
        "people: ... ms after the end of their first words",
        [o.first_human_ms - (o.clip.first_end_ms or 0.0) for o in humans],
    )
    short = [o for o in humans if o.clip.category in SHORT_WORD_CATEGORIES]
    # Detection never delays a person: one who said a short word by 1.2 s hears the prompt by 1.5 s;
    # one who was still speaking then hears it within 0.5 s of the end of the word.
    late = [
        o
        for o in short
        if o.first_human_ms > max(FLOOR_PROMPT_MS, (o.clip.first_end_ms or 0.0) + FLOOR_AFTER_WORD_MS)
        or ((o.clip.first_end_ms or 0.0) <= FLOOR_WORD_END_MS and o.first_human_ms > FLOOR_PROMPT_MS)
    ]
    early = [o.first_human_ms for o in short if (o.clip.first_end_ms or 0.0) <= FLOOR_WORD_END_MS]
    _dist(f"people whose short word ended by 1.2 s ({len(early)}): prompt, ms", early)
    names = [o.clip.name for o in late]
    print(f"people saying a short word whose prompt came late: {len(late)} of {len(short)} {names}")
    machines = [o for o in outcomes if o.clip.truth == "machine"]
    revised = sum(o.presumed_then_machine for o in machines)
    print(f"machines presumed human first (prompt started, then stopped): {revised} of {len(machines)}")
    return max(decided) <= FLOOR_DECISION_MS, not late


def beeps(outcomes: Sequence[Outcome]) -> None:
    with_beep = [o for o in outcomes if o.clip.beeps]
    found, errors = 0, []
    for o in with_beep:
        hits = [(b, t) for b in o.beeps for t in o.clip.beeps if abs(b.end_ms - t.end_ms) <= BEEP_MATCH_MS]
        if hits:
            found += 1
            b, t = min(hits, key=lambda h: abs(h[0].end_ms - h[1].end_ms))
            errors.append(b.end_ms - t.end_ms)
    false = sum(len(o.beeps) for o in outcomes if not o.clip.beeps)
    extra = sum(
        sum(all(abs(b.end_ms - t.end_ms) > BEEP_MATCH_MS for t in o.clip.beeps) for b in o.beeps) for o in with_beep
    )
    abs_err = np.abs(errors) if errors else np.array([np.nan])
    print(
        f"\nbeeps: found {found}/{len(with_beep)} ({found / max(1, len(with_beep)):.1%}); end time error "
        f"mean {np.mean(errors) if errors else float('nan'):+.1f} ms, |error| p95 {np.percentile(abs_err, 95):.0f} ms; "
        f"false beeps: {false} on {len(outcomes) - len(with_beep)} clips without beep, {extra} extra on clips with one"
    )


def throughput(clips: Sequence[Clip], seconds: float, repeats: int, config: AmdConfig) -> None:
    print("\n== CPU (channels in real time per core; process CPU time, one BLAS thread; all channels listening)")
    audio = np.concatenate([c.samples for c in clips if c.truth == "machine"])
    total_frames = len(audio) // amd.FRAME
    rng = np.random.default_rng(1)
    # Every channel stays undecided-or-machine (listening): the detector's worst case.
    cfg = dataclasses.replace(config, max_decision_ms=1e9, prompt_deadline_ms=1e9, human_silence_ms=1e9)
    for channels in (1, 4, 100, 1000):
        ticks = max(50, int(seconds * 50))
        offsets = rng.integers(0, total_frames - ticks - 1, channels)
        frames = [audio[((offsets + t) * amd.FRAME)[:, None] + np.arange(amd.FRAME)[None, :]] for t in range(ticks)]
        runs = []
        for _ in range(repeats):
            det = AmdDetector(channels, cfg)
            for ch in range(channels):
                det.start(ch, 0.0)
            t0 = time.process_time()
            for t in range(ticks):
                det.process(frames[t], t * amd.FRAME_MS)
            runs.append(time.process_time() - t0)
        audio_s = ticks * amd.FRAME_MS / 1000
        label = "one call" if channels == 1 else f"batched {channels}"
        print(
            f"node {label:16s}: {min(runs) * 1e3 / ticks:7.3f} ms CPU per 20 ms tick -> "
            f"{channels * audio_s / min(runs):8.0f} best, {channels * audio_s / float(np.median(runs)):8.0f} median "
            f"of {repeats}"
        )
    n = min(len(audio), 300 * amd.SAMPLE_RATE)
    t0 = time.process_time()
    for k in range(0, n - 5 * amd.SAMPLE_RATE, 5 * amd.SAMPLE_RATE):
        asterisk_amd(audio[k : k + 5 * amd.SAMPLE_RATE])
    cpu = time.process_time() - t0
    print(f"baseline (app_amd rules, numpy + Python loop, one stream): {n / amd.SAMPLE_RATE / cpu:8.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="corpus size (1.0 = 840 clips)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes synthesizing the corpus")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio seconds per channel in CPU runs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a quarter of the corpus, 3 s CPU runs")
    ap.add_argument(
        "--only", choices=("all", "tune", "heldout"), default="all", help="tune: for tuning (floors not judged)"
    )
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an AmdConfig field")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU runs")
    args = ap.parse_args()
    if args.quick:
        args.scale, args.seconds = 0.25, 3.0
    config = AmdConfig(**{k: type(getattr(AmdConfig(), k))(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    t0 = time.monotonic()
    clips = [c for c in amd_corpus.corpus(args.seed, args.scale, args.workers) if args.only in ("all", c.split)]
    audio_h = sum(len(c.samples) for c in clips) / amd.SAMPLE_RATE / 3600
    print(f"corpus: {len(clips)} clips, {audio_h:.2f} h of audio, synthesized in {time.monotonic() - t0:.0f} s")
    print(
        f"held out: languages {sorted(amd_corpus.HELDOUT_LANGUAGES)}, voices {sorted(amd_corpus.HELDOUT_VOICES)}, "
        f"{sum(amd_corpus.is_heldout('', '', v) for v in amd_corpus.variants())} of "
        f"{len(amd_corpus.variants())} variants; {sum(c.split == 'heldout' for c in clips)} clips"
    )
    if config != AmdConfig():
        print(f"config: {config}")
    t0 = time.process_time()
    outcomes = run_detector(clips, config)
    print(f"detector: {time.process_time() - t0:.1f} s CPU for the whole corpus")

    print("\n== node detector (final decision)")
    node: Callable[[Outcome], str] = lambda o: o.verdict  # noqa: E731
    parts = {split: [o for o in outcomes if o.clip.split == split] for split in ("tune", "heldout")}
    results = {split: report(f"{split} part", os_, node) for split, os_ in parts.items() if os_}
    every = report("all", outcomes, node)
    by_category(outcomes, node)
    by_condition(outcomes, node)
    decision_ok, prompt_ok = timing(outcomes)
    beeps(outcomes)

    print("\n== baseline: Asterisk app_amd rules, amd.conf.sample defaults")
    base = {id(o): asterisk_amd(o.clip.samples) for o in outcomes}
    ast: Callable[[Outcome], str] = lambda o: base[id(o)][0]  # noqa: E731
    for split, os_ in parts.items():
        if os_:
            report(f"{split} part", os_, ast)
    report("all", outcomes, ast)
    by_category(outcomes, ast)
    bt = [t for _, t in base.values()]
    print(f"decision after the answer (ms): p50 {pct(bt, 50):6.0f}  p95 {pct(bt, 95):6.0f}  max {max(bt):6.0f}")

    if not args.no_cpu:
        throughput(clips, args.seconds, args.repeats, config)

    if "heldout" not in results:
        print("\n== floors: judged on the held-out part only (run without --only tune)")
        return 0
    held = results["heldout"]
    checks = [
        (f">= {FLOOR_HELDOUT_ACCURACY:.0%} correct on the held-out part", held["accuracy"] >= FLOOR_HELDOUT_ACCURACY),
        (
            f"people classified as machines <= {FLOOR_HUMAN_AS_MACHINE:.0%} (held-out and all)",
            held["h2m"] <= FLOOR_HUMAN_AS_MACHINE and every["h2m"] <= FLOOR_HUMAN_AS_MACHINE,
        ),
        ("every final decision within 4 s of the answer", decision_ok),
        ("a short word gets a human decision in time (1.5 s)", prompt_ok),
    ]
    print("\n== floors")
    for label, ok in checks:
        print(f"{label:58s} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
