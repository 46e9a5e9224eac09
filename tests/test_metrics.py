import math

import pytest
import torch

from noisefa.nets import metrics as M


def test_angles_of_identical_orthogonal_opposite_matrices():
    W = torch.randn(2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(M.neuron_angles(W, W), torch.zeros(2, 6), atol=1e-3, rtol=0)
    torch.testing.assert_close(M.neuron_angles(W, -W), torch.full((2, 6), 180.0), atol=1e-3, rtol=0)
    # columns (1,0) and (0,1): orthogonal
    A = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    Bm = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # swaps the rows: column i of A is e_i, of B e_{1-i}
    torch.testing.assert_close(M.neuron_angles(A, Bm), torch.full((1, 2), 90.0))
    torch.testing.assert_close(M.matrix_angle(W, W), torch.zeros(2), atol=1e-3, rtol=0)
    torch.testing.assert_close(M.matrix_angle(W, -W), torch.full((2,), 180.0))


def test_known_angle_of_45_degrees_and_per_column_meaning():
    W = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # column 0 = (1,0), column 1 = (1,0)
    B = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])  # column 0 = (1,1), column 1 = (0,1)
    torch.testing.assert_close(M.neuron_angles(W, B), torch.tensor([[45.0, 90.0]]))


def test_random_high_dimensional_matrices_are_near_90_degrees():
    g = torch.Generator().manual_seed(0)
    W, B = torch.randn(1, 1000, 50, generator=g), torch.randn(1, 1000, 50, generator=g)
    assert abs(M.neuron_angles(W, B).mean().item() - 90) < 1.0


@pytest.mark.parametrize("k", [1, 3, 7])
def test_effective_rank_of_rank_k_matrix_with_equal_singular_values(k):
    Q, _ = torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))
    W = (Q[:, :k] @ Q[:, :k].T).unsqueeze(0)  # k singular values of 1, the rest 0
    assert M.effective_rank(W).item() == pytest.approx(k, rel=1e-5)


def test_effective_rank_is_below_rank_for_unequal_spectrum():
    W = torch.diag(torch.tensor([10.0, 1.0, 0.1])).unsqueeze(0)
    e = M.effective_rank(W).item()
    p = torch.tensor([10.0, 1.0, 0.1]) / 11.1
    assert e == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-5)
    assert 1 < e < 3


def test_wb_distance():
    W = torch.zeros(2, 3, 4)
    B = torch.ones(2, 3, 4)
    torch.testing.assert_close(M.wb_distance(W, B), torch.full((2,), math.sqrt(12)))


def test_stacked_loss_and_accuracy_per_model():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0]], [[5.0, 0.0], [5.0, 0.0]]])
    y = torch.tensor([0, 1])
    torch.testing.assert_close(M.stacked_accuracy(logits, y), torch.tensor([1.0, 0.5]))
    ce = M.stacked_cross_entropy(logits, y)
    assert ce[0] < ce[1]


def test_effective_rank_of_a_diverged_network_is_nan_not_an_error():
    W = torch.randn(3, 4, 5)
    W[1, 0, 0] = float("nan")
    e = M.effective_rank(W)
    assert torch.isnan(e[1]) and torch.isfinite(e[[0, 2]]).all()


def test_normalised_distance_is_scale_free_and_follows_the_angle():
    W = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(M.wb_distance_normalised(W, 7 * W), torch.zeros(3, dtype=torch.float32), atol=1e-6, rtol=0)
    torch.testing.assert_close(M.wb_distance_normalised(W, -W), torch.full((3,), 2.0))
    A = torch.tensor([[[1.0, 0.0]]])
    Bm = torch.tensor([[[0.0, 5.0]]])  # orthogonal: 2 sin(45 deg) = sqrt(2), whatever the norms
    torch.testing.assert_close(M.wb_distance_normalised(A, Bm), torch.tensor([math.sqrt(2.0)]))


def test_gram_erank_of_known_features():
    n, f = 64, 8
    eye = torch.zeros(1, n, f)
    eye[0, torch.arange(f) * 8, torch.arange(f)] = 1.0  # each neuron fires on its own sample: orthogonal features
    torch.testing.assert_close(M.gram_erank(eye), torch.tensor([float(f)]))
    same = torch.rand(1, n, 1).expand(1, n, f)  # every neuron carries one feature: one dimension
    torch.testing.assert_close(M.gram_erank(same), torch.tensor([1.0]), atol=1e-4, rtol=0)
    scaled = same * torch.arange(1, f + 1).view(1, 1, f)  # cosine similarity ignores each neuron's gain
    torch.testing.assert_close(M.gram_erank(scaled), torch.tensor([1.0]), atol=1e-4, rtol=0)
    two = torch.cat([eye[:, :, :2], torch.zeros(1, n, 3)], dim=2)  # silent neurons span nothing
    torch.testing.assert_close(M.gram_erank(two), torch.tensor([2.0]))


def test_gram_erank_stacks_models_and_flags_diverged_ones():
    h = torch.randn(3, 200, 10)
    h[1] = float("nan")
    out = M.gram_erank(h)
    assert torch.isnan(out[1]) and 1 < out[0] <= 10 and 1 < out[2] <= 10
    torch.testing.assert_close(out[0], M.gram_erank(h[:1])[0])


def test_readout_probabilities_sum_to_one_and_uniform_logits_are_chance():
    p = M.readout_probabilities(torch.zeros(2, 5, 10))
    torch.testing.assert_close(p, torch.full((2, 5, 10), 0.1, dtype=torch.float64))
    q = M.readout_probabilities(torch.randn(2, 5, 10) * 10)
    torch.testing.assert_close(q.sum(-1), torch.ones(2, 5, dtype=torch.float64))


def test_plateau_rule_of_convergence():
    from noisefa.analysis.summary import plateau

    epochs = [1, 2, 3, 4, 5, 6, 7, 8]
    rising = [0.5, 0.6, 0.7, 0.8, 0.81, 0.8105, 0.8102, 0.8101]  # gains stop after epoch 5
    e, acc, ok = plateau(epochs, rising, patience_epochs=3, min_delta=0.001)
    assert ok and e == 5 and acc == sum(rising[4:8]) / 4
    still = [0.1 * k for k in range(1, 9)]  # never plateaus: the cap is reported, flagged
    e, acc, ok = plateau(epochs, still, patience_epochs=2, min_delta=0.001)
    assert not ok and e == 8 and abs(acc - (0.6 + 0.7 + 0.8) / 3) < 1e-12
    assert plateau([1, 2], [0.9, 0.9], patience_epochs=5)[2] is False  # the window was never observed in full


def _logits_of(probs) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


def test_ece_of_a_calibrated_model_is_zero():
    # confidence c on class 0 for 10 samples, of which exactly 10 c are class 0: every bin calibrated
    logits, y = [], []
    for c in (0.6, 0.7, 0.8, 0.9, 1.0):
        logits += [[c, 1 - c]] * 10
        k = round(10 * c)
        y += [0] * k + [1] * (10 - k)
    logits = _logits_of([logits]).float()
    y = torch.tensor(y)
    assert M.expected_calibration_error(logits, y).item() == pytest.approx(0.0, abs=1e-6)
    # labels drawn from the softmax itself: calibrated in expectation
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 50000, 10, generator=g) * 2
    y = torch.multinomial(torch.softmax(logits, -1).view(-1, 10), 1, generator=g).view(2, 50000)
    assert (M.expected_calibration_error(logits, y) < 0.015).all()


def test_ece_of_an_always_confident_wrong_model_is_one():
    logits = torch.zeros(2, 100, 10)
    logits[:, :, 3] = 50.0
    y = torch.zeros(100, dtype=torch.long)
    torch.testing.assert_close(M.expected_calibration_error(logits, y), torch.ones(2), atol=1e-6, rtol=0)


def test_ece_and_reliability_bins_by_hand_with_two_bins():
    probs = [[0.4, 0.3, 0.3], [0.45, 0.35, 0.2], [0.6, 0.2, 0.2], [0.9, 0.05, 0.05]]
    y = torch.tensor([0, 1, 0, 2])  # right, wrong (bin (0, .5]); right, wrong (bin (.5, 1])
    logits = _logits_of([probs])
    # bin 0: acc 0.5, conf 0.425; bin 1: acc 0.5, conf 0.75 -> 0.075 * 2/4 + 0.25 * 2/4
    assert M.expected_calibration_error(logits, y, n_bins=2).item() == pytest.approx(0.1625, abs=1e-6)
    count, conf, acc = M.reliability_bins(logits, y, n_bins=2)
    torch.testing.assert_close(count, torch.tensor([[2.0, 2.0]], dtype=torch.float64))
    torch.testing.assert_close(conf, torch.tensor([[0.425, 0.75]], dtype=torch.float64))
    torch.testing.assert_close(acc, torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    # bins are right-closed: a confidence of exactly 1/2 falls in the first of two bins
    count, conf, acc = M.reliability_bins(_logits_of([[[0.5, 0.5]]]), torch.tensor([0]), n_bins=2)
    assert count.tolist() == [[1.0, 0.0]] and torch.isnan(conf[0, 1]) and torch.isnan(acc[0, 1])


def test_ece_stacks_models_and_sums_add_over_chunks():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 300, 10, generator=g) * 3
    y = torch.randint(0, 10, (3, 300), generator=g)
    ece = M.expected_calibration_error(logits, y)
    for m in range(3):
        torch.testing.assert_close(ece[m : m + 1], M.expected_calibration_error(logits[m : m + 1], y[m]))
        for a, b in zip(M.reliability_bins(logits, y), M.reliability_bins(logits[m : m + 1], y[m : m + 1])):
            torch.testing.assert_close(a[m : m + 1], b, equal_nan=True)
    chunked = M.reliability_sums(logits[:, :100], y[:, :100]) + M.reliability_sums(logits[:, 100:], y[:, 100:])
    torch.testing.assert_close(chunked, M.reliability_sums(logits, y))
    torch.testing.assert_close(M.ece_from_sums(chunked), ece)
    count, _, _ = M.reliability_bins(logits, y, n_bins=7)
    assert count.shape == (3, 7) and (count.sum(1) == 300).all()


def test_ece_of_a_diverged_network_is_nan_not_an_error():
    logits = torch.randn(3, 50, 10)
    logits[1, 7, 2] = float("nan")
    ece = M.expected_calibration_error(logits, torch.randint(0, 10, (50,)))
    assert torch.isnan(ece[1]) and torch.isfinite(ece[[0, 2]]).all()


def test_calibrated_evaluation_keeps_loss_and_accuracy_and_matches_ece():
    from noisefa.nets.engine import evaluate_split
    from noisefa.nets.learning_rules import get_rule
    from noisefa.nets.model import Architecture, StackedMLP

    # float64: chunks of 64 rows against one product of 250 round differently, and a float32
    # confidence that moved across a bin edge would change the ECE (tests/numerics.py)
    model = StackedMLP(Architecture(20, 4, 3, hidden=8), [0, 1]).double()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(250, 20, generator=g, dtype=torch.float64), torch.randint(0, 4, (250,), generator=g)
    rule = get_rule("fa")
    loss, acc = evaluate_split(model, rule, x, y, chunk=64)
    loss2, acc2, sums = evaluate_split(model, rule, x, y, chunk=64, n_bins=5)
    assert torch.equal(loss, loss2) and torch.equal(acc, acc2)  # test_loss / test_acc are unchanged
    with torch.no_grad():
        model.eval()
        logits = model(x, rule)
    torch.testing.assert_close(M.ece_from_sums(sums), M.expected_calibration_error(logits, y, 5))
    assert sums[..., 0].sum(1).tolist() == [250.0, 250.0]


def test_centred_gram_erank_sees_independent_relu_features_that_the_uncentred_one_misses():
    """The uncentred (paper's) measure mostly reflects the features' mean: 100 independent units."""
    z = torch.randn(1, 5000, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for shift, uncentred_at_most in ((0.0, 50), (1.0, 15), (2.0, 6)):
        h = torch.relu(z + shift)
        assert M.gram_erank(h).item() < uncentred_at_most
        assert M.gram_erank(h, centred=True).item() > 90
    shared = z[..., :1].expand(1, 5000, 100) + 1e-3 * z  # one shared feature: low either way
    assert M.gram_erank(shared, centred=True).item() < 2


def _rows(curves, diverged=()):
    """Tidy test-accuracy rows of {seed: [(epoch, acc), ...]} (step = 4 * epoch)."""
    rows = [{"step": round(4 * e), "epoch": e, "seed": s, "layer": "", "metric": "test_acc", "value": a}
            for s, c in curves.items() for e, a in c]  # fmt: skip
    return rows + [{"step": 4, "epoch": 1.0, "seed": s, "layer": "", "metric": "diverged", "value": 1.0} for s in diverged]


def test_all_converged_waits_for_the_window_the_slowest_network_and_never_for_a_diverged_one():
    from noisefa.analysis.summary import all_converged

    flat = [(0.0, 0.1), (0.5, 0.8), (1.0, 0.8), (1.5, 0.8), (2.0, 0.8)]  # plateau from epoch 0.5, window 1
    rising = [(e, 0.1 + 0.2 * e) for e, _ in flat]
    rule = {"patience_epochs": 1.0, "min_delta": 0.01}
    assert all_converged(_rows({0: flat, 1: flat}), **rule, min_epochs=1.0)
    assert not all_converged(_rows({0: flat, 1: flat}), **rule, min_epochs=3.0)  # the AUC window is not trained yet
    assert not all_converged(_rows({0: flat, 1: rising}), **rule, min_epochs=1.0)  # one network still learns
    assert all_converged(_rows({0: flat, 1: rising}, diverged=[1]), **rule, min_epochs=1.0)  # a diverged one is not waited for
    assert not all_converged(_rows({0: flat[:2]}), **rule, min_epochs=0.5)  # the plateau window must be observed in full
    assert not all_converged([], **rule, min_epochs=0.0)


def _model_and_data(seed: int = 0):
    from noisefa.nets.model import Architecture, StackedMLP

    model = StackedMLP(Architecture(20, 5, 3, hidden=16, batchnorm=False), [0, 1, 2]).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(600, 20, generator=g, dtype=torch.float64)
    y = (x[:, :5].argmax(1) + (torch.rand(600, generator=g) < 0.3) * torch.randint(0, 5, (600,), generator=g)) % 5
    return model, x, y


def test_kept_logits_are_those_of_the_same_pass_and_change_no_loss_accuracy_or_calibration():
    from noisefa.nets.engine import evaluate_split
    from noisefa.nets.learning_rules import get_rule

    model, x, y = _model_and_data()
    rule = get_rule("fa")
    loss, acc, sums = evaluate_split(model, rule, x, y, chunk=128, n_bins=5)
    loss2, acc2, sums2, logits = evaluate_split(model, rule, x, y, chunk=128, n_bins=5, keep_logits=True)
    assert torch.equal(loss, loss2) and torch.equal(acc, acc2) and torch.equal(sums, sums2)
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(logits, model(x, rule))
    assert logits.shape == (3, 600, 5)
    assert len(evaluate_split(model, rule, x, y, keep_logits=True)) == 3  # loss, accuracy, logits


def test_logit_range_of_a_network_whose_readout_is_ten_times_larger_is_ten_times_larger():
    from noisefa.nets.engine import evaluate_split
    from noisefa.nets.learning_rules import get_rule

    model, x, y = _model_and_data()
    rule = get_rule("bp")
    before = M.logit_range(evaluate_split(model, rule, x, y, keep_logits=True)[-1])
    with torch.no_grad():
        model.weights[-1].mul_(10)
        model.biases[-1].mul_(10)
    after = M.logit_range(evaluate_split(model, rule, x, y, keep_logits=True)[-1])
    torch.testing.assert_close(after, 10 * before)
    assert (before > 0).all()
    z = torch.tensor([[[0.0, 1.0, 5.0], [2.0, 2.0, 2.0], [-1.0, 0.0, 3.0], [0.0, 0.0, 1.0]]])  # ranges 5, 0, 4, 1
    assert M.logit_range(z).item() == pytest.approx(2.5)  # the median of an even count: the middle two's mean


def test_the_calibrated_losses_do_not_move_when_the_readout_is_scaled():
    from noisefa.nets.engine import evaluate_split
    from noisefa.nets.learning_rules import get_rule

    model, x, y = _model_and_data()
    rule = get_rule("bp")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(100):  # better than chance (an untrained network's best temperature can be infinite)
        opt.zero_grad()
        M.stacked_cross_entropy(model(x[:200], rule), y[:200]).sum().backward()
        opt.step()
    with torch.no_grad():  # readouts of three different confidences
        model.weights[-1].mul_(torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64).view(3, 1, 1))

    def calibrated():
        train = evaluate_split(model, rule, x[:200], y[:200], keep_logits=True)[-1]
        test = evaluate_split(model, rule, x[200:], y[200:], keep_logits=True)[-1]
        t = M.fit_temperature(test, y[200:])
        raw = M.stacked_cross_entropy(test, y[200:]).double()
        return t, M.cross_entropy_at(test, y[200:], t), M.cross_entropy_at(train, y[:200], t), raw

    t, test_cal, train_cal, raw = calibrated()
    assert (test_cal <= raw + 1e-9).all()  # T = 1 is among the temperatures searched
    for c in (0.1, 10.0, 300.0, 1e18):  # 1e18: the scale of a blown-up depth-5 FA network's logits
        with torch.no_grad():
            model.weights[-1].mul_(c)
            model.biases[-1].mul_(c)
        tc, test_c, train_c, raw_c = calibrated()
        torch.testing.assert_close(tc, c * t, rtol=1e-6, atol=0)
        torch.testing.assert_close(test_c, test_cal, rtol=1e-9, atol=1e-12)  # scale-free ...
        torch.testing.assert_close(train_c, train_cal, rtol=1e-6, atol=1e-9)
        assert not torch.allclose(raw_c, raw, rtol=1e-3)  # ... where the raw loss is not
        with torch.no_grad():
            model.weights[-1].div_(c)
            model.biases[-1].div_(c)
    test = evaluate_split(model, rule, x[200:], y[200:], keep_logits=True)[-1]
    for f in (0.95, 1.05):  # the minimum over T
        assert (M.cross_entropy_at(test, y[200:], t * f) > test_cal).all()


def test_temperature_of_a_diverged_network_is_nan_and_of_a_separated_set_at_its_bound():
    logits = torch.randn(3, 50, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (50,))
    logits[1, 3, 2] = float("nan")
    t = M.fit_temperature(logits, y)
    assert torch.isnan(t[1]) and torch.isfinite(t[[0, 2]]).all()
    assert torch.isnan(M.logit_range(logits)[1]) and torch.isfinite(M.logit_range(logits)[[0, 2]]).all()
    separated = torch.nn.functional.one_hot(y, 4).double().unsqueeze(0)  # every image right: CE falls as T -> 0
    assert M.fit_temperature(separated, y).item() < math.exp(M.LOG_T_MIN) * 1.01


def test_gram_erank_of_more_neurons_than_samples_reads_the_samples_side():
    """A convolution's maps have more units than the samples read: the N x N matrix has the same
    nonzero spectrum as the neurons' F x F Gram matrix, hence the same effective rank."""
    g = torch.Generator().manual_seed(0)
    h = torch.relu(torch.randn(2, 40, 300, generator=g, dtype=torch.float64) + 0.3)
    h[:, :, :7] = 0  # silent neurons
    for centred in (False, True):
        x = h - h.mean(1, keepdim=True) if centred else h
        xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-300)
        full = M.erank_of_values(torch.linalg.eigvalsh(xn.transpose(1, 2) @ xn))
        torch.testing.assert_close(M.gram_erank(h, centred=centred).double(), full, rtol=1e-5, atol=1e-5)
