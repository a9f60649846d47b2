"""The national benchmark world (issue 8): a synthetic country on the real county boundaries.

``python -m bench.national.world OUT_DIR`` generates it (ratios known by construction),
``python -m bench.national.read_baseline OUT_DIR`` times reading its layers with pyogrio, and
``python -m bench.national.check OUT_DIR RUN_DIR`` compares a landcheck run with the truth, and
``python -m bench.national.profile_jobs`` splits a county job's time into its stages.
"""
