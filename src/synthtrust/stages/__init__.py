"""One module per dvc.yaml stage: each holds that stage's job, ``run``, which the command line calls.

The library the jobs use sits beside this package, by subject: ``data``, ``generator``, ``segmenter``,
``search``, ``registry``, ``trust``.
"""
