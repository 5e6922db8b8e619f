"""tfrestore.atomic: outputs appear whole, with the permissions the umask gives open/mkdir."""

import os
import stat

import numpy as np
import pytest

import tfrestore
from tfrestore import export
from tfrestore.atomic import atomic_output
from tfrestore.data import write_image


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


@pytest.fixture(scope="module")
def model():
    return tfrestore.models.DeblurGAN(filters=4, num_blocks=1, vgg_weights=None)


def test_outputs_get_the_permissions_of_open_and_mkdir(umask, model, tmp_path):
    file_mode, folder_mode = 0o666 & ~umask, 0o777 & ~umask
    # Restored and structure images are written by write_image.
    write_image(tmp_path / "new" / "restored.png", np.zeros([4, 4, 3]))
    assert mode(tmp_path / "new" / "restored.png") == file_mode
    assert mode(tmp_path / "new") == folder_mode
    export.export_saved_model(model, tmp_path / "saved_model", check=False)
    for root, _, files in os.walk(tmp_path / "saved_model"):
        assert mode(root) == folder_mode, root
        assert {name: mode(os.path.join(root, name)) for name in files} == dict.fromkeys(
            files, file_mode
        )
    # Converted from that folder: the model is not traced again.
    export.export_tflite(tmp_path / "saved_model", tmp_path / "model.tflite", check=False)
    assert mode(tmp_path / "model.tflite") == file_mode
    assert sorted(os.listdir(tmp_path)) == ["model.tflite", "new", "saved_model"]


def test_failed_output_leaves_the_old_one(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(path) as temporary:
        assert os.path.basename(temporary).endswith("-out.bin")  # writers may check suffixes
        with open(temporary, "wb") as file:
            file.write(b"new, half written")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        file.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.bin"]
