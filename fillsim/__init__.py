"""The fill simulator: simulated clinic days run through the real offer engine in
virtual time, measured from the database afterwards (docs/simulator.md).

- config: the run's settings (workload, patient model, policies), one dataclass each;
- workload: the clinic, its waitlist and the day's cancellations, from the seed;
- patients: how a texted patient answers (reply or not, when, what);
- clock: virtual time and the agenda on which Celery tasks, replies and the sweep run;
- database: a migrated template database copied for each run;
- run: one policy over the workload, in a process and a database of its own;
- metrics: the figures, computed from slots, offers and messages;
- parallel: the policies side by side in processes, with a progress bar;
- report: bench/FILL.md and its charts.
"""
