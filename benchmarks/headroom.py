"""How many bits a better model of the codes could save: the entropy model's headroom (issue 37).

    python -m benchmarks.headroom export [DATA]   # codes the shipped encoder writes, at 3 qualities
    python -m benchmarks.headroom train           # a float conditional model of those codes
    python -m benchmarks.headroom report          # its cross-entropy against the shipped tables
    python -m benchmarks.headroom regimes [S] [BLOCK] [GROUPS] [PHOTOS]  # side information, in integers
    python -m benchmarks.headroom gray [PHOTOS]   # count tables of grayscale images' own codes

``export`` encodes every photo of DATA (default ../shared/data/train) with the shipped model at
effort 0 and keeps, per photo and quality, the index maps (M, h, w) the file holds and the
ideal bits the shipped integer tables spend on each codebook (``Prior.codebook_bits``, the
adaptation included); the 8 photos ``data.split_holdout`` holds aside are the report's test set.

``train`` fits one float network p(x[m] at a position | what a decoder has then): every
earlier codebook's decoded values in a 5 x 5 window, and codebook m's own codes at positions of
earlier phases (``prior.phase_of``), told which codebook, phase and quality it codes
(``train STEPS Q`` trains on the quality of index Q alone). Its logits are a correction added to
the log-probabilities of the shipped count table's row for that position (class and shift from
``prior.schedule``, without the per-image adaptation), and the correction starts at zero: the
network starts where the static tables are and can only be credited with what it adds. Nothing
of it is integer or shippable: it estimates what a learned entropy model in the same order could
gain (docs/training.md).

``regimes`` measures the simplest integer side information a decoder could read before the codes:
for each block of BLOCK x BLOCK latents and each of GROUPS runs of codebooks, which of S variants of
the count tables its positions code under (quality 55's table set, static rows, no adaptation).
The variants are fitted by hard EM on PHOTOS training photos (start: the blocks sorted by their
cost under the shipped tables into S quantiles; then count each variant's tables on its blocks,
give each block the variant that codes it in the fewest bits, six times). On the held-out photos
it reports the bits of the shipped tables (with their adaptation), of the static rows, and of the
variants, each block choosing its best, plus the choices' own bits (their entropy over training).
BLOCK 0 means one block per image: an image-level summary.

``gray`` codes PHOTOS training photos (a seeded random choice) converted to grayscale at quality
55, counts quality 55's table rows on their codes (each row starting from the shipped row, worth
64 counts), and reports on the held-out photos, also converted, the bits of the shipped tables,
the static rows, and these gray tables: what a file's flag "gray: code under the gray tables"
would be worth (issue 40).

Everything goes to ~/.cache/vqcodec/headroom (CACHE); nothing here is part of the codec.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("VQCODEC_CACHE", Path.home() / ".cache" / "vqcodec")) / "headroom"
QUALITIES = (20, 55, 90)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "train"
HELD_OUT = 8


def export(data: Path = DEFAULT_DATA) -> None:
    import vqcodec
    from vqcodec import bitstream
    from vqcodec.training.data import list_images, load_rgb, split_holdout

    model = vqcodec.load_model()
    train, held = split_holdout(list_images(data), HELD_OUT)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "split.json").write_text(json.dumps({"train": [p.name for p in train], "held": [p.name for p in held],
                                                  "model": model.fingerprint.hex()}))
    start = time.time()
    for n, path in enumerate(train + held):
        out = CACHE / f"{path.stem}.npz"
        if out.exists():
            continue
        rgb = load_rgb(path)
        maps, bits, sizes = [], [], []
        for q in QUALITIES:
            container = bitstream.unpack(vqcodec.compress(rgb, q, model))
            h, w = math.ceil(rgb.shape[0] / 8), math.ceil(rgb.shape[1] / 8)
            indices = model.coder.decode(container.payload, h, w, q)[0]
            maps.append(indices.astype(np.uint16))
            bits.append(model.prior.codebook_bits(indices, q))
            sizes.append(len(container.payload))
        np.savez(out, indices=np.stack(maps), bits=np.stack(bits), payload=np.array(sizes))
        print(f"{n + 1}/{len(train) + len(held)} {path.name} {time.time() - start:.0f} s", flush=True)


def _load(names: list[str]) -> list[dict]:
    return [dict(np.load(CACHE / f"{Path(n).stem}.npz")) for n in names]


class _Net:
    """The conditional model (torch): inputs are the earlier codebooks' values (channels >= m
    zeroed), codebook m's values where known and a mask of them, an embedding of m and the
    phase; outputs the K logits of codebook m at every position."""

    def __init__(self, m_count: int, k: int, width: int = 96) -> None:
        import torch
        from torch import nn

        self.torch = torch
        self.m_count, self.k = m_count, k
        self.embed = nn.Embedding(m_count, 16)
        self.body = nn.Sequential(
            nn.Conv2d(m_count + 2 + 16 + 5 + len(QUALITIES), width, 5, padding=2), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU())
        self.head = nn.Linear(width, k)  # applied only where codes are scored
        nn.init.zeros_(self.head.weight)  # a zero correction: the static tables' own probabilities
        nn.init.zeros_(self.head.bias)
        self.params = [*self.embed.parameters(), *self.body.parameters(), *self.head.parameters()]

    def logits(self, values, codes_m, known, m, phase, quality, where, base):
        """Logits (N, K) at the N positions ``where`` (B, h, w) bool marks: ``base`` (N, K), the
        static tables' log-probabilities there, plus the network's correction. values (B, M, h, w)
        float; codes_m (B, h, w) values of codebook m; known (B, h, w) bool; m, phase, quality (B,)
        long (quality as its index in QUALITIES)."""
        torch = self.torch
        b, _, h, w = values.shape
        channel = torch.arange(self.m_count)[None, :, None, None]
        earlier = values * (channel < m[:, None, None, None])
        own = (codes_m * known)[:, None]
        emb = self.embed(m)[:, :, None, None].expand(b, 16, h, w)
        ph = torch.nn.functional.one_hot(phase, 5).float()[:, :, None, None].expand(b, 5, h, w)
        qu = torch.nn.functional.one_hot(quality, len(QUALITIES)).float()[:, :, None, None].expand(b, -1, h, w)
        features = self.body(torch.cat([earlier, own, known[:, None].float(), emb, ph, qu], 1))
        return base + self.head(features.permute(0, 2, 3, 1)[where])

    def state(self) -> dict:
        return {"embed": self.embed.state_dict(), "body": self.body.state_dict(), "head": self.head.state_dict()}

    def load(self, state: dict) -> None:
        self.embed.load_state_dict(state["embed"])
        self.body.load_state_dict(state["body"])
        self.head.load_state_dict(state["head"])


def _values(model, indices: np.ndarray, q: int) -> np.ndarray:
    """Decoded values (M, h, w) of index maps at quality q (1-D codebooks)."""
    table = model.decoded_codes(q)[..., 0]  # (M, K)
    return np.take_along_axis(table, indices.reshape(indices.shape[0], -1).astype(np.int64), 1).reshape(indices.shape)


def _table_rows(model, indices: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """The static table class and shift (M, h, w) of every position of index maps at quality q,
    as ``prior.schedule`` gives them to a decoder (adaptation left out)."""
    from vqcodec.prior import schedule

    m_count, h, w = indices.shape
    classes, shifts = np.zeros((m_count, h * w), np.uint8), np.zeros((m_count, h * w), np.int64)
    for m, pos, ctx, shift in schedule(model.prior.zero, model.prior.size, indices.astype(np.int64)):
        classes[m, pos] = model.prior.class_of(q, m)[ctx]
        shifts[m, pos] = shift
    return classes.reshape(m_count, h, w), shifts.reshape(m_count, h, w)


def _base(log_tables, m, classes, shifts):
    """Log-probabilities (N, K) of every index value under the static rows: ``log_tables``
    (M, C, K), m/classes/shifts (N,) long. A position codes (index - shift) mod K."""
    import torch

    k = log_tables.shape[-1]
    rows = log_tables[m, classes]  # (N, K) over coded symbols
    return torch.gather(rows, 1, (torch.arange(k)[None] - shifts[:, None]) % k)


def _log_tables(model, q: int):
    import torch

    counts = model.prior.table_set(int(model.prior.table_of_quality[q])).astype(np.float64)
    return torch.tensor(np.log(counts / counts.sum(-1, keepdims=True)), dtype=torch.float32)


def train(steps: int = 3000, only: int = -1, crop: int = 24, batch: int = 32, seed: int = 0) -> None:
    """``steps`` of Adam on random crops, codebooks and phases; ``only`` >= 0 trains on that index of
    QUALITIES alone (a run's budget is spread over fewer distributions)."""
    import torch

    import vqcodec
    from vqcodec.prior import phase_of

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = vqcodec.load_model()
    split = json.loads((CACHE / "split.json").read_text())
    photos = _load([n for n in split["train"] if (CACHE / f"{Path(n).stem}.npz").exists()])  # as far as exported
    print(f"training on the codes of {len(photos)} photos", flush=True)
    m_count, k = model.prior.num_codebooks, model.prior.size
    values = {q: [_values(model, p["indices"][i], q) for p in photos] for i, q in enumerate(QUALITIES)}
    rows = {q: [_table_rows(model, p["indices"][i], q) for p in photos] for i, q in enumerate(QUALITIES)
            if only < 0 or i == only}
    logs = {q: _log_tables(model, q) for q in rows}
    net = _Net(m_count, k)
    opt = torch.optim.Adam(net.params, lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start, gain = time.time(), 0.0
    for step in range(steps):
        qi = only if only >= 0 else int(rng.integers(len(QUALITIES)))
        xs, cs, ks, ms, ps, ts, ws, cls, shs = [], [], [], [], [], [], [], [], []
        for i in range(batch):
            n = int(rng.integers(len(photos)))
            idx, val = photos[n]["indices"][qi], values[QUALITIES[qi]][n]
            _, h, w = idx.shape
            r0, c0 = int(rng.integers(0, max(1, h - crop + 1))), int(rng.integers(0, max(1, w - crop + 1)))
            # phases of the whole map, cropped: a crop's positions keep the decoder's order
            phase = phase_of(h, w)[r0:r0 + crop, c0:c0 + crop]
            m, p = (step * batch + i) % m_count, int(rng.integers(5))  # every codebook in turn
            v = val[:, r0:r0 + crop, c0:c0 + crop]
            pad = ((0, 0), (0, crop - v.shape[1]), (0, crop - v.shape[2]))
            xs.append(np.pad(v, pad))
            cs.append(np.pad(v[m], pad[1:]))
            ks.append(np.pad(phase < p, pad[1:]))
            ts.append(np.pad(idx[m, r0:r0 + crop, c0:c0 + crop].astype(np.int64), pad[1:]))
            ws.append(np.pad(phase == p, pad[1:]))
            cls.append(np.pad(rows[QUALITIES[qi]][n][0][m, r0:r0 + crop, c0:c0 + crop].astype(np.int64), pad[1:]))
            shs.append(np.pad(rows[QUALITIES[qi]][n][1][m, r0:r0 + crop, c0:c0 + crop], pad[1:]))
            ms.append(m)
            ps.append(p)
        where = torch.tensor(np.stack(ws))
        m_of = torch.tensor(ms)[:, None, None].expand(where.shape)[where]
        base = _base(logs[QUALITIES[qi]], m_of, torch.tensor(np.stack(cls))[where], torch.tensor(np.stack(shs))[where])
        logits = net.logits(torch.tensor(np.stack(xs), dtype=torch.float32), torch.tensor(np.stack(cs), dtype=torch.float32),
                            torch.tensor(np.stack(ks)), torch.tensor(ms), torch.tensor(ps), torch.tensor([qi] * batch), where, base)
        target = torch.tensor(np.stack(ts))[where]
        loss = torch.nn.functional.cross_entropy(logits, target) / math.log(2)
        static = torch.nn.functional.cross_entropy(base, target) / math.log(2)
        gain = 0.98 * gain + 0.02 * float(loss.detach() - static) if step else float(loss.detach() - static)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step} bits/code {loss.item():.3f} (static tables {static.item():.3f}; "
                  f"running gain {gain:+.4f}) {time.time() - start:.0f} s", flush=True)
            torch.save({**net.state(), "qualities": [only] if only >= 0 else list(range(len(QUALITIES))),
                        "steps": step + 1}, CACHE / "net.pt")


def report() -> None:
    import torch

    import vqcodec
    from vqcodec.prior import phase_of

    model = vqcodec.load_model()
    split = json.loads((CACHE / "split.json").read_text())
    net = _Net(model.prior.num_codebooks, model.prior.size)
    state = torch.load(CACHE / "net.pt")
    net.load(state)
    held = _load(split["held"])
    m_count = model.prior.num_codebooks
    rows = {}
    with torch.inference_mode():
        for qi, q in enumerate(QUALITIES):
            if qi not in state["qualities"]:
                continue
            learned, static, shipped = np.zeros(m_count), np.zeros(m_count), np.zeros(m_count)
            logs = _log_tables(model, q)
            for photo in held:
                idx = photo["indices"][qi]
                val = torch.tensor(_values(model, idx, q), dtype=torch.float32)[None]
                phase = phase_of(*idx.shape[1:])
                target = torch.tensor(idx.astype(np.int64))
                classes, shifts = (torch.tensor(a.astype(np.int64)) for a in _table_rows(model, idx, q))
                for m in range(m_count):
                    for p in range(5):
                        at = torch.tensor(phase == p)
                        if not at.any():
                            continue
                        base = _base(logs, torch.full((int(at.sum()),), m), classes[m][at], shifts[m][at])
                        logits = net.logits(val, val[:, m], torch.tensor(phase < p)[None], torch.tensor([m]),
                                            torch.tensor([p]), torch.tensor([qi]), at[None], base)
                        for out, x in ((learned, logits), (static, base)):
                            out[m] += float(torch.nn.functional.cross_entropy(x, target[m][at], reduction="sum")) / math.log(2)
                shipped += photo["bits"][qi]
            rows[q] = (learned, shipped)
            fixed = model.prior.adaptive[model.prior.table_of_quality[q]] == 0  # where shipped = static rows
            print(f"quality {q}: the {int(fixed.sum())} codebooks that do not adapt: learned "
                  f"{100 * (learned[fixed].sum() / shipped[fixed].sum() - 1):+.2f}% against their tables; the "
                  f"{int((~fixed).sum())} that adapt: learned {100 * (learned[~fixed].sum() / shipped[~fixed].sum() - 1):+.1f}%, "
                  f"static rows {100 * (static[~fixed].sum() / shipped[~fixed].sum() - 1):+.1f}%", flush=True)
            print(f"quality {q} ({state['steps']} steps): shipped tables {shipped.sum() / 8 / 1024:.1f} KiB, "
                  f"static rows alone {static.sum() / 8 / 1024:.1f} KiB ({100 * (static.sum() / shipped.sum() - 1):+.1f}%), "
                  f"learned {learned.sum() / 8 / 1024:.1f} KiB ({100 * (learned.sum() / shipped.sum() - 1):+.1f}%)", flush=True)
    for q, (learned, shipped) in rows.items():
        worst = np.argsort(learned / np.maximum(shipped, 1) - 1)
        print(f"q{q} per codebook (learned/shipped - 1): first 8 " +
              " ".join(f"{m}:{100 * (learned[m] / max(shipped[m], 1) - 1):+.0f}%" for m in range(8)) +
              f"; best {worst[0]}: {100 * (learned[worst[0]] / max(shipped[worst[0]], 1) - 1):+.0f}%")


def _positions(model, idx: np.ndarray, q: int, block: int, groups: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Every position of index maps ``idx`` (M, h, w) as its table key ((m * C + class) * K + coded
    symbol) and its unit (block * groups + group); and how many units the image has."""
    m_count, h, w = idx.shape
    c_count, k = model.prior.num_classes, model.prior.size
    classes, shifts = _table_rows(model, idx, q)
    symbols = (idx.astype(np.int64) - shifts) % k
    m = np.arange(m_count)[:, None, None]
    keys = ((m * c_count + classes) * k + symbols).ravel()
    b = block or max(h, w)
    r, c = np.mgrid[0:h, 0:w]
    blocks_w = -(-w // b)
    cell = (r // b) * blocks_w + c // b
    units = (cell[None] * groups + m * groups // m_count).ravel()
    return keys, units, -(-h // b) * blocks_w * groups


def regimes(variants: int = 4, block: int = 8, groups: int = 1, photos: int = 120) -> None:
    import vqcodec

    model = vqcodec.load_model()
    q, qi = 55, QUALITIES.index(55)
    split = json.loads((CACHE / "split.json").read_text())
    t = int(model.prior.table_of_quality[q])
    static = model.prior.table_set(t).astype(np.float64)
    static /= static.sum(-1, keepdims=True)
    log_static = np.log2(static).ravel()
    start = time.time()

    def gather(names: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        keys, units, sizes, offset = [], [], [], 0
        for photo in _load(names):
            kk, uu, n = _positions(model, photo["indices"][qi], q, block, groups)
            keys.append(kk)
            units.append(uu + offset)
            sizes.append(n)
            offset += n
        return np.concatenate(keys), np.concatenate(units), sizes

    train_names = [n for n in split["train"] if (CACHE / f"{Path(n).stem}.npz").exists()][:photos]
    keys, units, sizes = gather(train_names)
    n_units = sum(sizes)
    print(f"{len(train_names)} photos, {keys.size} positions, {n_units} units ({time.time() - start:.0f} s)", flush=True)
    base_cost = -np.bincount(units, weights=log_static[keys], minlength=n_units)
    per_position = base_cost / np.maximum(np.bincount(units, minlength=n_units), 1)
    assign = np.minimum((np.argsort(np.argsort(per_position)) * variants) // n_units, variants - 1)
    cells, strength = static.size, 64.0  # each variant's rows start from the shipped row, worth 64 counts
    for it in range(6):
        logs = []
        for v in range(variants):
            counts = np.bincount(keys[assign[units] == v], minlength=cells).astype(np.float64).reshape(static.shape)
            logs.append(np.log2((counts + strength * static) / (counts.sum(-1, keepdims=True) + strength)).ravel())
        costs = np.stack([-np.bincount(units, weights=lg[keys], minlength=n_units) for lg in logs])
        assign = costs.argmin(0)
        use = np.bincount(assign, minlength=variants) / n_units
        side = -(use[use > 0] * np.log2(use[use > 0])).sum()
        print(f"iteration {it}: training bits {costs.min(0).sum() / base_cost.sum() - 1:+.2%} against the static rows, "
              f"use {np.round(use, 3).tolist()}, {side:.2f} bits a choice ({time.time() - start:.0f} s)", flush=True)
    held_keys, held_units, held_sizes = gather(split["held"])
    n_held = sum(held_sizes)
    held_static = -log_static[held_keys].sum()
    held_costs = np.stack([-np.bincount(held_units, weights=lg[held_keys], minlength=n_held) for lg in logs])
    chosen = held_costs.min(0).sum() + side * n_held
    shipped = sum(float(photo["bits"][qi].sum()) for photo in _load(split["held"]))
    # on the codebooks that do not adapt, the shipped file codes under the static rows: a gain
    # there adds to what the adaptation already gives
    fixed = (model.prior.adaptive[t] == 0)[held_keys // (static.shape[1] * static.shape[2])]
    best = held_costs.argmin(0)
    fixed_static = -log_static[held_keys[fixed]].sum()
    fixed_variants = sum(-lg[held_keys[fixed & (best[held_units] == v)]].sum() for v, lg in enumerate(logs))
    print(f"held-out, the {int((model.prior.adaptive[t] == 0).sum())} codebooks that do not adapt: variants "
          f"{(fixed_variants + side * n_held) / fixed_static - 1:+.2%} against their static rows (the shipped bits there)")
    print(f"held-out, quality {q}, {variants} variants, blocks of {block or 'a whole image'} latents, {groups} group(s): "
          f"shipped tables {shipped / 8192:.1f} KiB, static rows {held_static / 8192:.1f} KiB "
          f"({held_static / shipped - 1:+.2%}), variants {chosen / 8192:.1f} KiB ({chosen / shipped - 1:+.2%} against "
          f"shipped, {chosen / held_static - 1:+.2%} against static; the choices {side * n_held / 8192:.2f} KiB)", flush=True)


def gray(photos: int = 150) -> None:
    import vqcodec
    from PIL import Image

    from vqcodec import bitstream
    from vqcodec.training.data import list_images, split_holdout

    model = vqcodec.load_model()
    q = 55
    t = int(model.prior.table_of_quality[q])
    train_photos, held = split_holdout(list_images(DEFAULT_DATA), HELD_OUT)
    chosen = [train_photos[i] for i in np.random.default_rng(0).choice(len(train_photos), photos, replace=False)]
    static = model.prior.table_set(t).astype(np.float64)
    static /= static.sum(-1, keepdims=True)

    def codes(path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Table keys of the gray image's codes and the shipped tables' bits for them."""
        g = np.asarray(Image.open(path).convert("L"))
        payload = bitstream.unpack(vqcodec.compress(g, q, model)).payload
        idx = model.coder.decode(payload, math.ceil(g.shape[0] / 8), math.ceil(g.shape[1] / 8), q)[0]
        return _positions(model, idx, q, 8, 1)[0], model.prior.codebook_bits(idx, q)

    start = time.time()
    counts = np.zeros(static.size)
    for path in chosen:
        counts += np.bincount(codes(path)[0], minlength=static.size)
    print(f"counted the codes of {photos} gray photos ({time.time() - start:.0f} s)", flush=True)
    counts = counts.reshape(static.shape)
    logs = {"static rows": np.log2(static).ravel(),
            "gray tables": np.log2((counts + 64 * static) / (counts.sum(-1, keepdims=True) + 64)).ravel()}
    fixed_codebooks = model.prior.adaptive[t] == 0
    totals, fixed, shipped = dict.fromkeys(logs, 0.0), dict.fromkeys(logs, 0.0), 0.0
    for path in held:
        keys, bits = codes(path)
        shipped += bits.sum()
        where = fixed_codebooks[keys // (static.shape[1] * static.shape[2])]
        for name, lg in logs.items():
            totals[name] -= lg[keys].sum()
            fixed[name] -= lg[keys[where]].sum()
    print(f"held-out photos as gray, quality {q}: shipped tables {shipped / 8192:.1f} KiB; " + "; ".join(
        f"{name} {v / 8192:.1f} KiB ({v / shipped - 1:+.2%})" for name, v in totals.items()) +
        f"; on the {int(fixed_codebooks.sum())} codebooks that do not adapt, gray tables "
        f"{fixed['gray tables'] / fixed['static rows'] - 1:+.2%} against the static rows", flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["report"]
    {"export": lambda: export(Path(args[0]) if args else DEFAULT_DATA),
     "train": lambda: train(*(int(a) for a in args)),
     "report": report,
     "regimes": lambda: regimes(*(int(a) for a in args)),
     "gray": lambda: gray(*(int(a) for a in args))}[command]()
