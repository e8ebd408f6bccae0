import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganart.cli import main, parse_seeds


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ganart", *args], capture_output=True, text=True, timeout=300)


def test_parse_seeds():
    assert parse_seeds("0-3,42,2") == [0, 1, 2, 3, 42]


def test_sample_writes_pngs_grid_and_recipes(session_ckpt, tmp_path):
    out = tmp_path / "out"
    assert main(["sample", "--checkpoint", str(session_ckpt), "--seeds", "0-2,7", "--edit", "0=2.5",
                 "--psi", "0.5", "--grid", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["grid.png", "seed0000000000.png", "seed0000000001.png", "seed0000000002.png",
                     "seed0000000007.png"]
    again = tmp_path / "again"
    assert main(["sample", "--recipe", str(out / "seed0000000007.png"), "--checkpoint", str(session_ckpt),
                 "--out", str(again)]) == 0
    a = np.asarray(Image.open(out / "seed0000000007.png"))
    b = np.asarray(Image.open(again / "seed0000000007.png"))
    assert np.array_equal(a, b)


def test_sample_takes_seeds_of_one_kind(clusters_ckpt, session_ckpt, tmp_path, capsys):
    from ganart.sampler import Sampler

    out = tmp_path / "out"
    assert main(["sample", "--checkpoint", str(clusters_ckpt), "--seeds", "20-25", "--kind", "1",
                 "--out", str(out)]) == 0
    expect = Sampler.load(str(clusters_ckpt), device="cpu").seeds_of_kind(1, 20, 6)
    assert sorted(p.name for p in out.iterdir()) == [f"seed{s:010d}.png" for s in expect]
    many = tmp_path / "many"  # more than one render batch (256)
    assert main(["sample", "--checkpoint", str(clusters_ckpt), "--seeds", "0-299", "--kind", "0",
                 "--out", str(many)]) == 0
    assert len(list(many.iterdir())) == 300
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(session_ckpt), "--kind", "1", "--out", str(out)]) == 2
    assert "tiny has no kinds: it was trained without --clusters" in capsys.readouterr().err


def test_sample_mixes_styles_and_reads_recipe_json(session_ckpt, sampler, tmp_path):
    out = tmp_path / "out"
    assert main(["sample", "--checkpoint", str(session_ckpt), "--seeds", "3,4", "--mix-seed", "9",
                 "--psi", "0.6", "--out", str(out)]) == 0  # coarse by default, as in the app's Mix tab
    assert sorted(p.name for p in out.iterdir()) == ["seed0000000003-mix0000000009.png",
                                                      "seed0000000004-mix0000000009.png"]
    mixed = np.asarray(Image.open(out / "seed0000000004-mix0000000009.png"))
    assert np.array_equal(mixed, np.asarray(sampler.mix(4, 9, "coarse", psi=0.6)))
    assert not np.array_equal(mixed, np.asarray(sampler.generate(4, psi=0.6)))
    n = sampler.num_ws
    assert main(["sample", "--checkpoint", str(session_ckpt), "--seeds", "4", "--mix-seed", "9",
                 "--mix-layers", f"1-{n}", "--psi", "0.6", "--out", str(out / "r")]) == 0
    ranged = np.asarray(Image.open(out / "r" / "seed0000000004-mix0000000009.png"))
    assert np.array_equal(ranged, np.asarray(sampler.mix(4, 9, (1, n), psi=0.6)))
    # the recipe as the app's Recipe box shows it, saved as .json, regenerates the same pixels
    recipe = Image.open(out / "seed0000000004-mix0000000009.png").text["ganart-recipe"]
    (tmp_path / "r.json").write_text(recipe)
    assert main(["sample", "--recipe", str(tmp_path / "r.json"), "--checkpoint", str(session_ckpt),
                 "--out", str(tmp_path / "again")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again" / "seed0000000004-mix0000000009.png")), mixed)


def test_directions_sheet_rows_are_directions_and_middle_column_is_unedited(session_ckpt, sampler, tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["directions", "--checkpoint", str(session_ckpt), "--count", "3", "--seeds", "4,9",
                 "--amounts=-2,0,2", "--psi", "0.5", "--out", str(out)]) == 0
    sheet = np.asarray(Image.open(out))
    res, pad = sampler.resolution, 2
    assert sheet.shape == (3 * res + 4 * pad, 6 * res + 7 * pad, 3)

    def tile(row: int, col: int) -> np.ndarray:
        y, x = pad + row * (res + pad), pad + col * (res + pad)
        return sheet[y : y + res, x : x + res]

    plain = np.asarray(sampler.generate(9, psi=0.5))
    edited = np.asarray(sampler.generate(9, psi=0.5, edits={1: 2.0}))
    for row in range(3):
        assert np.array_equal(tile(row, 4), plain)  # seed 9, amount 0
    assert np.array_equal(tile(1, 5), edited)  # direction 1, seed 9, amount +2
    assert not np.array_equal(tile(1, 3), edited)


def test_unwritable_out_is_one_line_naming_the_path(session_ckpt, tmp_path, capsys):
    # an --out under a regular file raised NotADirectoryError / FileExistsError tracebacks
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    ck = str(session_ckpt)
    for argv, message in [
        (["sample", "--checkpoint", ck, "--seeds", "1", "--out", str(blocker / "x")], f"{blocker / 'x'}: Not a directory"),
        (["animate", "--checkpoint", ck, "--keyframes", "1,2", "--segment-frames", "2", "--out", str(blocker / "w.gif")],
         f"{blocker}: exists and is not a folder"),
        (["directions", "--checkpoint", ck, "--count", "1", "--out", str(blocker / "d.png")],
         f"{blocker}: exists and is not a folder"),
        (["average", ck, ck, "--out", str(blocker / "avg")], f"{blocker / 'avg'}: Not a directory"),
    ]:
        assert main(argv) == 2, argv
        assert f"ganart {argv[0]}: error: {message}\n" in capsys.readouterr().err, argv


def test_user_mistakes_exit_2_without_traceback(session_ckpt, tmp_path):
    bad_json, binary_json = tmp_path / "bad.json", tmp_path / "binary.json"
    bad_json.write_text('{"seed": 1,')
    binary_json.write_bytes(b"\x89PNG\xff\xfe")
    cases = [
        (["--checkpoint", str(session_ckpt), "--seeds", "5-x"], "bad seed range"),
        (["--checkpoint", str(session_ckpt), "--seeds", "-1"], "bad seed range"),
        (["--checkpoint", str(session_ckpt), "--seeds", "4294967296"], "seed must be in"),
        (["--checkpoint", str(session_ckpt), "--psi", "nan"], "psi"),
        (["--checkpoint", str(session_ckpt), "--edit", "0=inf"], "finite"),
        (["--checkpoint", str(session_ckpt), "--edit", "zero"], "INDEX=AMOUNT"),
        (["--checkpoint", str(tmp_path / "nope")], "no such checkpoint"),
        (["--checkpoint", str(tmp_path / "model.pkl")], "refusing to load"),
        (["--seeds", "1"], "--checkpoint is required"),
        (["--recipe", str(tmp_path / "none.png")], "no such file"),
        (["--recipe", str(tmp_path / "none.json")], "none.json: no such file"),
        (["--recipe", str(bad_json)], "bad.json: recipe is not valid JSON"),
        (["--recipe", str(binary_json)], "binary.json: not a text file"),
        (["--checkpoint", str(session_ckpt), "--mix-layers", "0-2"], "--mix-layers needs --mix-seed"),
        (["--checkpoint", str(session_ckpt), "--mix-seed", "-4"], "mix_seed must be in"),
        (["--checkpoint", str(session_ckpt), "--mix-seed", "4", "--mix-layers", "coarsest"],
         "bad --mix-layers 'coarsest': use coarse, middle, fine, or START-STOP with 0 <= START < STOP <="),
        (["--checkpoint", str(session_ckpt), "--mix-seed", "4", "--mix-layers", "0-99"], "bad --mix-layers '0-99'"),
        (["--checkpoint", str(session_ckpt), "--device", "meta"], "device 'meta' cannot run a model"),
        (["--checkpoint", str(session_ckpt), "--device", "tpu7"], "unknown device 'tpu7'"),
    ]
    if not torch.cuda.is_available():  # tracebacks from deep in torch before
        cases.append((["--checkpoint", str(session_ckpt), "--device", "cuda"], "device 'cuda' is not available"))
    for args, message in [
        (["--checkpoint", str(session_ckpt), "--count", "0"], "count >= 1"),
        (["--checkpoint", str(session_ckpt), "--amounts", "1,x"], "bad --amounts '1,x': use comma-separated numbers"),
        (["--checkpoint", str(session_ckpt), "--amounts", "1,,2"], "bad --amounts '1,,2'"),
        (["--checkpoint", str(session_ckpt), "--amounts", "99"], "edit amount"),
        (["--checkpoint", str(session_ckpt), "--method", "ica"], "method must be"),
    ]:
        r = run_cli("directions", *args, "--out", str(tmp_path / "d.png"))
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    # a negative K wrote nearest.png, and the run's metrics into the checkpoint, before
    before = {p.name: p.read_bytes() for p in session_ckpt.iterdir() if p.is_file()}
    for k in ("-1", "17"):
        r = run_cli("eval", "--checkpoint", str(session_ckpt), "--data", str(tmp_path / "none"), "--nearest", k)
        assert r.returncode == 2 and f"--nearest must be in [0, 16] (training images beside each sample), got {k}" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in session_ckpt.iterdir() if p.is_file()} == before
    # serve: a batch of 0 or -3 was taken silently as "no batching", 1000 failed deep in the UI,
    # and 100 passed a check against the Sampler's 256-image batch instead of the app's cap
    from ganart.limits import APP_MAX_RENDER_BATCH

    for batch in ("0", "-3", "1000", str(APP_MAX_RENDER_BATCH + 1), "100"):
        r = run_cli("serve", "--checkpoint", str(session_ckpt), "--batch", batch, "--port", "1")
        assert r.returncode == 2 and f"--batch must be a whole number in [1, {APP_MAX_RENDER_BATCH}]" in r.stderr, r.stderr
    # a missing default model: `python app.py` died with a gradio.exceptions.Error traceback,
    # and `ganart serve` quoted the message
    missing = str(tmp_path / "gone")
    r = run_cli("serve", "--checkpoint", missing, "--port", "1")
    assert r.returncode == 2 and f"ganart serve: error: {missing}: no such checkpoint folder\n" in r.stderr, r.stderr
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    r = subprocess.run([sys.executable, str(app_py)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "GANART_CHECKPOINT": missing, "GRADIO_SERVER_PORT": "1"})
    assert r.returncode == 2 and f"ganart app: error: {missing}: no such checkpoint folder" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    for args, message in cases:
        r = run_cli("sample", *args, "--out", str(tmp_path / "o"))
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_average_command_writes_a_loadable_checkpoint_and_reports_mistakes(session_ckpt, tiny_ckpt, tmp_path):
    from ganart.checkpoint import load_checkpoint

    r = run_cli("average", str(session_ckpt), str(tiny_ckpt), "--out", str(tmp_path / "avg"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "avg")
    assert len(load_checkpoint(tmp_path / "avg").meta.training["averaged"]) == 2
    r = run_cli("average", str(session_ckpt), "--out", str(tmp_path / "one"))
    assert r.returncode == 2 and "at least 2" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_torchrun_sample_shards_seeds_bit_identically(session_ckpt, tmp_path):
    """2 processes write disjoint seed shares whose union equals a single-process run."""
    import os

    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert main(["sample", "--checkpoint", str(session_ckpt), "--seeds", "0-9", "--out", str(single)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "ganart", "sample", "--checkpoint", str(session_ckpt), "--seeds", "0-9",
                        "--out", str(sharded)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    written = [line for line in r.stdout.splitlines() if line.endswith(".png")]
    assert len(written) == 10 and len(set(written)) == 10  # each seed written by exactly one rank
    names = sorted(p.name for p in single.iterdir())
    assert sorted(p.name for p in sharded.iterdir()) == names and len(names) == 10
    for n in names:
        assert (single / n).read_bytes() == (sharded / n).read_bytes()


def test_animate_writes_the_walk_as_webp_gif_or_png_frames(session_ckpt, sampler, tmp_path):
    from ganart.images import upscale

    walk = [np.asarray(upscale(f, 2)) for f in sampler.walk([1, 2, 3], 3, psi=0.5)]
    webp = tmp_path / "walk.webp"
    assert main(["animate", "--checkpoint", str(session_ckpt), "--keyframes", "1, 2, 3", "--segment-frames", "3",
                 "--psi", "0.5", "--scale", "2", "--out", str(webp)]) == 0
    with Image.open(webp) as im:  # lossless WebP: the walk's exact pixels, frame by frame
        assert im.n_frames == 9 and im.size == (32, 32)
        for i in range(9):
            im.seek(i)
            assert np.array_equal(np.asarray(im.convert("RGB")), walk[i]), i
    gif = tmp_path / "walk.gif"
    assert main(["animate", "--checkpoint", str(session_ckpt), "--keyframes", "3,4", "--segment-frames", "5",
                 "--fps", "10", "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 10 and im.size == (64, 64) and im.info["duration"] == 100
    frames = tmp_path / "frames"
    assert main(["animate", "--checkpoint", str(session_ckpt), "--keyframes", "1,2", "--segment-frames", "3",
                 "--no-loop", "--space", "w", "--edit", "0=2", "--scale", "1", "--out", str(frames)]) == 0
    names = sorted(p.name for p in frames.iterdir())
    assert names == [f"frame{i:05d}.png" for i in range(4)]
    last = list(sampler.walk([1, 2], 3, loop=False, space="w", edits={0: 2.0}))[-1]
    assert np.array_equal(np.asarray(Image.open(frames / "frame00003.png").convert("RGB")), np.asarray(last))


def test_animate_mistakes_are_one_clear_line(session_ckpt, tmp_path, capsys, monkeypatch):
    import ganart.cli as cli

    monkeypatch.setattr(cli, "MAX_ANIMATION_PIXELS", 100 * 64 * 64)
    base = ["animate", "--checkpoint", str(session_ckpt)]
    for args, message in [
        (["--keyframes", "1-3"], "keyframes must be seeds separated by spaces or commas, e.g. 1, 2, 3, got '1-3'"),
        (["--keyframes", "1,x"], "keyframes must be seeds"),
        (["--keyframes", "4294967296,1"], "keyframe seed must be in"),
        (["--keyframes", "5"], "a walk needs 2 to 64 keyframes, got 1"),
        (["--segment-frames", "0"], "frames_per_segment must be in [1, 240], got 0"),
        (["--fps", "0"], "--fps must be in [1, 60]"),
        (["--fps", "nan"], "--fps must be a finite number"),
        (["--scale", "0"], "--scale must be in [1, 16], got 0"),
        (["--out", str(tmp_path / "walk.mp4")], "write a .gif, a .webp, or a folder for PNG frames"),
        (["--edit", "0=nan"], "finite"),
        (["--keyframes", "1,2,3,4,5", "--segment-frames", "24"], "120 frames of 64x64 are too many for one .gif"),
    ]:
        out = [] if "--out" in args else ["--out", str(tmp_path / "walk.gif")]
        assert main([*base, *args, *out]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("ganart animate: error: ") and message in err, (args, err)
    assert not (tmp_path / "walk.gif").exists()


def test_naming_directions_labels_them_in_the_checkpoint_card_and_sampler(tiny_ckpt, tmp_path, capsys):
    from ganart import Sampler
    from ganart.checkpoint import load_checkpoint

    base = ["directions", "--checkpoint", str(tiny_ckpt)]
    weights = (tiny_ckpt / "model.safetensors").read_bytes()
    assert main([*base, "--name", "0=colour: blue ↔ red", "--name", "2= size "]) == 0
    assert capsys.readouterr().out == "sefa 0: colour: blue ↔ red\nsefa 1: (unnamed)\nsefa 2: size\n"
    assert main([*base, "--method", "pca", "--name", "1=hue"]) == 0
    meta = load_checkpoint(tiny_ckpt).meta
    assert meta.directions == {"sefa": ["colour: blue ↔ red", "", "size"], "pca": ["", "hue"]}
    assert (tiny_ckpt / "model.safetensors").read_bytes() == weights  # only config.json changed
    card = (tiny_ckpt / "README.md").read_text()
    assert "- PCA 1: hue\n" in card and "- SEFA 0: colour: blue ↔ red\n" in card
    s = Sampler.load(tiny_ckpt, device="cpu")
    assert [s.direction_label(i) for i in range(3)] == ["Direction 0: colour: blue ↔ red", "Direction 1",
                                                         "Direction 2: size"]
    assert s.direction_label(1, "pca") == "Direction 1: hue" and s.direction_label(7, "pca") == "Direction 7"
    assert main([*base, "--name", "2="]) == 0  # an empty name clears it
    assert load_checkpoint(tiny_ckpt).meta.directions["sefa"] == ["colour: blue ↔ red"]
    capsys.readouterr()
    before = (tiny_ckpt / "config.json").read_bytes()
    for args, message in [
        (["--name", "x=1"], "bad --name 'x=1': use INDEX=TEXT"),
        (["--name", "0"], "bad --name '0': use INDEX=TEXT"),
        (["--name", "32=late"], "this model has directions 0-31"),
        (["--name", "0=" + "y" * 61], "at most 60 characters"),
        (["--name", "0=a\tb"], "printable"),
        (["--method", "ica", "--name", "0=a"], "method must be one of"),
    ]:
        assert main([*base, *args]) == 2, args
        assert message in capsys.readouterr().err, args
    assert (tiny_ckpt / "config.json").read_bytes() == before  # nothing half-written
    assert main(["directions", "--checkpoint", "someone/model", "--name", "0=a"]) == 2
    assert "directions are named in a local checkpoint folder" in capsys.readouterr().err
