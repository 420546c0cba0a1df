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
