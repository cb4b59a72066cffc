"""Image datasets without torchvision: readers, tensor augmentations and a seeded batch loader.

Readers return :class:`ImageArrays` (uint8 images ``(N, C, H, W)`` + int64 labels):

* :func:`load_cifar` -- the official python archives ``cifar-10-python.tar.gz`` /
  ``cifar-100-python.tar.gz`` (read in place) or their extracted folders (``data_batch_1..5``,
  ``test_batch``; ``train``, ``test``). **Security**: these files are Python pickles, which can
  name code to run; they are read by :mod:`preprocessing.safe_pickle`'s restricted unpickler, which
  builds dicts, lists, bytes, numbers and numpy arrays only and refuses any other name.
* :func:`load_fashion_mnist` -- IDX files (plain or ``.gz``); default folder is where the Debian
  package ``dataset-fashion-mnist`` installs them (:data:`FASHION_MNIST_DIR`).
* :func:`load_digits` -- scikit-learn's bundled 8x8 digits; a fixed 80/20 train/test split.
* :func:`load_dataset` -- one entry point by name (:data:`DATASETS`).
* :class:`ImageFolder` -- ``root/<class>/<image>`` trees (ImageNet), decoded with PIL on access.

Augmentations act on float batches ``(B, C, H, W)`` and take a ``torch.Generator`` so every random
choice is seeded: :func:`random_crop`, :func:`random_flip`, :func:`cutout`; :func:`normalize`.
:class:`BatchLoader` serves shuffled, augmented, normalised batches from an :class:`ImageArrays`;
call ``set_epoch(e)`` so the order and augmentation of epoch ``e`` depend only on (seed, e), which
makes resumed training identical to uninterrupted training.
"""
from __future__ import annotations

import gzip
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from preprocessing import safe_pickle
from preprocessing.errors import InputError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("cifar10", "cifar100", "fashion_mnist", "digits")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CIFAR = {
    # name: (archive name, folder inside it, train batch files, test batch files, label key)
    "cifar10": ("cifar-10-python.tar.gz", "cifar-10-batches-py",
                [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


@dataclass
class ImageArrays:
    """A labelled image set: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices) -> "ImageArrays":
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ImageArrays(self.images[index], self.labels[index], self.num_classes)

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the images scaled to [0, 1]."""
        x = self.images.float().div_(255.0)
        return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist())


# ----------------------------------------------------------------------------- CIFAR

def _unpickle_batch(raw: bytes, source: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    # restricted: plain containers, bytes, numbers and numpy arrays only (a crafted archive runs nothing)
    batch = safe_pickle.loads(raw, source, safe_pickle.NUMPY_GLOBALS, "a CIFAR batch")
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise InputError(f"{source} is not a CIFAR batch: expected a dict with b'data' and {label_key!r}")
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InputError(f"{source}: b'data' / {label_key!r} are not numeric arrays ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise InputError(f"{source}: b'data' must be (N, 3072) uint8 with N labels, got {data.shape} "
                         f"and {labels.shape[0]} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar_files(path: Path, name: str, files: list[str]) -> list[tuple[bytes, str]]:
    """Raw bytes of the named batch files, from the archive or an extracted folder at ``path``."""
    archive_name, folder, _, _, _ = _CIFAR[name]
    if path.is_dir() and (path / archive_name).is_file():
        path = path / archive_name
    if path.is_file():
        try:
            with tarfile.open(path, "r:gz") as tar:
                members = {m.name: m for m in tar.getmembers() if m.isfile()}
                out = []
                for f in files:
                    member = members.get(f"{folder}/{f}")
                    if member is None:
                        raise InputError(f"{path} lacks {folder}/{f}: not the official {archive_name}")
                    out.append((tar.extractfile(member).read(), f"{path}:{member.name}"))
                return out
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{path} is not a readable {archive_name} archive ({exc})") from None
    for candidate in (path, path / folder):
        if all((candidate / f).is_file() for f in files):
            return [((candidate / f).read_bytes(), str(candidate / f)) for f in files]
    raise InputError(f"no {name} data at {path}: give {archive_name}, the folder holding it, "
                     f"or the extracted {folder}/ folder")


def load_cifar(path, name: str = "cifar10", train: bool = True) -> ImageArrays:
    """CIFAR-10/100 train or test split from the official python archive or extracted folder.

    The batch files are pickles, read with the restricted unpickler (plain data and numpy arrays only).
    """
    if name not in _CIFAR:
        raise InputError(f"unknown CIFAR dataset {name!r}; use cifar10 or cifar100")
    _, _, train_files, test_files, label_key = _CIFAR[name]
    raw = _read_cifar_files(Path(path), name, train_files if train else test_files)
    parts = [_unpickle_batch(data, source, label_key) for data, source in raw]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageArrays(torch.from_numpy(images), torch.from_numpy(labels), 10 if name == "cifar10" else 100)


# ----------------------------------------------------------------------------- IDX / Fashion-MNIST

def read_idx(path) -> np.ndarray:
    """An IDX file (uint8 payload; ``.gz`` allowed) as a numpy array of its declared shape."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"IDX file {path} not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read IDX file {path} ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise InputError(f"{path}: payload size {len(raw) - header} does not match shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"{stem}[.gz] not found in {folder}; install the Debian package dataset-fashion-mnist "
                     f"(files go to {FASHION_MNIST_DIR}) or pass --data with the IDX folder")


def load_fashion_mnist(folder=None, train: bool = True) -> ImageArrays:
    """Fashion-MNIST train (60,000) or test (10,000) split as (N, 1, 28, 28) uint8."""
    folder = Path(folder) if folder is not None else FASHION_MNIST_DIR
    prefix = "train" if train else "t10k"
    images = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise InputError(f"Fashion-MNIST files in {folder} disagree: images {images.shape}, labels {labels.shape}")
    return ImageArrays(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels), 10)


# ----------------------------------------------------------------------------- digits

def load_digits(train: bool = True, test_fraction: float = 0.2) -> ImageArrays:
    """scikit-learn's 1,797 8x8 digits as (N, 1, 8, 8) uint8; a fixed seeded train/test split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(round(test_fraction * len(images)))
    chosen = order[n_test:] if train else order[:n_test]
    return ImageArrays(torch.from_numpy(images[chosen]), torch.from_numpy(bunch.target[chosen].astype(np.int64)), 10)


def load_dataset(name: str, data_path=None, train: bool = True) -> ImageArrays:
    """Dataset ``name`` (one of :data:`DATASETS`); ``data_path`` is required for CIFAR."""
    if name in _CIFAR:
        if data_path is None:
            raise InputError(f"{name} needs --data: the official python archive or its extracted folder")
        return load_cifar(data_path, name, train)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_path, train)
    if name == "digits":
        return load_digits(train)
    raise InputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def split_indices(n: int, valid_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, valid) index split of ``range(n)``."""
    if not 0.0 < valid_fraction < 1.0:
        raise InputError(f"validation fraction must be in (0, 1), got {valid_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, int(round(valid_fraction * n)))
    return order[n_valid:], order[:n_valid]


# ----------------------------------------------------------------------------- augmentation

def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad (B, C, H, W) by ``padding`` and crop each image back to H x W at a random offset."""
    if padding <= 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image of (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image, centred uniformly (clipped at the border)."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator)
    cx = torch.randint(0, w, (b,), generator=generator)
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    in_rows = (rows >= (cy - length // 2)[:, None]) & (rows < (cy + length - length // 2)[:, None])
    in_cols = (cols >= (cx - length // 2)[:, None]) & (cols < (cx + length - length // 2)[:, None])
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return x.masked_fill(mask, 0.0)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, C, H, W) -> per-channel standardised."""
    mean = torch.as_tensor(mean, dtype=x.dtype)[None, :, None, None]
    std = torch.as_tensor(std, dtype=x.dtype)[None, :, None, None]
    return (x - mean) / std


@dataclass
class Augment:
    """Training augmentation recipe: crop padding, horizontal flips, cutout length (0 = off)."""

    crop_padding: int = 0
    flip: bool = False
    cutout_length: int = 0


class BatchLoader:
    """Seeded batches from :class:`ImageArrays`: (B, C, H, W) float normalised images, (B,) labels.

    DARTS' order of operations: crop, flip, scale to [0, 1], normalise, cutout (so cut pixels sit
    at the mean).
    """

    def __init__(self, data: ImageArrays, batch_size: int, mean, std, augment: Augment | None = None,
                 shuffle: bool = False, seed: int = 0):
        if batch_size < 1:
            raise InputError(f"batch size must be positive, got {batch_size}")
        self.data, self.batch_size, self.mean, self.std = data, batch_size, mean, std
        self.augment, self.shuffle, self.seed = augment, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.data) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.data)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            x = self.data.images[index].float()
            if self.augment is not None:
                x = random_crop(x, self.augment.crop_padding, generator)
                if self.augment.flip:
                    x = random_flip(x, generator)
            x = normalize(x / 255.0, self.mean, self.std)
            if self.augment is not None:
                x = cutout(x, self.augment.cutout_length, generator)
            yield x, self.data.labels[index]


# ----------------------------------------------------------------------------- ImageFolder (ImageNet)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


class ImageFolder(torch.utils.data.Dataset):
    """``root/<class name>/<image file>``: classes sorted by name; item -> (transform(PIL RGB), label)."""

    def __init__(self, root, transform: Callable):
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"image folder {root} not found (expected {root}/<class>/<image>)")
        self.classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.samples = [(p, label) for label, c in enumerate(self.classes)
                        for p in sorted((root / c).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self.samples:
            raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}/<class>/")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image

        path, label = self.samples[i]
        with Image.open(path) as img:
            return self.transform(img.convert("RGB")), label


def pil_to_tensor(img) -> torch.Tensor:
    """PIL RGB image -> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)


class ImageNetTrainTransform:
    """DARTS ImageNet training transform: random resized crop (scale 0.08-1), flip, brightness/
    contrast/saturation jitter 0.4, normalise: PIL image -> (3, size, size).

    Random choices come from its own ``random.Random``; each DataLoader worker calls
    :meth:`reseed` with a (seed, epoch, worker)-derived value so workers never repeat each other.
    """

    def __init__(self, size: int = 224, jitter: float = 0.4, seed: int = 0):
        import random

        self.size, self.jitter = size, jitter
        self.rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        self.rng.seed(seed)

    def __call__(self, img) -> torch.Tensor:
        from PIL import Image, ImageEnhance

        w, h = img.size
        for _ in range(10):
            area = w * h * self.rng.uniform(0.08, 1.0)
            aspect = np.exp(self.rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            cw, ch = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if 0 < cw <= w and 0 < ch <= h:
                left, top = self.rng.randint(0, w - cw), self.rng.randint(0, h - ch)
                break
        else:  # fall back to a central square crop, as torchvision does
            cw = ch = min(w, h)
            left, top = (w - cw) // 2, (h - ch) // 2
        img = img.resize((self.size, self.size), Image.BILINEAR, box=(left, top, left + cw, top + ch))
        if self.rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            img = enhancer(img).enhance(self.rng.uniform(1 - self.jitter, 1 + self.jitter))
        return normalize(pil_to_tensor(img)[None], IMAGENET_MEAN, IMAGENET_STD)[0]


class ImageNetEvalTransform:
    """Resize the short side to 256, centre-crop 224, normalise."""

    def __init__(self, resize: int = 256, size: int = 224):
        self.resize, self.size = resize, size

    def __call__(self, img) -> torch.Tensor:
        from PIL import Image

        w, h = img.size
        scale = self.resize / min(w, h)
        img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        return normalize(pil_to_tensor(img)[None], IMAGENET_MEAN, IMAGENET_STD)[0]


def resize_images(data: ImageArrays, size: int) -> ImageArrays:
    """Square-resize uint8 images: area averaging when shrinking, bilinear when enlarging."""
    if size < 1:
        raise InputError(f"image size must be positive, got {size}")
    if data.images.shape[-1] == size and data.images.shape[-2] == size:
        return data
    mode = "area" if size < data.images.shape[-1] else "bilinear"
    resized = torch.nn.functional.interpolate(data.images.float(), size=(size, size), mode=mode,
                                              **({} if mode == "area" else {"align_corners": False}))
    return ImageArrays(resized.round().clamp(0, 255).to(torch.uint8), data.labels, data.num_classes)
