"""Composition root: settings, catalog, wiring, web app, worker and command line."""
