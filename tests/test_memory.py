"""dlbook.memory: the analytic model against real tensors and the profiler.

Parameter counts against torchvision's ResNet-152; predicted optimizer state
against the state tensors after a real step; activations counted on `meta`
against those saved in a real CPU forward pass (deduplicated by data pointer);
the predicted peak against the peak of torch.profiler's CPU memory timeline."""

import pytest
import torch
from torch import nn

from dlbook.memory import (
    estimate_training_step,
    largest_batch,
    measure_cpu_peak,
    measure_cuda_peak,
    optimizer_state_bytes,
    parameter_bytes,
    saved_activations,
    step_temporary_bytes,
)

torchvision = pytest.importorskip("torchvision")

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.01),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    "adam_amsgrad_decay": lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True,
                                                      weight_decay=1e-2),
    "adamw_foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
}


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


def training_step(model, optimizer, x, y):
    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def test_resnet152_parameter_count_and_bytes():
    model = torchvision.models.resnet152(num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 58_164_298
    assert parameter_bytes(model) == 4 * 58_164_298
    model.fc.requires_grad_(False)
    assert parameter_bytes(model, trainable_only=True) == 4 * (58_164_298 - 2048 * 10 - 10)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_matches_the_real_state_after_a_step(name):
    torch.manual_seed(0)
    model = small_cnn()
    opt = OPTIMIZERS[name](model.parameters())
    predicted = optimizer_state_bytes(opt)
    training_step(model, opt, torch.randn(4, 3, 8, 8), torch.arange(4))()
    real = sum(t.numel() * t.element_size() for state in opt.state.values()
               for t in state.values() if isinstance(t, torch.Tensor))
    assert predicted == real


def real_saved_bytes(model, x):
    """Saved tensors of a real forward pass, deduplicated by data pointer,
    without parameters and the input."""
    exclude = {p.data_ptr() for p in model.parameters()} | {x.data_ptr()}
    seen = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values()), len(seen)


@pytest.mark.parametrize("arch, shape", [("resnet18", (4, 3, 32, 32)),
                                         ("mobilenet_v2", (2, 3, 64, 64))])
def test_activations_on_meta_equal_a_real_forward_pass(arch, shape):
    model = getattr(torchvision.models, arch)(num_classes=10)
    counted = saved_activations(model, shape)
    real, count = real_saved_bytes(model, torch.randn(shape))
    assert counted.total == real and counted.count == count
    assert all(p.device.type == "cpu" for p in model.parameters())   # model untouched


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw_foreach"])
@pytest.mark.parametrize("batch", [4, 64])
def test_predicted_peak_is_within_five_percent_of_the_profiler(name, batch):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    opt = OPTIMIZERS[name](model.parameters())
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    step = training_step(model, opt, x, y)
    step()                                   # the optimizer state exists from here
    estimate = estimate_training_step(model, x, opt)
    measured = measure_cpu_peak(step)
    assert abs(estimate.peak / measured.peak - 1) < 0.05
    assert measured.by_category["parameter"] == estimate.parameters
    assert measured.by_category["optimizer_state"] == pytest.approx(
        estimate.optimizer_state, abs=64 * 4)


def test_step_temporaries_follow_the_implementation():
    model = nn.Linear(100, 50)                       # weight 20,000 B, bias 200 B
    single = torch.optim.Adam(model.parameters(), foreach=False)
    multi = torch.optim.Adam(model.parameters(), foreach=True)
    assert step_temporary_bytes(single) == 2 * 20_000
    assert step_temporary_bytes(multi) == 20_200
    assert step_temporary_bytes(torch.optim.SGD(model.parameters(), lr=0.1)) == 0


def test_largest_batch_is_the_last_that_fits():
    model = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    capacity = 150_000_000
    b = largest_batch(model, (3, 64, 64), opt, capacity)
    peak = lambda n: estimate_training_step(model, (n, 3, 64, 64), opt).peak
    assert b > 1 and peak(b) <= capacity < peak(b + 1)
    assert largest_batch(model, (3, 64, 64), opt, 1000) == 0


def test_invalid_inputs_raise_clear_errors():
    model = small_cnn()
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizer_state_bytes(torch.optim.RMSprop(model.parameters()))
    with pytest.raises(TypeError, match="model must be"):
        parameter_bytes("resnet")
    with pytest.raises(TypeError, match="inputs must be"):
        saved_activations(model, "4x3x8x8")
    with pytest.raises(ValueError, match="negative"):
        saved_activations(model, (-1, 3, 8, 8))
    with pytest.raises(ValueError, match="capacity"):
        largest_batch(model, (3, 8, 8), torch.optim.SGD(model.parameters(), lr=0.1), 0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs CUDA"):
            measure_cuda_peak(lambda: None)


def test_empty_batch_saves_nothing_of_size():
    counted = saved_activations(small_cnn(), (0, 3, 8, 8))
    assert counted.total == 0


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_first_step_peak_leaves_the_state_out_of_the_backward_pass(name):
    """The very first step of a fresh optimizer: no state during backward."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    opt = OPTIMIZERS[name](model.parameters())
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    estimate = estimate_training_step(model, x, opt)
    measured = measure_cpu_peak(training_step(model, opt, x, y))
    assert abs(estimate.first_step_peak / measured.peak - 1) < 0.05
    assert estimate.first_step_peak < estimate.peak      # the state would add to it


def test_largest_batch_matches_a_brute_force_search():
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters())
    peaks = [estimate_training_step(model, (b, 3, 8, 8), opt).peak for b in range(1, 121)]
    assert peaks == sorted(peaks)                        # the search assumes this
    for capacity in (peaks[0] - 1, peaks[0], peaks[2] + 1, peaks[47], peaks[99] + 5):
        brute = sum(p <= capacity for p in peaks)
        assert largest_batch(model, (3, 8, 8), opt, capacity, limit=120) == brute
    assert largest_batch(model, (3, 8, 8), opt, 10**12, limit=120) == 120
    # capacities are often written as floats (15.5e9 bytes)
    assert largest_batch(model, (3, 8, 8), opt, float(peaks[47]), limit=120) == 48
