"""The paper's evaluation in one call: every EEG region, every fMRI ROI and Brain-Score's
behavioural benchmarks; what cannot run here is reported as unavailable, never a crash."""
from . import plugin
from .errors import RealnetError
from .plugin import load_benchmark, why_unavailable
from .records import ScoreRecord

# Brain-Score's behavioural benchmarks of the ReAlnet comparison (Figure 1D).
BEHAVIOUR = ['Rajalingham2018public-i2n'] + [f'Geirhos2021{condition}-error_consistency' for condition in (
    'colour', 'contrast', 'cueconflict', 'edge', 'eidolonI', 'eidolonII', 'eidolonIII', 'falsecolour', 'highpass',
    'lowpass', 'phasescrambling', 'powerequalisation', 'rotation', 'silhouette', 'sketch', 'stylized', 'uniformnoise')]


def suite_benchmarks(behaviour: bool = True) -> list[str]:
    return plugin.list_benchmarks() + (BEHAVIOUR if behaviour else [])


def run_suite(model, identifiers=None, on_result=None, loaded=None, **options) -> list[dict]:
    """One entry per benchmark: ``{'benchmark', 'record'}`` or ``{'benchmark', 'unavailable': why}``.

    ``options``: our benchmarks' options (``things_eeg2``, ``shen2019``, ``screen``, ``method``…),
    each given to the benchmarks that take it; None leaves a benchmark's default.
    ``loaded``: a dict that keeps the benchmarks (or why they cannot load) for the next model, so
    that several models do not each wait for the same unreachable data.
    """
    from brainscore_core.benchmarks import score_benchmark
    loaded = {} if loaded is None else loaded
    results = []
    for identifier in identifiers or suite_benchmarks():
        try:
            if identifier not in loaded:
                try:
                    loaded[identifier] = load_benchmark(identifier, strict=False, **options)
                except RealnetError as error:
                    loaded[identifier] = error
            if isinstance(loaded[identifier], RealnetError):
                raise loaded[identifier]
            score = score_benchmark(loaded[identifier], model)
            result = {'benchmark': identifier,
                      'record': ScoreRecord.from_score(score, model.identifier, identifier, loaded[identifier])}
        except RealnetError as error:
            result = {'benchmark': identifier, 'unavailable': str(error)}
        except Exception as error:  # Brain-Score's data cannot be fetched offline, and the like
            result = {'benchmark': identifier, 'unavailable': why_unavailable(error)}
        results.append(result)
        if on_result:
            on_result(result)
    return results


def format_result(result: dict) -> str:
    if 'record' in result:
        record = result['record']
        extra = f"  (raw {record.raw:.3f}, ceiling {record.ceiling:.3f})" if isinstance(
            record.raw, float) and isinstance(record.ceiling, float) else ''
        return f"{result['benchmark']:42} {record.score:8.3f}{extra}"
    return f"{result['benchmark']:42} unavailable: {result['unavailable']}"


def results_json(results: list[dict]) -> list[dict]:
    """``run_suite``'s results as JSON: each record as ``ScoreRecord.to_json`` writes it."""
    return [{**result, 'record': result['record'].to_json()} if 'record' in result else result for result in results]
