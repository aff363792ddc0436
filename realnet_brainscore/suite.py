"""The paper's evaluation in one call: every EEG region, every fMRI ROI and Brain-Score's
behavioural benchmarks; what cannot run here is reported as unavailable, never a crash."""
from . import plugin
from .errors import RealnetError

# Brain-Score's behavioural benchmarks of the ReAlnet comparison (Figure 1D).
BEHAVIOUR = ['Rajalingham2018public-i2n'] + [f'Geirhos2021{condition}-error_consistency' for condition in (
    'colour', 'contrast', 'cueconflict', 'edge', 'eidolonI', 'eidolonII', 'eidolonIII', 'falsecolour', 'highpass',
    'lowpass', 'phasescrambling', 'powerequalisation', 'rotation', 'silhouette', 'sketch', 'stylized', 'uniformnoise')]


def suite_benchmarks(behaviour: bool = True) -> list[str]:
    return plugin.list_benchmarks() + (BEHAVIOUR if behaviour else [])


def run_suite(model, identifiers=None, things_eeg2=None, shen2019=None, on_result=None) -> list[dict]:
    """One entry per benchmark: ``{'benchmark', 'record'}`` or ``{'benchmark', 'unavailable': why}``."""
    from brainscore_core.benchmarks import score_benchmark

    from .cli import score_record  # one JSON form for single scores and the suite
    results = []
    for identifier in identifiers or suite_benchmarks():
        try:
            if identifier in plugin.list_benchmarks():
                benchmark = plugin.load_benchmark(identifier, strict=False, things_eeg2=things_eeg2, shen2019=shen2019)
            else:
                import brainscore_vision
                benchmark = brainscore_vision.load_benchmark(identifier)
            result = {'benchmark': identifier,
                      'record': score_record(score_benchmark(benchmark, model), model.identifier, identifier)}
        except RealnetError as error:
            result = {'benchmark': identifier, 'unavailable': str(error)}
        except Exception as error:  # Brain-Score's data cannot be fetched offline, and the like
            result = {'benchmark': identifier, 'unavailable': _reason(error)}
        results.append(result)
        if on_result:
            on_result(result)
    return results


def format_result(result: dict) -> str:
    if 'record' in result:
        record = result['record']
        extra = f"  (raw {record['raw']:.3f}, ceiling {record['ceiling']:.3f})" if isinstance(
            record.get('raw'), float) and isinstance(record.get('ceiling'), float) else ''
        return f"{result['benchmark']:42} {record['score']:8.3f}{extra}"
    return f"{result['benchmark']:42} unavailable: {result['unavailable']}"


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if 'Could not connect to the endpoint' in text or 'Unable to locate credentials' in text:
        url = text.split('URL: "')[-1].split('"')[0] if 'URL: "' in text else 'Brain-Score storage'
        return f'its data is not local and cannot be downloaded here ({url})'
    return f'{type(error).__name__}: {text}'[:300]
