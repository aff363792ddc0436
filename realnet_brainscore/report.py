"""The report of `brainscore compare`: the paired statistics of the models against their baseline
computed once, drawn as the paper's Figure 1 B (EEG), C (fMRI) and D (behaviour) and the
matched-subject view (each personal model on its own subject against the other subjects), and
written as report.md and comparison.json; and the figures of `brainscore report` and
`score --plot`, statistics first, drawn from what they found."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .data.things_eeg2 import EEG_FORMS
from .errors import RealnetError, printable
from .figures import SUITE_FIGURES, draw_matched_subjects, draw_roi_scores, draw_scores, draw_time_courses
from .files import atomic_path, outside_inputs, writable_folder
from .recording import SCREENS
from .records import Kind, ScoreRecord
from .score_store import records_by_model
from .statistics import (MATCHED_GROUP, ScoreComparison, TimeCourseComparison, compare_roi_scores, compare_scores,
                         compare_time_courses, eeg_view, matched_subject_rows, matched_subject_statistics,
                         time_courses)
from .suite import SuiteResult

# `brainscore compare --paper`: Figure 1B/C as the authors computed them (their RSA.ipynb;
# docs/faithfulness.md#model-rdms-comparison-and-statistics):
# whole images, pairwise-decoding EEG RDMs, and the EEG time points they analysed (10-69 of the
# -200 … 790 ms epoch), which restricts the EEG figure and its cluster test, not the scores.
PAPER_OPTIONS = {'screen': 'whole', 'method': 'decoding'}
PAPER_TIME_RANGE = (-0.1, 0.49)  # s, first and last time point


def comparison_table(records: dict[str, dict[str, ScoreRecord]]) -> str:
    """The scores as a terminal table, a row a benchmark; names come from score files and are shown
    escaped (``errors.printable``): the table's own line breaks are its only ones."""
    names = list(records)
    benchmarks = list(dict.fromkeys(b for scores in records.values() for b in scores))
    width = max([14] + [len(printable(n)) + 2 for n in names])
    lines = [f'{"benchmark":40}' + ''.join(f'{printable(n):>{width}}' for n in names)]
    for benchmark in benchmarks:
        lines.append(f'{printable(benchmark):40}' + ''.join(
            f'{records[n][benchmark].score:{width}.3f}' if benchmark in records[n] else f'{"-":>{width}}'
            for n in names))
    return '\n'.join(lines)


@dataclass(frozen=True, eq=False)
class ReportStatistics:
    """What the report's figures show and comparison.json holds: each kind's comparison (None when
    no model has a score of that kind), the pair the EEG cluster test compared, the matched rows."""
    eeg: TimeCourseComparison | None
    pair: tuple | None
    time_range: tuple | None
    scores: dict          # each of SCORED_KINDS -> ScoreComparison or None
    matched_rows: list
    intervals: dict       # benchmark -> model -> score, its bootstrap interval and that of raw

    def to_json(self) -> dict:
        found = {}
        if self.eeg and self.pair:
            found['eeg'] = {'pair': list(self.pair), 'time_range_s': list(self.time_range) if self.time_range else None,
                            'cluster_test': self.eeg.method, 'clusters': self.eeg.clusters()}
        for kind in SCORED_KINDS:
            if self.scores[kind]:
                found[f'{kind.key}_p'] = (self.scores[kind].labelled_p() if kind == Kind.FMRI
                                          else self.scores[kind].p_values)
        if self.matched_rows:
            found['matched'] = {'rows': self.matched_rows, 'regions': matched_subject_statistics(self.matched_rows)}
        if self.intervals:
            found['intervals'] = self.intervals
        return found


def report_statistics(records: dict[str, dict[str, ScoreRecord]], baseline: str,
                      time_range: tuple[float, float] | None = None, cluster_test: str = 'mne') -> ReportStatistics:
    """Every statistic of the report: the EEG cluster test (``cluster_test``: statistics.CLUSTER_TESTS)
    over ``time_range`` (first and last time point in s; None: all), p per fMRI ROI and per
    Brain-Score benchmark, the matched subjects."""
    panels, pair = eeg_view(records, baseline, time_range)
    every = [r for scores in records.values() for r in scores.values()]
    of_kind = {kind: [r for r in every if r.kind == kind] for kind in SCORED_KINDS}
    return ReportStatistics(
        _eeg_comparison(panels, pair, cluster_test), pair, time_range,
        {Kind.FMRI: compare_roi_scores(of_kind[Kind.FMRI], baseline) if of_kind[Kind.FMRI] else None,
         **{kind: compare_scores(of_kind[kind], baseline, label=_short_benchmark) if of_kind[kind] else None
            for kind in (Kind.BEHAVIOUR, Kind.NEURAL)}},
        matched_subject_rows(records, baseline), score_intervals(records))


def score_intervals(records: dict[str, dict[str, ScoreRecord]]) -> dict:
    """benchmark -> model -> {score, interval, raw_interval, method} of every record that carries the
    bootstrap's interval (inference.score_interval), in the records' order."""
    found = {}
    for name, scores in records.items():
        for benchmark, record in scores.items():
            if record.interval is not None:
                found.setdefault(benchmark, {})[name] = {
                    'score': record.score, 'interval': list(record.interval),
                    'raw_interval': list(record.raw_interval) if record.raw_interval else None,
                    'method': record.attrs.get('interval_method')}
    return found


# The report's figure of each kind (written where the kind has a score) and its section's title.
REPORT_FIGURES = {**SUITE_FIGURES, Kind.BEHAVIOUR: 'behaviour.png', Kind.NEURAL: 'neural.png',
                  'matched': 'matched_subjects.png'}
REPORT_FILES = ('report.md', 'comparison.json', *REPORT_FIGURES.values())  # what write_report writes
SCORE_SECTIONS = {Kind.FMRI: 'fMRI: Shen 2019 ROI RSA (Figure 1C, ', Kind.BEHAVIOUR: 'Behaviour (Figure 1D, ',
                  Kind.NEURAL: "Brain-Score's neural benchmarks ("}
SCORED_KINDS = tuple(SCORE_SECTIONS)  # the kinds compared score by score (EEG: time course by time course)
# How report.md names each of statistics.CLUSTER_TESTS.
CLUSTER_TEST_NAMES = {'mne': "mne's null: sign flips of whole subjects' difference time courses, 1024 permutations",
                      'neurora': "NeuroRA 1.1.6.12's, as the authors ran it: values shuffled independently at each "
                                 'time point inside the clusters, clusters of at least 2 points, 1000 permutations'}


def report_folder(folder, inputs=(), files=REPORT_FILES) -> Path:
    """``folder`` once a comparison (or ``files``: what another command writes beside kept scores)
    may be written there: new, without any of those files, or a folder an earlier comparison or
    `score --models` wrote (it holds scores/). A report.md, comparison.json or figure of that name in
    any other folder is someone else's and is not replaced; neither the folder nor any of the files
    may be one of the command's ``inputs`` or lie inside one."""
    outside_inputs(folder, inputs, '`out`')
    for name in ('scores', *files):
        outside_inputs(Path(folder) / name, inputs, '`out`')
    folder = writable_folder(folder)
    if (folder / 'scores').is_dir():
        return folder
    taken = [name for name in files if (folder / name).exists()]
    if taken:
        raise RealnetError(f'{folder / taken[0]} exists and {folder} holds no scores/ of an earlier comparison; '
                           'choose another `out`')
    return folder


def write_report(folder, results: dict[str, list[SuiteResult]], baseline: str, title: str = 'ReAlnet comparison',
                 preface: str = '', time_range: tuple[float, float] | None = None, cluster_test: str = 'mne') -> Path:
    """Figures, comparison.json and report.md into ``folder``; returns the report's path.
    ``time_range``: first and last EEG time point (s) that the EEG figure draws and its cluster test
    examines (default: all); ``cluster_test``: that test's null (statistics.CLUSTER_TESTS)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records = records_by_model(results)
    settings = report_settings(records, time_range)
    found = report_statistics(records, baseline, time_range, cluster_test)
    statistics = found.to_json()
    _draw_report(found, folder)
    sections = [_eeg_section(found, statistics.get('eeg')), *(_scores_section(found, kind) for kind in SCORE_SECTIONS),
                _matched_section(statistics.get('matched')), _intervals_section(found.intervals)]
    unavailable = _unavailable(results)
    if unavailable:
        sections.append('## Not scored here\n\n' + '\n'.join(
            f"- {u['benchmark']} ({'every model' if len(u['models']) == len(results) else ', '.join(u['models'])})"
            f": {u['why']}" for u in unavailable))
    saved = {name: {b: r.to_json() for b, r in scores.items()} for name, scores in records.items()}
    with atomic_path(folder / 'comparison.json') as partial:
        partial.write_text(json.dumps({'baseline': baseline, 'settings': settings, 'records': saved,
                                       'statistics': statistics, 'unavailable': unavailable}, indent=1) + '\n')
    report = folder / 'report.md'
    with atomic_path(report) as partial:
        partial.write_text(f'# {title}\n\n{preface}Baseline: {baseline}. Scores are ceiling-normalised.\n\n'
                           f'{_settings_text(settings)}\n\n'
                           f'```\n{comparison_table(records)}\n```\n\n' + '\n\n'.join(filter(None, sections)) + '\n')
    return report


def _draw_report(found: ReportStatistics, folder: Path) -> None:
    if found.eeg:
        draw_time_courses(found.eeg, folder / REPORT_FIGURES[Kind.EEG])
    if found.scores[Kind.FMRI]:
        draw_roi_scores(found.scores[Kind.FMRI], folder / REPORT_FIGURES[Kind.FMRI])
    for kind in (Kind.BEHAVIOUR, Kind.NEURAL):
        if found.scores[kind]:
            draw_scores(found.scores[kind], folder / REPORT_FIGURES[kind], ylabel='score (ceiling-normalised)',
                        title=kind)
    if found.matched_rows:
        draw_matched_subjects(found.matched_rows, folder / REPORT_FIGURES['matched'])


def report_settings(records: dict[str, dict[str, ScoreRecord]], time_range) -> dict:
    """How the reported scores were computed, as their records say: each setting's values (one,
    unless kept scores of other settings were mixed in), the EEG figure's time range and the models
    compared with their own subject only (model -> subject; the others: with every subject)."""
    found, matched = {'screen': [], 'rdm_method': [], 'eeg_form': []}, {}
    for name, scores in records.items():
        for record in scores.values():
            for key, values in found.items():
                value = getattr(record, key)
                if value is not None and value not in values:
                    values.append(value)
            if record.matched_subject:
                matched[name] = record.matched_subject
    return {**found, 'eeg_time_range_s': list(time_range) if time_range else None, 'matched_subjects': matched}


def _settings_text(settings: dict) -> str:
    screen = '; '.join(f'{s} ({SCREENS.get(s, "?")})' for s in settings['screen']) or 'no benchmark of ours ran'
    methods = ', '.join(settings['rdm_method']) or 'no EEG benchmark ran'
    forms = '; '.join(f'{f} ({EEG_FORMS.get(f, "?")})' for f in settings['eeg_form']) or 'no EEG benchmark ran'
    matched = ', '.join(f'{printable(m)} ({s})' for m, s in settings['matched_subjects'].items())
    whom = (f'EEG: compared with their own subject only (as the paper): {matched}; the others with every subject.'
            if matched else 'EEG: every model compared with every subject.')
    return (f'Settings: images (EEG and fMRI benchmarks): {screen}. EEG RDMs: {methods}. EEG form: {forms}. EEG figure and '
            f'cluster test: {_span(settings["eeg_time_range_s"])}. {whom}')


def _span(time_range) -> str:
    return f'{time_range[0] * 1000:.0f} … {time_range[1] * 1000:.0f} ms' if time_range else 'the whole epoch'


def _eeg_comparison(panels, pair, method: str) -> TimeCourseComparison | None:
    """The cluster test of ``pair`` in each panel; the panels alone, untested, without a pair."""
    if not panels:
        return None
    return compare_time_courses(panels, pair, method=method) if pair else TimeCourseComparison(panels, {}, {}, method)


def _eeg_section(found: ReportStatistics, eeg: dict | None) -> str | None:
    if not found.eeg:
        return None
    heading = f"## EEG: temporal RSA (Figure 1B, `{REPORT_FIGURES[Kind.EEG]}`)\n\n"
    if not eeg:
        return heading + 'Nothing to test: the cluster test needs the time courses of the baseline and another model.'
    pair, clusters = eeg['pair'], eeg['clusters']
    lines = '\n'.join(f'- {region}: ' + ('; '.join(
        f"{c['start_s'] * 1000:.0f}–{c['stop_s'] * 1000:.0f} ms ({pair[0]} {'above' if c['difference'] > 0 else 'below'}"
        f", mean Δρ {c['difference']:+.3f})" for c in runs) if runs else 'no cluster') for region, runs in clusters.items())
    pairs = len(found.eeg.panels[0].subjects)
    # sign flips of n subjects give 2**n permutations: below MATCHED_GROUP no p reaches .05 (NeuroRA's null differs)
    few = (f' With {pairs} subject(s) the paired cluster test is not run (it needs 3).' if pairs < 3 else
           f" With {pairs} subjects no cluster can reach p < .05 under mne's sign flips (they need {MATCHED_GROUP})."
           if pairs < MATCHED_GROUP and eeg['cluster_test'] == 'mne' else '')
    return (f'{heading}Mean ± SEM over subjects; grey band: noise ceiling; time points: {_span(found.time_range)}. '
            f'Where {pair[0]} and {pair[1]} differ (paired cluster-based permutation test across subjects over those '
            f'time points, p < .05; {CLUSTER_TEST_NAMES[eeg["cluster_test"]]}):{few}\n{lines}')


def _scores_section(found: ReportStatistics, kind: Kind) -> str | None:
    comparison = found.scores[kind]
    if not comparison:
        return None
    how = ('(one-sample t-test of the score differences across models; with one model, paired t-test across '
           'subjects)' if kind == Kind.FMRI else '(as for fMRI; nan: one model and no subjects)')
    return (f"## {SCORE_SECTIONS[kind]}`{REPORT_FIGURES[kind]}`)\n\n"
            f"p of the other models against {comparison.baseline} per {'ROI' if kind == Kind.FMRI else 'benchmark'} "
            f'{how}:\n' + ', '.join(f'{label} {p:.3g}' for label, p in comparison.labelled_p().items()))


def _matched_section(matched: dict | None) -> str | None:
    if not matched:
        return None
    table = '\n'.join(f"| {r['model']} | {r['region']} | {r['own']:.3f} | {r['others']:.3f} | {r['baseline_own']:.3f}"
                      f" | {r['baseline_others']:.3f} |" for r in matched['rows'])
    summary = '\n'.join(f"- {region}: {s['advantage']:+.3f} over {s['models']} model(s), p = {s['p']:.3g}"
                        for region, s in matched['regions'].items())
    return (f"## Matched subjects (`{REPORT_FIGURES['matched']}`)\n\nWindow-mean Spearman ρ of each ReAlnet k with "
            'subject k (own) and with the other subjects (mean), beside the baseline on the same subjects.\n\n'
            '| model | region | own | others | baseline own | baseline others |\n|---|---|---|---|---|---|\n'
            f'{table}\n\nPersonal advantage, (own − others) − (baseline own − baseline others), one-sample t-test '
            f'across models:\n{summary}')


def _intervals_section(intervals: dict) -> str | None:
    if not intervals:
        return None
    methods = sorted({str(entry['method']) for models in intervals.values() for entry in models.values()})
    table = '\n'.join(f"| {printable(benchmark)} | {printable(name)} | {entry['score']:.3f} | "
                      f"{entry['interval'][0]:.3f} … {entry['interval'][1]:.3f} |"
                      for benchmark, models in intervals.items() for name, entry in models.items())
    return ('## Intervals over subjects and images\n\nBeside the tests above, which generalise over subjects or '
            'models only: each score with its 95 % interval from a bootstrap that draws subjects and images '
            "together (rsatoolbox's `eval_dual_bootstrap` semantics; " + '; '.join(map(printable, methods)) + ').\n\n'
            f'| benchmark | model | score | 95 % interval |\n|---|---|---|---|\n{table}')


def _short_benchmark(identifier: str) -> str:
    return re.sub(r'^Geirhos2021(\w+)-error_consistency$', r'\1', identifier).replace('-', ' ')


def _unavailable(results: dict[str, list[SuiteResult]]) -> list[dict]:
    """What did not run: each benchmark and reason once, with the models it concerns."""
    found = {}
    for name, entries in results.items():
        for entry in entries:
            if entry.record is None:
                found.setdefault((entry.benchmark, entry.unavailable), []).append(name)
    return [{'benchmark': benchmark, 'why': why, 'models': names} for (benchmark, why), names in found.items()]


def score_files_comparison(score_files: list, records: list[ScoreRecord],
                           pair: tuple[str, str] | None = None) -> TimeCourseComparison | ScoreComparison:
    """`brainscore report`: the statistics of ``score_files`` (read as ``records``), all
    EEG or all fMRI: the cluster test of ``pair`` (default: the first two models) per region, or p
    of the other models against the baseline (``pair``'s second; default: the first) per ROI."""
    for path, record in zip(score_files, records):
        if record.kind not in (Kind.EEG, Kind.FMRI):
            raise RealnetError(f'{path}: {record.benchmark} is neither a temporal RSA nor a Shen 2019 ROI '
                               'benchmark, the scores report draws')
        if record.kind != records[0].kind:
            raise RealnetError(f'{path}: an {record.kind} score among {records[0].kind} ones; draw each kind in its '
                               'own report')
    absent = [name for name in pair or () if name not in {r.model for r in records}]
    if absent:
        raise RealnetError(f'`pair` {absent[0]}: no score file of that model among `score_files`')
    if records[0].kind == Kind.FMRI:
        return compare_roi_scores(records, baseline=pair[1] if pair else None)
    return compare_time_courses(time_courses(records), pair=pair)


def suite_figures(records: list[ScoreRecord], folder) -> list[Path]:
    """`score --plot DIR` of the suite: SUITE_FIGURES' EEG and fMRI figures of ``records`` (one
    model's), those its records allow; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    eeg = [r for r in records if r.kind == Kind.EEG and r.time_course is not None]
    fmri = [r for r in records if r.kind == Kind.FMRI]
    written = []
    if eeg:
        written.append(folder / SUITE_FIGURES[Kind.EEG])
        draw_time_courses(compare_time_courses(time_courses(eeg)), written[-1])
    if fmri:
        written.append(folder / SUITE_FIGURES[Kind.FMRI])
        draw_roi_scores(compare_roi_scores(fmri), written[-1])
    return written
