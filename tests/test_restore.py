"""tfrestore.restore: output names, nothing overwritten silently, outputs never read back."""

import os

import numpy as np
import pytest
from model_harness import smooth_images

from tfrestore import data, inference, models
from tfrestore.restore import RestoreError, output_names, restore_files


@pytest.fixture(scope="module")
def restorer():
    model = models.get("deblur_gan", filters=4, num_blocks=1, vgg_weights=None)
    return inference.Restorer.from_model(model)


def write(path, height, width, seed=0):
    data.write_image(str(path), smooth_images(1, height, width, seed=seed)[0])


def size_of(path):
    return data.read_image(str(path)).shape[:2]


@pytest.mark.parametrize(
    "names,expected",
    [
        (["a/1.jpg", "b/1.jpg", "c.bmp"], ["a/1.png", "b/1.png", "c.png"]),
        (["same.jpg", "same.png"], ["same.jpg.png", "same.png"]),
        (["same.png", "same.jpg", "same.bmp"], ["same.png", "same.jpg.png", "same.bmp.png"]),
        (["Same.JPG", "same.png"], ["Same.JPG.png", "same.png"]),  # case-insensitive filesystems
        (["1.jpg", "1.jpg", "1_2.jpg"], ["1.png", "1_3.png", "1_2.png"]),  # _2 is 1_2.jpg's
        (["x.jpg", "x.jpg.png", "x.png"], ["x.jpg.png", "x.jpg_2.png", "x.png"]),
    ],
)
def test_output_names_are_distinct_and_deterministic(names, expected):
    assert output_names(names) == expected


def test_outputs_mirror_folders_and_clashing_inputs_get_distinct_names(restorer, tmp_path):
    # (input, its output in out/): each input has its own width, so its output shows it.
    cases = [
        ("in/a/1.jpg", "a/1.png"),
        ("in/b/1.jpg", "b/1.png"),
        ("in/same.jpg", "same.jpg.png"),
        ("in/same.png", "same.png"),
        ("other/1.jpg", "1.png"),  # given as a file, beside the folder in/
    ]
    for index, (source, _) in enumerate(cases):
        write(tmp_path / source, 20, 24 + 4 * index, seed=index)
    out = tmp_path / "out"
    report = restore_files(
        restorer, [str(tmp_path / "in"), str(tmp_path / "other/1.jpg")], str(out)
    )
    assert sorted(report.written) == sorted(str(out / output) for _, output in cases)
    for source, output in cases:
        assert size_of(out / output) == size_of(tmp_path / source)
    assert report.skipped == [] and report.failed == []
    assert str(report) == f"restored 5 images into {out}"


def test_existing_outputs_are_skipped_unless_overwrite(restorer, tmp_path):
    write(tmp_path / "in" / "a.png", 16, 16)
    write(tmp_path / "in" / "b.png", 16, 20, seed=1)
    out = tmp_path / "out"
    data.write_image(str(out / "a.png"), np.zeros((8, 8, 3)))  # someone else's file
    report = restore_files(restorer, [str(tmp_path / "in")], str(out))
    assert report.written == [str(out / "b.png")] and report.skipped == [str(out / "a.png")]
    assert size_of(out / "a.png") == (8, 8)  # left alone
    assert str(report) == (
        f"restored 1 images into {out}; 1 skipped (output exists; --overwrite replaces it)"
    )
    report = restore_files(restorer, [str(tmp_path / "in")], str(out), overwrite=True)
    assert len(report.written) == 2 and size_of(out / "a.png") == (16, 16)


def test_the_output_folder_is_never_read_as_input(restorer, tmp_path):
    photos = tmp_path / "photos"
    write(photos / "a.png", 16, 16)
    write(photos / "sub" / "b.jpg", 16, 16)
    out = photos / "restored"
    for run in range(2):  # the second run must not restore the first run's outputs
        report = restore_files(restorer, [str(photos)], str(out))
        assert len(report.written) == (2 if run == 0 else 0)
        assert len(report.skipped) == (0 if run == 0 else 2)
    assert sorted(data.list_images(str(out))) == ["a.png", "sub/b.png"]
    with pytest.raises(RestoreError, match="input .*a.png is inside the output folder"):
        restore_files(restorer, [str(out / "a.png")], str(out))  # an earlier output as input
    with pytest.raises(RestoreError, match="is inside the output folder"):
        restore_files(restorer, [str(photos)], str(photos))  # -o is the input folder


def test_unwritable_output_folder_is_found_before_the_model_loads(tmp_path):
    write(tmp_path / "a.png", 16, 16)
    (tmp_path / "file").write_text("not a folder")
    missing_model = str(tmp_path / "no_model.keras")  # loading it would fail differently
    with pytest.raises(RestoreError, match="output folder .*file is a file"):
        restore_files(missing_model, [str(tmp_path / "a.png")], str(tmp_path / "file"))
    with pytest.raises(RestoreError, match="cannot write to output folder .*: Not a directory"):
        restore_files(missing_model, [str(tmp_path / "a.png")], str(tmp_path / "file" / "out"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    write(tmp_path / "a.png", 16, 16)
    (tmp_path / "out").mkdir(mode=0o500)
    with pytest.raises(RestoreError, match="cannot write to output folder .*Permission denied"):
        restore_files(str(tmp_path / "m.keras"), [str(tmp_path / "a.png")], str(tmp_path / "out"))


def test_failures_are_counted_and_the_same_file_is_restored_once(restorer, tmp_path):
    write(tmp_path / "in" / "a.png", 16, 16)
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    data.write_image(str(tmp_path / "in" / "dot.png"), np.zeros((1, 1, 3)))
    seen = []
    report = restore_files(
        restorer,
        [str(tmp_path / "in"), str(tmp_path / "in" / "a.png")],
        str(tmp_path / "out"),
        on_file=lambda index, total, job, outcome: seen.append((index, total, outcome)),
    )
    assert report.written == [str(tmp_path / "out" / "a.png")]
    failed = dict(report.failed)
    assert set(failed) == {str(tmp_path / "in" / "broken.png"), str(tmp_path / "in" / "dot.png")}
    assert failed[str(tmp_path / "in" / "dot.png")].startswith(
        "the model cannot process this 1x1 image: paddings must be less than the dimension size"
    )
    assert str(report) == f"restored 1 images into {tmp_path / 'out'}; 2 failed"
    assert [(index, total) for index, total, _ in seen] == [(0, 3), (1, 3), (2, 3)]
    assert seen[0][2] == "written" and os.listdir(tmp_path / "out") == ["a.png"]
