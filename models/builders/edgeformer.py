"""EdgeFormer-S (ParC-Net-S), written from the paper's description — it is in no package.

EdgeFormer (Zhang et al., "ParC-Net: Position Aware Circular Convolution with Merits from ConvNets and
Transformer", ECCV 2022; arXiv 2203.03952, first titled "EdgeFormer") keeps MobileViT-S's macro
layout — stem, MobileNetV2 inverted residuals, three global stages of widths 144/192/240 with 2/4/3
blocks, 1x1 conv to 640, classifier — and replaces each transformer block by a ParC block:

- position-aware circular convolution (ParC): half the channels get a learnable position embedding
  along H and a depth-wise convolution whose kernel spans the whole height with circular padding;
  the other half do the same along W — a global receptive field at convolution cost;
- a feed-forward network with channel-wise attention (a squeeze-and-excitation gate);
- BatchNorm instead of LayerNorm, residual connections around both.

The FFN expansion (3) is chosen so that the network has the paper's ~5.0 M parameters.
"""

from __future__ import annotations

from typing import Any, List

from . import Built
from .weights import randomise_


def _torch() -> Any:
    import torch

    return torch


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> Any:
    nn = _torch().nn
    layers: List[Any] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def make_model(num_classes: int = 1000, image_size: int = 256, ffn_ratio: float = 3.0) -> Any:
    torch = _torch()
    nn = torch.nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
            super().__init__()
            hidden = cin * expand
            self.block = nn.Sequential(conv_bn(cin, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                       conv_bn(hidden, cout, 1, act=False))
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            y = self.block(x)
            return x + y if self.residual else y

    class ParC(nn.Module):
        """Position-aware circular convolution: global depth-wise kernels along H (half the channels)
        and along W (the other half), circular padding, learnable position embeddings."""

        def __init__(self, dim: int, h: int, w: int) -> None:
            super().__init__()
            self.half = dim // 2
            c1, c2 = self.half, dim - self.half
            self.pe_h = nn.Parameter(torch.zeros(1, c1, h, 1))
            self.pe_w = nn.Parameter(torch.zeros(1, c2, 1, w))
            self.conv_h = nn.Conv2d(c1, c1, (h, 1), groups=c1, bias=True)
            self.conv_w = nn.Conv2d(c2, c2, (1, w), groups=c2, bias=True)
            self.h, self.w = h, w

        def forward(self, x: Any) -> Any:
            x1, x2 = x[:, : self.half], x[:, self.half:]
            x1 = x1 + self.pe_h
            x1 = torch.cat([x1, x1[:, :, : self.h - 1]], dim=2)   # circular padding along H
            x2 = x2 + self.pe_w
            x2 = torch.cat([x2, x2[:, :, :, : self.w - 1]], dim=3)  # circular padding along W
            return torch.cat([self.conv_h(x1), self.conv_w(x2)], dim=1)

    class ChannelAttentionFFN(nn.Module):
        def __init__(self, dim: int, ratio: float) -> None:
            super().__init__()
            hidden = int(dim * ratio)
            self.fc1 = nn.Conv2d(dim, hidden, 1)
            self.act = nn.GELU()
            self.fc2 = nn.Conv2d(hidden, dim, 1)
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim // 4, 1), nn.ReLU(),
                                    nn.Conv2d(dim // 4, dim, 1), nn.Sigmoid())

        def forward(self, x: Any) -> Any:
            y = self.fc2(self.act(self.fc1(x)))
            return y * self.se(y)

    class ParCBlock(nn.Module):
        def __init__(self, dim: int, h: int, w: int, ratio: float) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(dim)
            self.parc = ParC(dim, h, w)
            self.norm2 = nn.BatchNorm2d(dim)
            self.ffn = ChannelAttentionFFN(dim, ratio)

        def forward(self, x: Any) -> Any:
            x = x + self.parc(self.norm1(x))
            return x + self.ffn(self.norm2(x))

    class GlobalStage(nn.Module):
        """MobileViT-style: local 3x3 conv, 1x1 to d, ParC blocks, 1x1 back, fuse with the input."""

        def __init__(self, cin: int, d: int, depth: int, size: int, ratio: float) -> None:
            super().__init__()
            self.local = nn.Sequential(conv_bn(cin, cin, 3), nn.Conv2d(cin, d, 1, bias=False))
            self.blocks = nn.Sequential(*[ParCBlock(d, size, size, ratio) for _ in range(depth)])
            self.proj = conv_bn(d, cin, 1)
            self.fuse = conv_bn(2 * cin, cin, 3)

        def forward(self, x: Any) -> Any:
            y = self.proj(self.blocks(self.local(x)))
            return self.fuse(torch.cat([x, y], dim=1))

    class EdgeFormer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            s = image_size
            self.stem = conv_bn(3, 16, 3, 2)
            self.layer1 = InvertedResidual(16, 32, 1)
            self.layer2 = nn.Sequential(InvertedResidual(32, 64, 2), InvertedResidual(64, 64, 1),
                                        InvertedResidual(64, 64, 1))
            self.layer3 = nn.Sequential(InvertedResidual(64, 96, 2), GlobalStage(96, 144, 2, s // 8, ffn_ratio))
            self.layer4 = nn.Sequential(InvertedResidual(96, 128, 2), GlobalStage(128, 192, 4, s // 16, ffn_ratio))
            self.layer5 = nn.Sequential(InvertedResidual(128, 160, 2), GlobalStage(160, 240, 3, s // 32, ffn_ratio))
            self.head = conv_bn(160, 640, 1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(640, num_classes)

        def forward(self, pixel_values: Any) -> Any:
            x = self.stem(pixel_values)
            x = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
            return self.classifier(self.pool(self.head(x)).flatten(1))

    return EdgeFormer()


def build(entry: Any, seed: int) -> Built:
    torch = _torch()
    cfg = dict(entry.config)
    size = int(cfg.get("image_size", 256))
    torch.manual_seed(seed)
    model = make_model(int(cfg.get("num_classes", 1000)), size, float(cfg.get("ffn_ratio", 3.0)))
    randomise_(model, seed)
    gen = torch.Generator().manual_seed(seed)
    return Built(model.eval(), {"pixel_values": torch.randn(1, 3, size, size, generator=gen)}, ["logits"])
