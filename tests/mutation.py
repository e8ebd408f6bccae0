"""A mutation check you can rerun (`make mutation`): small deliberate bugs, applied one at a
time to the source, each followed by the fast tests that should catch it.

A mutant the tests catch is "killed"; one they do not "survives" and is listed. The curated
list covers latent math, recipes, the checkpoint format and the Sampler's batching, plus the
bugs that once passed the whole suite. Not part of CI (minutes, not seconds).

    python tests/mutation.py             # every mutant
    python tests/mutation.py -k batch    # those whose name contains "batch"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CORE = ["tests/test_latent.py", "tests/test_golden.py", "tests/test_sampler.py", "tests/test_checkpoint.py"]
TRAIN = ["tests/test_train.py"]
PROJECTED = ("tests/test_projected.py",)
SELFSUP = ("tests/test_selfsupervised.py",)
CLUSTERS = ("tests/test_clusters.py",)
THREADS = ("tests/test_threads.py",)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...] = tuple(CORE)


MUTANTS = [
    # latent.py
    Mutant("seed_to_z draws seed + 1", "ganart/latent.py", "manual_seed(check_seed(seed))",
           "manual_seed(check_seed(seed) + 1)"),
    Mutant("check_int accepts booleans", "ganart/latent.py", "if isinstance(value, (bool, str, bytes)):",
           "if isinstance(value, (str, bytes)):"),
    Mutant("check_int's upper bound off by one", "ganart/latent.py", "(hi is not None and as_int > hi)",
           "(hi is not None and as_int > hi + 1)"),
    Mutant("lerp runs backwards", "ganart/latent.py", "return a + (b - a) * t", "return b + (a - b) * t"),
    Mutant("slerp swaps its weights", "ganart/latent.py",
           "(torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b",
           "(torch.sin(t * omega) / so) * a + (torch.sin((1 - t) * omega) / so) * b"),
    Mutant("SeFa takes the smallest eigenvalues", "ganart/latent.py",
           "order = torch.argsort(eigvals, descending=True)[:k]\n    return _canonical_sign(eigvecs[:, order].t().float())\n",
           "order = torch.argsort(eigvals)[:k]\n    return _canonical_sign(eigvecs[:, order].t().float())\n"),
    Mutant("PCA forgets to centre w", "ganart/latent.py", "centred = (w - w.mean(0, keepdim=True)).double()",
           "centred = w.double()"),
    Mutant("directions keep an arbitrary sign", "ganart/latent.py",
           "return dirs * torch.where(signs == 0, torch.ones_like(signs), signs)", "return dirs"),
    Mutant("layer ranges may be empty", "ganart/latent.py", "if not 0 <= start < stop <= num_ws:",
           "if not 0 <= start <= stop <= num_ws:"),
    Mutant("edits ignore the direction's std", "ganart/latent.py",
           "delta = delta + float(amount) * stds[k].to(ws) * directions[k].to(ws)",
           "delta = delta + float(amount) * directions[k].to(ws)"),
    Mutant("edits reach every layer", "ganart/latent.py", "out[:, layers] += delta", "out[:, :] += delta"),
    Mutant("mixing takes B everywhere", "ganart/latent.py", "out[:, layers] = ws_b[:, layers]", "out = ws_b.clone()"),
    Mutant("check_finite lets NaN through", "ganart/latent.py",
           "if isinstance(value, (str, bytes)) or not math.isfinite(v):", "if isinstance(value, (str, bytes)):"),
    # recipe.py
    Mutant("recipes accept edit indices past the last direction", "ganart/recipe.py",
           "if not 0 <= k < num_directions:", "if not 0 <= k <= num_directions:"),
    Mutant("recipes keep zero edits", "ganart/recipe.py", "        if v != 0.0:\n            out[k] = v",
           "        out[k] = v"),
    Mutant("recipes forget the psi range", "ganart/recipe.py",
           'object.__setattr__(self, "psi", check_finite("psi", self.psi, *PSI_RANGE))',
           'object.__setattr__(self, "psi", float(self.psi))'),
    Mutant("a mix needs no layers", "ganart/recipe.py",
           '            if self.mix_layers is None:\n                raise ValueError("mix_layers is required when mix_seed is set")\n',
           ""),
    Mutant("recipes accept any version", "ganart/recipe.py", "if self.version != wanted:",
           "if self.version is None:"),
    Mutant("recipe JSON keeps unknown keys quiet", "ganart/recipe.py",
           '            raise ValueError(f"unknown recipe keys: {\', \'.join(unknown)}")',
           "            data = {k: v for k, v in data.items() if k not in unknown}"),
    Mutant("a PNG's recipe is not written", "ganart/recipe.py", "        info.add_text(PNG_KEY, text)",
           "        pass"),
    # checkpoint.py
    Mutant("save writes config.json before the weights", "ganart/checkpoint.py",
           "    _write_weights(state, directory / WEIGHTS_NAME)\n    atomic_write_bytes(directory / CONFIG_NAME, (json.dumps(config, indent=2) + \"\\n\").encode())\n",
           "    atomic_write_bytes(directory / CONFIG_NAME, (json.dumps(config, indent=2) + \"\\n\").encode())\n    _write_weights(state, directory / WEIGHTS_NAME)\n"),
    Mutant("config.json written in place", "ganart/checkpoint.py",
           "    atomic_write_bytes(directory / CONFIG_NAME, (json.dumps(config, indent=2) + \"\\n\").encode())\n",
           "    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + \"\\n\")\n"),
    Mutant("integer weights load", "ganart/checkpoint.py", "                if not t.is_floating_point():",
           "                if False:"),
    Mutant("config.json of any size is parsed", "ganart/checkpoint.py", "    if path.stat().st_size > max_bytes:",
           "    if False:"),
    Mutant("unexpected tensors load", "ganart/checkpoint.py", "            if missing or extra:", "            if missing:"),
    Mutant("non-finite weights load", "ganart/checkpoint.py", "                if not torch.isfinite(t).all():",
           "                if False:"),
    Mutant("non-finite weights are saved", "ganart/checkpoint.py", "    if bad:\n        raise CheckpointError(f\"refusing",
           "    if False:\n        raise CheckpointError(f\"refusing"),
    Mutant("pickles are opened", "ganart/checkpoint.py", "    if path.suffix.lower() in PICKLE_SUFFIXES:\n        raise",
           "    if False:\n        raise"),
    Mutant("unknown config keys pass", "ganart/checkpoint.py", "    if unknown:\n        raise CheckpointError(f\"{path}: unknown config keys",
           "    if False:\n        raise CheckpointError(f\"{path}: unknown config keys"),
    Mutant("shapes are not compared", "ganart/checkpoint.py", "                if tuple(t.shape) != tuple(expected[k].shape):",
           "                if False:"),
    # sampler.py and batching.py
    Mutant("every mix takes the first mix seed", "ganart/sampler.py", "                        j += 1\n", ""),
    Mutant("chunks rendered in reverse", "ganart/sampler.py", "for chunk in ws.to(self.device).split(self.chunk):",
           "for chunk in reversed(ws.to(self.device).split(self.chunk)):"),
    Mutant("PCA edits rendered as SeFa", "ganart/sampler.py", "dirs, stds = self.directions(r.method)",
           'dirs, stds = self.directions("sefa")'),
    Mutant("truncation ignores psi", "ganart/sampler.py", "wi = truncate(ws[i : i + 1], cs[i : i + 1].to(ws), r.psi)",
           "wi = truncate(ws[i : i + 1], cs[i : i + 1].to(ws), 0.7)"),
    Mutant("edits ignore the recipe's layer range", "ganart/sampler.py",
           "out.append(apply_edits(wi, r.edits, dirs, stds, layer_slice(r.layers, self.num_ws)))",
           "out.append(apply_edits(wi, r.edits, dirs, stds, slice(0, self.num_ws)))"),
    Mutant("a recipe from another checkpoint renders", "ganart/sampler.py", "if r.sha256 and r.sha256 != self.sha256:",
           "if False:"),
    Mutant("a batch over the limit renders", "ganart/sampler.py", "if not 1 <= len(recipes) <= MAX_BATCH:",
           "if not 1 <= len(recipes):"),
    Mutant("a batch-wide failure fails every caller", "ganart/batching.py",
           "                try:\n                    fut.set_result(self.sampler.render(r))\n                except Exception as e:\n                    fut.set_exception(e)\n",
           "                fut.set_exception(ValueError('batch failed'))\n"),
    Mutant("the batcher never merges", "ganart/batching.py", "while len(items) < self.max_batch:", "while False:"),
    Mutant("the batcher skips a caller's own check", "ganart/batching.py",
           "        self.sampler._check_recipe_fits(recipe)  # the caller's error, raised in the caller\n", ""),
    Mutant("results go to the wrong callers", "ganart/batching.py",
           "for (_, fut), img in zip(items, images):", "for (_, fut), img in zip(items, reversed(images)):"),
    # training: the bugs that once passed every test
    Mutant("resume takes the oldest snapshot", "ganart/training/snapshot.py",
           "for cand in reversed(snapshot_folders(out)):", "for cand in snapshot_folders(out):", tuple(TRAIN)),
    Mutant("snapshots are never pruned", "ganart/training/snapshot.py",
           "    for old in snapshot_folders(out)[:-keep]:\n        remove_snapshot(old)\n",
           "    for old in []:\n        remove_snapshot(old)\n", tuple(TRAIN)),
    Mutant("a snapshot drops ADA's pending sign sum", "ganart/training/loop.py",
           "        self.progress.ada_sum += float(self._ada_acc)  # integer-valued: flushing early changes nothing\n",
           "", tuple(TRAIN)),
    # the app (slower: a launched server and Chromium)
    Mutant("the app does not batch by default", "ganart/ui.py",
           "def build_demo(default_source: str, batch: int = APP_RENDER_BATCH,",
           "def build_demo(default_source: str, batch: int = 1,", ("tests/test_app.py",)),
    Mutant("sliders repaint only on release", "ganart/ui.py",
           '            c.input(None, page_values, None, js="(...v) => window.ganart ? window.ganart.drag(...v) : "\n'
           """                    "document.querySelector('#server-render').click()", api_visibility="private")\n""", "",
           ("tests/test_browser.py",)),
    Mutant("a drag asks the server even when the page renders", "ganart/web/page.mjs",
           "    G.paint(values, G.lastDrag);\n",
           '    document.querySelector("#server-render")?.click();\n    G.paint(values, G.lastDrag);\n',
           ("tests/test_browser.py",)),
    Mutant("the page edits one layer too many", "ganart/web/latent.mjs", "i >= lo && i < hi", "i >= lo && i <= hi",
           ("tests/test_web.py",)),
    Mutant("the page forgets truncation", "ganart/web/latent.mjs",
           "let v = f(avg[j] + f(p * f(w[row * D + j] - avg[j])));", "let v = w[row * D + j];", ("tests/test_web.py",)),
    Mutant("the ONNX export stores weights twice", "ganart/onnx_export.py", "            net(ws)\n", "",
           ("tests/test_web.py",)),
    Mutant("a changed runtime file is served", "ganart/web_runtime.py",
           "(LOCAL_DIR / name).is_file() and sri(LOCAL_DIR / name) == pin", "(LOCAL_DIR / name).is_file()",
           ("tests/test_web.py",)),
    Mutant("a projected picture outlives a new seed", "ganart/ui_values.py",
           'return latent if owner == str(seed) else ""', "return latent", ("tests/test_projection.py",)),
    Mutant("the page's preview hides the server's exact image", "ganart/web/page.mjs",
           "  if (!held && !keyHeld) showCanvas(false);", "",
           ("tests/test_browser.py",)),
    Mutant("a stale server image hides a held drag's preview", "ganart/web/page.mjs",
           "if (!held && !keyHeld)", "if (!keyHeld)", ("tests/test_browser.py",)),
    Mutant("a key let go never asks for the exact image", "ganart/web/page.mjs",
           '  range.dispatchEvent(new PointerEvent("pointerup", { bubbles: true }));\n', "", ("tests/test_browser.py",)),
    Mutant("a window losing focus leaves the drag held", "ganart/web/page.mjs",
           'window.addEventListener("blur", letGo);\n', "", ("tests/test_browser.py",)),
    Mutant("a release during a render is dropped", "ganart/ui.py", 'show_progress="hidden", trigger_mode="always_last").then',
           'show_progress="hidden").then', ("tests/test_browser.py",)),
    Mutant("an Explore seed keeps a projected picture", "ganart/ui.py",
           'return seed_of(caption), gr.Tabs(selected="create"), ""', 'return seed_of(caption), gr.Tabs(selected="create"), gr.skip()',
           ("tests/test_hostile.py",)),
    Mutant("the app's projection ignores its steps cap", "ganart/ui_project.py",
           "if not 1 <= n <= APP_PROJECT_STEPS:", "if not 1 <= n:", ("tests/test_projection.py",)),
    Mutant("a link's psi is ignored", "ganart/ui.py", 'psi = float(q.get("psi", 0.7))', "psi = 0.7",
           ("tests/test_browser.py", "tests/test_app.py")),
    # the Hub
    Mutant("a Hub revision is ignored", "ganart/hub.py",
           "snapshot_download(repo_id, revision=revision or None, allow_patterns=[CONFIG_NAME],",
           "snapshot_download(repo_id, allow_patterns=[CONFIG_NAME],", ("tests/test_hub.py",)),
    Mutant("every file of a Hub repo is fetched", "ganart/hub.py", "allow_patterns=list(MAX_HUB_BYTES),",
           "allow_patterns=None,", ("tests/test_hub.py",)),
    Mutant("Hub sizes are not checked", "ganart/hub.py", "            _refuse_oversized(repo_id, checked[1])\n",
           "            pass\n", ("tests/test_hub.py",)),
    Mutant("unknown sizes download anyway", "ganart/hub.py", "        local = checked is None\n",
           "        local = False\n", ("tests/test_hub.py",)),
    Mutant("config.json is not checked before the weights", "ganart/hub.py",
           "            cfg, _ = read_config(snapshot / CONFIG_NAME)\n            cfg.render_chunk()",
           "            pass", ("tests/test_hub.py",)),
    Mutant("a moved ref is fetched anyway", "ganart/hub.py", "if checked is not None and snapshot.name != checked[0]:",
           "if False:", ("tests/test_hub.py",)),
    Mutant("a refused download stays on disk", "ganart/hub.py", "            _forget(snapshot)  # refused",
           "            pass  # refused", ("tests/test_hub.py",)),
    Mutant("the Hub cache quota is not kept", "ganart/hub.py", "    enforce_quota(folder.parents[2], keep=repo_id)",
           "    pass", ("tests/test_hub.py",)),
    Mutant("the quota evicts the most recently used", "ganart/hub.py", "key=lambda r: r.last_accessed)",
           "key=lambda r: -r.last_accessed)", ("tests/test_hub.py",)),
    # recipes in PNGs and JSON from strangers
    Mutant("every text chunk is inflated", "ganart/pngtext.py",
           'if length >= len(head) and head == want + b"\\0":\n                    return _text(ctype, head + f.read(length - len(head)), max_bytes)[1]',
           'keyword, text = _text(ctype, head + f.read(length - len(head)), max_bytes)\n                if keyword == want:\n                    return text\n                continue',
           ("tests/test_hostile.py",)),
    Mutant("JSON depth is not counted", "ganart/safejson.py", "    if nesting(text) > max_depth:", "    if False:",
           ("tests/test_hostile.py",)),
    # projection
    Mutant("projection ignores its steps", "ganart/projection.py", "            opt.step()\n", "            pass\n",
           ("tests/test_projection.py",)),
    Mutant("a latent recipe renders from its seed", "ganart/sampler.py",
           "                    ws[i] = decode_latent(r.latent).to(ws).expand(self.num_ws, -1)\n",
           "                    pass\n", ("tests/test_projection.py", "tests/test_golden.py")),
    Mutant("a latent's checksum is not checked", "ganart/recipe.py",
           "    if hashlib.sha256(data).hexdigest()[:16] != digest:", "    if False:", ("tests/test_projection.py",)),
    # the projected discriminator
    Mutant("the frozen network is a submodule (saved, optimised)", "ganart/training/projected.py",
           'object.__setattr__(self, "frozen", frozen)', "self.frozen = frozen", PROJECTED),
    Mutant("the frozen network's BatchNorm trains", "ganart/training/projected.py",
           "frozen = (net or load_lite0()).eval().requires_grad_(False)",
           "frozen = (net or load_lite0()).train().requires_grad_(False)", PROJECTED),
    Mutant("hinge: fakes pushed up", "ganart/training/loss.py", "F.relu(1 + fake).mean()", "F.relu(1 - fake).mean()",
           PROJECTED),
    Mutant("hinge: G minimises D(G(z))", "ganart/training/loss.py", '"hinge": lambda fake: -fake.mean()',
           '"hinge": lambda fake: fake.mean()', PROJECTED),
    Mutant("resume takes another discriminator", "ganart/training/snapshot.py", "    if saved_kind != kind:\n",
           "    if False:\n", PROJECTED),
    Mutant("snapshots do not record the frozen weights", "ganart/training/loop.py",
           '            meta["feature_network_sha256"] = feature_network_sha256()', "            pass", PROJECTED),
    Mutant("init-from loads a D of another kind", "ganart/training/lineage.py", "    elif saved_kind == kind:",
           "    elif saved_kind is not None:", PROJECTED),
    Mutant("the real-half floor compares a half with itself", "ganart/leakage.py",
           "return order[: n // 2], order[n // 2 : 2 * (n // 2)]", "return order[: n // 2], order[: n // 2]",
           PROJECTED),
    Mutant("relativistic D pushes fakes above reals", "ganart/training/loss.py",
           'F.softplus(fakes["logistic"] - reals["logistic"])', 'F.softplus(reals["logistic"] - fakes["logistic"])',
           ("tests/test_train.py",)),
    Mutant("relativistic loss without R2", "ganart/training/loss.py",
           "([(logits_fake, fake_aug)] if relativistic else [])", "[]", ("tests/test_train.py",)),
    # the self-supervised discriminator
    Mutant("D's loss leaves out the reconstruction", "ganart/training/loss.py",
           "            loss = loss + REBUILD_WEIGHT * rebuild\n", "            pass\n", SELFSUP),
    Mutant("the part decoder reads another quarter of the map", "ganart/training/selfsupervised.py",
           "self.part(quarter(by_size[16], q))", "self.part(quarter(by_size[16], 3 - q))", SELFSUP),
    Mutant("the quarter of a map is transposed", "ganart/training/selfsupervised.py", "row, col = divmod(q, 2)",
           "col, row = divmod(q, 2)", SELFSUP),
    Mutant("the reals skip the decoders", "ganart/training/loss.py",
           "reals = self.logits(real_aug, labels, rebuild=True)", "reals = self.logits(real_aug, labels)", SELFSUP),
    # self-conditioning
    Mutant("fakes are judged without their class", "ganart/training/loss.py",
           "fakes = self.logits(fake_aug, fake_labels)", "fakes = self.logits(fake_aug)", CLUSTERS),
    Mutant("reals are judged without their class", "ganart/training/loss.py",
           "reals = self.logits(real_aug, labels, rebuild=True)", "reals = self.logits(real_aug, rebuild=True)",
           CLUSTERS),
    Mutant("z's regions are not sized to the clusters", "ganart/training/loop.py",
           "clusters.condition(G, labels)", "pass", CLUSTERS),
    Mutant("region biases step the wrong way", "ganart/models.py", "bias += 0.5 * (target.log()",
           "bias -= 0.5 * (target.log()", CLUSTERS),
    Mutant("clusters are not numbered by size", "ganart/training/clusters.py",
           "order = torch.argsort(-torch.bincount(labels, minlength=k), stable=True)", "order = torch.arange(k)",
           CLUSTERS),
    Mutant("clusters auto ignores the resumed snapshot's K", "ganart/training/clusters.py",
           "    if resume_from is not None:\n", "    if False:\n", CLUSTERS),
    Mutant("clusters auto ignores --init-from's K", "ganart/training/clusters.py",
           "    if cfg.init_from:\n", "    if False:\n", CLUSTERS),
    Mutant("clusters auto counts files, not images that decode", "ganart/training/loop.py",
           "lambda: len(self.images())", "lambda: len(list(Path(cfg.data).rglob('*.png')))", CLUSTERS),
    Mutant("the trainer ignores the thread count the tuner asks for", "ganart/training/loop.py",
           "            torch.set_num_threads(count)\n", "            pass\n", THREADS),
    Mutant("a losing probe does not back off", "ganart/training/threads.py",
           "self.gap = min(self.gap * 2, max(MAX_GAP_S, PROBE_SHARE * sum(self.trial)))", "self.gap = self.gap", THREADS),
    Mutant("a probe keeps the slower count", "ganart/training/threads.py", "if new > old * MARGIN:",
           "if new < old * MARGIN:", THREADS),
    Mutant("probes never alternate up and down", "ganart/training/threads.py",
           "        self.down = not self.down\n", "", THREADS),
    Mutant("probes always go down", "ganart/training/threads.py",
           "pick = lower if (self.down and lower is not None) or higher is None else higher",
           "pick = lower if lower is not None else higher", THREADS),
    Mutant("a winning probe leaves the wait long", "ganart/training/threads.py",
           "self.current, self.gap = tried, self.first_gap", "self.current = tried", THREADS),
    Mutant("a partner leaves its region", "ganart/training/clusters.py",
           "    return (kept + new).to(z.dtype)", "    return (z64 + new).to(z.dtype)", CLUSTERS),
    Mutant("the diversity reward has no cap", "ganart/training/loss.py",
           "return F.relu(1 - distance / cap.clamp_min(1e-6)).mean()",
           "return (1 - distance / cap.clamp_min(1e-6)).mean()", CLUSTERS),
    Mutant("a spread counts an image against itself", "ganart/training/clusters.py",
           "out[c] = diff[a != b].mean() if bool((a != b).any()) else 0.0", "out[c] = diff.mean()", CLUSTERS),
    Mutant("diversity pairs z's of any region", "ganart/training/loss.py",
           "z = torch.cat([z, partners(z[:pairs], dirs, self.gen_z)])",
           "z = torch.cat([z, torch.randn(pairs, cfg.z_dim, generator=self.gen_z)])", CLUSTERS),
    Mutant("a kind's seeds are any seeds", "ganart/sampler.py",
           "found += [s for s, k in zip(seeds, self.kinds_of(seeds)) if k == kind]", "found += list(seeds)",
           CLUSTERS),
    Mutant("Explore ignores the kind picked", "ganart/ui.py", "return page_call(s.seeds_of_kind, kind, start, count)",
           "return page_call(s.seeds_of_kind, None, start, count)", ("tests/test_app.py",)),
    Mutant("G ignores its region's embedding", "ganart/models.py",
           "x = x + self.class_embed[class_regions(x.float(), self.class_dirs, self.class_bias)].to(x.dtype)",
           "x = x", CLUSTERS),
    Mutant("psi pulls every seed toward the global mean w", "ganart/sampler.py",
           "cs = self.centres(z).expand(-1, self.num_ws, -1).clone()",
           "cs = self.G.w_avg.expand(z.shape[0], self.num_ws, -1).clone()", CLUSTERS),
    Mutant("mixed layers are pulled toward the first seed's centre", "ganart/sampler.py",
           "cs[i : i + 1] = mix_ws(cs[i : i + 1], cs_b[j : j + 1], lsl)", "pass", CLUSTERS),
    Mutant("a projected picture is pulled toward its seed's centre", "ganart/sampler.py",
           "cs[i] = self.G.w_avg  # no seed", "pass  # no seed", CLUSTERS),
    Mutant("a walk is pulled toward the global mean w", "ganart/sampler.py",
           "return ws if psi == 1.0 else truncate(ws, self.centres(z).to(ws), psi)",
           "return ws if psi == 1.0 else truncate(ws, self.G.w_avg, psi)", CLUSTERS),
    Mutant("the page truncates toward the global mean w", "ganart/ui.py",
           "return web_state(s, key, *s.seed_w(seed), method)",
           "return web_state(s, key, s.seed_w(seed)[0], s.G.w_avg, method)", ("tests/test_web.py",)),
    # metrics
    Mutant("Inception sees nearest-neighbour resizes", "ganart/metrics.py", 'mode="bilinear", align_corners=False',
           'mode="nearest"', ("tests/test_metrics.py",)),
    Mutant("Inception sees x / 255", "ganart/metrics.py", "x = (x - 128.0) / 128.0", "x = x / 255.0",
           ("tests/test_metrics.py",)),
    Mutant("KID with a quadratic kernel", "ganart/metrics.py", "kxy = (x @ y.T / d + 1) ** 3",
           "kxy = (x @ y.T / d + 1) ** 2", ("tests/test_metrics.py",)),
]


def run(m: Mutant, timeout: float) -> tuple[bool, float]:
    """Apply ``m``, run its tests (stop at the first failure), restore. -> (killed, seconds)."""
    path = ROOT / m.path
    source = path.read_text()
    if source.count(m.old) != 1:
        raise SystemExit(f"mutant {m.name!r}: its text occurs {source.count(m.old)} times in {m.path}, not once")
    path.write_text(source.replace(m.old, m.new))
    start = time.time()
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                           cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        killed = r.returncode != 0
    except subprocess.TimeoutExpired:
        killed = True  # a hang is caught too
    finally:
        path.write_text(source)
    return killed, time.time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", default="", help="only mutants whose name contains this")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.k in m.name]
    survivors = []
    for i, m in enumerate(chosen, 1):
        killed, seconds = run(m, args.timeout)
        print(f"[{i}/{len(chosen)}] {'killed  ' if killed else 'SURVIVED'} {m.name} ({m.path}, {seconds:.0f} s)",
              flush=True)
        if not killed:
            survivors.append(m)
    score = (len(chosen) - len(survivors)) / max(len(chosen), 1)
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed ({score:.0%})")
    for m in survivors:
        print(f"  survived: {m.name} ({m.path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
