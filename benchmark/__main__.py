"""`python -m benchmark`: see benchmark/README.md."""

from benchmark.cli import main

raise SystemExit(main())
