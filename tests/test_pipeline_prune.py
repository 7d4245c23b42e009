"""Structured pruning removes filters for real and keeps every consumer consistent."""

import pytest

torch = pytest.importorskip("torch")

from edgebench.pipeline.architectures import build_student, build_teacher, count_parameters as count_params  # noqa: E402
from edgebench.pipeline.prune import (  # noqa: E402
    count_macs,
    filter_l1_norms,
    iterative_prune,
    prunable_chains,
    prune_to_fraction,
    remove_filters,
    select_filters,
)

INPUT = (3, 16, 16)


def make_student(width=0.5, **kwargs):
    torch.manual_seed(0)
    model = build_student(3, 10, 16, width, **kwargs)
    # Non-trivial BN parameters and statistics, so that a wrong slice changes the output.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def assert_chain_consistent(chain):
    n = chain.channels
    assert chain.producer.bn.num_features == n
    dw = chain.depthwise.conv
    assert (dw.in_channels, dw.out_channels, dw.groups) == (n, n, n)
    assert chain.depthwise.bn.num_features == n
    assert tuple(dw.weight.shape) == (n, 1, 3, 3)
    consumer = chain.consumer.conv
    assert consumer.in_channels == n
    assert tuple(consumer.weight.shape) == (consumer.out_channels, n // consumer.groups, 1, 1)


def test_pruning_shrinks_every_chain_and_keeps_shapes_consistent():
    model = make_student()
    before = [c.channels for c in prunable_chains(model)]
    params, macs = count_params(model), count_macs(model, INPUT)
    prune_to_fraction(model, before, 0.5)
    chains = prunable_chains(model)
    for chain, original in zip(chains, before):
        assert_chain_consistent(chain)
        assert chain.channels % 8 == 0
        assert chain.channels == max(8, original // 2 // 8 * 8)
    assert sum(c.channels for c in chains) <= 0.55 * sum(before)
    assert count_params(model) < 0.8 * params
    assert count_macs(model, INPUT) < 0.8 * macs
    # Residual blocks still add tensors of equal shape, and the output is a valid batch of logits.
    out = model(torch.randn(5, *INPUT))
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    model.train()
    model(torch.randn(4, *INPUT)).sum().backward()


def test_grouped_consumer_keeps_its_groups_and_equal_split():
    model = make_student()
    block = model.stages[1][0]
    assert block.project.conv.groups == 2
    originals = [c.channels for c in prunable_chains(model)]
    prune_to_fraction(model, originals, 0.5)
    assert block.project.conv.groups == 2
    assert block.expand.conv.out_channels % 2 == 0


def kill_channels(chain, dead):
    """Makes `dead` channels output exactly zero all the way to the consumer."""
    with torch.no_grad():
        chain.producer.conv.weight[dead] = 0
        chain.producer.bn.bias[dead] = 0
        chain.producer.bn.running_mean[dead] = 0
        chain.depthwise.bn.bias[dead] = 0
        chain.depthwise.bn.running_mean[dead] = 0


def test_removing_dead_channels_leaves_the_output_unchanged():
    # If a channel contributes nothing, cutting it must not change the function: this catches
    # wrong slices of BN statistics, depthwise filters and grouped consumer columns.
    model = make_student()
    x = torch.randn(3, *INPUT)
    for chain in prunable_chains(model):
        n, groups = chain.channels, chain.groups
        size = n // groups
        dead = torch.cat([torch.arange(g * size + 1, (g + 1) * size, 3) for g in range(groups)])
        kill_channels(chain, dead)
    expected = model(x)
    for chain in prunable_chains(model):
        norms = filter_l1_norms(chain.producer)
        alive = int((norms > 0).sum())
        keep = select_filters(norms, alive, chain.groups)
        assert bool((norms[keep] > 0).all())
        remove_filters(chain, keep)
        assert chain.channels == alive
        assert_chain_consistent(chain)
    assert torch.allclose(model(x), expected, atol=1e-5)


def test_select_filters_takes_the_largest_norms_per_group():
    norms = torch.tensor([5.0, 1.0, 3.0, 0.5, 0.1, 9.0, 2.0, 4.0])
    assert select_filters(norms, 4, 1).tolist() == [0, 2, 5, 7]
    # Two groups of four: the best two of [5, 1, 3, 0.5] and of [0.1, 9, 2, 4].
    assert select_filters(norms, 4, 2).tolist() == [0, 2, 5, 7]
    assert select_filters(norms, 2, 2).tolist() == [0, 5]
    with pytest.raises(ValueError):
        select_filters(norms, 3, 2)


def test_l1_norm_ranks_the_bn_folded_filter():
    model = make_student()
    layer = prunable_chains(model)[1].producer
    with torch.no_grad():
        layer.conv.weight.fill_(1.0)
        layer.bn.running_var.fill_(1.0 - layer.bn.eps)
        layer.bn.weight.copy_(torch.arange(layer.bn.num_features, dtype=torch.float32))
    norms = filter_l1_norms(layer)
    fan = layer.conv.weight[0].numel()
    assert torch.allclose(norms, torch.arange(len(norms), dtype=torch.float32) * fan)


def test_iterative_pruning_fine_tunes_between_steps():
    model = make_student()
    calls = []

    def fine_tune(m, step):
        calls.append((step, sum(c.channels for c in prunable_chains(m))))
        return 0.5

    history = iterative_prune(model, 0.5, 3, INPUT, fine_tune)
    assert [s for s, _ in calls] == [1, 2, 3]
    widths = [w for _, w in calls]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    assert [h.step for h in history] == [1, 2, 3]
    assert history[-1].filters_removed == pytest.approx(0.5, abs=0.06)
    params = [h.params for h in history]
    assert params == sorted(params, reverse=True)
    assert all(h.val_top1 == 0.5 for h in history)


def test_pruning_to_a_mac_target():
    model = make_student()
    macs = count_macs(model, INPUT)
    history = iterative_prune(model, 0.4, 2, INPUT, criterion="macs")
    assert history[-1].macs <= 0.6 * macs
    assert history[-1].macs > 0.3 * macs  # not far past the target


def test_early_exit_heads_survive_pruning():
    model = make_student(early_exits=[1])
    prune_to_fraction(model, [c.channels for c in prunable_chains(model)], 0.5)
    outs = model(torch.randn(2, *INPUT), all_exits=True)
    assert len(outs) == 2 and all(o.shape == (2, 10) for o in outs)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="LightweightCNN"):
        prunable_chains(build_teacher(3, 10, 16, 0.125))
    model = make_student()
    with pytest.raises(ValueError, match="criterion"):
        iterative_prune(model, 0.5, 1, INPUT, criterion="weights")
    with pytest.raises(ValueError, match="target"):
        iterative_prune(model, 1.0, 1, INPUT)
