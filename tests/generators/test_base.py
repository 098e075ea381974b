"""Generator specs and the one place device and dtype are chosen."""

from __future__ import annotations

import pytest
import torch

from pmg_engine.generators import GeneratorError, GeneratorSpec, resolve_device, resolve_dtype


def test_spec_defaults_are_offline_and_automatic() -> None:
    """A spec picks device and dtype automatically and never downloads unless told."""
    spec = GeneratorSpec(model="stabilityai/sd-turbo")
    assert (spec.device, spec.dtype, spec.allow_download) == ("auto", "auto", False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": " "}, "model"),
        ({"model": "x", "device": "tpu"}, "device"),
        ({"model": "x", "dtype": "int8"}, "dtype"),
    ],
)
def test_spec_rejects_bad_values(kwargs: dict[str, str], match: str) -> None:
    """Unknown devices, dtypes and empty model names are refused with the argument named."""
    with pytest.raises(ValueError, match=match):
        GeneratorSpec(**kwargs)  # type: ignore[arg-type]


def test_auto_means_gpu_half_precision_else_cpu_float32() -> None:
    """auto picks CUDA + float16 where available, otherwise CPU + float32."""
    device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16


def test_half_precision_on_cpu_is_refused() -> None:
    """float16 on the CPU is refused with the CPU alternatives named."""
    with pytest.raises(GeneratorError, match="bfloat16"):
        resolve_dtype("float16", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused() -> None:
    """Asking for CUDA on a machine without it fails at load with a sentence, not later."""
    with pytest.raises(GeneratorError, match="CUDA"):
        resolve_device("cuda")
