"""Synthetic CNC-spindle vibration windows: one radial accelerometer, 8 kHz, 1024 samples.

Each window (128 ms, in g) is built from the physics of a milling spindle; everything is
drawn per window from ``np.random.default_rng(seed)``, so ``generate(n, seed)`` is fully
deterministic:

- spindle speed 3000-18000 rpm (shaft frequency f_r = rpm / 60, 50-300 Hz) with a slight
  speed ramp;
- shaft harmonics 1x, 2x, 3x with small random amplitudes and phases (the 1x residual
  imbalance grows with speed^2);
- cutting forces: 2-4 flutes, each tooth entry a smooth force pulse, so the tooth-passing
  frequency z * f_r and its harmonics appear, with f_r sidebands from tooth-to-tooth runout;
  every tooth entry also weakly excites the structural resonance;
- a lightly damped structural mode at 1.5-3 kHz (damping ratio 2-6 %), excited by impacts
  (tooth entries, bearing defects, breakage);
- occasional small random impacts (chips hitting the housing) in every class;
- a spindle bearing with 9-12 balls, ball-to-pitch diameter ratio d/D 0.2-0.3 and contact
  angle 0-25 degrees: BPFO = n/2 f_r (1 - d/D cos a), BPFI = n/2 f_r (1 + d/D cos a);
- white sensor noise at an SNR of 12-35 dB (against the clean signal), a sensor gain that
  varies between mountings and drifts slowly within the window, and a DC offset.

Classes (``CLASSES``): 0 normal; 1 imbalance (a strong 1x component, growing with speed^2);
2 outer-race defect (impacts at BPFO with 1-2 % slip jitter, each ringing the resonance);
3 inner-race defect (impacts at BPFI, amplitude-modulated at f_r as the defect passes
through the load zone); 4 tool breakage (a chipped tooth: one tooth's entry much stronger,
so a transient once per revolution, and/or a sudden large burst somewhere in the window).
Fault severities are drawn from ranges that start at mild faults, so a few windows are
masked by noise and the cutting vibration: a good small CNN does not reach 100 %.

    python examples/vibration/data.py [--out-dir examples/vibration]

writes calib.npz (key ``input``, float32 [64, 1, 1024], seed 2) and val.npz (``input``
float16 [1000, 1, 1024], ``labels`` int64 [1000], seed 3). Needs numpy only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FS = 8000  # sampling rate, Hz
N = 1024  # window length, samples (128 ms)
CLASSES = ("normal", "imbalance", "outer_race", "inner_race", "tool_breakage")

CALIB_SEED, VAL_SEED = 2, 3
CALIB_N, VAL_N = 64, 1000

_PAD = 384  # samples simulated before the window so that ringing and pulses are steady
_F_REF = 150.0  # Hz (9000 rpm): the speed at which speed-dependent amplitudes are quoted


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _resonance_kernel(fn: float, zeta: float) -> np.ndarray:
    """Impulse response of a damped mode (peak about 1), cut once it has decayed to ~1 %."""
    wn = 2 * np.pi * fn
    length = min(_PAD, int(np.ceil(4.6 / (zeta * wn) * FS)) + 1)
    t = np.arange(length) / FS
    return np.exp(-zeta * wn * t) * np.sin(wn * np.sqrt(1 - zeta**2) * t)


def _pulse_kernel(width: float) -> np.ndarray:
    """A smooth (Hann) cutting-force pulse ``width`` samples long, peak 1."""
    m = max(3, int(round(width)))
    return np.hanning(m + 2)[1:-1]


def _impulses(times: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """An impulse train on the padded grid; a time between samples is split between the two
    neighbours (linear interpolation), so impact timing is not rounded to 125 us."""
    buf = np.zeros(_PAD + N + 1)
    pos = (np.asarray(times) * FS) + _PAD
    keep = (pos >= 0) & (pos < _PAD + N)
    pos, amps = pos[keep], np.asarray(amps)[keep]
    i = np.floor(pos).astype(np.int64)
    frac = pos - i
    np.add.at(buf, i, amps * (1 - frac))
    np.add.at(buf, i + 1, amps * frac)
    return buf[:_PAD + N]


def _ring(train: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve a padded impulse train with a kernel and keep the window part."""
    return np.convolve(train, kernel)[_PAD:_PAD + N]


def _event_times(rate_hz: float, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Times of a periodic event covering the padded window, with a random phase and a
    relative jitter on each interval (bearing slip)."""
    period = 1.0 / rate_hz
    count = int(np.ceil((_PAD + N) / FS / period * 1.1)) + 2
    steps = period * (1 + jitter * rng.standard_normal(count))
    return -_PAD / FS - rng.uniform(0, period) + np.cumsum(steps)


def _window(label: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(N) / FS
    dur = N / FS

    # Spindle speed, with a slow ramp of up to +-1 % over the window.
    f_r = rng.uniform(3000, 18000) / 60.0
    ramp = rng.uniform(-0.01, 0.01)
    phase_r = 2 * np.pi * f_r * (t + ramp * t**2 / (2 * dur)) + rng.uniform(0, 2 * np.pi)
    speed2 = (f_r / _F_REF) ** 2

    x = np.zeros(N)

    # Shaft harmonics: residual imbalance (1x, grows with speed^2), misalignment (2x), 3x.
    x += _loguniform(rng, 0.01, 0.05) * speed2 * np.sin(phase_r)
    x += _loguniform(rng, 0.005, 0.04) * np.sin(2 * phase_r + rng.uniform(0, 2 * np.pi))
    x += _loguniform(rng, 0.002, 0.02) * np.sin(3 * phase_r + rng.uniform(0, 2 * np.pi))

    # Structural mode, excited by every impact below.
    fn = rng.uniform(1500, 3000)
    zeta = rng.uniform(0.02, 0.06)
    res = _resonance_kernel(fn, zeta)
    res_train = np.zeros(_PAD + N)

    # Cutting: z flutes, one force pulse per tooth entry, per-tooth runout and a weak
    # excitation of the mode at each entry. Tooth entry j of revolution k is at
    # (k + j/z + runout_j) / f_r.
    z = int(rng.integers(2, 5))
    f_tp = z * f_r
    a_cut = _loguniform(rng, 0.08, 0.8)
    duty = rng.uniform(0.25, 0.6)
    tooth_amp = 1 + rng.uniform(0.02, 0.12) * rng.standard_normal(z)
    tooth_off = rng.uniform(-0.01, 0.01, z)
    hit = _loguniform(rng, 0.02, 0.12) * a_cut
    if label == 4:
        broken = int(rng.integers(z))
        mode = rng.uniform()
        chipped = mode < 0.75  # else: burst only
        burst = mode > 0.5
        if chipped:
            # The chipped tooth cuts little; the next one takes the extra chip load and
            # strikes the workpiece much harder.
            nxt = (broken + 1) % z
            sev = _loguniform(rng, 0.6, 2.5)
            tooth_amp[broken] *= rng.uniform(0.3, 0.9)
            tooth_amp[nxt] *= 1 + 0.5 * sev
            strike = np.ones(z)
            strike[nxt] = 1 + _loguniform(rng, 4.0, 15.0) * sev
        else:
            strike = np.ones(z)
    else:
        burst = False
        strike = np.ones(z)
    revs = np.arange(-int(np.ceil(_PAD / FS * f_r * 1.02)) - 2,
                     int(np.ceil(dur * f_r * 1.02)) + 2)
    rev_phase0 = rng.uniform(0, 1)
    t_entries, a_entries, s_entries = [], [], []
    for j in range(z):
        frac = (revs + rev_phase0 + j / z + tooth_off[j]) / f_r
        # Convert revolution position to time with the speed ramp (first order).
        t_j = frac * (1 - ramp * frac / (2 * dur))
        t_entries.append(t_j)
        a_entries.append(np.full(t_j.shape, tooth_amp[j]))
        s_entries.append(np.full(t_j.shape, strike[j]))
    t_e = np.concatenate(t_entries)
    a_e = np.concatenate(a_entries) * (1 + 0.03 * rng.standard_normal(t_e.size))
    s_e = np.concatenate(s_entries) * (1 + 0.15 * rng.standard_normal(t_e.size))
    force = _ring(_impulses(t_e, a_e), _pulse_kernel(duty * FS / f_tp))
    x += a_cut * (force - force.mean())
    res_train += _impulses(t_e, hit * s_e)

    # Random chip impacts (any class): Poisson, small.
    n_chips = rng.poisson(0.5)
    if n_chips:
        res_train += _impulses(rng.uniform(-_PAD / FS, dur, n_chips),
                               rng.choice([-1, 1], n_chips)
                               * np.array([_loguniform(rng, 0.02, 0.2) for _ in range(n_chips)]))

    # Bearing geometry (drawn for every window; only faults use it).
    n_balls = int(rng.integers(9, 13))
    d_over_d = rng.uniform(0.2, 0.3)
    cos_a = np.cos(np.deg2rad(rng.uniform(0, 25)))
    speed_gain = 0.5 + 0.5 * f_r / _F_REF  # faster -> harder impacts
    if label == 1:
        x += _loguniform(rng, 0.1, 0.5) * speed2 * np.sin(phase_r + rng.normal(0, 0.3))
    elif label == 2:
        bpfo = n_balls / 2 * f_r * (1 - d_over_d * cos_a)
        times = _event_times(bpfo, rng.uniform(0.01, 0.02), rng)
        amp = _loguniform(rng, 0.08, 0.7) * speed_gain
        res_train += _impulses(times, amp * (1 + 0.1 * rng.standard_normal(times.size)))
    elif label == 3:
        bpfi = n_balls / 2 * f_r * (1 + d_over_d * cos_a)
        times = _event_times(bpfi, rng.uniform(0.01, 0.02), rng)
        amp = _loguniform(rng, 0.1, 0.8) * speed_gain
        depth = rng.uniform(0.8, 1.0)
        load = rng.uniform(0, 2 * np.pi)
        mod = (1 - depth) + depth * 0.5 * (1 + np.cos(2 * np.pi * f_r * times + load))
        res_train += _impulses(times, amp * mod * (1 + 0.1 * rng.standard_normal(times.size)))
    if burst:
        # A fragment breaking off: one large impact, sometimes a short cluster.
        t_b = rng.uniform(0.05, 0.9) * dur
        n_b = int(rng.integers(1, 4))
        t_bs = t_b + np.cumsum(rng.uniform(0, 0.004, n_b))
        a_bs = _loguniform(rng, 0.4, 3.0) * rng.uniform(0.4, 1.0, n_b)
        res_train += _impulses(t_bs, a_bs * rng.choice([-1, 1], n_b))

    x += _ring(res_train, res)

    # Sensor: white noise at a random SNR, mounting gain with a slow drift, DC offset.
    snr_db = rng.uniform(12, 35)
    x += rng.standard_normal(N) * np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20)
    gain = _loguniform(rng, 0.7, 1.4)
    drift = 1 + rng.uniform(-0.05, 0.05) * t / dur \
        + rng.uniform(0, 0.03) * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t
                                        + rng.uniform(0, 2 * np.pi))
    x = gain * drift * x + rng.uniform(-0.3, 0.3)
    return x.astype(np.float32)


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows: x float32 [n, 1, N] in g and y int64 [n] (labels into CLASSES),
    balanced (class counts differ by at most one), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    x = np.empty((n, 1, N), dtype=np.float32)
    for i, label in enumerate(y):
        x[i, 0] = _window(int(label), rng)
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    x, _ = generate(CALIB_N, CALIB_SEED)
    np.savez_compressed(args.out_dir / "calib.npz", input=x)
    x, y = generate(VAL_N, VAL_SEED)
    np.savez_compressed(args.out_dir / "val.npz", input=x.astype(np.float16), labels=y)
    for name in ("calib.npz", "val.npz"):
        path = args.out_dir / name
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
