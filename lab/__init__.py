"""The fault lab: real connection drops from real components, with the truth written down.

A private MariaDB (``lab.mariadb``), a chaos TCP proxy (``lab.proxy``), a
SQLAlchemy workload (``lab.workload``) and ``pipeline probe`` are wired together
by ``lab.scenarios``; each scenario writes every log a user would have plus
``truth.json``.  Run ``python -m lab list`` or ``pipeline lab list``.
"""
