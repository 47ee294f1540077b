"""Compare two topologies' failover (`stackdrill compare`) and score a suite's power (`stackdrill mutate`).

Modules: `sources` (a topology by name, path or git revision), `diff` (keys and single points of
failure that changed), `judge` (two sets of report.json documents, scenario by scenario: verdicts,
figure deltas, regressions by the noise band), `document` (compare.json), `view` (compare.html),
`mutants` (weakened variants of a topology, each with the scenarios that could see it).
"""
