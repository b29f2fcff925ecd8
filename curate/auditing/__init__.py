"""Planted-corruption audits: does each score catch what it should, on *your* data?

``curate.audit(...)`` is :func:`curate.auditing.api.audit`; the package is named for what it holds
(like ``reporting/``), so importing it never shadows the function on the ``curate`` namespace.
"""
