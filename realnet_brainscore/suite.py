"""The paper's evaluation in one call: every EEG region, every fMRI ROI and Brain-Score's
behavioural benchmarks; what cannot run here is reported as unavailable, never a crash."""
import numpy as np
import xarray as xr

from . import plugin
from .errors import RealnetError, first_line

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
            result = {'benchmark': identifier,
                      'record': score_record(score_benchmark(loaded[identifier], model), model.identifier, identifier)}
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


def load_benchmark(identifier: str, strict: bool = True, **data):
    """Ours (with ``data`` options, see plugin.load_benchmark) or any of Brain-Score's, which take
    none (an error with ``strict``, ignored without); one-line errors."""
    if identifier in plugin.list_benchmarks():
        return plugin.load_benchmark(identifier, strict=strict, **data)
    given = [option for option, value in data.items() if value is not None]
    if strict and given:  # e.g. --screen whole would be silently ignored
        raise RealnetError(f"{identifier} is Brain-Score's own benchmark: it takes no {given[0].replace('_', '-')} "
                           'option')
    import brainscore_vision
    try:
        return brainscore_vision.load_benchmark(identifier)
    except AssertionError as error:
        if 'No registrations found' in str(error):
            raise RealnetError(f"unknown benchmark '{identifier}': no Brain-Score plugin registers it") from None
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {first_line(error)}") from None
    except Exception as error:  # e.g. its data cannot be fetched offline
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {_reason(error)}") from None


def score_record(score, model_identifier: str, benchmark_identifier: str) -> dict:
    """A Brain-Score ``Score`` as plain JSON: the value and its numeric attributes."""
    record = {'model': model_identifier, 'benchmark': benchmark_identifier, 'score': _plain(score)}
    for key, value in score.attrs.items():
        plain = _plain(value)
        if plain is not None and key not in record:
            record[key] = plain
    return record


def _plain(value):
    """Numbers and arrays as JSON values, labelled arrays with their dims and coords; strings as
    they are; anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, xr.DataArray) and value.ndim > 0 and all(d in value.coords for d in value.dims):
        return {'dims': list(value.dims), 'coords': {d: _plain(value[d].values) for d in value.dims},
                'values': _plain(value.values)}
    if isinstance(value, np.ndarray) and value.dtype.kind in 'OUS':
        return [str(v) for v in value.tolist()]
    try:
        array = np.asarray(getattr(value, 'values', value), dtype=float)
    except (TypeError, ValueError):
        return None
    return array.item() if array.ndim == 0 else array.tolist()


def _reason(error: Exception) -> str:
    text = first_line(error)
    if 'Could not connect to the endpoint' in text or 'Unable to locate credentials' in text:
        url = text.split('URL: "')[-1].split('"')[0] if 'URL: "' in text else 'Brain-Score storage'
        return f'its data is not local and cannot be downloaded here ({url})'
    return f'{type(error).__name__}: {text}'[:300]
