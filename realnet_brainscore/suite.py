"""The paper's evaluation in one call: every EEG region, every fMRI ROI and Brain-Score's
behavioural benchmarks; what cannot run here is reported as unavailable, never a crash."""
from dataclasses import dataclass

from . import plugin
from .errors import RealnetError
from .plugin import load_benchmark, why_unavailable
from .records import ScoreRecord

# Brain-Score's behavioural benchmarks of the ReAlnet comparison (Figure 1D).
BEHAVIOUR = ['Rajalingham2018public-i2n'] + [f'Geirhos2021{condition}-error_consistency' for condition in (
    'colour', 'contrast', 'cueconflict', 'edge', 'eidolonI', 'eidolonII', 'eidolonIII', 'falsecolour', 'highpass',
    'lowpass', 'phasescrambling', 'powerequalisation', 'rotation', 'silhouette', 'sketch', 'stylized', 'uniformnoise')]


@dataclass(frozen=True)
class SuiteResult:
    """One benchmark's outcome for one model: its score record, or why it could not run here."""
    benchmark: str
    record: ScoreRecord | None = None
    unavailable: str | None = None

    def line(self) -> str:
        """The result as `brainscore score` prints it: the score (raw, ceiling; its interval), or the reason."""
        if self.record is None:
            return f"{self.benchmark:42} unavailable: {self.unavailable}"
        record = self.record
        extra = f"  (raw {record.raw:.3f}, ceiling {record.ceiling:.3f})" if isinstance(
            record.raw, float) and isinstance(record.ceiling, float) else ''
        if record.interval is not None:  # the bootstrap over subjects and images (inference.score_interval)
            extra += f"  95% interval {record.interval[0]:.3f} … {record.interval[1]:.3f}"
        return f"{self.benchmark:42} {record.score:8.3f}{extra}"

    def to_json(self) -> dict:
        if self.record is None:
            return {'benchmark': self.benchmark, 'unavailable': self.unavailable}
        return {'benchmark': self.benchmark, 'record': self.record.to_json()}


def suite_benchmarks(behaviour: bool = True, data=None) -> list[str]:
    """Our benchmarks (those of the data-set card ``data`` instead, when given) and Brain-Score's behaviour."""
    return plugin.list_benchmarks(data) + (BEHAVIOUR if behaviour else [])


def run_suite(model, identifiers=None, on_result=None, loaded=None, **options) -> list[SuiteResult]:
    """One result per benchmark, in order; ``on_result(result)`` is called as each arrives.

    ``options``: our benchmarks' options (``things_eeg2``, ``shen2019``, ``screen``, ``method``…),
    each given to the benchmarks that take it; None leaves a benchmark's default.
    ``loaded``: a dict that keeps the benchmarks (or why they cannot load) for the next model, so
    that several models do not each wait for the same unreachable data.
    """
    from brainscore_core.benchmarks import score_benchmark
    loaded = {} if loaded is None else loaded
    results = []
    for identifier in identifiers or suite_benchmarks(data=options.get('data')):
        try:
            if identifier not in loaded:
                try:
                    loaded[identifier] = load_benchmark(identifier, strict=False, **options)
                except RealnetError as error:
                    loaded[identifier] = error
            if isinstance(loaded[identifier], RealnetError):
                raise loaded[identifier]
            score = score_benchmark(loaded[identifier], model)
            result = SuiteResult(identifier, ScoreRecord.from_score(score, model.identifier, identifier,
                                                                    loaded[identifier]))
        except RealnetError as error:
            result = SuiteResult(identifier, unavailable=str(error))
        except Exception as error:  # Brain-Score's data cannot be fetched offline, and the like
            result = SuiteResult(identifier, unavailable=why_unavailable(error))
        results.append(result)
        if on_result:
            on_result(result)
    return results
