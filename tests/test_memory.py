"""dlbook.memory: the analytic model against real tensors and the profiler.

Parameter counts against torchvision's ResNet-152; predicted optimizer state
against the state tensors after a real step; activations counted on `meta`
against those saved in a real CPU forward pass (deduplicated by data pointer);
the predicted peak against the peak of torch.profiler's CPU memory timeline."""

import pytest
import torch
from torch import nn

from dlbook.memory import (
    SmallPool,
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
    """Saved tensors of a real forward pass, deduplicated by storage,
    without parameters, buffers (BatchNorm saves its running statistics)
    and the input: those are alive anyway."""
    exclude = {t.untyped_storage().data_ptr()
               for t in [*model.parameters(), *model.buffers(), x]}
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


# --- workspaces: cuBLAS's size from CUBLAS_WORKSPACE_CONFIG, and the peaks
# growing by exactly the workspace inputs ----------------------------------

from hypothesis import given
from hypothesis import strategies as st

from dlbook.memory import (
    CUBLAS_CONFIG_LARGE,
    CUBLAS_CONFIG_SMALL,
    _AllocatorStats,
    _conv_inputs,
    _largest_conv_transient,
    cublas_workspace_bytes,
    measure_cudnn_workspace,
)

KiB, MiB = 1024, 1024 * 1024


@pytest.mark.parametrize("config, expected", [
    (":4096:8", 32 * MiB),                      # PyTorch's Hopper default
    (":4096:2:16:8", 8 * MiB + 128 * KiB),      # its default elsewhere
    (":16:8", 128 * KiB),                       # the deterministic setting
    (":0:4", 0),
    (":1:1:2:2:3:3", (1 + 4 + 9) * KiB),
])
def test_cublas_config_sums_size_times_count(config, expected):
    assert cublas_workspace_bytes(config) == expected
    assert CUBLAS_CONFIG_LARGE == ":4096:8" and CUBLAS_CONFIG_SMALL == ":4096:2:16:8"


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 64)),
                min_size=1, max_size=6))
def test_cublas_config_of_any_pairs(pairs):
    config = "".join(f":{size}:{count}" for size, count in pairs)
    assert cublas_workspace_bytes(config) == sum(s * 1024 * c for s, c in pairs)


@pytest.mark.parametrize("capability, expected", [
    ((6, 1), 8 * MiB + 128 * KiB), ((7, 5), 8 * MiB + 128 * KiB),    # T4
    ((8, 0), 8 * MiB + 128 * KiB), ((8, 9), 8 * MiB + 128 * KiB),    # A100, L4
    ((9, 0), 32 * MiB),                                              # H100
    ((10, 0), 32 * MiB), ((12, 0), 32 * MiB),                        # Blackwell
])
def test_cublas_default_follows_the_capability(monkeypatch, capability, expected):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert cublas_workspace_bytes(device_capability=capability) == expected
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "  ")     # empty: ignored
    assert cublas_workspace_bytes(device_capability=capability) == expected


def test_cublas_reads_the_environment(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    assert cublas_workspace_bytes() == 128 * KiB
    assert cublas_workspace_bytes(device_capability=(9, 0)) == 128 * KiB
    assert cublas_workspace_bytes(":4096:8") == 32 * MiB    # an explicit one wins
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "4096:8")
    with pytest.raises(ValueError, match="CUBLAS_WORKSPACE_CONFIG must be"):
        cublas_workspace_bytes()


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks the CUDA device")
def test_cublas_default_needs_a_capability_without_cuda(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with pytest.raises(ValueError, match="device_capability is needed"):
        cublas_workspace_bytes()


@pytest.mark.parametrize("config", [
    "", "4096:8", ":4096", ":4096:8:", ":4096:8:16", ":a:8", ":4096:-8",
    " :4096:8", ":4096:8 ", ":4096::8", "::", ":4.5:8", ":4096:8,:16:8",
])
def test_malformed_cublas_configs_are_refused(config):
    with pytest.raises(ValueError, match="config must be ':SIZE:COUNT' pairs"):
        cublas_workspace_bytes(config)


@pytest.mark.parametrize("capability, error", [
    ((9,), TypeError), ("90", TypeError), ((9.0, 0), TypeError),
    ((True, 0), TypeError), ((9, 0, 1), TypeError), ((-1, 0), ValueError),
])
def test_bad_capabilities_are_refused(capability, error):
    with pytest.raises(error, match="device_capability"):
        cublas_workspace_bytes(":4096:8", device_capability=capability)


def test_config_must_be_a_string():
    with pytest.raises(TypeError, match="config must be a string"):
        cublas_workspace_bytes(4096)


WORKSPACE_CASES = {
    # small activations: the optimizer step sets the peak
    "step": (lambda: nn.Linear(256, 256), (2, 256), "adam"),
    # large activations: the backward pass sets it
    "backward": (small_cnn, (32, 3, 16, 16), "sgd"),
}


@pytest.fixture(scope="module")
def bare_estimates():
    torch.manual_seed(0)
    out = {}
    for key, (make, shape, opt_name) in WORKSPACE_CASES.items():
        model = make()
        opt = OPTIMIZERS[opt_name](model.parameters())
        out[key] = (model, shape, opt, estimate_training_step(model, shape, opt))
    assert out["step"][3].step_peak > out["step"][3].backward_peak
    assert out["backward"][3].backward_peak > out["backward"][3].step_peak
    return out


@given(cublas=st.integers(0, 2**40), cudnn=st.integers(0, 2**40),
       case=st.sampled_from(sorted(WORKSPACE_CASES)))
def test_peaks_grow_by_exactly_the_workspaces(bare_estimates, cublas, cudnn, case):
    model, shape, opt, bare = bare_estimates[case]
    est = estimate_training_step(model, shape, opt, cublas_workspace_bytes=cublas,
                                 cudnn_workspace_bytes=cudnn)
    assert (est.cublas_workspace, est.cudnn_workspace) == (cublas, cudnn)
    # cuBLAS's workspaces stay through the step; cuDNN's only inside a convolution
    assert est.backward_peak == bare.backward_peak + cublas + cudnn
    assert est.step_peak == bare.step_peak + cublas
    assert est.peak == max(bare.backward_peak + cudnn, bare.step_peak) + cublas
    assert est.first_step_peak == max(
        bare.backward_peak - bare.optimizer_state + cudnn, bare.step_peak) + cublas
    # everything else is untouched
    for name in ("parameters", "gradients", "optimizer_state", "inputs", "activations"):
        assert getattr(est, name) == getattr(bare, name)
    # cuBLAS alone adds exactly itself to both peaks
    only = estimate_training_step(model, shape, opt, cublas_workspace_bytes=cublas)
    assert only.peak == bare.peak + cublas
    assert only.first_step_peak == bare.first_step_peak + cublas


def test_peaks_grow_by_both_workspaces_when_the_backward_pass_wins(bare_estimates):
    model, shape, opt, bare = bare_estimates["backward"]
    est = estimate_training_step(model, shape, opt, cublas_workspace_bytes=3 * MiB,
                                 cudnn_workspace_bytes=5 * MiB)
    assert est.peak - bare.peak == 8 * MiB
    assert est.first_step_peak - bare.first_step_peak == 8 * MiB


def test_default_workspaces_are_zero_and_keep_the_cpu_prediction(bare_estimates):
    model, shape, opt, bare = bare_estimates["backward"]
    zero = estimate_training_step(model, shape, opt, cublas_workspace_bytes=0,
                                  cudnn_workspace_bytes=0)
    assert zero == bare and bare.cublas_workspace == bare.cudnn_workspace == 0


@pytest.mark.parametrize("name", ["cublas_workspace_bytes", "cudnn_workspace_bytes"])
@pytest.mark.parametrize("value, error", [
    (1.5, TypeError), ("1024", TypeError), (True, TypeError), (None, TypeError),
    (-1, ValueError),
])
def test_workspace_inputs_are_validated(name, value, error):
    model = small_cnn()
    opt = OPTIMIZERS["sgd"](model.parameters())
    with pytest.raises(error, match=name):
        estimate_training_step(model, (2, 3, 8, 8), opt, **{name: value})


def test_numpy_integers_are_accepted_as_workspaces():
    np = pytest.importorskip("numpy")
    model = small_cnn()
    opt = OPTIMIZERS["sgd"](model.parameters())
    est = estimate_training_step(model, (2, 3, 8, 8), opt,
                                 cublas_workspace_bytes=np.int64(1024))
    assert est.cublas_workspace == 1024 and type(est.cublas_workspace) is int


def test_conv_inputs_are_those_of_a_real_forward_pass():
    model = torchvision.models.resnet18(num_classes=10)
    seen = {}

    def hook(module, args, _):
        key = (repr(module), tuple(args[0].shape), args[0].requires_grad)
        seen.setdefault(key, module)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    model(torch.randn(2, 3, 32, 32))
    for h in handles:
        h.remove()
    found = _conv_inputs(model, (2, 3, 32, 32), torch.float32)
    assert {(repr(m), s, g) for m, s, g in found} == set(seen)
    assert not found[0][2] and all(g for _, _, g in found[1:])   # the image needs no grad
    assert all(p.device.type == "cpu" for p in model.parameters())


class _FixedTransient(_AllocatorStats):
    """Stand-in counters for the CPU: nothing allocated, and every call
    peaks 4096 bytes above it, so the measurement's bookkeeping (which
    tensors it subtracts) can be checked exactly."""

    def __init__(self):
        super().__init__(torch.device("cpu"))
        self.calls = 0

    def settle(self):
        self.calls += 1
        return 0

    def peak(self):
        return 4096


def test_conv_transient_bookkeeping_on_the_cpu():
    model = small_cnn()
    before = [p.detach().clone() for p in model.parameters()]
    stats = _FixedTransient()
    largest = _largest_conv_transient(model, (2, 3, 8, 8), torch.float32,
                                      torch.device("cpu"), stats)
    # 2 convolutions, each run twice, forward and backward
    assert stats.calls == 8
    # conv 1, (2, 3, 8, 8) -> (2, 8, 8, 8): forward 4096 - 2048 (output);
    # backward 4096 - 1024 (weight grad, 864 B in a 512-B multiple) - 512
    # (bias grad), no input grad: 2560. Conv 2 leaves less.
    assert largest == 2560
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only check")
def test_cudnn_measurement_needs_cuda():
    with pytest.raises(RuntimeError, match="needs CUDA"):
        measure_cudnn_workspace(small_cnn(), (2, 3, 8, 8))


MIB = 2**20


def test_small_pool_rounds_and_packs_into_segments():
    pool = SmallPool()
    a = pool.malloc(1)  # rounded up to 512 bytes
    b = pool.malloc(513)  # to 1024
    assert (a, b) == (0, 512) and pool.reserved == 2 * MIB
    pool.malloc(MIB)
    pool.malloc(MIB - 1536)  # fills the segment exactly
    assert pool.segments == 1
    pool.malloc(1)
    assert pool.segments == 2
    with pytest.raises(ValueError):
        pool.malloc(MIB + 1)  # the large pool's


def test_small_pool_best_fit_split_and_merge():
    pool = SmallPool()
    blocks = [pool.malloc(s) for s in (4096, 1024, 8192, 1024)]
    pool.free(blocks[0])  # a 4 KiB hole
    pool.free(blocks[2])  # an 8 KiB hole
    assert pool.malloc(3000) == blocks[0]  # best fit, not the first fit
    assert pool.malloc(4096) == blocks[2]  # the 8 KiB hole, split
    assert pool.malloc(4096) == blocks[2] + 4096  # its remainder
    # 600 bytes take a whole 1 KiB hole (rounded up to 1024)
    pool2 = SmallPool()
    x = pool2.malloc(1024)
    pool2.malloc(512)
    pool2.free(x)
    assert pool2.malloc(600) == x
    assert pool2.malloc(512) == 1536  # nothing left in the hole
    # freed neighbours merge: two halves make a whole segment again
    pool3 = SmallPool()
    halves = [pool3.malloc(MIB), pool3.malloc(MIB)]
    for h in reversed(halves):
        pool3.free(h)
    assert [pool3.malloc(MIB), pool3.malloc(MIB)] == halves
    assert pool3.segments == 1
    with pytest.raises(ValueError):
        pool3.free(12345)


def test_small_pool_against_brute_force_packing():
    """Allocation in order never beats the perfect packing (the total in
    whole segments) and, for blocks that all fit an equal share of a
    segment, meets it."""
    gen = torch.Generator().manual_seed(0)
    sizes = (torch.randint(1, MIB + 1, (300,), generator=gen)).tolist()
    pool = SmallPool()
    for s in sizes:
        pool.malloc(s)
    packed = sum(-(-s // 512) * 512 for s in sizes)
    assert pool.reserved >= -(-packed // (2 * MIB)) * 2 * MIB
    quarters = SmallPool()
    for _ in range(40):
        quarters.malloc(MIB // 2)
    assert quarters.segments == 10
