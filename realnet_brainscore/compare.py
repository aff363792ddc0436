"""Several models side by side on the paper's suite: each model's scores (kept, and reused while
the weights and data stay the same), the paired statistics of the ReAlnets against their baseline,
and one report with the paper's Figure 1 B (EEG), C (fMRI) and D (behaviour) and the
matched-subject view (ReAlnet k on subject k against the other subjects)."""
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import plugin
from . import weights as weight_table
from .errors import RealnetError, first_line
from .files import atomic_path
from .recording import SCREENS
from .report import (EEG_REGION, SHEN_ROI, plot_benchmark_scores, plot_matched_subjects, plot_roi_rsa,
                     plot_temporal_rsa, score_record_problem)

PERSONAL = re.compile(r'^realnet-s(\d\d)$')
# Personal models needed before Figure 1B pairs each with its own subject: with fewer than 6 the
# paired sign-flip permutation test cannot reach p < .05 (2 / 2**5 > .05).
MATCHED_GROUP = 6
# `brainscore compare --paper`: Figure 1B/C as the authors computed them (PROTOCOL.md; their RSA.ipynb):
# whole images, pairwise-decoding EEG RDMs, and the EEG time points they analysed (10-69 of the
# -200 … 790 ms epoch), which restricts the EEG figure and its cluster test, not the scores.
PAPER_OPTIONS = {'screen': 'whole', 'method': 'decoding'}
PAPER_TIME_RANGE = (-0.1, 0.49)  # s, first and last time point


@dataclass(frozen=True)
class Candidate:
    name: str                 # a registered model identifier, as the user wrote it
    weights: Path | None = None  # a file in place of the published weights

    @property
    def identifier(self) -> str:
        """Brain-Score's identifier: it changes with the weights (as ``models.load_network``'s)."""
        return weight_table.model_identifier(self.name, self.weights)


def candidate(text: str) -> Candidate:
    """``MODEL`` or ``MODEL=FILE``; unknown models and missing files fail here, before any work."""
    name, _, weights = text.partition('=')
    weight_table.source(name)
    if weights and not Path(weights).is_file():
        raise RealnetError(f'{weights}: no such weights file (given for {name})')
    return Candidate(name, Path(weights) if weights else None)


def score_models(candidates: list[Candidate], scores_dir, benchmarks: list[str], things_eeg2=None, shen2019=None,
                 batch_size: int = 64, say=print, options: dict | None = None) -> dict[str, list[dict]]:
    """Each candidate's suite results, by name. ``options``: our benchmarks' further options
    (``screen``, ``method``; None or absent: their defaults). Scores are kept in
    ``scores_dir/<name>.json`` and reused for the same weights, data folders and benchmark settings;
    what was unavailable is tried again. Every kept file is read before any scoring: a damaged one
    stops the run at once (one line naming it; the user deletes it to rescore)."""
    from .models import load_model
    from .suite import format_result, run_suite
    scores_dir = Path(scores_dir)
    scores_dir.mkdir(parents=True, exist_ok=True)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    data = _data_sources(things_eeg2, shen2019)
    settings = benchmark_settings(benchmarks, options)
    paths = {c.name: scores_dir / f'{c.name}.json' for c in candidates}
    kept_by_name = {c.name: _kept_records(paths[c.name], c.identifier, data, settings) for c in candidates}
    loaded, results = {}, {}
    for candidate in candidates:
        path, kept = paths[candidate.name], kept_by_name[candidate.name]
        todo = [b for b in benchmarks if b not in kept]
        say(f'{candidate.name}: {len(benchmarks) - len(todo)} scores kept in {path}, {len(todo)} to run')
        fresh = {}
        if todo:
            try:
                model = load_model(candidate.name, weights=candidate.weights, batch_size=batch_size)
            except RealnetError as error:
                fresh = {b: {'benchmark': b, 'unavailable': f'the model cannot load: {error}'} for b in todo}
                say(f'{candidate.name}: unavailable: {error}')
            else:
                fresh = {r['benchmark']: r for r in run_suite(
                    model, todo, things_eeg2=things_eeg2, shen2019=shen2019, loaded=loaded, **options,
                    on_result=lambda result: say(f'{candidate.name}  {format_result(result)}'))}
        results[candidate.name] = [{'benchmark': b, 'record': kept[b]} if b in kept else fresh[b] for b in benchmarks]
        with atomic_path(path) as partial:
            partial.write_text(json.dumps({'model': candidate.identifier, 'data': data, 'settings': settings,
                                           'results': results[candidate.name]}, indent=1) + '\n')
    return results


def _data_sources(things_eeg2, shen2019) -> dict:
    """What the scores were computed on (the benchmarks' own fallbacks included)."""
    folders = {'things_eeg2': things_eeg2 or os.environ.get('REALNET_THINGS_EEG2'),
               'shen2019': shen2019 or os.environ.get('REALNET_SHEN2019')}
    return {key: str(Path(folder).resolve()) if folder else None for key, folder in folders.items()}


def benchmark_settings(benchmarks: list[str], options: dict) -> dict:
    """{benchmark: what its score depends on besides the model and the data}, for ours loaded with
    ``options`` (their own defaults filling the rest); {} for Brain-Score's, which take no options."""
    ours = set(plugin.list_benchmarks())
    return {b: plugin.load_benchmark(b, strict=False, **options).settings() if b in ours else {} for b in benchmarks}


def _kept_records(path: Path, identifier: str, data: dict, settings: dict) -> dict:
    """The records of ``path`` computed for this model, data and, benchmark by benchmark, settings.
    A file that is not as score_models writes it is refused, not replaced: it may be the user's."""
    if not path.exists():
        return {}
    try:
        kept = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        problem = f'not readable JSON: {first_line(error)}'
    else:
        problem = _kept_problem(kept)
    if problem:
        raise RealnetError(f'{path}: not a kept score file of `brainscore compare` ({problem}); '
                           f'delete it to score {path.stem} afresh')
    if kept.get('model') != identifier or kept.get('data') != data:
        return {}
    computed_with = kept.get('settings') if isinstance(kept.get('settings'), dict) else {}
    return {r['benchmark']: r['record'] for r in kept.get('results', [])
            if 'record' in r and r['benchmark'] in settings
            and computed_with.get(r['benchmark']) == settings[r['benchmark']]}


def _kept_problem(kept) -> str | None:
    """What is wrong with a parsed kept score file, in the parts that are reused: its results
    and their score records (see report.score_record_problem); None when nothing is."""
    if not isinstance(kept, dict) or not isinstance(kept.get('results'), list):
        return 'not an object with model, data, settings and a list of results'
    for entry in kept['results']:
        if not isinstance(entry, dict) or not isinstance(entry.get('benchmark'), str):
            return 'a result without a benchmark name'
        if 'record' in entry:
            problem = score_record_problem(entry['record'])
            if problem is None and entry['record']['benchmark'] != entry['benchmark']:
                problem = f"its record is of {entry['record']['benchmark']}"
            if problem:
                return f"{entry['benchmark']}: {problem}"
    return None


def records_by_model(results: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """{name: {benchmark: record}} of what ran, each record labelled with the model's name."""
    return {name: {r['benchmark']: {**r['record'], 'model': name} for r in entries if 'record' in r}
            for name, entries in results.items()}


def comparison_table(records: dict[str, dict[str, dict]]) -> str:
    names = list(records)
    benchmarks = list(dict.fromkeys(b for scores in records.values() for b in scores))
    width = max([14] + [len(n) + 2 for n in names])
    lines = [f'{"benchmark":40}' + ''.join(f'{n:>{width}}' for n in names)]
    for benchmark in benchmarks:
        lines.append(f'{benchmark:40}' + ''.join(
            f'{records[n][benchmark]["score"]:{width}.3f}' if benchmark in records[n] else f'{"-":>{width}}'
            for n in names))
    return '\n'.join(lines)


def eeg_view(records: dict[str, dict[str, dict]], baseline: str) -> tuple[list[dict], tuple[str, str]]:
    """The temporal RSA records Figure 1B draws and the pair its cluster test compares.

    With at least MATCHED_GROUP personal models whose subjects are in the data (the paper's
    design), each ReAlnet k is paired with subject k and the baseline is taken on the same
    subjects; otherwise every model is drawn over all subjects and the first non-baseline model is
    tested against the baseline."""
    eeg = {name: {b: r for b, r in scores.items() if EEG_REGION.search(b) and 'time_course' in r}
           for name, scores in records.items()}
    others = [name for name in eeg if name != baseline and eeg[name]]
    matched = [name for name in others if _own_subject(name) and all(
        _own_subject(name) in _subjects(r) for r in eeg[name].values())]
    if len(matched) < MATCHED_GROUP or not eeg.get(baseline):
        drawn = [r for name in eeg for r in eeg[name].values()]
        return drawn, ((others[0], baseline) if others and eeg.get(baseline) else None)
    group = f'ReAlnets on own subject (n={len(matched)})'
    same = f'{baseline} on the same subjects'
    drawn = []
    for benchmark, base in eeg[baseline].items():
        pairs = [(_course(eeg[name][benchmark], _own_subject(name)), _course(base, _own_subject(name)))
                 for name in matched if benchmark in eeg[name]]
        subjects = [_own_subject(name) for name in matched if benchmark in eeg[name]]
        if not pairs:
            continue
        for label, courses in ((group, [p[0] for p in pairs]), (same, [p[1] for p in pairs])):
            drawn.append({'model': label, 'benchmark': benchmark, 'ceiling_time_course': base['ceiling_time_course'],
                          'time_course': {'dims': ['subject', 'time_bin'], 'values': np.stack(courses).tolist(),
                                          'coords': {'subject': subjects,
                                                     'time_bin': base['time_course']['coords']['time_bin']}}})
    return drawn, (group, same)


def matched_subject_rows(records: dict[str, dict[str, dict]], baseline: str) -> list[dict]:
    """Per personal model and region: window-mean similarity to its own subject and to the others,
    and the baseline's on the same subjects."""
    rows = []
    for name, scores in records.items():
        subject = _own_subject(name)
        if name == baseline or not subject:
            continue
        for benchmark, record in scores.items():
            match = EEG_REGION.search(benchmark)
            base = records.get(baseline, {}).get(benchmark)
            if not match or 'time_course' not in record or not base or subject not in _subjects(record):
                continue
            own, others = _own_and_others(record, subject)
            base_own, base_others = _own_and_others(base, subject)
            rows.append({'model': name, 'subject': subject, 'region': match.group(1), 'own': own, 'others': others,
                         'baseline_own': base_own, 'baseline_others': base_others})
    return rows


def matched_subject_statistics(rows: list[dict]) -> dict:
    """Per region: the mean personal advantage beyond the baseline's on the same subject,
    ((own − others) − (baseline own − baseline others)), and its one-sample t-test across models."""
    from scipy.stats import ttest_1samp
    summary = {}
    for region in dict.fromkeys(row['region'] for row in rows):
        advantage = [(r['own'] - r['others']) - (r['baseline_own'] - r['baseline_others'])
                     for r in rows if r['region'] == region]
        summary[region] = {'models': len(advantage), 'advantage': float(np.mean(advantage)),
                           'p': float(ttest_1samp(advantage, 0).pvalue) if len(advantage) > 1 else float('nan')}
    return summary


def _own_subject(name: str) -> str | None:
    match = PERSONAL.match(name)
    return f'sub-{match.group(1)}' if match else None


def _subjects(record: dict) -> list:
    return list(record['time_course']['coords']['subject'])


def _course(record: dict, subject: str) -> np.ndarray:
    return np.asarray(record['time_course']['values'], dtype=float)[_subjects(record).index(subject)]


def _own_and_others(record: dict, subject: str) -> tuple[float, float]:
    times = np.asarray(record['time_course']['coords']['time_bin'], dtype=float)
    start, stop = record.get('window', (times[0], times[-1] + 1))
    in_window = (times >= start - 1e-9) & (times < stop - 1e-9)
    means = np.asarray(record['time_course']['values'], dtype=float)[:, in_window].mean(axis=1)
    own = _subjects(record).index(subject)
    return float(means[own]), float(np.delete(means, own).mean()) if len(means) > 1 else float('nan')


def write_report(folder, results: dict[str, list[dict]], baseline: str, title: str = 'ReAlnet comparison',
                 preface: str = '', time_range: tuple[float, float] | None = None) -> Path:
    """Figures, comparison.json and report.md into ``folder``; returns the report's path.
    ``time_range``: first and last EEG time point (s) that the EEG figure draws and its cluster test
    examines (default: all)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records = records_by_model(results)
    settings = report_settings(records, time_range)
    statistics = {}
    sections = [section(folder, records, baseline, statistics) for section in (
        functools.partial(_eeg_section, time_range=time_range), _fmri_section, _behaviour_section, _matched_section)]
    unavailable = _unavailable(results)
    if unavailable:
        sections.append('## Not scored here\n\n' + '\n'.join(
            f"- {u['benchmark']} ({'every model' if len(u['models']) == len(results) else ', '.join(u['models'])})"
            f": {u['why']}" for u in unavailable))
    with atomic_path(folder / 'comparison.json') as partial:
        partial.write_text(json.dumps({'baseline': baseline, 'settings': settings, 'records': records,
                                       'statistics': statistics, 'unavailable': unavailable}, indent=1) + '\n')
    report = folder / 'report.md'
    with atomic_path(report) as partial:
        partial.write_text(f'# {title}\n\n{preface}Baseline: {baseline}. Scores are ceiling-normalised.\n\n'
                           f'{_settings_text(settings)}\n\n'
                           f'```\n{comparison_table(records)}\n```\n\n' + '\n\n'.join(filter(None, sections)) + '\n')
    return report


def report_settings(records: dict[str, dict[str, dict]], time_range) -> dict:
    """How the reported scores were computed, as their records say: each setting's values (one,
    unless kept scores of other settings were mixed in) and the EEG figure's time range."""
    found = {'screen': [], 'rdm_method': []}
    for scores in records.values():
        for record in scores.values():
            for key, values in found.items():
                if key in record and record[key] not in values:
                    values.append(record[key])
    return {**found, 'eeg_time_range_s': list(time_range) if time_range else None}


def _settings_text(settings: dict) -> str:
    screen = '; '.join(f'{s} ({SCREENS.get(s, "?")})' for s in settings['screen']) or 'no benchmark of ours ran'
    methods = ', '.join(settings['rdm_method']) or 'no EEG benchmark ran'
    return (f'Settings: images (EEG and fMRI benchmarks): {screen}. EEG RDMs: {methods}. EEG figure and '
            f'cluster test: {_span(settings["eeg_time_range_s"])}.')


def _span(time_range) -> str:
    return f'{time_range[0] * 1000:.0f} … {time_range[1] * 1000:.0f} ms' if time_range else 'the whole epoch'


def _eeg_section(folder, records, baseline, statistics, time_range=None) -> str | None:
    drawn, pair = eeg_view(records, baseline)
    if not drawn:
        return None
    significant = plot_temporal_rsa(drawn, folder / 'eeg_time_courses.png', pair=pair, time_range=time_range)
    if not pair:
        return '## EEG: temporal RSA (Figure 1B, `eeg_time_courses.png`)\n\nOne model: nothing to test.'
    step = float(np.min(np.diff(drawn[0]['time_course']['coords']['time_bin']), initial=1.0))
    clusters = {region: [{'start_s': a, 'stop_s': b, 'difference': _pair_difference(drawn, pair, region, a, b)}
                         for a, b in _ranges(times, step)] for region, times in significant.items()}
    statistics['eeg'] = {'pair': list(pair), 'time_range_s': list(time_range) if time_range else None,
                         'clusters': clusters}
    lines = '\n'.join(f'- {region}: ' + ('; '.join(
        f"{c['start_s'] * 1000:.0f}–{c['stop_s'] * 1000:.0f} ms ({pair[0]} {'above' if c['difference'] > 0 else 'below'}"
        f", mean Δρ {c['difference']:+.3f})" for c in found) if found else 'no cluster') for region, found in clusters.items())
    return ('## EEG: temporal RSA (Figure 1B, `eeg_time_courses.png`)\n\nMean ± SEM over subjects; grey band: noise '
            f'ceiling; time points: {_span(time_range)}. Where {pair[0]} and {pair[1]} differ (paired cluster-based '
            f'permutation test across subjects over those time points, p < .05):\n{lines}')


def _fmri_section(folder, records, baseline, statistics) -> str | None:
    fmri = [r for scores in records.values() for r in scores.values() if SHEN_ROI.match(r['benchmark'])]
    if not fmri:
        return None
    statistics['fmri_p'] = plot_roi_rsa(fmri, folder / 'fmri_rois.png', baseline=baseline)
    return ('## fMRI: Shen 2019 ROI RSA (Figure 1C, `fmri_rois.png`)\n\n'
            f'p of the other models against {baseline} per ROI (one-sample t-test of the score differences across '
            'models; with one model, paired t-test across subjects):\n'
            + ', '.join(f'{roi} {p:.3g}' for roi, p in statistics['fmri_p'].items()))


def _behaviour_section(folder, records, baseline, statistics) -> str | None:
    behaviour = [r for scores in records.values() for r in scores.values()
                 if not SHEN_ROI.match(r['benchmark']) and not EEG_REGION.search(r['benchmark'])]
    if not behaviour:
        return None
    statistics['behaviour_p'] = plot_benchmark_scores(
        behaviour, folder / 'behaviour.png', baseline, label=_short_benchmark, ylabel='score (ceiling-normalised)',
        title='behaviour')
    return ('## Behaviour (Figure 1D, `behaviour.png`)\n\n'
            f'p of the other models against {baseline} per benchmark (as for fMRI; nan: one model and no subjects):\n'
            + ', '.join(f'{_short_benchmark(b)} {p:.3g}' for b, p in statistics['behaviour_p'].items()))


def _matched_section(folder, records, baseline, statistics) -> str | None:
    rows = matched_subject_rows(records, baseline)
    if not rows:
        return None
    plot_matched_subjects(rows, folder / 'matched_subjects.png')
    statistics['matched'] = {'rows': rows, 'regions': matched_subject_statistics(rows)}
    table = '\n'.join(f"| {r['model']} | {r['region']} | {r['own']:.3f} | {r['others']:.3f} | {r['baseline_own']:.3f}"
                      f" | {r['baseline_others']:.3f} |" for r in rows)
    summary = '\n'.join(f"- {region}: {s['advantage']:+.3f} over {s['models']} model(s), p = {s['p']:.3g}"
                        for region, s in statistics['matched']['regions'].items())
    return ('## Matched subjects (`matched_subjects.png`)\n\nWindow-mean Spearman ρ of each ReAlnet k with subject k '
            '(own) and with the other subjects (mean), beside the baseline on the same subjects.\n\n'
            '| model | region | own | others | baseline own | baseline others |\n|---|---|---|---|---|---|\n'
            f'{table}\n\nPersonal advantage, (own − others) − (baseline own − baseline others), one-sample t-test '
            f'across models:\n{summary}')


def _pair_difference(drawn: list[dict], pair, region: str, start: float, stop: float) -> float:
    """Mean over subjects and [start, stop] of pair[0]'s minus pair[1]'s time course in ``region``."""
    courses = {}
    for record in drawn:
        if EEG_REGION.search(record['benchmark']).group(1) == region and record['model'] in pair:
            times = np.asarray(record['time_course']['coords']['time_bin'], dtype=float)
            inside = (times >= start - 1e-9) & (times <= stop + 1e-9)
            courses[record['model']] = np.asarray(record['time_course']['values'], dtype=float)[:, inside].mean()
    return float(courses[pair[0]] - courses[pair[1]])


def _short_benchmark(identifier: str) -> str:
    return re.sub(r'^Geirhos2021(\w+)-error_consistency$', r'\1', identifier).replace('-', ' ')


def _ranges(times: np.ndarray, step: float) -> list[tuple[float, float]]:
    """Significant time points (s) as (first, last) of each run of neighbours ``step`` apart."""
    times = np.sort(np.asarray(times, dtype=float))
    breaks = np.flatnonzero(np.diff(times) > 1.5 * step) + 1
    return [(float(run[0]), float(run[-1])) for run in np.split(times, breaks) if len(run)]


def _unavailable(results: dict[str, list[dict]]) -> list[dict]:
    """What did not run: each benchmark and reason once, with the models it concerns."""
    found = {}
    for name, entries in results.items():
        for entry in entries:
            if 'unavailable' in entry:
                found.setdefault((entry['benchmark'], entry['unavailable']), []).append(name)
    return [{'benchmark': benchmark, 'why': why, 'models': names} for (benchmark, why), names in found.items()]
