"""The torch-based strategies: REINFORCE controller and progressive SMBO (PNAS)."""
import io
import json
import math
import random
import statistics

import pytest

torch = pytest.importorskip('torch')

from nas_det.space import CellSpace, ChoiceSpace, NASFPNSpace  # noqa: E402
from nas_det.strategies import build_strategy  # noqa: E402
from nas_det.strategies.progressive import ProgressiveSMBO  # noqa: E402
from nas_det.strategies.reinforce import ReinforceController  # noqa: E402
from nas_det.strategies.surrogates import LSTMSurrogate, MLPEnsembleSurrogate  # noqa: E402

KEYS = [f'd{i}' for i in range(10)]
FLAT = ChoiceSpace({k: [0, 1, 2, 3] for k in KEYS})
BLOCKED = ChoiceSpace({k: [0, 1, 2, 3] for k in KEYS},
                      blocks=[KEYS[i:i + 2] for i in range(0, 10, 2)])
PNAS_FAST = dict(type='pnas', beam=4, epochs=5, max_candidates=40)


pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread


def agreement(seed):
    """Reward = fraction of decisions that match a hidden target (optimum 1.0)."""
    target = [random.Random(1000 + seed).randrange(4) for _ in KEYS]
    return lambda g: sum(g[k] == t for k, t in zip(KEYS, target)) / len(KEYS)


def search(strategy, objective, n=None):
    asked = []
    while not strategy.done:
        batch = strategy.ask(n)
        if not batch:  # nothing pending: only a strategy that has just ended may ask nothing
            assert strategy.done
            break
        for g in batch:
            asked.append(str(g))
            strategy.tell(g, objective(g))
    return asked


def random_best(objective, seed, budget):
    rng = random.Random(seed)
    return max(objective(FLAT.sample(rng)) for _ in range(budget))


def roundtrip(state):
    """What the search driver does: JSON for the data, torch.save/load for the tensors."""
    state = dict(state)
    buf = io.BytesIO()
    torch.save(state.pop('tensors'), buf)
    buf.seek(0)
    out = json.loads(json.dumps(state))
    out['tensors'] = torch.load(buf, weights_only=True)
    return out


# ---- REINFORCE -------------------------------------------------------------------
@pytest.mark.slow
def test_reinforce_beats_random_search():
    seeds, budget = range(6), 60
    rl, rnd = [], []
    for s in seeds:
        st = build_strategy(dict(type='reinforce', lr=0.05, hidden_size=32), FLAT, seed=s,
                            max_trials=budget)
        asked = search(st, agreement(s))
        assert len(asked) == budget == len(set(asked))  # never asks a genotype twice
        rl.append(st.best()[1])
        rnd.append(random_best(agreement(s), s, budget))
    assert statistics.mean(rl) >= statistics.mean(rnd) + 0.15, (rl, rnd)


def test_reinforce_learns_the_rewarded_token():
    space = ChoiceSpace({'a': [0, 1, 2, 3], 'b': [0, 1, 2], 'c': ['x', 'y']})
    st = ReinforceController(space, seed=3, batch_size=8, lr=0.05)
    best = space.make(a=2, b=1, c='y')
    p0, lp0 = st.token_probs(best), st.log_probs([best])[0]
    assert p0[0] == pytest.approx(0.25, abs=0.05) and p0[2] == pytest.approx(0.5, abs=0.05)
    assert math.exp(lp0) == pytest.approx(math.prod(p0), rel=1e-5)
    for _ in range(12):
        for g in st.ask():
            st.tell(g, (g['a'] == 2) + (g['b'] == 1) + (g['c'] == 'y'))
        if st.done:
            break
    assert st.updates >= 2
    p1 = st.token_probs(best)
    assert all(b > a + 0.1 for a, b in zip(p0, p1)), (p0, p1)
    assert st.log_probs([best])[0] > lp0 + 1.0


def test_reinforce_deterministic_and_private_rng():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    runs = []
    for glob in (1, 2):
        torch.manual_seed(glob)  # the global RNG plays no part
        st = ReinforceController(FLAT, seed=7, batch_size=5, max_trials=20)
        runs.append(search(st, agreement(0), n=3))
    assert runs[0] == runs[1] and len(set(runs[0])) == 20
    other = search(ReinforceController(FLAT, seed=8, batch_size=5, max_trials=20), agreement(0))
    assert other != runs[0]
    torch.manual_seed(0)
    search(ReinforceController(FLAT, seed=7, batch_size=5, max_trials=10), agreement(0))
    assert torch.equal(torch.random.get_rng_state(), before)  # and none was consumed


def interrupted(cfg, space, objective, chunks, told_last=None):
    """Ask 3 at a time, tell, save after ``chunks`` asks (telling only ``told_last`` of
    the last chunk), reload into a fresh strategy, tell the rest and go on."""
    st, asked = build_strategy(cfg, space), []
    for i in range(chunks):
        batch = st.ask(3)
        asked += [str(g) for g in batch]
        for g in batch if i < chunks - 1 or told_last is None else batch[:told_last]:
            st.tell(g, objective(g))
    pending = [st.genotype(k) for k in st.pending]
    assert len(pending) == (0 if told_last is None else len(batch) - told_last)
    resumed = build_strategy(cfg, space)
    resumed.load_state_dict(roundtrip(st.state_dict()))
    for g in pending:
        resumed.tell(g, objective(g))
    return resumed, asked + search(resumed, objective, n=3)


@pytest.mark.parametrize('chunks,told_last', [(2, None), (3, None), (3, 1)],
                         ids=['between-batches', 'mid-batch', 'mid-batch-pending'])
def test_reinforce_resume_equals_uninterrupted(chunks, told_last):
    cfg = dict(type='reinforce', batch_size=5, hidden_size=16, seed=4, max_trials=30)
    obj = agreement(1)
    ref = build_strategy(cfg, FLAT)
    ref_asked = search(ref, obj, n=3)
    resumed, asked = interrupted(cfg, FLAT, obj, chunks, told_last)
    assert asked == ref_asked
    assert resumed.baseline == ref.baseline and resumed.updates == ref.updates == 6
    for a, b in zip(resumed.controller.parameters(), ref.controller.parameters()):
        assert torch.equal(a, b)


def test_reinforce_failures_are_excluded():
    st = ReinforceController(FLAT, seed=0, batch_size=4)
    w0 = [p.clone() for p in st.controller.parameters()]
    batch = st.ask()
    for g in batch:  # every child diverged: no update, the search goes on
        st.tell(g, float('nan'))
    assert st.updates == 0 and st.baseline is None and st.best() is None
    assert all(torch.equal(a, b) for a, b in zip(w0, st.controller.parameters()))
    batch = st.ask()
    assert len(batch) == 4
    for g, r in zip(batch, [float('inf'), 0.2, None, 0.6]):
        st.tell(g, r)
    b = 0.95 * (0.95 * 0.4 + 0.05 * 0.2) + 0.05 * 0.6  # starts at the finite mean 0.4
    assert st.updates == 1 and st.baseline == pytest.approx(b)
    assert st.best()[1] == 0.6
    assert sum(math.isfinite(r) for _, r in st.history) == 2 and st.num_told == 8
    assert not all(torch.equal(a, b) for a, b in zip(w0, st.controller.parameters()))


def _batch_entropy(st, genotypes) -> float:
    """Mean summed entropy of the controller's softmaxes along the given genotypes."""
    toks = torch.tensor([st.space.to_tokens(g) for g in genotypes], dtype=torch.long)
    with torch.no_grad():
        return st._run(len(toks), toks)[2].mean().item()


@pytest.mark.parametrize('weight', [0.5, 0.0])
def test_reinforce_entropy_bonus_alone(weight):
    """Equal rewards give a zero advantage (the first baseline is their mean): the update
    is the entropy bonus alone, which raises the entropy with a positive weight and
    leaves every parameter as it was with weight 0."""
    st = ReinforceController(FLAT, seed=2, batch_size=6, lr=0.01, entropy_weight=weight)
    w0 = [p.detach().clone() for p in st.controller.parameters()]
    batch = st.ask()
    assert len(batch) == 6
    h0 = _batch_entropy(st, batch)
    for g in batch:
        st.tell(g, 0.5)
    assert st.updates == 1 and st.baseline == pytest.approx(0.5)
    h1 = _batch_entropy(st, batch)
    same = [torch.equal(a, b) for a, b in zip(w0, st.controller.parameters())]
    if weight:
        assert h1 > h0 + 1e-4, (h0, h1)
        assert not all(same)
    else:
        assert all(same) and h1 == h0


def test_reinforce_unique_constraint_and_exhaustion():
    space = ChoiceSpace({'a': [0, 1], 'b': [0, 1, 2]})
    st = ReinforceController(space, seed=1, batch_size=4, max_resample=5,
                             constraint=lambda g: g['b'] != 2)
    asked = search(st, lambda g: g['a'] + g['b'])
    assert len(asked) == len(set(asked)) == 4  # all 4 allowed genotypes, then done
    assert all('b=2' not in a for a in asked)
    assert st.done and st.ask() == []


# ---- PNAS --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize('surrogate,epochs', [('lstm', 50), ('mlp_ensemble', 20)])
def test_pnas_beats_random_search(surrogate, epochs):
    seeds = range(4)
    cfg = dict(type='pnas', beam=8, surrogate=surrogate, epochs=epochs, ensemble_size=3)
    found, rnd = [], []
    for s in seeds:
        st = build_strategy(cfg, BLOCKED, seed=s)
        asked = search(st, agreement(s))
        assert len(asked) == 5 * 8 == len(set(asked))
        found.append(st.best()[1])
        rnd.append(random_best(agreement(s), s, len(asked)))
    assert statistics.mean(found) >= statistics.mean(rnd) + 0.15, (found, rnd)


def test_pnas_grows_block_by_block():
    st = build_strategy(dict(PNAS_FAST, beam=5), BLOCKED, seed=0,
                        constraint=lambda g: g['d1'] != 3)
    obj = agreement(2)
    for b in range(1, 6):
        batch = st.ask()
        assert st.block == b and len(batch) == 5
        for g in batch:  # the first b blocks are free, later decisions keep option 0
            assert all(g[k] == 0 for k in KEYS[2 * b:]) and g['d1'] != 3
            assert BLOCKED.prefix(b).validate(g) is g
            st.tell(g, obj(g))
    assert st.done and st.ask() == [] and st.num_told == 25
    assert len({k for k, _ in st.history}) == 25


@pytest.mark.parametrize('chunks,told_last', [(2, None), (3, None), (3, 1)],
                         ids=['end-of-block', 'mid-block', 'pending'])
def test_pnas_resume_equals_uninterrupted(chunks, told_last):
    cfg = dict(PNAS_FAST, seed=3)
    obj = agreement(3)
    ref = build_strategy(cfg, BLOCKED)
    ref_asked = search(ref, obj, n=3)
    resumed, asked = interrupted(cfg, BLOCKED, obj, chunks, told_last)
    assert asked == ref_asked and len(asked) == 20
    assert resumed.best() == ref.best() and resumed.history == ref.history


def test_pnas_failures_and_cell_space_round_trip():
    space = CellSpace(num_blocks=3, ops='pnas', cells=('normal',))
    st = build_strategy(dict(type='pnas', beam=4, epochs=5, max_candidates=60), space, seed=0)
    seen = []
    while not st.done:
        for i, g in enumerate(st.ask()):
            assert space.prefix(st.block).validate(g) is g
            seen.append(st.key(g))
            ok = sum(b.op0 == 'sep_conv_3x3' for b in g.normal.blocks)
            st.tell(g, float('nan') if i == 0 else ok)
            if st.block < 3:  # prefix cells are not architectures of the full space
                assert st.best() is None
    assert len(seen) == len(set(seen)) == 12
    g, r = st.best()
    assert space.validate(g) is g and math.isfinite(r)
    state = roundtrip(st.state_dict())
    assert state['genotypes'][seen[0]]['normal']['blocks'][0]  # a 1-block prefix cell
    assert st.genotype_to_dict(st.genotype(seen[0])) == state['genotypes'][seen[0]]
    again = build_strategy(dict(type='pnas', beam=4, epochs=5, max_candidates=60), space,
                           seed=0)
    again.load_state_dict(state)
    assert again.best() == st.best() and again.done


def test_pnas_needs_blocks():
    with pytest.raises(ValueError, match=r"blocks.*'choices'"):
        build_strategy(dict(type='pnas'), FLAT)
    with pytest.raises(ValueError, match=r"blocks.*'nasfpn'"):
        ProgressiveSMBO(NASFPNSpace())


# ---- surrogates ----------------------------------------------------------------------
@pytest.mark.parametrize('cls', [LSTMSurrogate, MLPEnsembleSurrogate])
def test_surrogates_rank_held_out_sequences(cls):
    rng = random.Random(0)
    decisions = BLOCKED.decisions
    weights = [rng.random() for _ in range(4)]
    f = lambda s: sum(weights[t] for t in s) / len(s)  # noqa: E731
    seqs = [tuple(rng.randrange(4) for _ in range(rng.choice([2, 4, 6])))
            for _ in range(90)]
    train, test = seqs[:60], seqs[60:]
    sur = cls(decisions, epochs=40)
    sur.fit(train, [f(s) for s in train], torch.Generator().manual_seed(0))
    pred = sur.predict(test)
    truth = [f(s) for s in test]
    pairs = [(i, j) for i in range(len(test)) for j in range(i) if truth[i] != truth[j]]
    agree = sum((pred[i] > pred[j]) == (truth[i] > truth[j]) for i, j in pairs) / len(pairs)
    assert agree > 0.75
    again = cls(decisions, epochs=40)
    again.fit(train, [f(s) for s in train], torch.Generator().manual_seed(0))
    assert again.predict(test) == pred  # deterministic from the generator


# ---- PPO update -----------------------------------------------------------------------
PPO = dict(type='reinforce', update='ppo', ppo_clip=0.2, ppo_epochs=4)


@pytest.mark.slow
def test_ppo_beats_random_search():
    seeds, budget = range(6), 60
    ppo, rnd = [], []
    for s in seeds:
        st = build_strategy(dict(PPO, lr=0.05, hidden_size=32), FLAT, seed=s, max_trials=budget)
        asked = search(st, agreement(s))
        assert len(asked) == budget == len(set(asked))
        ppo.append(st.best()[1])
        rnd.append(random_best(agreement(s), s, budget))
    assert statistics.mean(ppo) >= statistics.mean(rnd) + 0.15, (ppo, rnd)


def test_ppo_one_epoch_is_reinforce():
    """At the first step the ratio is 1 and its gradient is that of log p: one PPO epoch
    is exactly the REINFORCE step; more epochs move the controller further."""
    runs = {}
    for name, cfg in (('reinforce', {}), ('ppo1', dict(update='ppo', ppo_epochs=1)),
                      ('ppo4', dict(update='ppo', ppo_epochs=4))):
        st = ReinforceController(FLAT, seed=5, batch_size=6, lr=0.01, **cfg)
        for g in st.ask():
            st.tell(g, agreement(2)(g))
        assert st.updates == 1
        runs[name] = [p.detach().clone() for p in st.controller.parameters()]
    for a, b in zip(runs['reinforce'], runs['ppo1']):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(not torch.allclose(a, b, atol=1e-4)
               for a, b in zip(runs['reinforce'], runs['ppo4']))


def test_ppo_clip_limits_the_step():
    """Ten epochs on one batch: with a small clip range the sampled children's
    probabilities move far less than with an almost unclipped ratio (not to zero: Adam's
    momentum carries on after the clipped gradients vanish)."""
    moved = {}
    for clip in (0.05, 0.99):
        st = ReinforceController(FLAT, seed=1, batch_size=8, lr=0.01, update='ppo',
                                 ppo_clip=clip, ppo_epochs=10, entropy_weight=0.0)
        batch = st.ask()
        before = st.log_probs(batch)
        for g in batch:
            st.tell(g, agreement(0)(g))
        after = st.log_probs(batch)
        moved[clip] = statistics.mean(abs(a - b) for a, b in zip(after, before))
    assert moved[0.05] < 0.5 * moved[0.99], moved


def test_ppo_deterministic_and_resumes():
    cfg = dict(PPO, batch_size=5, hidden_size=16, seed=4, max_trials=30)
    obj = agreement(1)
    ref = build_strategy(cfg, FLAT)
    ref_asked = search(ref, obj, n=3)
    again = build_strategy(cfg, FLAT)
    assert search(again, obj, n=3) == ref_asked
    resumed, asked = interrupted(cfg, FLAT, obj, 3, 1)
    assert asked == ref_asked
    assert resumed.updates == ref.updates == 6 and resumed.baseline == ref.baseline
    for a, b in zip(resumed.controller.parameters(), ref.controller.parameters()):
        assert torch.equal(a, b)
    plain = search(build_strategy(dict(cfg, update='reinforce'), FLAT), obj, n=3)
    assert plain != ref_asked  # the update rule changes the search


# ---- other spaces, configs -------------------------------------------------------------
def test_reinforce_on_real_spaces():
    for space in (CellSpace(num_blocks=2, ops='pnas'), NASFPNSpace(num_cells=5)):
        st = ReinforceController(space, seed=0, batch_size=4, hidden_size=16, max_trials=8)
        asked = search(st, lambda g: random.Random(str(g)).random())
        assert len(set(asked)) == 8 and st.updates == 2
        for k in st.pending or [k for k, _ in st.history]:
            assert space.validate(st.genotype(k))
        state = roundtrip(st.state_dict())
        again = ReinforceController(space, seed=0, batch_size=4, hidden_size=16, max_trials=8)
        again.load_state_dict(state)
        assert again.best() == st.best()


@pytest.mark.parametrize('cfg,field', [
    (dict(type='reinforce', batch_size=0), 'batch_size'),
    (dict(type='reinforce', lr=-1.0), 'lr'),
    (dict(type='reinforce', baseline_decay=1.0), 'baseline_decay'),
    (dict(type='reinforce', temperature=0), 'temperature'),
    (dict(type='reinforce', tanh_constant='2'), 'tanh_constant'),
    (dict(type='reinforce', entropy_weight=-0.1), 'entropy_weight'),
    (dict(type='reinforce', update='a2c'), 'update'),
    (dict(type='reinforce', update='ppo', ppo_clip=1.0), 'ppo_clip'),
    (dict(type='reinforce', update='ppo', ppo_epochs=0), 'ppo_epochs'),
    (dict(type='pnas', beam=0), 'beam'),
    (dict(type='pnas', beam=8, max_candidates=4), 'max_candidates'),
    (dict(type='pnas', surrogate='gp'), 'surrogate'),
    (dict(type='pnas', loss='huber'), 'loss'),
    (dict(type='pnas', epochs=1.5), 'epochs'),
    (dict(type='pnas', unknown=1), 'unknown'),
])
def test_bad_config_names_the_field(cfg, field):
    with pytest.raises(ValueError, match=field):
        build_strategy(cfg, BLOCKED)


def test_state_requires_tensors():
    st = ReinforceController(FLAT, seed=0)
    state = st.state_dict()
    state.pop('tensors')
    with pytest.raises(ValueError, match='tensors'):
        ReinforceController(FLAT, seed=0).load_state_dict(state)
