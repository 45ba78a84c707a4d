"""`make bench`: what Timebok costs, measured, not guessed.

1. `steps`: DynamoDB requests and capacity units per step of the citizen's flow (steps 1-5),
   cold and warm, in-process on moto (`mock_aws`) through the local gateway; then the partition
   shares of docs/capacity.md from the sizes measured (`capacity`).
2. `surge`: 10x more citizens than places, 32 threads over HTTP against a live local stack,
   with "first available" holds (or everyone holding the earliest slot).
3. `imports`: import time of app.py (fresh interpreter), the slowest imports, the import ratio.
4. `package_size`: when `make package` has made build/prod/deployment.zip.

`capacity` is the arithmetic (DynamoDB's rules, per booking, per partition), `counter` counts
every request; `python -m scripts.bench --help` for the sizes.

Tables on stdout, the same numbers in build/bench.json. No network beyond 127.0.0.1.
Method and caveats: docs/bench.md.
"""
