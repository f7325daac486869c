"""What the book's notebooks use: scenarios, sweeps, experiments, statistics, claims and plots.

``scenarios`` and ``synthetic`` draw instances, ``experiments`` holds one trial function per
comparison, ``sweep`` runs them in parallel (its finished points kept by ``cache``), ``service``
serves a schedule with the band shared out, ``stats``/``claims``/``plots`` summarise and judge,
``notebook`` and ``notebook_runner`` save outputs and execute the notebooks. May import every
other wing; only notebooks, benchmarks and the command line import it.
"""
