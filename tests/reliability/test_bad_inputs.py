"""Bad and unusual inputs: each image gives exactly one row, with detections or a clear error; the
job exits 0 and its manifest counts them. Archive member names are never used as paths."""
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from effdet_batch.model import Detector
from effdet_batch.pipeline.decode import DecodeError, decode_image
from effdet_batch.pipeline.readers import read_bytes
from effdet_batch.pipeline.stages import read_and_prepare
from jobs import infer
from tests.helpers import assert_same_detections, parquet_bytes, tar_bytes
from tests.reliability.images import DISPLAYED, bad_files, encode, good_files, with_orientation


@pytest.fixture(scope="module")
def jpeg(indoor85) -> bytes:
    return (indoor85 / "images" / "2007_000027.jpg").read_bytes()


def test_bad_files_are_refused_with_their_reason(jpeg):
    for name, (data, reason) in bad_files(jpeg).items():
        with pytest.raises(DecodeError) as info:
            decode_image(data)
        assert reason in str(info.value) and "\n" not in str(info.value), name


def test_unusual_files_decode_to_rgb_as_displayed(jpeg):
    for name, (data, (width, height), pixel) in good_files(jpeg).items():
        image = decode_image(data)
        assert image.dtype == np.uint8 and image.shape == (height, width, 3), name
        if pixel is not None:  # first frame, 16 bits scaled, transparency as white on the next pixel
            assert tuple(image[0, 0]) == pixel, name
    assert tuple(decode_image(good_files(jpeg)["palette-alpha.png"][0])[0, 1]) == (255, 255, 255)
    cmyk = decode_image(good_files(jpeg)["cmyk.jpg"][0]).astype(int)
    assert cmyk[..., 0].min() > 200 and cmyk[..., 1:].max() < 60  # CMYK (0, 255, 255, 0) is red


def test_objects_that_cannot_be_read_become_error_rows(jpeg, tmp_path):
    (tmp_path / "ok.jpg").write_bytes(jpeg)
    uris = [str(tmp_path / "ok.jpg"), str(tmp_path / "vanished.jpg")]
    batch = {"image_id": np.array(uris, dtype=object), "source_uri": np.array(uris, dtype=object),
             "bytes": np.array([None, None], dtype=object), "error": np.array([None, None], dtype=object)}
    errors = read_and_prepare(batch, 512, (124, 116, 104))["error"]
    assert errors[0] == "" and errors[1].startswith(f"cannot read {uris[1]}: ")
    with pytest.raises(ValueError, match="file is over 1,000 bytes, too large for an image"):
        read_bytes(uris[0], limit=1000)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_displayed_pixels(orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(with_orientation(stored, orientation)),
                                  DISPLAYED[orientation](stored))


def test_every_input_gives_one_row_through_the_job(ray_local, jpeg, tmp_path, capsys):
    folder = tmp_path / "lake"
    folder.mkdir()
    bad, good = bad_files(jpeg), good_files(jpeg)
    for name, (data, *_) in {**bad, **good}.items():
        (folder / name).write_bytes(data)
    exif = Image.Exif()
    exif[0x0112] = 6  # a camera held upright: stored landscape, displayed portrait
    rotated = encode(Image.open(io.BytesIO(jpeg)), "JPEG", exif=exif, quality=95)
    (folder / "upright.jpg").write_bytes(rotated)
    shard = tmp_path / "shard.tar"
    # "../../etc/passwd" is not an image name: skipped like a WebDataset .cls member.
    shard.write_bytes(tar_bytes({"0001.jpg": jpeg, "0002.jpg": jpeg, "../../etc/passwd": b"root:x:0:0",
                                 "../../etc/evil.jpg": b"root:x:0:0"}))
    truncated = tmp_path / "truncated.tar"
    second = 512 + -(-len(jpeg) // 512) * 512 + 512  # where 0002.jpg's data starts: header, data, header
    truncated.write_bytes(tar_bytes({"0001.jpg": jpeg, "0002.jpg": jpeg})[:second + len(jpeg) // 2])
    rows_shard = tmp_path / "rows.parquet"
    rows_shard.write_bytes(parquet_bytes({"image": [jpeg, None]}))
    out = tmp_path / "out"

    code = infer.main(["--model", "d0", "--weights", "random", "--device", "cpu", "--batch-size", "4",
                       "--input", str(folder), "--input", str(shard), "--input", str(truncated),
                       "--input", str(rows_shard), "--output", str(out), "--run-id", "bad"])
    assert code == 0
    rows = pd.read_parquet(out).set_index("image_id")
    expected_ids = ({str(folder / n) for n in [*bad, *good, "upright.jpg"]}
                    | {f"{shard}#{m}" for m in ("0001.jpg", "0002.jpg", "../../etc/evil.jpg")}
                    | {f"{truncated}#0001.jpg", f"{truncated}#0002.jpg", f"{rows_shard}#0", f"{rows_shard}#1"})
    assert set(rows.index) == expected_ids and rows.index.is_unique  # one row per image, no more
    errors = rows["error"].dropna()
    for name, (_, reason) in bad.items():
        assert reason in errors[str(folder / name)]
    assert "not an image" in errors[f"{shard}#../../etc/evil.jpg"]
    assert "truncated tar member" in errors[f"{truncated}#0002.jpg"]
    assert "null" in errors[f"{rows_shard}#1"]
    assert len(errors) == len(bad) + 3 and all("\n" not in e for e in errors)
    for name, (_, (width, height), _) in good.items():
        row = rows.loc[str(folder / name)]
        assert (row["width"], row["height"]) == (width, height) and row["num_detections"] == len(row["scores"]) > 0

    manifest = json.loads((out / "_manifest-bad.json").read_text())
    assert (manifest["images_total"], manifest["images_failed"]) == (len(rows), len(errors))
    assert sorted(f["image_id"] for f in manifest["failures"]) == sorted(errors.index)
    assert not list(tmp_path.rglob("passwd")) and not list(tmp_path.rglob("evil.jpg"))  # never extracted

    # Boxes are in the displayed orientation: those of the upright pixels, in their coordinates.
    row = rows.loc[str(folder / "upright.jpg")]
    assert (row["width"], row["height"]) == (480, 640)
    stored = np.asarray(Image.open(io.BytesIO(rotated)).convert("RGB"))  # PIL ignores EXIF here
    (want,) = Detector("d0", "random", device="cpu").predict([DISPLAYED[6](stored)])
    assert_same_detections({"boxes": np.stack(row["boxes"]), "scores": row["scores"],
                            "classes": row["category_ids"]}, want)
