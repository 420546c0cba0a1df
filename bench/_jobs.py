"""Shared by the resumable benches: run independent jobs in a thread pool."""
from __future__ import annotations

import concurrent.futures as cf


def run_jobs(fn, jobs, workers: int, on_result, prefix: str) -> list:
    """``fn(*job)`` for every job in ``workers`` threads; ``on_result(result)`` as each
    finishes. A job's ``RuntimeError`` cancels the jobs not yet started and ends the bench
    with ``prefix(job)`` and the error in one line. Returns the results in finishing order."""
    results = []
    with cf.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(fn, *job): job for job in jobs}
        for fut in cf.as_completed(futures):
            try:
                r = fut.result()
            except RuntimeError as e:
                for other in futures:
                    other.cancel()
                raise SystemExit(f'{prefix(futures[fut])}{e}')
            results.append(r)
            on_result(r)
    return results


def scoring_config(cfg, over: dict, work_dir: str):
    """The search phase's config (``over``: its overrides from ``normalize_phases``) set up
    to score paths of an already trained supernet outside the search loop: no
    ``load_from`` / resume (the caller loads the checkpoint), no sampling hook, no
    checkpointing, warnings only. Returns the config and the evaluator's keyword arguments."""
    from nas_det.engine.launch.phases import phase_config
    pcfg = phase_config(cfg, over, work_dir)
    pcfg.load_from, pcfg.resume, pcfg.log_level = None, False, 'WARNING'
    pcfg.custom_hooks = [h for h in pcfg.get('custom_hooks', [])
                         if h.get('type') != 'UniformSamplingHook']
    pcfg.default_hooks = dict(pcfg.get('default_hooks', {}), checkpoint=None)
    return pcfg, {k: v for k, v in pcfg.train_cfg.evaluator.items() if k != 'type'}
