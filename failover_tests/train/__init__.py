"""Training mode: a live game day on a real stack, for a room or unattended (`stackdrill train`).

- `live`: continuous open-loop traffic (`LiveTraffic`) and its rolling per-path buckets (`LiveAggregator`);
- `truth`: the "status page is lying" flag, the drills' under-reporting rule on a live window;
- `state`: the map: containers by tier and zone, LB views, the Redis primary, the status page;
- `control`: the fault panel: catalog faults for a duration, revert one, revert all, revert on exit;
- `session`: all of the above on one clock, ticking into frames (`Session`);
- `lesson`: lessons as validated YAML (the scenario format extended with steps);
- `runner`: plays a lesson step by step, for a room or `auto`, into step verdicts;
- `server`: the page, its event stream and the panel's HTTP API (aiohttp, 127.0.0.1).

Lessons ship in `failover_tests/lessons/`; the page is `failover_tests/templates/train.html`.
"""
