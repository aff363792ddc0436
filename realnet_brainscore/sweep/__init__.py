"""Sweeps (`brainscore sweep`): a grid of train runs, each scored, run through submitit. spec.py reads
the sweep file, runner.py checks and runs it, cell.py is one cell's job, executors.py where jobs run,
scoring.py a cell's scoring, status.py where each cell stands, report.py and figures.py the table
and figures (docs/sweeps.md)."""
