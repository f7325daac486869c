"""Real loading on a device (torch): the zoo, the packed block loader, the executor, the profiler.

``zoo`` (networks with shared blocks; ``zoo.catalogue``: a network for any catalogue), ``loader``
(one contiguous buffer and one copy per block), ``device`` (blocks loaded and evicted one by one in
an arena of fixed capacity, for a server), ``runtime`` (a schedule executed for real, against the model's timeline), ``loadtime`` (the
profiler behind ``plcore measure``) and ``profile`` (the schema of ``data/profiles/*.json``; needs
no torch). Imports ``model``; nothing here is imported by ``import plcore``.
"""
