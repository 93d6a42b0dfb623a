"""The benchmark report's chapters, one module each.

A chapter is a module here whose name does not start with an underscore and that defines

* ``NAME`` : str, the chapter's name on the command line (``--only NAME``),
* ``TITLE`` : str, the heading of its table,
* ``ORDER`` : int, where it runs in the report (lower first; ties by name),
* ``run(report)``, which measures and calls :meth:`npml.bench.Report.row` per case.

:func:`npml.bench.cli.discover` imports them by name (``npml.bench.chapters.<name>``), so
adding a chapter is adding a module: the runner never changes. Private siblings
(``_complexity_sweeps.py``, ...) hold a chapter's parts and are not chapters. Chapters
import their peers (torch, scikit-learn, ...) through :func:`npml.bench.peer` when they run,
so every chapter imports without them.
"""
