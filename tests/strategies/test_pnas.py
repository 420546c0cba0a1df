"""Progressive search past its last block, its surrogate diagnostics and budget defaults."""
import io
import itertools
import json
import random

import pytest

torch = pytest.importorskip('torch')

from nas_det.space import ChoiceSpace  # noqa: E402
from nas_det.strategies import build_strategy  # noqa: E402
from nas_det.strategies.surrogates import MLPEnsembleSurrogate  # noqa: E402

pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread

KEYS = [f'd{i}' for i in range(6)]
SPACE = ChoiceSpace({k: [0, 1, 2, 3] for k in KEYS}, blocks=[KEYS[i:i + 2] for i in range(0, 6, 2)])
FAST = dict(type='pnas', beam=5, epochs=20, ensemble_size=2)
_R = random.Random(5)
WEIGHTS = [[_R.uniform(0, 1) for _ in range(4)] for _ in range(6)]


def additive(g):
    """Sum of per-decision option weights: a surrogate can learn it exactly."""
    return sum(WEIGHTS[i][g[k]] for i, k in enumerate(KEYS))


def drive(s, objective=additive, cut=None, rebuild=None):
    asked, told = [], 0
    while not s.done:
        batch = s.ask()
        if not batch:
            break
        for g in batch:
            asked.append(s.key(g))
            s.tell(g, objective(g))
            told += 1
            if told == cut:
                state = dict(s.state_dict())
                buf = io.BytesIO()
                torch.save(state.pop('tensors'), buf)
                buf.seek(0)
                state = json.loads(json.dumps(state))
                state['tensors'] = torch.load(buf, weights_only=True)
                s = rebuild()
                s.load_state_dict(state)
    return asked, s


def test_goes_on_after_the_last_block_until_max_trials():
    s = build_strategy(FAST, SPACE, seed=0, max_trials=40)
    asked, s = drive(s)
    assert len(asked) == len(set(asked)) == 40 and s.num_told == 40
    late = asked[15:]  # 3 blocks of 5, then the surrogate's picks: full architectures
    assert all(s.space.validate(s.genotype(k)) for k in late)
    # without max_trials it ends after the last beam, as in the paper
    asked, s2 = drive(build_strategy(FAST, SPACE, seed=0))
    assert len(asked) == 15 and s2.done


def test_surrogate_log_and_scored_candidates():
    s = build_strategy(FAST, SPACE, seed=1, max_trials=40)
    asked, s = drive(s)
    blocks = [e['block'] for e in s.surrogate_log]
    assert blocks[:2] == [2, 3] and len(blocks) >= 4  # each chosen beam, then the picks
    assert all(e['n'] == 5 and -1 <= e['spearman'] <= 1 for e in s.surrogate_log)
    scored = s.scored_candidates()
    assert len(scored) > 5 and all(s.space.validate(g) for g, _ in scored)
    # an additive reward is learnt: the last picks correlate with the truth
    from nas_det.strategies.base import spearman
    assert spearman([p for _, p in scored], [additive(g) for g, _ in scored]) > 0.5


def test_beats_random_on_the_additive_reward():
    found, rnd = [], []
    for seed in range(3):
        _, s = drive(build_strategy(FAST, SPACE, seed=seed, max_trials=40))
        found.append(s.best()[1])
        rng = random.Random(seed)
        rnd.append(max(additive(SPACE.sample(rng)) for _ in range(40)))
    best = max(additive(SPACE.from_tokens(t)) for t in itertools.product(range(4), repeat=6))
    assert sum(found) / 3 > sum(rnd) / 3
    assert max(found) == pytest.approx(best)


@pytest.mark.parametrize('cut', [17, 22])
def test_resume_past_the_last_block(cut):
    ref_asked, ref = drive(build_strategy(FAST, SPACE, seed=2, max_trials=30))
    asked, s = drive(build_strategy(FAST, SPACE, seed=2, max_trials=30), cut=cut,
                     rebuild=lambda: build_strategy(FAST, SPACE, seed=2, max_trials=30))
    assert asked == ref_asked and s.best() == ref.best()
    assert s.surrogate_log == ref.surrogate_log


def test_beam_scales_with_the_budget():
    assert build_strategy(dict(type='pnas'), SPACE, max_trials=120).beam == 20  # 120 / (2 * 3)
    assert build_strategy(dict(type='pnas'), SPACE, max_trials=10).beam == 4
    assert build_strategy(dict(type='pnas'), SPACE).beam == 8


@pytest.mark.parametrize('loss', ['rank', 'l1', 'mse'])
def test_mlp_ensemble_losses_rank_held_out(loss):
    rng = random.Random(0)
    seqs = [tuple(rng.randrange(4) for _ in range(rng.choice([2, 4, 6]))) for _ in range(80)]
    f = lambda s: sum(WEIGHTS[i][t] for i, t in enumerate(s))  # noqa: E731
    sur = MLPEnsembleSurrogate(SPACE.decisions, epochs=60, loss=loss, batch_size=128)
    sur.fit(seqs[:50], [f(s) / 6 for s in seqs[:50]], torch.Generator().manual_seed(0))
    from nas_det.strategies.base import spearman
    assert spearman(sur.predict(seqs[50:]), [f(s) for s in seqs[50:]]) > 0.7


def test_bad_normalize_names_the_field():
    with pytest.raises(ValueError, match="normalize: 'z' is not allowed; allowed values"):
        build_strategy(dict(type='pnas', normalize='z'), SPACE)
