"""External Attention operator: against an independent loop reference, plus its properties."""
import functools

import pytest
import torch
from torch import nn

from mmattn.layers import ExternalAttention, MultiHeadExternalAttention
from messages import names


def _randomise_norm(norm: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BN statistics and affine parameters, so that folding them is really tested."""
    with torch.no_grad():
        if getattr(norm, 'weight', None) is not None:
            norm.weight.copy_(torch.rand(norm.weight.shape, generator=generator) + 0.5)
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
        if getattr(norm, 'running_mean', None) is not None:
            norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=generator))
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)


def _make(channels=8, num_memory=6, num_heads=None, norm_layer=nn.BatchNorm2d, seed=0,
          **kwargs):
    torch.manual_seed(seed)
    if num_heads is None:
        module = ExternalAttention(channels, num_memory=num_memory, norm_layer=norm_layer,
                                   **kwargs)
    else:
        module = MultiHeadExternalAttention(channels, num_heads=num_heads, num_memory=num_memory,
                                            norm_layer=norm_layer, **kwargs)
    _randomise_norm(module.out_norm, torch.Generator().manual_seed(seed + 1))
    return module.eval()


def _reference(module: MultiHeadExternalAttention, x: torch.Tensor, attn_mask=None):
    """Plain loops in float64 over batch, heads, memory units and pixels (eval-mode BN).

    ``attn_mask`` (B, heads, S, N), optional: multiplies the normalised map before the value
    memory reads it (what dropout on the attention map does in training).
    """
    x = x.double()
    batch, channels, height, width = x.shape
    heads, mem, head_ch = module.num_heads, module.num_memory, module.head_channels
    n_pix = height * width
    w_in = module.in_proj.weight[:, :, 0, 0].double()
    b_in = module.in_proj.bias.double()
    w_k = module.memory_keys.weight[:, :, 0].double()  # S, d
    w_v = module.memory_values.weight[:, :, 0].double()  # d, S
    w_out = module.out_proj.weight[:, :, 0, 0].double()
    bn = module.out_norm
    pixels = x.reshape(batch, channels, n_pix)
    out = torch.zeros_like(x)
    maps = torch.zeros(batch, heads, mem, n_pix, dtype=torch.float64)
    for b in range(batch):
        feats = w_in @ pixels[b] + b_in[:, None]  # C, N
        heads_out = []
        for h in range(heads):
            f_h = feats[h * head_ch:(h + 1) * head_ch]  # d, N
            logits = torch.zeros(mem, n_pix, dtype=torch.float64)
            for s in range(mem):
                for n in range(n_pix):
                    logits[s, n] = (w_k[s] * f_h[:, n]).sum()
            exp = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
            over_pixels = exp / exp.sum(dim=1, keepdim=True)
            attn = over_pixels / (over_pixels.sum(dim=0, keepdim=True) + 1e-9)
            maps[b, h] = attn
            if attn_mask is not None:
                attn = attn * attn_mask[b, h].double()
            heads_out.append(w_v @ attn)  # d, N
        y = w_out @ torch.cat(heads_out, dim=0)  # C, N
        y = (y - bn.running_mean.double()[:, None]) / torch.sqrt(
            bn.running_var.double()[:, None] + bn.eps)
        y = y * bn.weight.double()[:, None] + bn.bias.double()[:, None]
        out[b] = torch.relu(y.reshape(channels, height, width) + x[b])
    return out, maps


def test_forward_matches_loop_reference_of_the_formula():
    module = _make()
    x = torch.randn(2, 8, 3, 5, generator=torch.Generator().manual_seed(3))
    expected, _ = _reference(module, x)
    with torch.no_grad():
        torch.testing.assert_close(module(x).double(), expected, rtol=1e-4, atol=1e-5)


def test_attention_map_matches_loop_reference():
    module = _make()
    x = torch.randn(2, 8, 4, 3, generator=torch.Generator().manual_seed(4))
    _, expected_maps = _reference(module, x)
    with torch.no_grad():
        attn = module.attention_map(x)
    assert attn.shape == (2, 6, 12)
    torch.testing.assert_close(attn.double(), expected_maps[:, 0], rtol=1e-4, atol=1e-6)


def test_multi_head_forward_matches_loop_reference():
    module = _make(channels=12, num_memory=5, num_heads=3)
    x = torch.randn(2, 12, 3, 4, generator=torch.Generator().manual_seed(5))
    expected, expected_maps = _reference(module, x)
    with torch.no_grad():
        torch.testing.assert_close(module(x).double(), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(module.attention_map(x).double(), expected_maps,
                                   rtol=1e-4, atol=1e-6)


def test_multi_head_with_one_head_equals_external_attention():
    """Both against the loop reference of the one-head formula (built from ``single``'s weights),
    not one against the other: a bug shared by both classes must fail too."""
    single = _make(channels=8, num_memory=4)
    multi = _make(channels=8, num_memory=4, num_heads=1, seed=9)
    multi.load_state_dict(single.state_dict())
    x = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(6))
    expected, expected_maps = _reference(single, x)
    with torch.no_grad():
        torch.testing.assert_close(single(x).double(), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(multi(x).double(), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(single.attention_map(x).double(), expected_maps[:, 0],
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(multi.attention_map(x).double(), expected_maps,
                                   rtol=1e-4, atol=1e-6)


def test_attention_map_sums_to_one_over_memory_units_at_every_pixel():
    module = _make(num_heads=2, num_memory=7)
    x = torch.randn(3, 8, 6, 5)
    with torch.no_grad():
        attn = module.attention_map(x)  # B, heads, S, N
    assert (attn >= 0).all()
    # Exactly 1 - 1e-9 / (column sum + 1e-9): the guard only shows where every unit is tiny.
    torch.testing.assert_close(attn.sum(dim=2), torch.ones(3, 2, 30), rtol=0, atol=1e-5)


def test_outputs_are_batch_independent_in_eval_mode():
    module = _make(num_heads=2)
    x = torch.randn(4, 8, 5, 6)
    with torch.no_grad():
        together = module(x)
        alone = torch.cat([module(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('height,width', [(1, 1), (1, 9), (7, 3), (13, 11)])
@pytest.mark.parametrize('num_heads', [None, 2])
def test_any_height_and_width_matches_the_loop_reference(height, width, num_heads):
    module = _make(num_heads=num_heads)
    x = torch.randn(2, 8, height, width, generator=torch.Generator().manual_seed(height * width))
    expected, expected_maps = _reference(module, x)
    with torch.no_grad():
        out = module(x)
        maps = module.attention_map(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-5)
    if num_heads is None:
        expected_maps = expected_maps[:, 0]
    # at 1x1 the pixel softmax is 1 for every unit, so each unit gets 1 / S
    torch.testing.assert_close(maps.double(), expected_maps, rtol=1e-4, atol=1e-6)


def test_gradients_reach_every_parameter_and_the_input():
    module = _make(num_heads=2).train()
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    module(x).square().mean().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_gradient_matches_finite_differences_in_double():
    module = _make(channels=4, num_memory=3).double()
    x = torch.randn(1, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-5)


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """||got - want|| / ||want||: one number per tensor, robust to single rounding outliers."""
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


# Relative errors measured at these settings (seeds below): fp16 <= 0.15% for outputs and
# gradients, bf16 <= 1.1% (8-bit mantissa). The bounds leave ~3x room and stay far below the
# size of any real defect (a missing normalisation or term changes outputs by tens of percent).
_AUTOCAST_TOLERANCE = {torch.float16: 5e-3, torch.bfloat16: 3e-2}


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('num_heads', [None, 2])
def test_autocast_outputs_gradients_and_map_are_close_to_float32(dtype, num_heads):
    # with_act=False: a ReLU flips on rounding noise where its input is ~0, a jump of the whole
    # gradient at that element that says nothing about the precision of the module.
    module = _make(num_heads=num_heads, with_act=False).train()
    module.out_norm.eval()  # running statistics: the same affine map in both precisions
    x = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(0)).requires_grad_()
    upstream = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(1))
    params = dict(module.named_parameters())
    # in_proj.bias adds a per-unit constant to the logits, which the softmax over pixels
    # removes: its exact gradient is 0 and any two computations of it are rounding noise.
    del params['in_proj.bias']
    inputs = [x, *params.values()]
    names = ['x', *params]

    want = module(x)
    want_grads = torch.autograd.grad((want * upstream).sum(), inputs)
    with torch.no_grad():
        want_map = module.attention_map(x)
    with torch.autocast('cpu', dtype=dtype):
        got = module(x)
        with torch.no_grad():
            got_map = module.attention_map(x)
    got_grads = torch.autograd.grad((got.float() * upstream).sum(), inputs)

    tolerance = _AUTOCAST_TOLERANCE[dtype]
    assert _relative_error(got, want) < tolerance
    for name, got_grad, want_grad in zip(names, got_grads, want_grads):
        assert _relative_error(got_grad, want_grad) < tolerance, name
    assert got_map.dtype == torch.float32
    # the map's scale is 1 (it sums to 1 over the units at every pixel)
    assert (got_map - want_map).abs().max() < tolerance
    torch.testing.assert_close(got_map.sum(dim=-2), torch.ones_like(got_map.sum(dim=-2)),
                               rtol=0, atol=1e-5)


def test_fp16_autocast_gives_finite_outputs_where_naive_fp16_normalisation_gives_nan():
    module = _make(channels=8, num_memory=4)
    # 64x64 pixels and a large input spread the pixel softmax so far that, in fp16, some pixels
    # get 0 from every memory unit: 0 / (0 + 1e-9 rounded to 0) = NaN.
    x = torch.randn(1, 8, 64, 64, generator=torch.Generator().manual_seed(0)) * 30
    with torch.no_grad():
        # the memory logits (one head): memory keys of the input projection, per pixel
        logits = module.memory_keys(module.in_proj(x).flatten(2)).half()  # B, S, N
        naive = logits.softmax(dim=-1)
        naive = naive / (naive.sum(dim=-2, keepdim=True) + torch.tensor(1e-9, dtype=torch.half))
        assert torch.isnan(naive).any(), 'the input does not exercise the fp16 hazard'
        with torch.autocast('cpu', dtype=torch.float16):
            out = module(x)
            attn = module.attention_map(x)
    assert torch.isfinite(out).all()
    assert attn.dtype == torch.float32
    assert torch.isfinite(attn).all() and attn.min() >= 0 and attn.max() <= 1


def test_bf16_autocast_training_step_has_finite_loss_and_gradients():
    module = _make(num_heads=2).train()
    x = torch.randn(2, 8, 16, 16) * 10
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = module(x).float().square().mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize('num_heads', [None, 2])
def test_attention_dropout_acts_after_the_double_normalisation_in_training(num_heads):
    module = _make(num_heads=num_heads, attn_drop=0.5).train()
    module.out_norm.eval()  # the reference applies the running statistics
    x = torch.randn(2, 8, 4, 5, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(7)
    with torch.no_grad():
        out = module(x)
    # the same random draws as the module's dropout: one mask of the map's shape, scaled 1/(1-p)
    torch.manual_seed(7)
    heads = module.num_heads
    mask = torch.nn.functional.dropout(torch.ones(2, heads, module.num_memory, 20), p=0.5)
    assert (mask == 0).any() and (mask == 2).any()
    expected, _ = _reference(module, x, attn_mask=mask)
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-5)
    without_dropout, _ = _reference(module, x)
    assert (out.double() - without_dropout).abs().max() > 1e-2  # the mask really acted


def test_attention_dropout_is_the_identity_in_eval():
    module = _make(num_heads=2, attn_drop=0.5)
    x = torch.randn(2, 8, 4, 5, generator=torch.Generator().manual_seed(3))
    expected, _ = _reference(module, x)
    with torch.no_grad():
        torch.testing.assert_close(module(x).double(), expected, rtol=1e-4, atol=1e-5)


def test_value_memory_starts_as_key_memory_transposed_but_is_a_separate_parameter():
    module = ExternalAttention(8, num_memory=6)
    torch.testing.assert_close(module.memory_values.weight,
                               module.memory_keys.weight.transpose(0, 1))
    assert module.memory_values.weight.data_ptr() != module.memory_keys.weight.data_ptr()


def test_zero_init_norm_makes_a_fresh_module_the_identity_on_non_negative_inputs():
    module = ExternalAttention(8, num_memory=6, zero_init_norm=True).eval()
    x = torch.rand(2, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(module(x), x)


def test_without_residual_and_activation_output_is_the_normalised_readout():
    module = _make(residual=False, with_act=False)
    x = torch.randn(2, 8, 3, 3)
    expected, _ = _reference(module, x)  # relu(y + x) in the reference
    with torch.no_grad():
        out = module(x)
    assert (out < 0).any()
    torch.testing.assert_close(torch.relu(out + x).double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('num_heads,norm_layer', [
    (None, nn.BatchNorm2d),
    (2, nn.BatchNorm2d),
    (2, functools.partial(nn.GroupNorm, 4)),
    (None, nn.Identity),
])
def test_deploy_form_equals_training_form_in_eval(num_heads, norm_layer):
    module = _make(num_heads=num_heads, norm_layer=norm_layer)
    x = torch.randn(2, 8, 5, 4)
    with torch.no_grad():
        before_out, before_map = module(x), module.attention_map(x)
        module.switch_to_deploy()
        after_out, after_map = module(x), module.attention_map(x)
    torch.testing.assert_close(after_out, before_out, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(after_map, before_map, rtol=1e-4, atol=1e-6)


def test_switch_to_deploy_is_idempotent_and_drops_the_training_branches():
    module = _make(num_heads=2)
    x = torch.randn(1, 8, 3, 3)
    module.switch_to_deploy()
    with torch.no_grad():
        once = module(x)
    module.switch_to_deploy()
    with torch.no_grad():
        torch.testing.assert_close(module(x), once)
    names = {name for name, _ in module.named_children()}
    assert not names & {'in_proj', 'memory_keys', 'memory_values', 'out_proj'}
    assert isinstance(module.out_norm, nn.Identity)  # BN folded into fused_values


def test_deploy_keeps_a_group_norm_it_cannot_fold():
    module = _make(norm_layer=functools.partial(nn.GroupNorm, 2))
    module.switch_to_deploy()
    assert isinstance(module.out_norm, nn.GroupNorm)


@pytest.mark.parametrize('norm_layer,expected_type', [
    (nn.BatchNorm2d, nn.BatchNorm2d),
    (functools.partial(nn.GroupNorm, 2), nn.GroupNorm),
    (nn.Identity, nn.Identity),
])
def test_norm_layer_factory_builds_the_output_norm(norm_layer, expected_type):
    module = ExternalAttention(8, norm_layer=norm_layer)
    assert type(module.out_norm) is expected_type
    assert module(torch.randn(2, 8, 3, 3)).shape == (2, 8, 3, 3)


def test_a_norm_that_is_not_a_factory_raises_a_clear_error():
    with pytest.raises(TypeError, match=names('norm_layer', "{'type': 'BN'}")):
        ExternalAttention(8, norm_layer=dict(type='BN'))


def test_channels_not_divisible_by_heads_raise_a_clear_error():
    with pytest.raises(ValueError, match=names('channels', 10, 'num_heads', 4)):
        MultiHeadExternalAttention(10, num_heads=4)


def test_input_with_wrong_channels_raises_a_clear_error():
    module = ExternalAttention(8)
    with pytest.raises(ValueError,
                       match=names('(B, 8, H, W)', '(1, 4, 2, 2)')):
        module(torch.randn(1, 4, 2, 2))


def test_external_attention_refuses_num_heads():
    with pytest.raises(TypeError, match=names('num_heads', 'MultiHeadExternalAttention')):
        ExternalAttention(8, num_heads=2)


def test_init_is_the_official_one_as_it_takes_effect():
    """Official code: linear_1.weight is a view of linear_0.weight and every Conv1d gets
    N(0, 2 / out_channels), so both memories end up N(0, 2 / d), transposes of each other."""
    torch.manual_seed(0)
    module = ExternalAttention(512, num_memory=64)
    keys = module.memory_keys.weight
    assert keys.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)  # not (2 / 64) ** 0.5
    torch.testing.assert_close(module.memory_values.weight, keys.transpose(0, 1))
    fan_out = module.in_proj.weight.shape[0]
    assert module.in_proj.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)
    assert not module.in_proj.bias.any() and (module.out_norm.weight == 1).all()


def test_paper_default_hyper_parameters():
    # S = 64 memory units (paper, official code); the multi-head form's default number of heads
    # is ours, not the paper's, and is not pinned
    single = ExternalAttention(16)
    assert single.num_memory == 64 and single.num_heads == 1
    assert single.memory_keys.weight.shape == (64, 16, 1)
    multi = MultiHeadExternalAttention(16, num_heads=4)
    assert (multi.num_heads, multi.num_memory, multi.head_channels) == (4, 64, 4)
    assert multi.memory_keys.weight.shape == (64, 4, 1)


@pytest.mark.parametrize('kwargs, named', [
    (dict(channels=0), ('channels', 0)),
    (dict(channels=8.0), ('channels', 8.0)),
    (dict(num_heads=0), ('num_heads', 0)),
    (dict(num_heads=True), ('num_heads', True)),
    (dict(num_memory=0), ('num_memory', 0)),
    (dict(num_memory=-4), ('num_memory', -4)),
    (dict(attn_drop=1.0), ('attn_drop', 1.0)),
    (dict(attn_drop=-0.1), ('attn_drop', -0.1)),
])
def test_invalid_arguments_raise_errors_naming_the_value(kwargs, named):
    arguments = dict(channels=8, num_heads=2, num_memory=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=names('MultiHeadExternalAttention', *named)):
        MultiHeadExternalAttention(**arguments)


def test_attention_map_of_an_input_with_wrong_channels_raises_a_clear_error():
    module = ExternalAttention(8)
    with pytest.raises(ValueError,
                       match=names('(B, 8, H, W)', '(1, 4, 2, 2)')):
        module.attention_map(torch.randn(1, 4, 2, 2))


def test_init_weights_restores_the_official_init_after_training():
    # mmengine calls init_weights() of the children after a host's init_cfg: every parameter of
    # the official init must come back, the norm's bias included.
    module = MultiHeadExternalAttention(16, num_heads=2, num_memory=8)
    with torch.no_grad():
        for param in module.parameters():
            param.fill_(3.0)
    module.init_weights()
    assert (module.out_norm.weight == 1).all() and (module.out_norm.bias == 0).all()
    assert (module.in_proj.bias == 0).all()
    torch.testing.assert_close(module.memory_values.weight,
                               module.memory_keys.weight.transpose(0, 1))
    for param in (module.in_proj.weight, module.memory_keys.weight, module.out_proj.weight):
        assert (param != 3.0).all()


@pytest.mark.parametrize('num_heads', [None, 2])
def test_deploy_form_fused_key_conv_is_the_memory_keys_of_the_input_projection(num_heads):
    # The deployed checkpoint's fused_keys is M_k . in_proj exactly: weight and bias. (The bias
    # moves every pixel's logit for one memory unit by the same amount, which the pixel softmax
    # removes, so only the logits, not the outputs, can show a wrong bias.)
    module = _make(num_heads=num_heads)
    heads, head_channels = module.num_heads, module.head_channels
    with torch.no_grad():
        module.in_proj.bias.normal_()
        x = torch.randn(2, 8, 3, 4)
        features = module.in_proj(x).reshape(2 * heads, head_channels, 12)  # B*heads, d, N
        before = module.memory_keys(features).reshape(2, -1, 3, 4)  # B, heads*S, H, W
        module.switch_to_deploy()
        after = module.fused_keys(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('norm_layer', [nn.BatchNorm2d, functools.partial(nn.GroupNorm, 4)])
def test_deploy_form_of_a_float64_module_stays_float64_and_exact(norm_layer):
    module = _make(num_heads=2, norm_layer=norm_layer).double()
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        before = module(x)
        module.switch_to_deploy()
        after = module(x)
    assert all(p.dtype == torch.float64 for p in module.parameters())
    torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('deploy', [False, True])
def test_a_bfloat16_model_without_autocast_computes_in_bfloat16(deploy):
    module = _make(num_heads=2)
    if deploy:
        module.switch_to_deploy()
    x = torch.randn(2, 8, 5, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = module(x)
        got = module.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert got.dtype == torch.bfloat16
    assert _relative_error(got, want) < _AUTOCAST_TOLERANCE[torch.bfloat16]


@pytest.mark.parametrize('deploy', [False, True])
def test_a_float64_module_under_autocast_stays_float64(deploy):
    # autocast leaves float64 alone; casting the map to the autocast dtype would break the
    # float64 value memory (a bfloat16 input against float64 weights)
    module = _make(num_heads=2).double()
    if deploy:
        module.switch_to_deploy()
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        want = module(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = module(x)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize('deploy', [False, True])
def test_an_empty_batch_gives_an_empty_output(deploy):
    module = _make(num_heads=2)
    if deploy:
        module.switch_to_deploy()
    with torch.no_grad():
        assert module(torch.randn(0, 8, 3, 4)).shape == (0, 8, 3, 4)
        assert module.attention_map(torch.randn(0, 8, 3, 4)).shape == (0, 2, 6, 12)
