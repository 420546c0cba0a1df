"""The engine's messages go through mmengine's current logger, so they reach the run's log
file (the one a Runner opens), not only the console."""
import logging

from mmengine.config import Config
from mmengine.logging import MMLogger


def _logger(tmp_path, name):
    """A logger with a log file, made current as a Runner makes its own."""
    log = tmp_path / f'{name}.log'
    return MMLogger.get_instance(name, log_file=str(log), log_level='INFO'), log


def _close(logger):
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            h.close()
            logger.removeHandler(h)


def test_phase_lines_reach_the_run_log(tmp_path):
    from nas_det.engine.launch.phases import PHASES, PhaseContext, register_phase, run_phases
    logger, log = _logger(tmp_path, 'test_run_log_phases')
    register_phase('_log_probe')(lambda cfg, ctx: {'answer': 42})
    try:
        wd = str(tmp_path / 'work')
        run_phases(Config(dict(phases=['_log_probe'], work_dir=wd)), PhaseContext(work_dir=wd))
        ctx = PhaseContext(work_dir=wd, resume=True)
        run_phases(Config(dict(phases=['_log_probe'], work_dir=wd)), ctx)
    finally:
        PHASES.pop('_log_probe')
        _close(logger)
    text = log.read_text()
    for line in (f"[nas_det] phase '_log_probe': work dir {wd}",
                 "[nas_det] phase '_log_probe': answer: 42",
                 "[nas_det] phase '_log_probe': already finished, skipping ("):
        assert line in text, text


def test_one_line_error_reaches_the_run_log_once(tmp_path, capsys):
    from nas_det.engine.launch import one_line_errors
    logger, log = _logger(tmp_path, 'test_run_log_error')

    def bad():
        raise ValueError('lr: -1 is not allowed')
    try:
        assert one_line_errors(bad) == 2
    finally:
        _close(logger)
    out = capsys.readouterr()
    assert out.err.splitlines()[0].endswith(': error: lr: -1 is not allowed')
    assert 'lr: -1' not in out.out  # not printed a second time on the console
    text = log.read_text()
    assert text.count(': error: lr: -1 is not allowed') == 1 and 'ERROR' in text, text
